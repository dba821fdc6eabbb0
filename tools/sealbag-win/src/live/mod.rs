//! The live Windows layer: opens `\\.\C:` read-only (sharing it with the
//! running system), reads it raw through a [`SectorReader`]; when raw access
//! is refused (not elevated), falls back to the file system API per file.
//!
//! Only std is used: `OpenOptionsExt::share_mode` gives the share flags, so
//! no `unsafe` is needed here.

use std::fs::OpenOptions;
use std::os::windows::fs::OpenOptionsExt;

use sealbag_common::cli::{collect, CollectArgs, Exit, LogCapture};
use sealbag_common::engine::Hooks;
use sealbag_common::source::SectorReader;
use sealbag_common::FsSource;

use crate::NtfsSource;

const FILE_SHARE_READ: u32 = 0x1;
const FILE_SHARE_WRITE: u32 = 0x2;
const FILE_SHARE_DELETE: u32 = 0x4;

/// Collects from the live volume `volume` (`C:`).
pub fn collect_live(
    args: &CollectArgs,
    volume: &str,
    log: LogCapture,
    tool: collect::Tool,
    hooks: Hooks,
) -> Exit {
    let letter = volume.trim_end_matches(['\\', '/']);
    let device = format!(r"\\.\{letter}");
    let prefix = crate::cli::archive_prefix(letter);
    let raw = OpenOptions::new()
        .read(true)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
        .open(&device)
        .map_err(|e| format!("{device}: {e}"))
        .and_then(|file| SectorReader::new(file, 512).map_err(|e| e.to_string()))
        .and_then(|reader| {
            NtfsSource::new(reader, "ntfs-live", device.clone()).map_err(|e| e.to_string())
        });
    match raw {
        Ok(source) => {
            let collection = collect::Collection {
                tool,
                source: &source,
                archive_prefix: prefix,
                host: crate::host::live_facts(),
                log,
                hooks,
            };
            collect::run_collect(args, collection)
        }
        Err(error) => {
            tracing::warn!(%error, "raw volume access refused; reading through the file system (method `fs`)");
            eprintln!("warning: cannot read {device} raw ({error}); falling back to the file system API\nhint: run elevated (Administrator) to read locked files, $MFT and $UsnJrnl");
            let source = FsSource::tree(format!("{letter}\\"));
            let collection = collect::Collection {
                tool,
                source: &source,
                archive_prefix: prefix,
                host: crate::host::live_facts(),
                log,
                hooks,
            };
            collect::run_collect(args, collection)
        }
    }
}
