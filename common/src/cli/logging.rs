//! Logging: human text on stderr, and JSON lines captured for the archive.

use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use super::LogArgs;

/// How much of the run's log is kept for `sealbag/log.jsonl`; the manifest
/// holds every per-file outcome anyway, so a cap loses no evidence.
const LOG_CAPTURE_LIMIT: usize = 8 << 20;

/// The JSON log lines of this run, kept in memory (plaintext never touches
/// the disk) and stored in the archive at the end.
#[derive(Clone, Default)]
pub struct LogCapture {
    inner: Arc<Mutex<Captured>>,
}

#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    dropped: u64,
}

impl LogCapture {
    /// A copy of the captured lines, with a final line if some were dropped.
    pub fn snapshot(&self) -> Vec<u8> {
        let captured = match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut bytes = captured.bytes.clone();
        if captured.dropped > 0 {
            bytes.extend_from_slice(
                format!(
                    "{{\"level\":\"WARN\",\"fields\":{{\"message\":\"log capture full: {} later lines not kept (the manifest has every file's outcome)\"}}}}\n",
                    captured.dropped
                )
                .as_bytes(),
            );
        }
        bytes
    }
}

/// A writer for one log line.
pub struct CaptureWriter(LogCapture);

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut captured = match self.0.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if captured.bytes.len() + buf.len() <= LOG_CAPTURE_LIMIT {
            captured.bytes.extend_from_slice(buf);
        } else {
            captured.dropped += 1;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = CaptureWriter;
    fn make_writer(&'a self) -> Self::Writer {
        CaptureWriter(self.clone())
    }
}

/// Installs the two subscribers and returns the capture for the archive.
/// Call once, from `main`.
pub fn init_logging(args: &LogArgs) -> LogCapture {
    let capture = LogCapture::default();
    let level = if args.quiet {
        "error"
    } else {
        match args.verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    };
    let stderr_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let human = tracing_subscriber::fmt::layer()
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_target(false)
        .compact()
        .with_filter(stderr_filter);
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(capture.clone())
        .with_current_span(false)
        .with_filter(EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(human)
        .with(json)
        .try_init();
    capture
}
