//! The command line of `sealbag-mac`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use sealbag_common::cli::{
    collect, init_logging, print_embedded_profiles, CollectArgs, Exit, LogArgs,
};
use sealbag_common::engine::Hooks;
use sealbag_common::profile::TargetOs;
use sealbag_common::FsSource;

/// Collects a profile's artifacts from a Mac into one sealed archive.
///
/// The archive is a tar stream, zstd-compressed, age-encrypted to the
/// responders' public keys; it opens with stock tools:
/// `age -d -i key.txt HOST-TIME.tar.zst.age | zstd -d | tar x`.
///
/// On a live Mac, give the terminal (or the binary) Full Disk Access first:
/// without it macOS refuses TCC-protected files (Mail, Safari, TCC.db…), and
/// the manifest says `needs Full Disk Access` for each.
///
/// Exit codes: 0 complete; 1 finished, but some files are in error or
/// partial, or the run was stopped early (the archive says which); 2 failed
/// (bad usage, profile or key; no archive).
#[derive(Debug, Parser)]
#[command(name = "sealbag-mac", version = sealbag_common::VERSION, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Collect from this Mac (or a mounted tree or an APFS image) into a sealed archive.
    Collect {
        #[command(flatten)]
        args: Box<CollectArgs>,
        /// Collect from this directory as if it were `/` (a mounted volume, a copied tree).
        #[arg(long, value_name = "DIR", conflicts_with = "image")]
        root: Option<PathBuf>,
        /// Collect from an APFS container image (raw).
        #[arg(long, value_name = "FILE")]
        image: Option<PathBuf>,
        /// The APFS volume to read from `--image`: its name or role (`data`, `system`).
        #[arg(long, value_name = "NAME|ROLE", requires = "image")]
        volume: Option<String>,
    },
    /// List the embedded profiles.
    Profiles,
}

const TOOL: collect::Tool = collect::Tool {
    name: "sealbag-mac",
    version: sealbag_common::VERSION,
    default_profile: "macos-triage",
};

/// The parsers and live collectors `sealbag-mac` provides.
pub fn hooks() -> Hooks {
    Hooks {
        parsers: vec![
            Arc::new(crate::PlistParser),
            Arc::new(crate::UnifiedLogParser),
        ],
        live: vec![
            Arc::new(crate::PersistenceCollector),
            Arc::new(crate::LogarchiveCollector),
            Arc::new(crate::AccountsCollector),
        ],
    }
}

/// Parses the command line, runs, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = init_logging(&cli.log);
    match cli.command {
        Command::Profiles => {
            print_embedded_profiles(TargetOs::Macos);
            Exit::Complete.into()
        }
        Command::Collect {
            args,
            root,
            image,
            volume,
        } => {
            if let Some(image) = image {
                let _ = volume;
                eprintln!(
                    "error: --image {}: APFS images are not supported in this version; sealbag-mac refuses rather than risk reading a wrong tree\nhint: mount the image read-only (`hdiutil attach -readonly -nomount` then `mount_apfs -o rdonly`, or `apfs-fuse` on Linux) and pass `--root MOUNTPOINT`",
                    image.display()
                );
                return Exit::Failed.into();
            }
            let source = match &root {
                Some(root) => {
                    if !root.is_dir() {
                        eprintln!(
                            "error: --root {}: not a directory\nhint: give the folder where the volume or tree is mounted",
                            root.display()
                        );
                        return Exit::Failed.into();
                    }
                    FsSource::tree(root)
                }
                None if cfg!(target_os = "macos") => FsSource::live(),
                None => {
                    eprintln!(
                        "error: this is not a Mac: there is no live macOS system to collect\nhint: pass `--root DIR` (a mounted macOS volume or copied tree) or `--image FILE`"
                    );
                    return Exit::Failed.into();
                }
            };
            let collection = collect::Collection {
                tool: TOOL,
                source: &source,
                archive_prefix: b"files/".to_vec(),
                host: crate::host::facts(),
                log,
                hooks: hooks(),
            };
            collect::run_collect(&args, collection).into()
        }
    }
}
