//! Exit codes shared by every sealbag binary.

use std::process::ExitCode;

/// The run completed and every file was collected whole.
pub const EXIT_COMPLETE: u8 = 0;
/// The run finished (a valid archive exists) but some files are in error or
/// partial, or it was stopped early: the manifest says which and why.
pub const EXIT_WITH_ERRORS: u8 = 1;
/// Nothing usable was produced: bad usage, a bad profile or key, no output.
pub const EXIT_FAILED: u8 = 2;
/// The archive is sealed but its upload failed for good (or the store was
/// never reached): it is kept in `--fallback-output`, which the summary's
/// `kept_locally` names. Deliver that file by other means.
pub const EXIT_KEPT_LOCALLY: u8 = 3;

/// The outcome of a command, mapped to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// See [`EXIT_COMPLETE`].
    Complete,
    /// See [`EXIT_WITH_ERRORS`].
    WithErrors,
    /// See [`EXIT_FAILED`].
    Failed,
    /// See [`EXIT_KEPT_LOCALLY`].
    KeptLocally,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(match exit {
            Exit::Complete => EXIT_COMPLETE,
            Exit::WithErrors => EXIT_WITH_ERRORS,
            Exit::Failed => EXIT_FAILED,
            Exit::KeptLocally => EXIT_KEPT_LOCALLY,
        })
    }
}
