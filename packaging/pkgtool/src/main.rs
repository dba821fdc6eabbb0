//! `sealbag-pkgtool`: writes sealbag's macOS installer (a flat product
//! archive, as `productbuild` writes it) on any OS, so a Linux CI job
//! produces the `.pkg` Jamf deploys.
//!
//! The format work is `embala-pkg`'s (xar with a Distribution, a component
//! holding PackageInfo, Bom and a gzipped odc-cpio Payload; output
//! deterministic). This binary only turns flags into its `PkgSpec`.
//!
//! ```text
//! sealbag-pkgtool --identifier com.example.sealbag --version 0.1.0 \
//!     --install-location /usr/local/sealbag \
//!     --file target/sealbag-mac=sealbag-mac \
//!     --file profiles/macos-triage.toml=profiles/macos-triage.toml \
//!     --output sealbag-0.1.0.pkg
//! ```

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;
use embala_pkg::{DirSpec, FileSpec, PkgSpec};

/// Writes a macOS flat installer package (.pkg) from files on disk.
///
/// Every payload file installs owned by root:wheel under
/// `--install-location`; executables (source mode +x) as 0755, others 0644.
#[derive(Debug, Parser)]
#[command(name = "sealbag-pkgtool", version, about, long_about)]
struct Cli {
    /// Receipt identifier (`pkgutil --pkgs`), reverse DNS.
    #[arg(long)]
    identifier: String,
    /// Package version (CFBundleShortVersionString style, e.g. `0.1.0`).
    #[arg(long)]
    version: String,
    /// Absolute folder the payload installs under.
    #[arg(long)]
    install_location: String,
    /// Name shown by Installer.app.
    #[arg(long, default_value = "sealbag")]
    title: String,
    /// A payload file: `SOURCE=DEST`, DEST relative to the install location.
    #[arg(long = "file", value_name = "SOURCE=DEST", required = true)]
    files: Vec<String>,
    /// An (empty) payload folder to create, relative to the install location.
    #[arg(long = "dir", value_name = "DEST")]
    dirs: Vec<String>,
    /// Where to write the .pkg; never overwritten.
    #[arg(short, long)]
    output: PathBuf,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let files = cli
        .files
        .iter()
        .map(|f| {
            let Some((src, dest)) = f.split_once('=') else {
                bail!("--file {f:?}: expected SOURCE=DEST");
            };
            Ok(FileSpec {
                src: PathBuf::from(src),
                dest: dest.to_string(),
                mode: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if cli.output.exists() {
        bail!("{}: exists; not overwriting", cli.output.display());
    }
    let name = cli
        .identifier
        .rsplit('.')
        .next()
        .unwrap_or(&cli.identifier)
        .to_string();
    let spec = PkgSpec {
        name,
        display_name: cli.title,
        identifier: cli.identifier,
        version: cli.version,
        install_location: cli.install_location,
        enable_user_home: false,
        files,
        directories: cli
            .dirs
            .into_iter()
            .map(|dest| DirSpec { dest, mode: None })
            .collect(),
        scripts: None,
    };
    embala_pkg::build(&spec, &cli.output)
        .with_context(|| format!("writing {}", cli.output.display()))?;
    Ok(())
}
