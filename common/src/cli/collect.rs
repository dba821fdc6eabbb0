//! The `collect` command, shared by every collector: profile, recipients,
//! output, signals, the engine run, the custody record and the summary.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use super::exit::Exit;
use super::progress::Progress;
use super::{CollectArgs, CompressionArg, LogCapture};
use crate::archive::{
    ArchiveOptions, ArchiveWriter, CollectionInfo, Encryption, HostFacts, ManifestRecord, Output,
    OutputFile, ProfileRecord, Status, VolumeRecord, COLLECTION_FORMAT,
};
use crate::engine::{
    self, EngineOptions, Observer, RunReport, Sink, SinkError, StopReason, StopSignal, StoredEntry,
};
use crate::profile::{format_size, Profile};
use crate::source::{Source, Timestamp};

/// Who is collecting: the tool's name and version, and its default profile.
#[derive(Debug, Clone)]
pub struct Tool {
    /// Binary name (`sealbag-linux`).
    pub name: &'static str,
    /// Version string.
    pub version: &'static str,
    /// Profile used when `--profile` is not given.
    pub default_profile: &'static str,
}

/// Everything a collection needs besides the flags.
pub struct Collection<'a> {
    /// The tool.
    pub tool: Tool,
    /// Where to read from.
    pub source: &'a dyn Source,
    /// Prefix of stored files in the archive (`files/`, `files/C/`).
    pub archive_prefix: Vec<u8>,
    /// Facts about the collecting machine.
    pub host: HostFacts,
    /// The captured log, stored in the archive.
    pub log: LogCapture,
    /// Parsers and live collectors this tool provides.
    pub hooks: crate::engine::Hooks,
}

/// One file system of a disk, collected under `files/<name>/`.
pub struct Volume<'a> {
    /// Its folder in the archive and its `volume` in the manifest (`p1`,
    /// `root`, `vg0-root`): folder-safe, unique within the collection.
    pub name: String,
    /// Where to read it.
    pub source: &'a dyn Source,
}

/// A collection from the file systems of one disk (an image file, a block
/// device): each volume is walked with the same profile; files go under
/// `files/<volume>/`, a volume's generated members under `live/<volume>/`,
/// and each manifest record says its `volume`.
pub struct DiskCollection<'a> {
    /// The tool.
    pub tool: Tool,
    /// The disk itself, for the chain of custody (`kind`: `disk-image`…).
    pub disk: crate::source::SourceInfo,
    /// The file systems found on it, in order.
    pub volumes: Vec<Volume<'a>>,
    /// Facts about the collecting machine.
    pub host: HostFacts,
    /// The captured log, stored in the archive.
    pub log: LogCapture,
    /// Parsers and live collectors this tool provides.
    pub hooks: crate::engine::Hooks,
}

/// What one run reads, whichever way it was asked for.
struct Plan<'a> {
    tool: Tool,
    info: crate::source::SourceInfo,
    volumes: Vec<PlanVolume<'a>>,
    host: HostFacts,
    log: LogCapture,
    hooks: crate::engine::Hooks,
}

struct PlanVolume<'a> {
    name: Option<String>,
    source: &'a dyn Source,
    prefix: Vec<u8>,
}

/// Runs a collection as the flags say; prints the summary; returns the exit.
pub fn run_collect(args: &CollectArgs, collection: Collection<'_>) -> Exit {
    let plan = Plan {
        tool: collection.tool,
        info: collection.source.info(),
        volumes: vec![PlanVolume {
            name: None,
            source: collection.source,
            prefix: collection.archive_prefix,
        }],
        host: collection.host,
        log: collection.log,
        hooks: collection.hooks,
    };
    finish_run(try_collect(args, plan))
}

/// Runs a collection over every volume of a disk (see [`DiskCollection`]).
pub fn run_collect_disk(args: &CollectArgs, collection: DiskCollection<'_>) -> Exit {
    let plan = Plan {
        tool: collection.tool,
        info: collection.disk,
        volumes: collection
            .volumes
            .into_iter()
            .map(|v| PlanVolume {
                prefix: format!("files/{}/", v.name).into_bytes(),
                name: Some(v.name),
                source: v.source,
            })
            .collect(),
        host: collection.host,
        log: collection.log,
        hooks: collection.hooks,
    };
    finish_run(try_collect(args, plan))
}

fn finish_run(result: Result<Exit, String>) -> Exit {
    match result {
        Ok(exit) => exit,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("error: {message}");
            Exit::Failed
        }
    }
}

fn try_collect(args: &CollectArgs, collection: Plan<'_>) -> Result<Exit, String> {
    let started = Timestamp::now();
    // A split ticket sets `--split` (checked before anything is collected).
    let resolved;
    let args = match ticket_split(args)? {
        Some(size) if args.split.is_none() => {
            resolved = CollectArgs {
                split: Some(size),
                ..args.clone()
            };
            &resolved
        }
        _ => args,
    };
    if args.low_priority {
        // First, before the compression and writer threads exist: they inherit it.
        match crate::live::lower_priority() {
            Ok(done) => tracing::info!("--low-priority: {done}"),
            Err(e) => tracing::warn!(
                "--low-priority: cannot lower the priority ({e}); collecting at normal priority"
            ),
        }
    }
    let limit = args.rate_limit.map(|rate| {
        tracing::info!(
            bytes_per_second = rate,
            "--rate-limit: source reads held to {:.2} MB/s",
            rate as f64 / 1e6
        );
        crate::source::RateLimit::new(rate)
    });
    // One budget shared by every volume's reads.
    let throttled: Vec<crate::source::ThrottledSource<'_>> = match &limit {
        Some(limit) => collection
            .volumes
            .iter()
            .map(|v| crate::source::ThrottledSource::new(v.source, limit.clone()))
            .collect(),
        None => Vec::new(),
    };
    let collection = if throttled.is_empty() {
        collection
    } else {
        Plan {
            volumes: collection
                .volumes
                .into_iter()
                .zip(&throttled)
                .map(|(volume, source)| PlanVolume {
                    source: source as &dyn Source,
                    ..volume
                })
                .collect(),
            ..collection
        }
    };
    let spec = args
        .profile
        .clone()
        .unwrap_or_else(|| collection.tool.default_profile.to_string());
    let profile = Profile::load(&spec).map_err(|e| format!("bad profile: {e}"))?;
    tracing::info!(profile = %profile.name, source = %collection.info.location, "starting collection");
    let hunt = super::load_hunt(&args.hunt, &profile)?;

    let stop = StopSignal::new();
    let base_options = EngineOptions {
        archive_prefix: Vec::new(),
        max_file_size: args.max_file_size,
        max_total: args.max_total,
        dry_run: args.dry_run,
        stop: stop.clone(),
        hooks: collection.hooks.clone(),
        own_files: Vec::new(),
        run_commands: false,
        hunt: hunt.clone(),
    };
    let volume_options = |volume: &PlanVolume<'_>| EngineOptions {
        archive_prefix: volume.prefix.clone(),
        // Commands describe the running machine: only run them when it is the source.
        run_commands: volume.source.info().kind == "live",
        ..base_options.clone()
    };
    if args.dry_run {
        let mut exit = Exit::Complete;
        for volume in &collection.volumes {
            exit = dry_run(&profile, volume.source, &volume_options(volume))?;
        }
        return Ok(exit);
    }

    let recipients = if args.no_encrypt {
        tracing::warn!("--no-encrypt: the archive is NOT encrypted; anyone who gets the file can read the evidence");
        None
    } else {
        let list = super::resolve_recipients(
            &args.recipients,
            &args.recipients_files,
            &profile.recipients,
            &profile.name,
        )?;
        if list.is_empty() {
            return Err("no recipient to seal the archive to\nhint: pass the responder's public key with `--recipient age1…` (`sealbag keygen` makes one), or `--no-encrypt` for lab use".into());
        }
        Some(list)
    };

    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, |n| (n.get() as u32).min(4))
    });
    let reserve = args
        .reserve
        .unwrap_or(24 * MIB + u64::from(threads) * 6 * MIB);
    let (output, output_name) = open_output(
        args,
        &collection.host.hostname,
        started,
        reserve,
        &stop,
        &collection.info,
    )?;
    let output_path = match &output {
        Output::File(file) => Some(file.path().to_path_buf()),
        Output::Fallback(fallback) => Some(fallback.local_path().to_path_buf()),
        Output::Stdout(_) | Output::Upload(_) => None,
    };
    let split_index = match &output {
        Output::File(file) => file.index_path().map(|p| p.display().to_string()),
        Output::Upload(_) | Output::Fallback(_) if args.split.is_some() => {
            Some(format!("{output_name}.index.json"))
        }
        Output::Stdout(_) | Output::Upload(_) | Output::Fallback(_) => None,
    };
    let zstd_level = match args.compression {
        CompressionArg::Zstd => Some(args.zstd_level),
        CompressionArg::None => None,
    };
    let archive_options = ArchiveOptions {
        recipients: recipients.clone(),
        zstd_level,
        threads,
    };
    let mut writer = ArchiveWriter::new(output, &archive_options)
        .map_err(|e| format!("cannot start the archive in {output_name}: {e}"))?;
    writer
        .add_bytes(crate::archive::names::PROFILE, profile.text.as_bytes())
        .map_err(|e| format!("cannot write to {output_name}: {e}"))?;

    let handler_stop = stop.clone();
    if let Err(e) = crate::live::on_interrupt(move || {
        handler_stop.request(StopReason::Interrupted);
    }) {
        tracing::warn!(
            "cannot catch Ctrl-C/SIGTERM ({e}); an interrupted run will leave a cut-off archive"
        );
    }

    if let Some(limit) = args.time_limit {
        let timer_stop = stop.clone();
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + limit;
            while std::time::Instant::now() < deadline {
                if timer_stop.is_set() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            timer_stop.request(StopReason::TimeLimit);
        });
    }

    let progress = Progress::new(io::stderr().is_terminal());
    let mut report = RunReport {
        counts: Default::default(),
        stopped: None,
    };
    for volume in &collection.volumes {
        if stop.is_set() {
            break;
        }
        let mut options = volume_options(volume);
        if let Some(path) = &output_path {
            options.own_files = own_files_in_source(path, volume.source, args.split);
        }
        let result = match &volume.name {
            Some(name) => {
                tracing::info!(volume = %name, source = %volume.source.info().location, "collecting volume");
                let mut sink = VolumeSink {
                    inner: &mut writer,
                    name,
                };
                engine::run(&profile, volume.source, &mut sink, &options, &&progress)
            }
            None => engine::run(&profile, volume.source, &mut writer, &options, &&progress),
        };
        match result {
            Ok(one) => {
                report.counts.add(&one.counts);
                report.stopped = one.stopped;
            }
            Err(e) => {
                tracing::error!("{e}");
                report.stopped = Some(StopReason::OutputFailed);
                break;
            }
        }
    }
    progress.finish();
    if let Some(reason) = report.stopped {
        tracing::warn!("collection stopped early: {}", reason.describe());
    }
    if let Some(hunt) = &hunt {
        write_hunt(&mut writer, hunt).map_err(|e| format!("cannot write to {output_name}: {e}"))?;
    }

    let info = CollectionInfo {
        format: COLLECTION_FORMAT.to_string(),
        tool: collection.tool.name.to_string(),
        version: collection.tool.version.to_string(),
        command_line: std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        case_id: args.case_id.clone(),
        operator: args.operator.clone(),
        profile: ProfileRecord {
            name: profile.name.clone(),
            sources: profile.origins.clone(),
        },
        host: collection.host.clone(),
        source: collection.info.clone(),
        volumes: collection
            .volumes
            .iter()
            .filter_map(|v| {
                v.name.as_ref().map(|name| VolumeRecord {
                    name: name.clone(),
                    source: v.source.info(),
                })
            })
            .collect(),
        started,
        finished: Timestamp::now(),
        complete: report.stopped.is_none(),
        stopped: report.stopped,
        counts: report.counts.clone(),
        encryption: Encryption {
            scheme: if recipients.is_some() {
                "age-x25519"
            } else {
                "none"
            }
            .into(),
            recipients: recipients.iter().flatten().map(|r| r.to_string()).collect(),
        },
        compression: zstd_level.map_or("none".into(), |l| format!("zstd-{l}")),
    };
    let sealed = writer
        .finish(&collection.log.snapshot(), &info)
        .map_err(|e| format!("cannot finish the archive {output_name}: {e}"))?;

    let counts = &report.counts;
    let stopped = report
        .stopped
        .map(|r| {
            format!(
                " (STOPPED EARLY: {}; the archive is valid and says so)",
                r.describe()
            )
        })
        .unwrap_or_default();
    let hits = match &hunt {
        Some(_) => format!(
            ", {} IOC hit{} (sealbag/hits.jsonl)",
            counts.hits,
            if counts.hits == 1 { "" } else { "s" }
        ),
        None => String::new(),
    };
    eprintln!(
        "sealed {output_name}: {} collected ({}), {} partial, {} errors, {} skipped{hits}{stopped}\nsha256 {}  {} bytes",
        counts.ok,
        format_size(counts.bytes),
        counts.partial,
        counts.error,
        counts.skipped,
        sealed.sha256,
        sealed.bytes
    );
    // A macOS profile whose files were refused: say what is usually missing.
    let full_disk_access = (profile.os == crate::profile::TargetOs::Macos
        && counts.permission_denied > 0)
        .then(|| {
            format!(
                "{} entries refused by the OS: {} (grant it to the binary with packaging/macos/sealbag-pppc.mobileconfig through your MDM), or run as root; the manifest lists them",
                counts.permission_denied,
                crate::engine::FULL_DISK_ACCESS
            )
        });
    if let Some(warning) = &full_disk_access {
        eprintln!("warning: {warning}");
    }
    if let Some(index) = &split_index {
        eprintln!("split into parts `{output_name}.NNN`; their SHA-256 in {index}");
    }
    if output_name != "stdout" {
        let mut summary = serde_json::json!({
            "output": output_name,
            "sha256": sealed.sha256,
            "bytes": sealed.bytes,
            "complete": info.complete,
            "counts": counts,
        });
        if let Some(warning) = full_disk_access {
            summary["warning"] = warning.into();
        }
        if let Some(index) = &split_index {
            summary["split_index"] = serde_json::Value::from(index.as_str());
        }
        if let Some(delivery) = &sealed.delivery {
            summary["uploaded"] = delivery.uploaded.into();
            if let Some(error) = &delivery.error {
                summary["upload_error"] = error.as_str().into();
            }
            if let Some(kept) = &delivery.kept_locally {
                summary["kept_locally"] = kept.display().to_string().into();
            }
        }
        println!("{summary}");
    }
    if let Some(delivery) = &sealed.delivery {
        match &delivery.kept_locally {
            Some(kept) => {
                let error = delivery.error.as_deref().unwrap_or("");
                eprintln!(
                    "UPLOAD FAILED: {error}\nthe sealed archive is KEPT LOCALLY at {} (sha256 {}, {} bytes); nothing collected is lost\nhint: deliver that file by other means (it is encrypted), e.g. `aws s3 cp` or your EDR's file fetch, then delete it",
                    kept.display(),
                    sealed.sha256,
                    sealed.bytes
                );
                return Ok(Exit::KeptLocally);
            }
            None => eprintln!(
                "upload complete; the local fallback copy was deleted (the store has the whole archive)"
            ),
        }
    }
    if report.stopped == Some(StopReason::OutputFailed) {
        return Ok(Exit::Failed);
    }
    Ok(if counts.has_errors() || report.stopped.is_some() {
        Exit::WithErrors
    } else {
        Exit::Complete
    })
}

const MIB: u64 = 1 << 20;

/// Adds `sealbag/hits.jsonl` and `sealbag/hunt.json` to the archive.
fn write_hunt(writer: &mut ArchiveWriter, hunt: &crate::hunt::Hunt) -> io::Result<()> {
    let (hits, summary) = hunt.finish()?;
    writer.add_bytes(crate::hunt::HITS_MEMBER, &hits)?;
    let json = serde_json::to_vec_pretty(&summary).map_err(io::Error::other)?;
    writer.add_bytes(crate::hunt::HUNT_MEMBER, &json)
}

/// The output and its reserve as paths of the source, when the source is
/// the live system or a tree that contains them: never collect ourselves.
fn own_files_in_source(
    output: &std::path::Path,
    source: &dyn Source,
    split: Option<u64>,
) -> Vec<crate::SourcePath> {
    let info = source.info();
    if info.kind != "live" && info.kind != "tree" {
        return Vec::new();
    }
    // A split output does not exist under its own name: its first part does.
    let probe = if split.is_some() {
        crate::archive::part_path(output, 0)
    } else {
        output.to_path_buf()
    };
    let Some(output) = probe.canonicalize().ok().and_then(|p| match split {
        Some(_) => Some(p.with_file_name(output.file_name()?)),
        None => Some(p),
    }) else {
        return Vec::new();
    };
    let Ok(root) = std::path::Path::new(&info.location).canonicalize() else {
        return Vec::new();
    };
    let Ok(relative) = output.strip_prefix(&root) else {
        return Vec::new();
    };
    let text = relative.to_string_lossy();
    let mut found = Vec::new();
    // The output, and by the engine's rule every `OUTPUT.…` beside it: the
    // reserve, split parts and index, spilled manifest and generated members.
    if let Some(path) = crate::SourcePath::parse(text.as_bytes()) {
        found.push(path);
    }
    found
}

/// `--output https://…`: Azure with a SAS, else a plain presigned PUT
/// (held in memory up to `--upload-buffer`; the collection stops `reserve`
/// bytes before it so the archive can be finished).
fn open_url_output(
    args: &CollectArgs,
    url: &str,
    reserve: u64,
    stop: &StopSignal,
) -> Result<(crate::upload::Upload, String), String> {
    use crate::upload::Upload;
    let first = args
        .upload_part_size
        .unwrap_or(crate::upload::DEFAULT_PART_SIZE);
    if crate::upload::is_azure_url(url) {
        let (upload, object) = crate::upload::open_azure(url, first)?;
        return Ok((Upload::Parts(upload), object));
    }
    let cap = args
        .upload_buffer
        .unwrap_or(crate::upload::DEFAULT_PUT_BUFFER);
    let upload = crate::upload::PutUpload::new(url, cap, reserve, stop.clone())?;
    Ok((Upload::Put(upload), crate::upload::strip_query(url)))
}

fn open_output(
    args: &CollectArgs,
    hostname: &str,
    started: Timestamp,
    reserve: u64,
    stop: &StopSignal,
    collected: &crate::source::SourceInfo,
) -> Result<(Output, String), String> {
    if args.output.as_deref() == Some(std::path::Path::new("-")) {
        if args.split.is_some() {
            return Err("`--split` writes files: it cannot go with `--output -`".into());
        }
        if io::stdout().is_terminal() {
            return Err("refusing to write the archive to a terminal\nhint: redirect stdout (`> file`) or give `--output PATH`".into());
        }
        return Ok((Output::Stdout(io::stdout()), "stdout".into()));
    }
    let remote_url = args
        .output
        .as_deref()
        .and_then(|p| p.to_str())
        .filter(|p| crate::upload::is_remote(p));
    if args.upload_ticket.is_some() || remote_url.is_some() {
        let Some(dir) = &args.fallback_output else {
            let (upload, object) = open_upload(args, hostname, started, reserve, stop)?;
            return Ok((Output::Upload(Box::new(upload)), object));
        };
        return open_with_fallback(args, dir, hostname, started, reserve, stop, collected);
    }
    if let Some(dir) = &args.fallback_output {
        tracing::info!(
            "--fallback-output {}: not used, the output is local",
            dir.display()
        );
    }
    let path = match &args.output {
        Some(path) => path.clone(),
        None => PathBuf::from(default_name(args, hostname, started)),
    };
    super::same_volume::guard(&path, collected, args.allow_same_volume)?;
    let file = create_file(&path, args.split, reserve, stop)?;
    Ok((Output::File(file), path.display().to_string()))
}

/// `<host>-<UTC time>.tar[.zst][.age]`: the default local name.
fn default_name(args: &CollectArgs, hostname: &str, started: Timestamp) -> String {
    let host: String = hostname
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut name = format!(
        "{}-{}.tar",
        if host.is_empty() { "host" } else { &host },
        started.to_compact()
    );
    if args.compression == CompressionArg::Zstd {
        name.push_str(".zst");
    }
    if !args.no_encrypt {
        name.push_str(".age");
    }
    name
}

/// A new local output file (or split set), never overwriting.
fn create_file(
    path: &std::path::Path,
    split: Option<u64>,
    reserve: u64,
    stop: &StopSignal,
) -> Result<OutputFile, String> {
    let created = match split {
        Some(part_size) => OutputFile::create_split(path, part_size, reserve, stop.clone()),
        None => OutputFile::create(path, reserve, stop.clone()),
    };
    created.map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            format!(
                "{}: already exists; sealbag never overwrites\nhint: choose another `--output`",
                path.display()
            )
        } else {
            format!("cannot create {}: {e}", path.display())
        }
    })
}

/// The split size of an `s3-split` ticket (`None` for any other ticket or
/// none). `--split` must be absent or equal to it; a ticket for one object
/// with `--split` is refused.
fn ticket_split(args: &CollectArgs) -> Result<Option<u64>, String> {
    let Some(path) = &args.upload_ticket else {
        return Ok(None);
    };
    // Unreadable or expired: the upload reports it (or `--fallback-output`
    // keeps the archive); its kind still shapes the output when known.
    let Ok(ticket) = crate::upload::load_ticket(path) else {
        return Ok(None);
    };
    if ticket.kind != crate::upload::KIND_S3_SPLIT {
        if args.split.is_some() {
            return Err(SPLIT_TICKET.into());
        }
        return Ok(None);
    }
    match args.split {
        Some(size) if size != ticket.split_size => Err(format!(
            "--split {size}: the upload ticket {} was made for parts of {} bytes\nhint: leave out `--split` (the ticket's size is used), or ask the responder for a ticket made with `--split {size}`",
            path.display(),
            ticket.split_size
        )),
        _ => Ok(Some(ticket.split_size)),
    }
}

/// Opens the upload that `--upload-ticket` or `--output URL` names.
fn open_upload(
    args: &CollectArgs,
    hostname: &str,
    started: Timestamp,
    reserve: u64,
    stop: &StopSignal,
) -> Result<(crate::upload::Upload, String), String> {
    let time = started.to_compact();
    let expand =
        |url: &str| crate::upload::expand_key(url, hostname, &time, args.case_id.as_deref());
    if let Some(ticket) = &args.upload_ticket {
        // `--split` was checked against the ticket (`ticket_split`).
        let cap = args
            .upload_buffer
            .unwrap_or(crate::upload::DEFAULT_PUT_BUFFER);
        return crate::upload::open_ticket(ticket, cap, reserve, stop.clone(), &expand);
    }
    let url = args
        .output
        .as_deref()
        .and_then(|p| p.to_str())
        .map(expand)
        .ok_or("no upload destination")?;
    if !url.starts_with("s3://") {
        if args.split.is_some() {
            return Err(SPLIT_URL.into());
        }
        return open_url_output(args, &url, reserve, stop);
    }
    let options = crate::upload::S3Options {
        endpoint: args.s3_endpoint.clone(),
        region: args.s3_region.clone(),
    };
    let first = args
        .upload_part_size
        .unwrap_or(crate::upload::DEFAULT_PART_SIZE);
    let upload = match args.split {
        Some(part_size) => crate::upload::Upload::Split(Box::new(crate::upload::open_s3_split(
            &url, &options, first, part_size,
        )?)),
        None => crate::upload::Upload::Parts(crate::upload::open_s3(&url, &options, first)?),
    };
    Ok((upload, url))
}

const SPLIT_TICKET: &str = "`--split` with `--upload-ticket` is not supported: a ticket presigns one object, and a split set is several (its parts and index)\nhint: ask the responder for a split ticket (`sealbag ticket … --split SIZE`), split with `--output s3://BUCKET/KEY` and the host's own credentials, or split a local output (`--output PATH --split SIZE`) and deliver the parts";
const SPLIT_URL: &str = "`--split` with an Azure SAS or presigned PUT URL is not supported: the URL names one object, and a split set is several (its parts and index)\nhint: split with `--output s3://BUCKET/KEY`, or split a local output (`--output PATH --split SIZE`) and deliver the parts";

/// An upload with `--fallback-output DIR`: the sealed stream also goes
/// into a new file in DIR, kept if the upload fails (see [`crate::upload::Fallback`]).
fn open_with_fallback(
    args: &CollectArgs,
    dir: &std::path::Path,
    hostname: &str,
    started: Timestamp,
    reserve: u64,
    stop: &StopSignal,
    collected: &crate::source::SourceInfo,
) -> Result<(Output, String), String> {
    // Refused combinations are usage errors, not network failures.
    if args.no_encrypt {
        return Err("`--fallback-output` with `--no-encrypt` would write the evidence unencrypted to the host's disk: refused\nhint: seal the archive (`--recipient age1…`); only ciphertext may be kept locally".into());
    }
    if let Some(url) = args
        .output
        .as_deref()
        .and_then(|p| p.to_str())
        .filter(|u| u.starts_with("s3://") && args.upload_ticket.is_none())
    {
        // A malformed URL is the operator's mistake: say so now.
        let options = crate::upload::S3Options {
            endpoint: args.s3_endpoint.clone(),
            region: args.s3_region.clone(),
        };
        crate::upload::S3Location::parse(url, &options)?;
    }
    if args.split.is_some() {
        let url = args
            .output
            .as_deref()
            .and_then(|p| p.to_str())
            .unwrap_or("");
        if args.upload_ticket.is_none() && !url.starts_with("s3://") {
            return Err(SPLIT_URL.into());
        }
    }
    if !dir.is_dir() {
        return Err(format!(
            "--fallback-output {}: not a folder\nhint: create it first, on storage other than the collected volume",
            dir.display()
        ));
    }
    // Checked before the network is tried: a refusal costs no wait.
    let expected = args
        .output
        .as_deref()
        .and_then(|p| p.to_str())
        .map(|url| {
            crate::upload::expand_key(
                url,
                hostname,
                &started.to_compact(),
                args.case_id.as_deref(),
            )
        })
        .and_then(|url| object_file_name(&url))
        .unwrap_or_else(|| format!("sealbag-{}", default_name(args, hostname, started)));
    super::same_volume::guard(&dir.join(expected), collected, args.allow_same_volume)?;
    let opened = open_upload(args, hostname, started, reserve, stop);
    let object = match &opened {
        Ok((_, object)) => object.clone(),
        Err(_) => match (&args.upload_ticket, &args.output) {
            // A split ticket names its set even when it cannot be used:
            // the kept parts and index are named after it.
            (Some(ticket), _) => match crate::upload::load_ticket(ticket) {
                Ok(t) if t.kind == crate::upload::KIND_S3_SPLIT => t.object,
                _ => format!("the upload of ticket {}", ticket.display()),
            },
            (None, Some(url)) => crate::upload::strip_query(&crate::upload::expand_key(
                &url.to_string_lossy(),
                hostname,
                &started.to_compact(),
                args.case_id.as_deref(),
            )),
            (None, None) => "the upload".into(),
        },
    };
    let generic = dir.join(format!("sealbag-{}", default_name(args, hostname, started)));
    let named = match &opened {
        Ok((_, object)) => object_file_name(object).map(|name| dir.join(name)),
        Err(_) if args.upload_ticket.is_some() && object.starts_with("s3://") => {
            object_file_name(&object).map(|name| dir.join(name))
        }
        Err(_) => None,
    };
    let local_stop = StopSignal::new();
    // Named after the object; if that file exists (an earlier run kept
    // it), the generic name: an existing file is never overwritten.
    let created = match named {
        Some(path) => create_file(&path, args.split, reserve, &local_stop)
            .map(|file| (file, path))
            .or_else(|_| {
                create_file(&generic, args.split, reserve, &local_stop)
                    .map(|file| (file, generic.clone()))
            }),
        None => create_file(&generic, args.split, reserve, &local_stop)
            .map(|file| (file, generic.clone())),
    };
    let (file, path) = created.map_err(|e| format!("--fallback-output: {e}"))?;
    tracing::info!(local = %path.display(), "--fallback-output: the sealed archive is also written here until the store has all of it");
    let upload = opened.map(|(upload, _)| upload);
    let fallback =
        crate::upload::Fallback::new(object.clone(), upload, file, local_stop, stop.clone());
    Ok((Output::Fallback(Box::new(fallback)), object))
}

/// The last segment of an object's URL, when it is a plain file name.
fn object_file_name(object: &str) -> Option<String> {
    let path = object.split(['?', '#']).next().unwrap_or("");
    let last = path.rsplit('/').next().unwrap_or("");
    let plain = !last.is_empty()
        && last != "."
        && last != ".."
        && last
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '='));
    plain.then(|| last.to_string())
}

/// Prints each file that would be collected: `size<TAB>target<TAB>path`.
struct DryRunSink {
    out: io::Stdout,
}

impl Sink for DryRunSink {
    fn add_file(&mut self, _: &StoredEntry<'_>, _: &mut dyn io::Read) -> Result<(), SinkError> {
        Ok(())
    }
    fn add_symlink(&mut self, _: &StoredEntry<'_>, _: &[u8]) -> Result<(), SinkError> {
        Ok(())
    }
    fn add_member(&mut self, _: &[u8], _: u64, _: &mut dyn io::Read) -> Result<(), SinkError> {
        Ok(())
    }
    fn add_record(&mut self, record: &ManifestRecord) -> Result<(), SinkError> {
        let what = match (&record.note, &record.error) {
            (Some(_), _) if record.status == Status::Skipped => "collect".to_string(),
            (_, Some(error)) => format!("{}: {error}", record.status.name()),
            _ => record.status.name().to_string(),
        };
        writeln!(
            self.out,
            "{}\t{}\t{}\t{}",
            record.size.unwrap_or(0),
            what,
            record.target,
            record.path
        )?;
        Ok(())
    }
}

fn dry_run(
    profile: &Profile,
    source: &dyn Source,
    options: &EngineOptions,
) -> Result<Exit, String> {
    let mut sink = DryRunSink { out: io::stdout() };
    let report = engine::run(profile, source, &mut sink, options, &())
        .map_err(|e| format!("cannot write the listing: {e}"))?;
    if let Some(hunt) = &options.hunt {
        for glob in hunt.sweep_paths() {
            eprintln!("would sweep {} (not walked in a dry run)", glob.as_str());
        }
        if !hunt.indicators().is_empty() {
            eprintln!(
                "{} indicators loaded from {} lists",
                hunt.indicators().len(),
                hunt.indicators().lists().len()
            );
        }
    }
    let would = report.counts.skipped;
    eprintln!(
        "dry run of `{}`: {} entries listed, {} errors; nothing was read or written",
        profile.name, would, report.counts.error
    );
    Ok(Exit::Complete)
}

impl Observer for &Progress {
    fn on_record(&self, record: &ManifestRecord) {
        (*self).on_record(record);
    }
}

/// The sink of one volume of a disk: its generated members go under
/// `live/<volume>/`, and every record says its volume.
struct VolumeSink<'s> {
    inner: &'s mut dyn Sink,
    name: &'s str,
}

impl VolumeSink<'_> {
    fn rename(&self, member: &[u8]) -> Option<Vec<u8>> {
        let rest = member.strip_prefix(b"live/".as_slice())?;
        let mut renamed = format!("live/{}/", self.name).into_bytes();
        renamed.extend_from_slice(rest);
        Some(renamed)
    }
}

impl Sink for VolumeSink<'_> {
    fn add_file(&mut self, e: &StoredEntry<'_>, data: &mut dyn io::Read) -> Result<(), SinkError> {
        self.inner.add_file(e, data)
    }
    fn add_symlink(&mut self, e: &StoredEntry<'_>, target: &[u8]) -> Result<(), SinkError> {
        match self.rename(e.archive_path) {
            Some(renamed) => self.inner.add_symlink(
                &StoredEntry {
                    archive_path: &renamed,
                    ..*e
                },
                target,
            ),
            None => self.inner.add_symlink(e, target),
        }
    }
    fn add_member(
        &mut self,
        name: &[u8],
        size: u64,
        data: &mut dyn io::Read,
    ) -> Result<(), SinkError> {
        match self.rename(name) {
            Some(renamed) => self.inner.add_member(&renamed, size, data),
            None => self.inner.add_member(name, size, data),
        }
    }
    fn add_record(&mut self, record: &ManifestRecord) -> Result<(), SinkError> {
        let mut record = record.clone();
        record
            .extra
            .insert("volume".into(), self.name.to_string().into());
        let renamed = record
            .archive_path
            .as_deref()
            .and_then(|a| self.rename(a.as_bytes()));
        if let Some(renamed) = renamed {
            if record.path.starts_with("live/") {
                record.path = String::from_utf8_lossy(&renamed).into_owned();
            }
            record.set_archive_path(&renamed);
        }
        self.inner.add_record(&record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fallback_copy_is_named_after_the_objects_last_segment_when_plain() {
        assert_eq!(
            object_file_name("s3://b/cases/IR-7/web01-20260101T000000Z.tar.zst.age").as_deref(),
            Some("web01-20260101T000000Z.tar.zst.age")
        );
        assert_eq!(
            object_file_name("https://acct.blob.core.windows.net/c/x.age?sv=1&sig=2").as_deref(),
            Some("x.age")
        );
        assert_eq!(object_file_name("s3://b/dir/"), None);
        assert_eq!(object_file_name("s3://b/.."), None);
        assert_eq!(object_file_name("https://h/a%2F..%2Fb"), None);
    }
}
