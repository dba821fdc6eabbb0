//! Where the engine puts what it collects: the archive, or a test's memory.

use std::io::Read;

use crate::archive::ManifestRecord;
use crate::source::Metadata;

/// An entry about to be stored.
#[derive(Debug, Clone, Copy)]
pub struct StoredEntry<'a> {
    /// Its path in the archive (`files/var/log/syslog`).
    pub archive_path: &'a [u8],
    /// Exactly how many bytes the reader will give.
    pub size: u64,
    /// The source's metadata, for the tar header's times, mode and owner.
    pub metadata: &'a Metadata,
}

/// An error of the output itself: the run cannot store anything more.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the output: {source}")]
pub struct SinkError {
    /// The underlying error.
    #[from]
    #[source]
    pub source: std::io::Error,
}

/// Receives what a run collects.
///
/// The engine guarantees that `data` yields exactly `entry.size` bytes (it
/// pads or cuts a file that changed while read, and says so in the record).
pub trait Sink {
    /// Stores a regular file's bytes.
    fn add_file(&mut self, entry: &StoredEntry<'_>, data: &mut dyn Read) -> Result<(), SinkError>;

    /// Stores a symbolic link (not its target's bytes).
    fn add_symlink(&mut self, entry: &StoredEntry<'_>, target: &[u8]) -> Result<(), SinkError>;

    /// Stores a member the run generated (`parsed/…`, `live/…`); `data` yields exactly `size` bytes.
    fn add_member(&mut self, name: &[u8], size: u64, data: &mut dyn Read) -> Result<(), SinkError>;

    /// Adds a line to the manifest; called once for every entry seen.
    fn add_record(&mut self, record: &ManifestRecord) -> Result<(), SinkError>;
}
