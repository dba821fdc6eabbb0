//! The command line of `sealbag-linux`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sealbag_common::cli::{
    collect, config, init_logging, print_embedded_profiles, CollectArgs, Exit, LogArgs,
};
use sealbag_common::profile::TargetOs;
use sealbag_common::source::PartitionSpec;
use sealbag_common::{FsSource, Source};

use crate::image::{format_layout, layout};

/// Collects a profile's artifacts from a Linux host into one sealed archive.
///
/// The archive is a tar stream, zstd-compressed, age-encrypted to the
/// responders' public keys; it opens with stock tools:
/// `age -d -i key.txt HOST-TIME.tar.zst.age | zstd -d | tar x`.
///
/// Exit codes: 0 complete; 1 finished, but some files are in error or
/// partial, or the run was stopped early (the archive says which); 2 failed
/// (bad usage, profile or key; no archive).
#[derive(Debug, Parser)]
#[command(name = "sealbag-linux", version = sealbag_common::VERSION, about, long_about, after_help = CONFIG_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Collect from this machine (or a mounted tree) into a sealed archive.
    #[command(after_help = CONFIG_HELP)]
    Collect {
        #[command(flatten)]
        args: Box<CollectArgs>,
        /// Collect from this directory as if it were `/` (a mounted image, a copied tree).
        #[arg(long, value_name = "DIR", conflicts_with = "image")]
        root: Option<PathBuf>,
        /// Read this disk without mounting it: a raw image, a fixed VHD, or a
        /// block device (an attached snapshot volume, opened read-only, no
        /// lock). ext2/3/4 and XFS are read in user space; the journal is
        /// never replayed. Every Linux partition is collected, each under
        /// `files/<partition name or p<N>>/`, unless `--partition` names one.
        #[arg(long, value_name = "FILE|DEVICE")]
        image: Option<PathBuf>,
        /// With `--image`: only this partition, by number (MBR logicals from
        /// 5), GPT name or file-system label.
        #[arg(long, value_name = "N|NAME", requires = "image")]
        partition: Option<PartitionSpec>,
        /// Also read `/etc/shadow` (password hashes) for the `users` live kind,
        /// into `live/shadow.jsonl`. Off by default: hashes are secrets the
        /// responder must ask for. No embedded profile collects shadow otherwise.
        #[arg(long)]
        include_shadow: bool,
    },
    /// List the embedded profiles.
    Profiles,
    /// Show the machine-wide configuration `collect` would use, and where
    /// each value comes from.
    Config {
        #[command(subcommand)]
        command: config::ConfigCommand,
    },
    /// List the partitions of a disk image or device: number, archive
    /// folder, offset, size, content, label, type, and whether `collect
    /// --image` reads it. Reads only the table and each partition's first
    /// sectors.
    Partitions {
        /// The image file or block device.
        #[arg(long, value_name = "FILE|DEVICE")]
        image: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Appended to `--help`: where the configuration comes from.
const CONFIG_HELP: &str = "Configuration: `collect` takes recipients, output, case, operator, profile \
and other flags from `sealbag.toml` beside the binary, then from `/etc/sealbag/sealbag.toml`; \
flags given on the command line win. `sealbag-linux config show` prints what applies and where each value comes from. \
A configuration never turns encryption off.";

/// Where `sealbag-linux` finds its machine-wide configuration.
const CONFIG: config::Platform = config::Platform::Linux;

const TOOL: collect::Tool = collect::Tool {
    name: "sealbag-linux",
    version: sealbag_common::VERSION,
    default_profile: "linux-triage",
};

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
            print_embedded_profiles(TargetOs::Linux);
            Exit::Complete.into()
        }
        Command::Partitions { image, json } => partitions(&image, json),
        Command::Config { command } => config::run_config(&TOOL, CONFIG, command).into(),
        Command::Collect {
            args,
            image: Some(image),
            partition,
            include_shadow,
            ..
        } => collect_image(&args, &image, partition.as_ref(), include_shadow, log),
        Command::Collect {
            args,
            root,
            include_shadow,
            ..
        } => {
            let source = match &root {
                Some(root) => {
                    if !root.is_dir() {
                        eprintln!(
                            "error: --root {}: not a directory\nhint: give the folder where the image or tree is mounted",
                            root.display()
                        );
                        return Exit::Failed.into();
                    }
                    FsSource::tree(root)
                }
                None => FsSource::live(),
            };
            let collection = collect::Collection {
                tool: TOOL,
                source: &source,
                archive_prefix: b"files/".to_vec(),
                host: crate::host::facts(),
                log,
                hooks: sealbag_common::engine::Hooks {
                    live: crate::live::collectors(include_shadow),
                    ..Default::default()
                },
            };
            collect::run_collect(&args, collection).into()
        }
    }
}

fn partitions(image: &std::path::Path, json: bool) -> ExitCode {
    match layout(image) {
        Ok(found) => {
            if json {
                let value = serde_json::json!({
                    "image": image.display().to_string(),
                    "container": found.disk.container().name(),
                    "bytes": found.disk.len(),
                    "partitioned": found.partitioned,
                    "volumes": found.volumes,
                });
                println!("{value}");
            } else {
                print!("{}", format_layout(&found));
            }
            Exit::Complete.into()
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Failed.into()
        }
    }
}

/// The host name an image is filed under: its file name without the
/// usual endings (`web01.raw` → `web01`, `/dev/nvme1n1` → `nvme1n1`).
pub fn image_name(image: &std::path::Path) -> String {
    let name = image
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name = name.as_str();
    for ending in [".vhd", ".raw", ".img", ".dd", ".bin", ".disk"] {
        if let Some(stripped) = name.strip_suffix(ending) {
            name = stripped;
        }
    }
    if name.is_empty() {
        "image".into()
    } else {
        name.to_string()
    }
}

fn collect_image(
    args: &CollectArgs,
    image: &std::path::Path,
    partition: Option<&PartitionSpec>,
    include_shadow: bool,
    log: sealbag_common::cli::LogCapture,
) -> ExitCode {
    let found = match layout(image) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Failed.into();
        }
    };
    let chosen = match found.select(partition) {
        Ok(chosen) => chosen,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Failed.into();
        }
    };
    let mut opened: Vec<(String, Box<dyn Source>)> = Vec::new();
    for volume in chosen {
        match found.open(volume) {
            Ok(source) => opened.push((volume.name.clone(), source)),
            Err(e) if partition.is_some() => {
                eprintln!("error: {e}");
                return Exit::Failed.into();
            }
            Err(e) => {
                tracing::error!(volume = %volume.name, "cannot read this volume; the others are collected: {e}");
                eprintln!("warning: {e}; collecting the other volumes");
            }
        }
    }
    if opened.is_empty() {
        eprintln!("error: {}: no volume could be read", image.display());
        return Exit::Failed.into();
    }
    let mut host = sealbag_common::archive::HostFacts {
        hostname: image_name(image),
        os: "linux".into(),
        ..Default::default()
    };
    host.user = None;
    let collection = collect::DiskCollection {
        tool: TOOL,
        disk: found.info(),
        volumes: opened
            .iter()
            .map(|(name, source)| collect::Volume {
                name: name.clone(),
                source: source.as_ref(),
            })
            .collect(),
        host,
        log,
        hooks: sealbag_common::engine::Hooks {
            live: crate::live::image_collectors(include_shadow),
            ..Default::default()
        },
    };
    collect::run_collect_disk(args, collection).into()
}
