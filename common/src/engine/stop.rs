//! A shared "stop taking more" signal: Ctrl-C, SIGTERM, a full disk, a time limit.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// Why a run stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// The output ran out of space; the reserve was released to finish the archive.
    DiskFull,
    /// A time limit was reached.
    TimeLimit,
    /// A size limit on the whole collection was reached.
    SizeLimit,
    /// Writing the output failed for good.
    OutputFailed,
}

impl StopReason {
    fn code(self) -> u8 {
        match self {
            StopReason::Interrupted => 1,
            StopReason::DiskFull => 2,
            StopReason::TimeLimit => 3,
            StopReason::SizeLimit => 4,
            StopReason::OutputFailed => 5,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(StopReason::Interrupted),
            2 => Some(StopReason::DiskFull),
            3 => Some(StopReason::TimeLimit),
            4 => Some(StopReason::SizeLimit),
            5 => Some(StopReason::OutputFailed),
            _ => None,
        }
    }

    /// A short explanation for the manifest and the summary.
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::Interrupted => "interrupted (Ctrl-C or SIGTERM)",
            StopReason::DiskFull => "output disk full",
            StopReason::TimeLimit => "time limit reached",
            StopReason::SizeLimit => "total size limit reached",
            StopReason::OutputFailed => "writing the output failed",
        }
    }
}

/// A cheap, cloneable flag; the first reason given wins.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<AtomicU8>);

impl StopSignal {
    /// A signal that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every reader of the signal to stop, for `reason`.
    pub fn request(&self, reason: StopReason) {
        let _ = self
            .0
            .compare_exchange(0, reason.code(), Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The reason, once stop was requested.
    pub fn reason(&self) -> Option<StopReason> {
        StopReason::from_code(self.0.load(Ordering::SeqCst))
    }

    /// Whether stop was requested.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_wins() {
        let signal = StopSignal::new();
        assert_eq!(signal.reason(), None);
        let clone = signal.clone();
        clone.request(StopReason::DiskFull);
        signal.request(StopReason::Interrupted);
        assert_eq!(signal.reason(), Some(StopReason::DiskFull));
        assert!(signal.is_set());
    }
}
