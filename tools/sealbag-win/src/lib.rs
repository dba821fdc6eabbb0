//! sealbag's Windows collector.
//!
//! `sealbag-win collect` reads a profile's artifacts straight from an NTFS
//! volume (the live `\\.\C:` on Windows, or an image file anywhere) and
//! writes one sealed archive. Everything that parses is portable and generic
//! over `Read + Seek`: the NTFS [`NtfsSource`] and the evtx parser; only
//! `live/` touches Windows.
//!
//! ```no_run
//! use sealbag_common::Source;
//! let image = std::fs::File::open("volume.raw").expect("image");
//! let source = sealbag_win::NtfsSource::new(image, "ntfs-image", "volume.raw").expect("ntfs");
//! let names = source.read_dir(&sealbag_common::SourcePath::root()).expect("root");
//! # let _ = names;
//! ```

#![forbid(unsafe_code)]

mod cli;
mod evtx_parse;
pub mod host;
mod image;
#[cfg(windows)]
mod live;
mod ntfs;

pub use cli::{archive_prefix, hooks, main, Cli};

pub use evtx_parse::{event_id, parse_evtx, EvtxCounts, EvtxFileParser};
pub use image::{open_image, ImageReader, ImageVolume};

pub use ntfs::{from_wtf8, lznt1_decompress, to_wtf8, volume_facts, NtfsOpenError, NtfsSource};
