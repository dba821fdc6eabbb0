//! The command line of `sealbag-win`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use sealbag_common::cli::{
    collect, config, init_logging, print_embedded_profiles, CollectArgs, Exit, LogArgs,
};
use sealbag_common::engine::Hooks;
use sealbag_common::profile::TargetOs;

use crate::EvtxFileParser;

/// Collects a profile's artifacts from a Windows host or an NTFS image into one sealed archive.
///
/// Files are read raw from the NTFS volume (locked files such as registry
/// hives, `$MFT`, `$UsnJrnl:$J` included). The archive is a tar stream,
/// zstd-compressed, age-encrypted to the responders' public keys:
/// `age -d -i key.txt HOST-TIME.tar.zst.age | zstd -d | tar x`.
///
/// Exit codes: 0 complete; 1 finished, but some files are in error or
/// partial, or the run was stopped early; 2 failed (no archive).
#[derive(Debug, Parser)]
#[command(name = "sealbag-win", version = sealbag_common::VERSION, about, long_about, after_help = CONFIG_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Collect from this machine's volume, or an NTFS image, into a sealed archive.
    #[command(after_help = CONFIG_HELP)]
    Collect {
        #[command(flatten)]
        args: Box<CollectArgs>,
        /// Read this image instead of the live volume: a raw NTFS volume or a
        /// whole disk (MBR or GPT) holding one.
        #[arg(long, value_name = "FILE")]
        image: Option<PathBuf>,
        /// With `--image` of a whole disk: the partition number to read.
        #[arg(long, value_name = "N", requires = "image")]
        partition: Option<u32>,
        /// The live volume to read (Windows only).
        #[arg(
            long,
            value_name = "LETTER:",
            default_value = "C:",
            conflicts_with = "image"
        )]
        volume: String,
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
and other flags from `sealbag.toml` beside the binary, then from `%ProgramData%\\sealbag\\sealbag.toml`, then from the registry policy key `HKLM\\SOFTWARE\\Policies\\sealbag`; \
flags given on the command line win. `sealbag-win config show` prints what applies and where each value comes from. \
A configuration never turns encryption off.";

/// Where `sealbag-win` finds its machine-wide configuration.
const CONFIG: config::Platform = config::Platform::Windows;

const TOOL: collect::Tool = collect::Tool {
    name: "sealbag-win",
    version: sealbag_common::VERSION,
    default_profile: "windows-triage",
};

/// The parsers this tool provides.
pub fn hooks() -> Hooks {
    Hooks {
        parsers: vec![Arc::new(EvtxFileParser)],
        live: Vec::new(),
    }
}

/// The archive folder of a volume: `files/<name>/`.
pub fn archive_prefix(volume: &str) -> Vec<u8> {
    let name: String = volume
        .chars()
        .filter(|c| *c != ':' && *c != '/' && *c != '\\')
        .collect();
    format!("files/{}/", if name.is_empty() { "volume" } else { &name }).into_bytes()
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
            print_embedded_profiles(TargetOs::Windows);
            Exit::Complete.into()
        }
        Command::Config { command } => config::run_config(&TOOL, CONFIG, command).into(),
        Command::Collect {
            args,
            image,
            partition,
            volume,
        } => match image {
            Some(image) => {
                let opened = match crate::open_image(&image, partition) {
                    Ok(v) => v,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return Exit::Failed.into();
                    }
                };
                let stem = image
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let stem = stem.strip_suffix(".raw").unwrap_or(&stem).to_string();
                let mut host = crate::host::image_facts();
                host.hostname = stem.clone();
                let collection = collect::Collection {
                    tool: TOOL,
                    source: &opened.source,
                    archive_prefix: archive_prefix(&stem),
                    host,
                    log,
                    hooks: hooks(),
                };
                collect::run_collect(&args, collection).into()
            }
            None => live(&args, &volume, log),
        },
    }
}

#[cfg(windows)]
fn live(args: &CollectArgs, volume: &str, log: sealbag_common::cli::LogCapture) -> ExitCode {
    crate::live::collect_live(args, volume, log, TOOL, hooks()).into()
}

#[cfg(not(windows))]
fn live(_: &CollectArgs, volume: &str, _: sealbag_common::cli::LogCapture) -> ExitCode {
    eprintln!(
        "error: live collection of `{volume}` needs Windows\nhint: on this system, give an NTFS image with `--image FILE`"
    );
    Exit::Failed.into()
}
