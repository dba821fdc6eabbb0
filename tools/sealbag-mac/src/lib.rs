//! sealbag's macOS collector.
//!
//! `sealbag-mac collect` runs a profile over the live system (`/`) or a
//! mounted or copied tree (`--root DIR`) or one volume of an APFS image
//! (`--image FILE`, through [`apfs::ApfsSource`]; docs/macos-apfs.md), and
//! writes one sealed archive.
//! What is macOS-specific is portable and lives here, so it is tested on
//! any host: the `plist` parser ([`PlistParser`]), the `persistence`
//! summary ([`PersistenceCollector`]), local accounts without password
//! hashes ([`AccountsCollector`]), the unified-log layout
//! ([`LogarchiveCollector`]) and the unified-log parse to JSON lines
//! ([`UnifiedLogParser`]).
//!
//! ```
//! let parsed = sealbag_mac::plist::parse_bytes(b"<plist version=\"1.0\"><true/></plist>")?;
//! assert_eq!(parsed.value, serde_json::Value::Bool(true));
//! # Ok::<(), sealbag_mac::plist::PlistError>(())
//! ```

#![forbid(unsafe_code)]

pub mod accounts;
pub mod apfs;
mod cli;
pub mod host;
pub mod logarchive;
pub mod persistence;
pub mod plist;
pub mod unifiedlog;

pub use accounts::AccountsCollector;
pub use cli::{hooks, main, Cli};
pub use logarchive::LogarchiveCollector;
pub use persistence::PersistenceCollector;
pub use plist::PlistParser;
pub use unifiedlog::UnifiedLogParser;
