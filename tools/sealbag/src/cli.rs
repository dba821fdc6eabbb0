//! The command line of `sealbag`, the responder's tool.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sealbag_common::archive::{unpack, verify, VerifyReport};
use sealbag_common::cli::{init_logging, Exit, LogArgs};
use sealbag_common::profile::import::{import_artifacts, import_kape};

/// The responder's side of sealbag: make keys, verify and unpack sealed
/// archives, and check collection profiles.
///
/// Exit codes: 0 success; 1 the archive is damaged, altered or incomplete
/// (the output says where); 2 bad usage, a bad key, or an unreadable input.
#[derive(Debug, Parser)]
#[command(name = "sealbag", version = sealbag_common::VERSION, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make an age identity (age-keygen's format) and print its public key.
    ///
    /// Keep the identity file with the response team; give the public key
    /// (`age1…`) to the collectors with `--recipient`.
    Keygen {
        /// Write the identity here (never overwrites); default: stdout.
        #[arg(short, long, value_name = "FILE", conflicts_with = "public_of")]
        output: Option<PathBuf>,
        /// Print the public key of an existing identity file instead.
        #[arg(short = 'y', value_name = "KEY")]
        public_of: Option<PathBuf>,
    },
    /// Decrypt an archive, re-hash every file against the manifest, check completeness.
    Verify {
        /// The age identity file (from `sealbag keygen`); repeatable.
        #[arg(short, long = "identity", value_name = "KEY")]
        identities: Vec<PathBuf>,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Endpoint of an S3-compatible store for `s3://…`; default AWS's.
        #[arg(long, value_name = "URL")]
        s3_endpoint: Option<String>,
        /// Region for `s3://…`; default AWS_REGION, else us-east-1.
        #[arg(long, value_name = "REGION")]
        s3_region: Option<String>,
        /// The sealed archive (`-` for stdin; a split set by any part or its
        /// index), or `s3://BUCKET/KEY` (credentials as for uploads: the
        /// environment, ~/.aws/credentials, the instance role;
        /// `s3://BUCKET/KEY.index.json` for a set uploaded with `--split`:
        /// every part checked first, then read), or an `https://…` URL that
        /// allows reading (an Azure read SAS, a presigned GET): streamed,
        /// never stored; a broken stream is resumed from the byte reached.
        archive: PathBuf,
    },
    /// Extract an archive safely into a new folder, verifying as it goes.
    Unpack {
        /// The age identity file; repeatable.
        #[arg(short, long = "identity", value_name = "KEY")]
        identities: Vec<PathBuf>,
        /// A new (or empty) folder to extract into.
        #[arg(long, value_name = "DIR")]
        into: PathBuf,
        /// The sealed archive (`-` for stdin).
        archive: PathBuf,
    },
    /// Make a presigned upload ticket: write-only delivery to one S3 object (or one split set).
    ///
    /// Starts a multipart upload with YOUR credentials (environment,
    /// ~/.aws/credentials or instance role) and presigns the URL of each
    /// part, the completion and the abort into a JSON ticket. Push the ticket
    /// with the collector (`--upload-ticket FILE`): the host can write that
    /// one object until the ticket expires, and nothing else.
    ///
    /// With `--url` (or `--azure-sas`) instead: wrap an Azure SAS URL or a
    /// presigned PUT URL made elsewhere into a ticket, so it reaches the host
    /// as a file rather than on the command line (where the process list
    /// shows it); the ticket expires with the URL.
    ///
    /// With `--split SIZE`: a split ticket for EDR channels and size caps.
    /// One multipart upload is started and presigned per part object
    /// `KEY.000`, `KEY.001`, … (ceil(--max-size / SIZE) of them, at most
    /// 1000), plus one for `KEY.index.json`; the collector writes
    /// the set (`--upload-ticket` alone, or with the same `--split`) and
    /// aborts the part uploads it did not need. Check it with
    /// `sealbag verify s3://BUCKET/KEY.index.json`.
    Ticket {
        /// The bucket.
        #[arg(long, required_unless_present = "url", conflicts_with = "url")]
        bucket: Option<String>,
        /// The object key.
        #[arg(long, required_unless_present = "url", conflicts_with = "url")]
        key: Option<String>,
        /// An Azure SAS URL (`https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB?sv=…`,
        /// create and write only) or a presigned PUT URL to carry in the ticket.
        #[arg(long, alias = "azure-sas", value_name = "URL")]
        url: Option<String>,
        /// How long the ticket stays valid (at most 7 days), e.g. `24h`.
        #[arg(long, value_parser = parse_duration, default_value = "24h")]
        expires: std::time::Duration,
        /// The largest archive it must carry (sets how many parts are presigned).
        #[arg(long, value_parser = sealbag_common::profile::parse_size, default_value = "50GiB")]
        max_size: u64,
        /// Presign a split set: part objects of at most SIZE bytes (e.g. `4GiB`).
        #[arg(long, value_name = "SIZE", value_parser = sealbag_common::profile::parse_size, conflicts_with = "url")]
        split: Option<u64>,
        /// Endpoint of an S3-compatible store; default AWS's.
        #[arg(long, value_name = "URL")]
        s3_endpoint: Option<String>,
        /// Region; default AWS_REGION, else us-east-1.
        #[arg(long, value_name = "REGION")]
        s3_region: Option<String>,
        /// Write the ticket here (never overwrites).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Work with collection profiles.
    Profile {
        #[command(subcommand)]
        command: ProfileCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ProfileCommand {
    /// Validate a profile (file or embedded name); errors give file, line and column.
    Check {
        /// Profile files or embedded names.
        #[arg(required = true, value_name = "NAME|PATH")]
        profiles: Vec<String>,
    },
    /// Print a profile with its includes expanded, as TOML.
    Show {
        /// Profile file or embedded name.
        profile: String,
    },
    /// List the embedded profiles.
    List,
    /// Convert KAPE targets (`.tkape` files, or folders such as a KapeFiles
    /// `Targets/` tree) into one TOML profile per target.
    ///
    /// Prints what was converted, what was approximated (notes) and what
    /// failed, with the reason. Exit 0 when everything converted, 1 when
    /// some targets failed, 2 when nothing could be read or written.
    ImportKape {
        /// `.tkape` files or folders to walk for them.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Folder to write the profiles into (created; files never overwritten).
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
    },
    /// Convert ForensicArtifacts YAML definitions into one TOML profile per artifact.
    ///
    /// FILE and PATH sources become globs, ARTIFACT_GROUP becomes includes;
    /// registry, WMI and command sources are counted as not convertible.
    ImportArtifacts {
        /// YAML files or folders to walk for them.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Folder to write the profiles into (created; files never overwritten).
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
    },
    /// Write a Markdown reference page for every embedded profile.
    Docs {
        /// Folder to write `<name>.md` into (created; existing pages replaced).
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
    },
}

/// Parses the command line, runs, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let _log = init_logging(&cli.log);
    match run(cli.command) {
        Ok(exit) => exit.into(),
        Err(message) => {
            eprintln!("error: {message}");
            Exit::Failed.into()
        }
    }
}

fn run(command: Command) -> Result<Exit, String> {
    match command {
        Command::Keygen { output, public_of } => {
            if let Some(key) = public_of {
                for public in crate::keys::public_keys(&key)? {
                    println!("{public}");
                }
                return Ok(Exit::Complete);
            }
            let public = crate::keys::generate(output.as_deref())?;
            match &output {
                Some(path) => {
                    eprintln!("wrote {}; its public key:", path.display());
                    println!("{public}");
                }
                None => eprintln!("public key: {public}"),
            }
            Ok(Exit::Complete)
        }
        Command::Verify {
            identities,
            json,
            s3_endpoint,
            s3_region,
            archive,
        } => {
            let s3 = sealbag_common::upload::S3Options {
                endpoint: s3_endpoint,
                region: s3_region,
            };
            let report = match crate::open::open_any(&archive, &identities, &s3) {
                Ok(plaintext) => verify(plaintext),
                Err(failure) => damaged_or_usage(failure)?,
            };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
                );
            }
            print_report(
                &sealbag_common::upload::strip_query(&archive.display().to_string()),
                &report,
            );
            Ok(if report.is_intact() {
                Exit::Complete
            } else {
                Exit::WithErrors
            })
        }
        Command::Unpack {
            identities,
            into,
            archive,
        } => {
            let report = match crate::open::open(&archive, &identities) {
                Ok(plaintext) => unpack(plaintext, &into).map_err(|e| e.to_string())?,
                Err(failure) => sealbag_common::archive::UnpackReport {
                    verify: damaged_or_usage(failure)?,
                    ..Default::default()
                },
            };
            for refused in &report.refused {
                eprintln!("not extracted: {refused}");
            }
            eprintln!("{} files written into {}", report.written, into.display());
            print_report(&archive.display().to_string(), &report.verify);
            Ok(if report.verify.is_intact() && report.refused.is_empty() {
                Exit::Complete
            } else {
                Exit::WithErrors
            })
        }
        Command::Ticket {
            bucket,
            key,
            url,
            expires,
            max_size,
            split,
            s3_endpoint,
            s3_region,
            output,
        } => {
            let options = sealbag_common::upload::S3Options {
                endpoint: s3_endpoint,
                region: s3_region,
            };
            let ticket = match (url, bucket, key) {
                (Some(url), _, _) => sealbag_common::upload::make_url_ticket(&url, expires)?,
                (None, Some(bucket), Some(key)) if split.is_some() => {
                    sealbag_common::upload::make_split_ticket(
                        &format!("s3://{bucket}/{key}"),
                        &options,
                        expires,
                        max_size,
                        split.unwrap_or_default(),
                    )?
                }
                (None, Some(bucket), Some(key)) => sealbag_common::upload::make_ticket(
                    &format!("s3://{bucket}/{key}"),
                    &options,
                    expires,
                    max_size,
                )?,
                _ => return Err("give `--bucket` and `--key`, or `--url`".into()),
            };
            let json = serde_json::to_vec_pretty(&ticket).map_err(|e| e.to_string())?;
            let mut file = std::fs::File::options()
                .write(true)
                .create_new(true)
                .open(&output)
                .map_err(|e| format!("cannot create {}: {e}", output.display()))?;
            std::io::Write::write_all(&mut file, &json)
                .map_err(|e| format!("cannot write {}: {e}", output.display()))?;
            if ticket.kind == sealbag_common::upload::KIND_S3_SPLIT {
                eprintln!(
                    "wrote {}: {} part objects of at most {} bytes presigned for {}.NNN (and {}.index.json), valid {}",
                    output.display(),
                    ticket.split_parts.len(),
                    ticket.split_size,
                    ticket.object,
                    ticket.object,
                    humantime_secs(expires)
                );
            } else if ticket.kind == sealbag_common::upload::KIND_S3_MULTIPART {
                eprintln!(
                    "wrote {}: {} parts presigned for {}, valid {}",
                    output.display(),
                    ticket.parts.len(),
                    ticket.object,
                    humantime_secs(expires)
                );
            } else {
                eprintln!(
                    "wrote {}: a `{}` ticket for {}, valid until {} (Unix time {})",
                    output.display(),
                    ticket.kind,
                    ticket.object,
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(ticket.expires_unix)
                    ),
                    ticket.expires_unix
                );
            }
            Ok(Exit::Complete)
        }
        Command::Profile { command } => match command {
            ProfileCommand::Check { profiles } => {
                let mut failed = false;
                for spec in profiles {
                    match crate::profiles::check(&spec) {
                        Ok((summary, warnings)) => {
                            println!("{summary}");
                            for w in warnings {
                                eprintln!("warning: {spec}: {w}");
                            }
                        }
                        Err(e) => {
                            eprintln!("error: {e}");
                            failed = true;
                        }
                    }
                }
                Ok(if failed { Exit::Failed } else { Exit::Complete })
            }
            ProfileCommand::Show { profile } => {
                print!("{}", crate::profiles::show(&profile)?);
                Ok(Exit::Complete)
            }
            ProfileCommand::List => {
                print!("{}", crate::profiles::list_embedded());
                Ok(Exit::Complete)
            }
            ProfileCommand::ImportKape { paths, output } => {
                let report = import_kape(&paths).map_err(|e| e.to_string())?;
                crate::import::finish(&report, &output)
            }
            ProfileCommand::ImportArtifacts { paths, output } => {
                let report = import_artifacts(&paths).map_err(|e| e.to_string())?;
                crate::import::finish(&report, &output)
            }
            ProfileCommand::Docs { output } => {
                let written = crate::docs::write_all(&output)?;
                eprintln!("{written} pages written into {}", output.display());
                Ok(Exit::Complete)
            }
        },
    }
}

/// A usage problem is an error (exit 2); damage is a report (exit 1).
fn damaged_or_usage(failure: crate::open::OpenFailure) -> Result<VerifyReport, String> {
    match failure {
        crate::open::OpenFailure::Usage(message) => Err(message),
        crate::open::OpenFailure::Damaged(damage) => Ok(VerifyReport {
            damaged: Some(damage),
            ..Default::default()
        }),
    }
}

fn print_report(name: &str, report: &VerifyReport) {
    for line in &report.mismatches {
        eprintln!("ALTERED  {line}");
    }
    for line in &report.missing {
        eprintln!("MISSING  {line}");
    }
    for line in &report.unlisted {
        eprintln!("UNLISTED {line}");
    }
    if let Some(damage) = &report.damaged {
        eprintln!("DAMAGED  {damage}");
    }
    for hit in &report.hits {
        eprintln!("HIT      {}", describe_hit(hit));
    }
    let statuses: Vec<String> = report
        .statuses
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    eprintln!(
        "{name}: {} files verified; manifest: {} records ({})",
        report.files_verified,
        report.manifest_records,
        statuses.join(", ")
    );
    if !report.hits.is_empty() {
        eprintln!(
            "{name}: {} IOC hit{} (sealbag/hits.jsonl); hits are findings, not damage",
            report.hits.len(),
            if report.hits.len() == 1 { "" } else { "s" }
        );
    }
    if report.complete == Some(false) {
        eprintln!(
            "note: the collection stopped early ({}); what it holds verifies, but it is not the whole profile",
            report.stopped.as_deref().unwrap_or("reason unknown")
        );
    }
    if report.is_intact() {
        eprintln!("{name}: INTACT");
    } else {
        eprintln!("{name}: NOT INTACT");
    }
}

/// One line for a hit of `sealbag/hits.jsonl`: path, what matched, where it is.
fn describe_hit(hit: &serde_json::Value) -> String {
    let text = |v: &serde_json::Value, key: &str| {
        v.get(key)
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .to_string()
    };
    let indicator = hit.get("indicator").cloned().unwrap_or_default();
    let label = text(&indicator, "label");
    let mut line = format!(
        "{}  {} {}{}  [{}",
        text(hit, "path"),
        text(&indicator, "kind"),
        text(&indicator, "value"),
        if label.is_empty() {
            String::new()
        } else {
            format!(" ({label})")
        },
        text(&indicator, "source"),
    );
    if let Some(n) = indicator.get("line").and_then(|l| l.as_u64()) {
        line.push_str(&format!(":{n}"));
    }
    line.push(']');
    let archive = text(hit, "archive_path");
    if archive.is_empty() {
        line.push_str("  not in the archive");
    } else {
        line.push_str(&format!("  -> {archive}"));
    }
    let note = text(hit, "note");
    if !note.is_empty() {
        line.push_str(&format!("  note: {note}"));
    }
    if hit.is_string() {
        return format!("(unreadable hit line) {}", hit.as_str().unwrap_or(""));
    }
    line
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}`: write e.g. `90m`, `24h`, `7d`"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" | "" => n * 3600,
        "d" => n * 86400,
        _ => return Err(format!("`{text}`: write e.g. `90m`, `24h`, `7d`")),
    };
    Ok(std::time::Duration::from_secs(secs))
}

fn humantime_secs(d: std::time::Duration) -> String {
    format!("{} s", d.as_secs())
}
