//! sealbag's shared crate: collection profiles, the collection engine, and
//! the sealed archive, used by every collector and by the responder's tool.
//!
//! A collector builds a [`Source`] (the live file system, a mounted tree, a
//! raw NTFS volume…), loads a [`profile::Profile`], and hands both to
//! [`engine::run`] with an [`archive::ArchiveWriter`] as the sink:
//!
//! ```no_run
//! use sealbag_common::{archive, engine, profile::Profile, FsSource};
//! let profile = Profile::load("linux-triage").expect("embedded");
//! let output = archive::Output::Stdout(std::io::stdout());
//! let options = archive::ArchiveOptions { recipients: None, zstd_level: Some(3), threads: 2 };
//! let mut writer = archive::ArchiveWriter::new(output, &options).expect("writer");
//! let report = engine::run(&profile, &FsSource::live(), &mut writer,
//!     &engine::EngineOptions::default(), &()).expect("output works");
//! # let _ = report;
//! ```

// `unsafe` is denied everywhere but in `live`, the thin OS layer, where
// each block says why it is sound.
#![deny(unsafe_code)]

pub mod archive;
pub mod cli;
pub mod engine;
pub mod glob;
pub mod hunt;
pub mod ioc;
pub mod live;
pub mod profile;
pub mod source;
pub mod upload;

pub use source::{FsSource, Source, SourcePath};

/// This build's version and git commit, as every tool's `--version` shows it
/// and each archive records it: `0.1.0 (commit 1a2b3c4d5e6f)`. The commit
/// comes from `common/build.rs` (`SEALBAG_GIT_COMMIT`, else `git`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SEALBAG_GIT_COMMIT"),
    ")"
);
