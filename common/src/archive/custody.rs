//! The chain-of-custody record, `sealbag/collection.json`.

use crate::engine::{RunCounts, StopReason};
use crate::profile::ProfileOrigin;
use crate::source::{SourceInfo, Timestamp};

/// Facts about the machine the collector ran on, gathered by each tool's
/// OS layer (every field is optional: a tool records what it can learn).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HostFacts {
    /// Host name.
    pub hostname: String,
    /// Operating system family (`linux`, `windows`, `macos`).
    pub os: String,
    /// Distribution or product name and version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_release: Option<String>,
    /// Kernel release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// The host's time zone as configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// When the host booted (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_time: Option<Timestamp>,
    /// The user the collector ran as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// One volume of a disk collection, for the chain of custody.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VolumeRecord {
    /// Its folder under `files/` and its `volume` in the manifest.
    pub name: String,
    /// What it is and where (partition, offset, file system).
    pub source: SourceInfo,
}

/// The profile as recorded for custody: its name and every text it was built from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProfileRecord {
    /// The profile's name.
    pub name: String,
    /// Each file or embedded text, with its SHA-256.
    pub sources: Vec<ProfileOrigin>,
}

/// Everything `sealbag/collection.json` says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CollectionInfo {
    /// Format tag, so readers can tell versions apart.
    pub format: String,
    /// The collecting tool's name.
    pub tool: String,
    /// The tool's version.
    pub version: String,
    /// The command line as given.
    pub command_line: Vec<String>,
    /// Case identifier from `--case`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    /// Operator from `--operator`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// The profile.
    pub profile: ProfileRecord,
    /// The collecting host.
    pub host: HostFacts,
    /// What was collected from.
    pub source: SourceInfo,
    /// The file systems of a disk collected one after another, each under
    /// `files/<name>/` (empty when the source is one tree or volume).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeRecord>,
    /// Start, UTC.
    pub started: Timestamp,
    /// End, UTC.
    pub finished: Timestamp,
    /// True when the whole profile ran; false when it stopped early.
    pub complete: bool,
    /// Why it stopped early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<StopReason>,
    /// Counts by status, and bytes stored.
    pub counts: RunCounts,
    /// `age-x25519` with the recipients, or `none`.
    pub encryption: Encryption,
    /// `zstd-<level>` or `none`.
    pub compression: String,
}

/// How the archive is encrypted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Encryption {
    /// `age-x25519` or `none`.
    pub scheme: String,
    /// The public keys it is sealed to.
    pub recipients: Vec<String>,
}

/// The value of [`CollectionInfo::format`].
pub const COLLECTION_FORMAT: &str = "sealbag-collection/1";
