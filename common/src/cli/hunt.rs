//! Hunting flags of `collect`: indicator lists, YARA rules, sweeps.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::glob::Glob;
use crate::hunt::{Hunt, HuntConfig, DEFAULT_SWEEP_MAX_FILE_SIZE};
use crate::profile::Profile;

/// Flags that check every file read against indicators and rules, and sweep
/// wider trees for files that hit.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Hunting (hits go to sealbag/hits.jsonl; a hit is not an error)")]
pub struct HuntArgs {
    /// Indicator list: MD5/SHA-1/SHA-256 lines (label after whitespace, `#`
    /// comments), CSV with a header (`sha256,md5,sha1,hash,filename,label`,
    /// or MISP's `type,value`), or a STIX 2.1 bundle; repeatable. Adds to
    /// the profile's `[ioc] files`.
    #[arg(long = "ioc", value_name = "FILE")]
    pub ioc: Vec<PathBuf>,

    /// YARA rules: a `.yar` file or a folder of them; repeatable. Needs a
    /// build with the `yara` feature. Adds to the profile's `[ioc] yara`.
    #[arg(long = "yara", value_name = "RULES")]
    pub yara: Vec<PathBuf>,

    /// Scan with YARA only files up to this size; larger ones are still hashed.
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_size_arg)]
    pub yara_max_size: u64,

    /// Give up the YARA scan of one file after this long (counted in `sealbag/hunt.json`).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration_arg)]
    pub yara_timeout: Duration,

    /// Also walk these trees, read each regular file once to hash (and
    /// scan) it, and collect only the files that hit; repeatable. Adds to
    /// the profile's `[sweep] paths`. Files over `[sweep] max_file_size`
    /// (default 512 MiB) or `--max-file-size` are not read.
    #[arg(long = "sweep", value_name = "PATH", num_args = 1..)]
    pub sweep: Vec<String>,
}

fn parse_duration_arg(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e}: write e.g. `10s`, `1m`"))
}

fn parse_size_arg(text: &str) -> Result<u64, String> {
    crate::profile::parse_size(text)
}

/// Loads the lists and rules that the flags and the profile name; `None`
/// when there is nothing to hunt for. Errors are for the user (exit 2).
pub fn load_hunt(args: &HuntArgs, profile: &Profile) -> Result<Option<Arc<Hunt>>, String> {
    let mut config = HuntConfig {
        ioc_files: profile.ioc.files.clone(),
        yara: profile.ioc.yara.clone(),
        yara_max_size: args.yara_max_size,
        yara_timeout: args.yara_timeout,
        sweep: profile.sweep.paths.clone(),
        sweep_max_file_size: Some(
            profile
                .sweep
                .max_file_size
                .unwrap_or(DEFAULT_SWEEP_MAX_FILE_SIZE),
        ),
    };
    for file in &args.ioc {
        if !config.ioc_files.contains(file) {
            config.ioc_files.push(file.clone());
        }
    }
    for rules in &args.yara {
        if !config.yara.contains(rules) {
            config.yara.push(rules.clone());
        }
    }
    for path in &args.sweep {
        let glob = Glob::parse(path).map_err(|e| {
            format!("--sweep {path}: {e}\nhint: sweep paths are inside the source, absolute: `--sweep /home`, or `--sweep /Users` for a Windows volume")
        })?;
        if !config.sweep.iter().any(|g| g.as_str() == glob.as_str()) {
            config.sweep.push(glob);
        }
    }
    if config.is_empty() {
        return Ok(None);
    }
    if !config.sweep.is_empty() && config.ioc_files.is_empty() && config.yara.is_empty() {
        return Err("--sweep needs something to look for\nhint: give `--ioc FILE` (hashes, names) or `--yara RULES`, or `[ioc] files` in the profile".into());
    }
    let hunt = Hunt::load(config).map_err(|e| e.to_string())?;
    Ok(Some(Arc::new(hunt)))
}
