//! The command line of `sealbag-mac`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use sealbag_common::cli::{
    collect, config, init_logging, print_embedded_profiles, CollectArgs, Exit, LogArgs,
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
#[command(name = "sealbag-mac", version = sealbag_common::VERSION, about, long_about, after_help = CONFIG_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Collect from this Mac (or a mounted tree or an APFS image) into a sealed archive.
    #[command(after_help = CONFIG_HELP)]
    Collect {
        #[command(flatten)]
        args: Box<CollectArgs>,
        /// Collect from this directory as if it were `/` (a mounted volume, a copied tree).
        #[arg(long, value_name = "DIR", conflicts_with = "image")]
        root: Option<PathBuf>,
        /// Collect from an APFS image read without the OS: a raw container, or
        /// a whole disk (GPT) holding one. See `sealbag-mac volumes`.
        #[arg(long, value_name = "FILE")]
        image: Option<PathBuf>,
        /// The APFS volume to read from `--image`: its name, role (`data`,
        /// `system`…) or index. Default: the `Data` role volume, else the only
        /// volume, else the `System` one.
        #[arg(long, value_name = "NAME|ROLE|INDEX", requires = "image")]
        volume: Option<String>,
        /// Read this snapshot of the volume instead of its live tree.
        #[arg(long, value_name = "NAME", requires = "image")]
        snapshot: Option<String>,
        /// With `--image` of a whole disk: the partition number of the container.
        #[arg(long, value_name = "N", requires = "image")]
        partition: Option<u32>,
    },
    /// List the volumes (name, role, encryption) and snapshots of an APFS image, as JSON.
    Volumes {
        /// The image: a raw APFS container or a whole disk holding one.
        #[arg(long, value_name = "FILE")]
        image: PathBuf,
        /// The partition number of the container, for a whole disk.
        #[arg(long, value_name = "N")]
        partition: Option<u32>,
    },
    /// List the embedded profiles.
    Profiles,
    /// Show the machine-wide configuration `collect` would use, and where
    /// each value comes from.
    Config {
        #[command(subcommand)]
        command: config::ConfigCommand,
    },
}

/// Appended to `--help`: where the configuration comes from.
const CONFIG_HELP: &str = "Configuration: `collect` takes recipients, output, case, operator, profile \
and other flags from `sealbag.toml` beside the binary, then from the managed preferences `/Library/Managed Preferences/org.sealbag.sealbag.plist` (a configuration profile for the domain `org.sealbag.sealbag`); \
flags given on the command line win. `sealbag-mac config show` prints what applies and where each value comes from. \
A configuration never turns encryption off.";

/// Where `sealbag-mac` finds its machine-wide configuration.
const CONFIG: config::Platform = config::Platform::Macos(read_managed_preferences);

/// The managed preferences plist (XML or binary) as JSON, with the
/// collector's own bounded reader.
fn read_managed_preferences(bytes: &[u8]) -> Result<serde_json::Value, String> {
    crate::plist::parse_bytes(bytes)
        .map(|parsed| parsed.value)
        .map_err(|e| e.to_string())
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
    let mut command = cli.command;
    if let Command::Collect { args, .. } = &mut command {
        // Machine-wide configuration under the flags (see `config show`).
        if config::apply_config(&TOOL, CONFIG, args).is_err() {
            return Exit::Failed.into();
        }
    }
    match command {
        Command::Profiles => {
            print_embedded_profiles(TargetOs::Macos);
            Exit::Complete.into()
        }
        Command::Config { command } => config::run_config(&TOOL, CONFIG, command).into(),
        Command::Volumes { image, partition } => {
            match crate::apfs::list_image(&image, partition) {
                Ok(listing) => match serde_json::to_string_pretty(&listing) {
                    Ok(text) => {
                        use std::io::Write;
                        // A closed pipe (`| head`) is not an error worth a panic.
                        let _ = writeln!(std::io::stdout().lock(), "{text}");
                        Exit::Complete.into()
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        Exit::Failed.into()
                    }
                },
                Err(e) => {
                    eprintln!("error: {e}");
                    Exit::Failed.into()
                }
            }
        }
        Command::Collect {
            args,
            root,
            image,
            volume,
            snapshot,
            partition,
        } => {
            if let Some(image) = image {
                return collect_image(&args, &image, partition, volume, snapshot, log);
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

/// `collect --image`: one volume (or snapshot) of an APFS image.
fn collect_image(
    args: &CollectArgs,
    image: &std::path::Path,
    partition: Option<u32>,
    volume: Option<String>,
    snapshot: Option<String>,
    log: sealbag_common::cli::LogCapture,
) -> ExitCode {
    let selector = crate::apfs::VolumeSelector::parse(volume.as_deref());
    let source = match crate::apfs::open_image(image, partition, &selector, snapshot.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Failed.into();
        }
    };
    for skipped in source.skipped_checkpoints() {
        tracing::warn!("APFS: passed over a damaged checkpoint: {skipped}");
    }
    let collection = collect::Collection {
        tool: TOOL,
        source: &source,
        archive_prefix: b"files/".to_vec(),
        host: crate::host::image_facts(image),
        log,
        hooks: hooks(),
    };
    collect::run_collect(args, collection).into()
}
