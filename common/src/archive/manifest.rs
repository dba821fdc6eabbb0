//! The manifest: one JSON line for every file the run saw, collected or not.

use std::collections::BTreeMap;

use base64::Engine as _;

use crate::source::{EntryKind, Metadata, SourcePath, Timestamps};

/// What happened to one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Collected whole.
    Ok,
    /// Collected, but not all of it (read error, shrank, interrupted); `error` says why.
    Partial,
    /// Could not be collected; `error` says why.
    Error,
    /// Deliberately not collected (too large, a FIFO, excluded by a limit); `error` says why.
    Skipped,
}

impl Status {
    /// The lowercase name used in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Partial => "partial",
            Status::Error => "error",
            Status::Skipped => "skipped",
        }
    }
}

/// One line of `sealbag/manifest.jsonl`.
///
/// Paths are UTF-8 text when they can be; a name that is not valid UTF-8
/// is written lossily in `path` and exactly, base64-encoded, in `path_b64`
/// (likewise `archive_path_b64`), so nothing is lost and JSON stays valid.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ManifestRecord {
    /// The path on the source.
    pub path: String,
    /// The exact path bytes, when `path` is not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_b64: Option<String>,
    /// Where the bytes are in the tar, when they were stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_path: Option<String>,
    /// The exact archive path bytes, when `archive_path` is not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_path_b64: Option<String>,
    /// The profile target that matched it.
    pub target: String,
    /// What the entry is.
    pub kind: EntryKind,
    /// The outcome.
    pub status: Status,
    /// Size when listed (the number of bytes stored for a file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Bytes actually read from the source (less than `size` when it shrank).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_read: Option<u64>,
    /// SHA-256 of the bytes stored in the archive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Why it is not `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Anything else an examiner should know (the file grew while read…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// How the bytes were read (`fs-noatime`, `fs`, `ntfs-raw`, `readlink`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The source's timestamps.
    #[serde(flatten)]
    pub times: Timestamps,
    /// Unix mode bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// Owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u64>,
    /// Group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<u64>,
    /// Inode or MFT record number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inode: Option<u64>,
    /// Hard-link count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nlink: Option<u64>,
    /// For a symlink, where it points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
    /// Source-specific facts (NTFS `$FILE_NAME` times…).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl ManifestRecord {
    /// A record for `path` with what the metadata says, status to be filled in.
    pub fn new(path: &SourcePath, target: &str, kind: EntryKind, status: Status) -> Self {
        let (path_text, path_b64) = text_and_b64(path.as_bytes());
        ManifestRecord {
            path: path_text,
            path_b64,
            archive_path: None,
            archive_path_b64: None,
            target: target.to_string(),
            kind,
            status,
            size: None,
            bytes_read: None,
            sha256: None,
            error: None,
            note: None,
            method: None,
            times: Timestamps::default(),
            mode: None,
            uid: None,
            gid: None,
            inode: None,
            nlink: None,
            link_target: None,
            extra: BTreeMap::new(),
        }
    }

    /// Copies the metadata's facts into the record.
    pub fn with_metadata(mut self, metadata: &Metadata) -> Self {
        self.kind = metadata.kind;
        self.size = Some(metadata.size);
        self.times = metadata.times;
        self.mode = metadata.mode;
        self.uid = metadata.uid;
        self.gid = metadata.gid;
        self.inode = metadata.inode;
        self.nlink = metadata.nlink;
        self.extra = metadata.extra.clone();
        self
    }

    /// Sets where the bytes are stored.
    pub fn set_archive_path(&mut self, archive_path: &[u8]) {
        let (text, b64) = text_and_b64(archive_path);
        self.archive_path = Some(text);
        self.archive_path_b64 = b64;
    }
}

/// UTF-8 text of bytes, plus their base64 form when they are not valid UTF-8.
pub fn text_and_b64(bytes: &[u8]) -> (String, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), None),
        Err(_) => (
            String::from_utf8_lossy(bytes).into_owned(),
            Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        ),
    }
}

/// The exact bytes of a path written by [`text_and_b64`].
pub fn bytes_of(text: &str, b64: Option<&str>) -> Option<Vec<u8>> {
    match b64 {
        None => Some(text.as_bytes().to_vec()),
        Some(b64) => base64::engine::general_purpose::STANDARD.decode(b64).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_utf8_path_round_trips() {
        let path = SourcePath::parse(b"/tmp/\xffname").expect("path");
        let record = ManifestRecord::new(&path, "t", EntryKind::File, Status::Ok);
        assert_eq!(record.path, "/tmp/\u{fffd}name");
        let bytes = bytes_of(&record.path, record.path_b64.as_deref()).expect("decode");
        assert_eq!(bytes, b"/tmp/\xffname");
        let json = serde_json::to_string(&record).expect("json");
        assert!(json.contains("\"status\":\"ok\""), "{json}");
        assert!(!json.contains("\"error\""), "{json}");
    }
}
