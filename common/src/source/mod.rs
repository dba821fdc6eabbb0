//! Where collected bytes come from: the [`Source`] trait and its implementations.
//!
//! The engine walks a source and never learns whether it is the live file
//! system, a mounted tree, a raw NTFS volume or an APFS container. Every
//! implementation answers the same four questions: what is at a path
//! (without following links), what a directory holds, what a link points to,
//! and the bytes of a file or of one of its named streams.

mod disk;
mod fs;
mod memory;
mod partition;
mod path;
mod sector;
mod throttle;
mod time;

use std::collections::BTreeMap;
use std::io::{Read, Seek};

pub use disk::{folder_name, volume_names, Container, Disk, DiskError, PartitionSpec};
pub use fs::FsSource;
pub use memory::MemorySource;
pub use partition::{
    read_partitions, Partition, PartitionError, PartitionType, Window, GPT_MICROSOFT_BASIC_DATA,
};
pub use path::SourcePath;
pub use sector::SectorReader;
pub use throttle::{RateLimit, ThrottledSource};
pub use time::Timestamp;

/// What kind of thing a directory entry is, as the source reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EntryKind {
    /// A regular file: the only kind whose bytes are collected.
    File,
    /// A directory: walked, never stored.
    Directory,
    /// A symbolic link (or NTFS reparse point acting as one): recorded, never followed.
    Symlink,
    /// A named pipe: never opened, since opening one can block forever.
    Fifo,
    /// A Unix socket: cannot be read.
    Socket,
    /// A block device: never opened (it would read a whole disk).
    BlockDevice,
    /// A character device: never opened (reads may never end).
    CharDevice,
    /// Anything the source cannot classify.
    Other,
}

impl EntryKind {
    /// A short lowercase name for messages and the manifest.
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Directory => "directory",
            EntryKind::Symlink => "symlink",
            EntryKind::Fifo => "fifo",
            EntryKind::Socket => "socket",
            EntryKind::BlockDevice => "block device",
            EntryKind::CharDevice => "character device",
            EntryKind::Other => "other",
        }
    }
}

/// The times a source keeps for an entry; any of them may be unknown.
///
/// NTFS has all four in `$STANDARD_INFORMATION` (and again in `$FILE_NAME`,
/// which a source puts in [`Metadata::extra`]); ext4 and APFS have all four;
/// some file systems have no birth time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Timestamps {
    /// Last change of the content (mtime).
    #[serde(rename = "mtime", skip_serializing_if = "Option::is_none")]
    pub modified: Option<Timestamp>,
    /// Last access (atime).
    #[serde(rename = "atime", skip_serializing_if = "Option::is_none")]
    pub accessed: Option<Timestamp>,
    /// Last change of the metadata (ctime; NTFS "MFT entry modified").
    #[serde(rename = "ctime", skip_serializing_if = "Option::is_none")]
    pub changed: Option<Timestamp>,
    /// Creation (birth time, btime).
    #[serde(rename = "btime", skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
}

/// What a source knows about one entry, read without following links.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    /// The entry's kind.
    pub kind: EntryKind,
    /// Size in bytes of the data (for a file, of the stream that will be read).
    pub size: u64,
    /// The four timestamps.
    pub times: Timestamps,
    /// Unix permission bits and type (`st_mode`), where the source has them.
    pub mode: Option<u32>,
    /// Owner user id, where the source has one.
    pub uid: Option<u64>,
    /// Owner group id, where the source has one.
    pub gid: Option<u64>,
    /// Inode or MFT record number.
    pub inode: Option<u64>,
    /// Device (or volume) the entry is on; used to stay on one file system.
    pub device: Option<u64>,
    /// Number of hard links.
    pub nlink: Option<u64>,
    /// Source-specific facts for the manifest (NTFS `$FILE_NAME` times, MFT
    /// sequence numbers, APFS object ids…), flattened into the record.
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Metadata {
    /// Metadata of the given kind with everything else unknown.
    pub fn new(kind: EntryKind, size: u64) -> Self {
        Metadata {
            kind,
            size,
            times: Timestamps::default(),
            mode: None,
            uid: None,
            gid: None,
            inode: None,
            device: None,
            nlink: None,
            extra: BTreeMap::new(),
        }
    }
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The name, as raw bytes (never contains `/`).
    pub name: Vec<u8>,
    /// The kind if the listing already says it (saves a metadata call).
    pub kind: Option<EntryKind>,
}

/// A readable, seekable stream of a file's bytes.
///
/// Seeking lets parsers that need it (evtx, plist) re-read a collected file
/// from the source without buffering it whole.
pub trait ReadSeek: Read + Seek + Send {}

impl<T: Read + Seek + Send> ReadSeek for T {}

/// A file opened for reading, with what the source learned while opening it.
pub struct OpenedFile<'a> {
    /// The bytes of the file (or stream), from the start.
    pub reader: Box<dyn ReadSeek + 'a>,
    /// Metadata of the object actually opened (after the open, not before).
    pub metadata: Metadata,
    /// How the bytes are read, for the manifest's `method`: `fs`,
    /// `fs-noatime`, `ntfs-raw`, `apfs`…
    pub method: &'static str,
}

/// Basic facts about a source, for the chain of custody and for matching.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SourceInfo {
    /// What it is: `live`, `tree`, `ntfs-image`…
    pub kind: String,
    /// Where it is: `/`, the mounted directory, the image file.
    pub location: String,
    /// Whether names differ by case (false on NTFS, usually false on APFS).
    pub case_sensitive: bool,
}

/// Appended to a refusal on macOS, where TCC refuses protected files
/// (Mail, Safari, TCC.db…) even to root unless the binary, or the terminal
/// that runs it, has Full Disk Access.
const PERMISSION_HINT: &str = if cfg!(target_os = "macos") {
    " (needs Full Disk Access, or root)"
} else {
    ""
};

/// Why a source could not answer for a path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// Nothing is at that path.
    #[error("{path}: not found")]
    NotFound {
        /// The path asked for.
        path: SourcePath,
    },
    /// The operating system refused access. On macOS the message says what
    /// is usually missing: TCC refuses even root without Full Disk Access.
    #[error("{path}: permission denied{}", PERMISSION_HINT)]
    PermissionDenied {
        /// The path asked for.
        path: SourcePath,
    },
    /// The entry is of a kind that cannot be opened for reading.
    #[error("{path}: is a {}, not a regular file", kind.name())]
    NotAFile {
        /// The path asked for.
        path: SourcePath,
        /// What it is instead.
        kind: EntryKind,
    },
    /// The entry changed between listing and opening (replaced, raced).
    #[error("{path}: changed while being opened ({detail})")]
    Changed {
        /// The path asked for.
        path: SourcePath,
        /// What changed.
        detail: String,
    },
    /// The on-disk structures are damaged or hostile.
    #[error("{path}: corrupt: {detail}")]
    Corrupt {
        /// The path asked for.
        path: SourcePath,
        /// What is wrong, with offsets and record numbers.
        detail: String,
    },
    /// The source cannot do this (a feature of the file system it lacks).
    #[error("{path}: unsupported: {detail}")]
    Unsupported {
        /// The path asked for.
        path: SourcePath,
        /// What is not supported.
        detail: String,
    },
    /// Any other I/O error, with the path.
    #[error("{path}: {source}")]
    Io {
        /// The path asked for.
        path: SourcePath,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl SourceError {
    /// Maps an I/O error for `path` to the matching variant.
    pub fn from_io(path: &SourcePath, source: std::io::Error) -> Self {
        match source.kind() {
            std::io::ErrorKind::NotFound => SourceError::NotFound { path: path.clone() },
            std::io::ErrorKind::PermissionDenied => {
                SourceError::PermissionDenied { path: path.clone() }
            }
            _ => SourceError::Io {
                path: path.clone(),
                source,
            },
        }
    }
}

/// A tree of files the engine can collect from.
///
/// All methods take `&self` so one source can serve a walk and an open at
/// once; sources over a single volume handle keep it behind a lock.
/// Implementations must never follow symbolic links, never block on
/// special files, and never write to what they read.
pub trait Source: Send + Sync {
    /// What this source is, for the chain of custody.
    fn info(&self) -> SourceInfo;

    /// Metadata of the entry at `path`, not following a final symlink.
    fn metadata(&self, path: &SourcePath) -> Result<Metadata, SourceError>;

    /// The entries of the directory at `path`, without `.` and `..`.
    fn read_dir(&self, path: &SourcePath) -> Result<Vec<DirEntry>, SourceError>;

    /// The target of the symbolic link at `path`, as raw bytes.
    fn read_link(&self, path: &SourcePath) -> Result<Vec<u8>, SourceError>;

    /// Opens the regular file at `path` for reading; `stream` names an
    /// alternate data stream on sources that have them (`None`: the main data).
    fn open(&self, path: &SourcePath, stream: Option<&str>) -> Result<OpenedFile<'_>, SourceError>;

    /// Like [`open`](Self::open), for a file the walk has just described as
    /// `listed`: a live file system may then skip looking the path up again
    /// (a system call per file, a sixth of a small-file run) and check the
    /// opened object against `listed` instead.
    fn open_listed(
        &self,
        path: &SourcePath,
        stream: Option<&str>,
        listed: &Metadata,
    ) -> Result<OpenedFile<'_>, SourceError> {
        let _ = listed;
        self.open(path, stream)
    }

    /// Names of the alternate data streams of the file at `path` (NTFS);
    /// empty on sources without them.
    fn streams(&self, path: &SourcePath) -> Result<Vec<String>, SourceError> {
        let _ = path;
        Ok(Vec::new())
    }
}
