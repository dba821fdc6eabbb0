//! The command line of `sealbag-linux`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sealbag_common::cli::{
    collect, init_logging, print_embedded_profiles, CollectArgs, Exit, LogArgs,
};
use sealbag_common::profile::TargetOs;
use sealbag_common::FsSource;

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
#[command(name = "sealbag-linux", version = sealbag_common::VERSION, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Collect from this machine (or a mounted tree) into a sealed archive.
    Collect {
        #[command(flatten)]
        args: Box<CollectArgs>,
        /// Collect from this directory as if it were `/` (a mounted image, a copied tree).
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// Also read `/etc/shadow` (password hashes) for the `users` live kind,
        /// into `live/shadow.jsonl`. Off by default: hashes are secrets the
        /// responder must ask for. No embedded profile collects shadow otherwise.
        #[arg(long)]
        include_shadow: bool,
    },
    /// List the embedded profiles.
    Profiles,
}

const TOOL: collect::Tool = collect::Tool {
    name: "sealbag-linux",
    version: sealbag_common::VERSION,
    default_profile: "linux-triage",
};

/// Parses the command line, runs, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = init_logging(&cli.log);
    match cli.command {
        Command::Profiles => {
            print_embedded_profiles(TargetOs::Linux);
            Exit::Complete.into()
        }
        Command::Collect {
            args,
            root,
            include_shadow,
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
