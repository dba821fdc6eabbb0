//! Flags shared by every collector, flattened into each tool's clap struct.

use std::path::PathBuf;

/// How the tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressionArg {
    /// zstd (decompress with `zstd -d`); the default.
    Zstd,
    /// No compression: larger, for when the output must be a bare tar inside age.
    None,
}

/// Verbosity flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LogArgs {
    /// More detail on stderr (-v: debug, -vv: trace). `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// Flags of every `collect` command.
#[derive(Debug, Clone, clap::Args)]
pub struct CollectArgs {
    /// Profile to run: an embedded name (see `profiles`) or a TOML file.
    #[arg(short, long, value_name = "NAME|PATH")]
    pub profile: Option<String>,

    /// Seal the archive to this age public key (`age1…`); repeatable.
    #[arg(short, long = "recipient", value_name = "AGE_PUBKEY")]
    pub recipients: Vec<String>,

    /// Seal to every public key in this file (one per line, `#` comments); repeatable.
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    pub recipients_files: Vec<PathBuf>,

    /// Where to write the sealed archive; `-` for stdout; `s3://BUCKET/KEY`
    /// to stream it to S3 (KEY may use `{host}`, `{time}`, `{case}`);
    /// `'https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB?<SAS>'` to
    /// stream it to Azure as blocks (an http(s) URL is Azure when its query
    /// has `sv` and `sig` or its host is `*.blob.core.windows.net`); any
    /// other `https://…` URL is a presigned PUT (see `--upload-buffer`).
    /// Quote URLs. Default: `<host>-<UTC time>.tar.zst.age` in the current
    /// folder. Never overwrites.
    #[arg(short, long, value_name = "PATH|-|s3://BUCKET/KEY|URL")]
    pub output: Option<PathBuf>,

    /// Write the archive unencrypted. Lab use only: anyone who gets the file reads the evidence.
    #[arg(long)]
    pub no_encrypt: bool,

    /// Case identifier, recorded in the chain of custody.
    #[arg(long = "case", value_name = "ID")]
    pub case_id: Option<String>,

    /// Who ran the collection, recorded in the chain of custody.
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,

    /// List what would be collected, with sizes, reading no file and writing no archive.
    #[arg(long)]
    pub dry_run: bool,

    /// Compression of the tar stream.
    #[arg(long, value_enum, default_value_t = CompressionArg::Zstd)]
    pub compression: CompressionArg,

    /// zstd level (1 fastest … 19 smallest).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=19))]
    pub zstd_level: i32,

    /// Skip files larger than this (e.g. `512MiB`), whatever the profile says.
    #[arg(long, value_name = "SIZE", value_parser = parse_size_arg)]
    pub max_file_size: Option<u64>,

    /// Stop taking files once this much was stored (e.g. `20GiB`); the archive is finished cleanly.
    #[arg(long, value_name = "SIZE", value_parser = parse_size_arg)]
    pub max_total: Option<u64>,

    /// Space kept free beside the output so the archive can be finished if the
    /// disk fills. Default: 24 MiB plus 6 MiB per compression thread (what
    /// zstd may hold in flight).
    #[arg(long, value_name = "SIZE", value_parser = parse_size_arg)]
    pub reserve: Option<u64>,

    /// Stop taking files after this long (e.g. `30m`); the archive is finished cleanly.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub time_limit: Option<std::time::Duration>,

    /// Compression threads (default: the number of CPUs, at most 4).
    #[arg(long, value_name = "N")]
    pub threads: Option<u32>,

    /// Read at most this many megabytes (10^6 bytes) per second from the
    /// source, e.g. `20` or `2.5`: keeps the host's disk and storage network
    /// free for its own work.
    #[arg(long, value_name = "MB/S", value_parser = parse_rate_arg)]
    pub rate_limit: Option<u64>,

    /// Yield CPU and disk to the host's own work (Linux: nice 19 and the idle
    /// I/O class; macOS: nice 19 and I/O throttling; Windows: background mode).
    #[arg(long)]
    pub low_priority: bool,

    /// Allow writing the archive onto the volume being collected. By default
    /// a live collection refuses: the archive would overwrite free space that
    /// may still hold deleted evidence.
    #[arg(long)]
    pub allow_same_volume: bool,

    /// Indicator lists, YARA rules and sweeps.
    #[command(flatten)]
    pub hunt: super::HuntArgs,

    /// Cut the sealed output into numbered parts of at most SIZE (`….age.000`,
    /// `.001`, …; at least 64KiB) with an index `….age.index.json` of each part's
    /// SHA-256, for channels that cap one file's size (EDR live response).
    /// `cat` of the parts in order is the archive; `sealbag verify` takes the set.
    #[arg(long, value_name = "SIZE", value_parser = parse_split_arg)]
    pub split: Option<u64>,

    /// Endpoint of an S3-compatible store for `--output s3://BUCKET/KEY`
    /// (e.g. `https://minio.example:9000`); default: AWS's regional endpoint.
    /// Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
    /// (AWS_SESSION_TOKEN), ~/.aws/credentials (AWS_PROFILE) or the instance
    /// role (IMDSv2), never from a flag.
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// Region for `--output s3://…`; default AWS_REGION, else us-east-1.
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,

    /// With an upload (`s3://`, `--upload-ticket`, an Azure SAS or a presigned
    /// PUT URL): also write the sealed archive (ciphertext only) into DIR as
    /// it is sent, named after the object (never overwriting). When the store
    /// acknowledges the whole upload the local copy is deleted; when the
    /// upload fails for good, or the store cannot be reached at all, the
    /// collection goes on into the local copy, which is kept, and the run
    /// exits 3 naming it (`kept_locally` in the summary). DIR on the
    /// collected volume is refused unless `--allow-same-volume`; `--reserve`
    /// applies there as for a local output.
    #[arg(long, value_name = "DIR")]
    pub fallback_output: Option<PathBuf>,

    /// Upload the archive with a presigned ticket made by `sealbag ticket`:
    /// the host holds permission to write that one object and nothing else.
    #[arg(long, value_name = "FILE", conflicts_with = "output")]
    pub upload_ticket: Option<PathBuf>,

    /// Largest archive held in memory for `--output https://…` with a plain
    /// presigned PUT URL (default 1GiB, at most 5GiB: S3's limit for one
    /// PUT). A PUT needs the whole length first and nothing is written to
    /// the host's disk, so the archive is sent when finished; the collection
    /// stops `--reserve` bytes before this size, and the archive is finished
    /// (exit 1). Tickets and Azure SAS URLs stream instead.
    #[arg(long, value_name = "SIZE", value_parser = parse_size_arg)]
    pub upload_buffer: Option<u64>,

    /// First part size of a multipart upload (default 8MiB; S3's minimum is 5MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size_arg, hide = true)]
    pub upload_part_size: Option<u64>,
}

/// Bytes per second from `MB/s` (decimal megabytes, fractions allowed).
pub(super) fn parse_rate_arg(text: &str) -> Result<u64, String> {
    let hint = "write megabytes per second, e.g. `20` or `2.5`";
    let value: f64 = text
        .trim()
        .trim_end_matches("MB/s")
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number: {hint}"))?;
    if !value.is_finite() || !(0.01..=1.0e7).contains(&value) {
        return Err(format!(
            "`{text}` is out of range (0.01 to 10000000): {hint}"
        ));
    }
    Ok((value * 1_000_000.0) as u64)
}

fn parse_duration_arg(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e}: write e.g. `90s`, `30m`, `2h`"))
}

fn parse_size_arg(text: &str) -> Result<u64, String> {
    crate::profile::parse_size(text)
}

fn parse_split_arg(text: &str) -> Result<u64, String> {
    let size = crate::profile::parse_size(text)?;
    if size < 64 * 1024 {
        return Err("a part must be at least 64KiB".into());
    }
    Ok(size)
}
