//! The collection engine: a profile and a source in, entries and records out.
//!
//! For each target and each of its globs, the engine walks the source, and
//! for each match decides what to do: store a regular file's bytes (once,
//! however many targets match it), store a link as a link, record anything
//! else as skipped with the reason. Every entry seen becomes one manifest
//! record. A failure of one file is recorded and the run goes on; only a
//! failure of the output ends it.

mod command;
mod copy;
mod generated;
mod hooks;
mod sink;
mod stop;
mod sweep;
mod walk;

use std::collections::HashSet;

pub use command::{OUTPUT_CAP, PIPE_GRACE};
pub use copy::{CopyOutcome, CopyReader, Tap};
pub use generated::{Generated, GeneratedBuffer, DEFAULT_GENERATED_CAP};
pub use hooks::{Facts, FileParser, Hooks, LiveCollector, LiveContext};
pub use sink::{Sink, SinkError, StoredEntry};
pub use stop::{StopReason, StopSignal};
pub use walk::{walk, WalkEvent};

use crate::archive::{ManifestRecord, Status};
use crate::glob::PathPattern;
use crate::profile::{format_size, Profile, Target};
use crate::source::{EntryKind, Metadata, Source, SourceError, SourcePath};

/// How a run is carried out (not what it collects: that is the profile).
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Prefix of stored paths in the archive, with its trailing `/` (`files/`).
    pub archive_prefix: Vec<u8>,
    /// Skip every file larger than this, whatever the target says.
    pub max_file_size: Option<u64>,
    /// Stop taking new files once this many bytes were stored.
    pub max_total: Option<u64>,
    /// List what would be collected, reading no file.
    pub dry_run: bool,
    /// Set to stop the run (Ctrl-C, disk full, time limit).
    pub stop: StopSignal,
    /// The parsers and live collectors the tool provides.
    pub hooks: Hooks,
    /// Paths never collected: the collector's own output and reserve, when
    /// they lie inside the source. A path that extends one of them with a
    /// `.` (`OUT.reserve`, `OUT.000`, `OUT.manifest-spill`) is the
    /// collector's own too.
    pub own_files: Vec<SourcePath>,
    /// Whether `[[command]]` targets are run. Only when the source is the
    /// running system: a command says nothing about an image or a copied tree.
    pub run_commands: bool,
    /// Indicators and rules to check every file read against, and trees
    /// to sweep (see [`crate::hunt`]).
    pub hunt: Option<std::sync::Arc<crate::hunt::Hunt>>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            archive_prefix: b"files/".to_vec(),
            max_file_size: None,
            max_total: None,
            dry_run: false,
            stop: StopSignal::new(),
            hooks: Hooks::default(),
            own_files: Vec::new(),
            run_commands: false,
            hunt: None,
        }
    }
}

impl EngineOptions {
    /// Whether `path` is the collector's own output or one of the files it
    /// keeps beside it (see [`own_files`](Self::own_files)).
    pub fn is_own_file(&self, path: &SourcePath) -> bool {
        let bytes = path.as_bytes();
        self.own_files.iter().any(|own| {
            let own = own.as_bytes();
            bytes == own || (bytes.starts_with(own) && bytes.get(own.len()) == Some(&b'.'))
        })
    }
}

/// Counts of a run, for the summary and `collection.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunCounts {
    /// Entries collected whole.
    pub ok: u64,
    /// Entries collected in part.
    pub partial: u64,
    /// Entries that failed.
    pub error: u64,
    /// Entries deliberately left out.
    pub skipped: u64,
    /// Bytes of file data stored.
    pub bytes: u64,
    /// Entries the operating system refused to read (counted in `error` too).
    #[serde(skip_serializing_if = "is_zero")]
    pub permission_denied: u64,
    /// Indicator and rule hits (`sealbag/hits.jsonl`); not errors.
    pub hits: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a refusal says when the profile is for macOS, where TCC refuses
/// protected files (TCC.db, Mail, Safari…) even to root unless the binary has
/// Full Disk Access (`packaging/macos/sealbag-pppc.mobileconfig` grants it).
pub const FULL_DISK_ACCESS: &str = "needs Full Disk Access";

impl RunCounts {
    fn count(&mut self, record: &ManifestRecord) {
        match record.status {
            Status::Ok => self.ok += 1,
            Status::Partial => self.partial += 1,
            Status::Error => self.error += 1,
            Status::Skipped => self.skipped += 1,
        }
    }

    /// Adds the counts of another run (one volume of several) to these.
    pub fn add(&mut self, other: &RunCounts) {
        // Destructured so a new field cannot be forgotten here.
        let RunCounts {
            ok,
            partial,
            error,
            skipped,
            bytes,
            permission_denied,
            hits,
        } = other;
        self.ok += ok;
        self.partial += partial;
        self.error += error;
        self.skipped += skipped;
        self.bytes += bytes;
        self.permission_denied += permission_denied;
        self.hits += hits;
    }

    /// Whether anything failed or was cut short.
    pub fn has_errors(&self) -> bool {
        self.partial > 0 || self.error > 0
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunReport {
    /// The counts.
    pub counts: RunCounts,
    /// Set when the run stopped before the end of the profile.
    pub stopped: Option<StopReason>,
}

/// Something that wants to hear about each record as it is made (a progress bar).
pub trait Observer {
    /// Called after each record is written.
    fn on_record(&self, record: &ManifestRecord);
}

impl Observer for () {
    fn on_record(&self, _record: &ManifestRecord) {}
}

/// Every pattern the run walks, in the order it walks them.
fn all_patterns<'p>(profile: &'p Profile, options: &'p EngineOptions) -> Vec<&'p PathPattern> {
    let mut patterns: Vec<&PathPattern> = profile
        .targets
        .iter()
        .flat_map(|t| t.paths.iter())
        .flat_map(|g| g.alternatives().iter())
        .collect();
    if let Some(hunt) = &options.hunt {
        patterns.extend(
            hunt.sweep_paths()
                .iter()
                .flat_map(|g| g.alternatives().iter()),
        );
    }
    patterns
}

/// Runs `profile` over `source` into `sink`.
///
/// Returns an error only when the sink fails (the output is broken); every
/// problem with the source is a record.
pub fn run(
    profile: &Profile,
    source: &dyn Source,
    sink: &mut dyn Sink,
    options: &EngineOptions,
    observer: &dyn Observer,
) -> Result<RunReport, SinkError> {
    let case_sensitive = source.info().case_sensitive;
    let mut run = Run {
        source,
        sink,
        options,
        observer,
        seen: SeenPaths::default(),
        dedup: DedupPlan::new(&all_patterns(profile, options), case_sensitive),
        walked: 0,
        current: (true, true),
        counts: RunCounts::default(),
        per_target: Vec::new(),
        macos: profile.os == crate::profile::TargetOs::Macos,
    };
    // Most volatile first: live state, then commands, then files.
    if !options.dry_run {
        run.live(profile)?;
        command::run_commands(profile, run.sink, options, &mut |record| {
            run.counts.count(record)
        })?;
    }
    'targets: for target in &profile.targets {
        tracing::info!(target_name = %target.name, "collecting target");
        run.per_target.clear();
        for glob in &target.paths {
            for pattern in glob.alternatives() {
                if options.stop.is_set() {
                    break 'targets;
                }
                let mut failure = None;
                run.current = run.dedup.at(run.walked);
                run.walked += 1;
                walk(
                    source,
                    pattern,
                    case_sensitive,
                    &options.stop,
                    &mut |event| {
                        if failure.is_some() {
                            return;
                        }
                        if let Err(e) = run.handle(target, event, case_sensitive) {
                            failure = Some(e);
                            options.stop.request(StopReason::OutputFailed);
                        }
                    },
                );
                if let Some(e) = failure {
                    return Err(e);
                }
            }
        }
        run.parse_target(target)?;
    }
    if let Some(hunt) = &options.hunt {
        if !options.dry_run && !options.stop.is_set() {
            run.sweep(hunt, case_sensitive)?;
        }
    }
    Ok(RunReport {
        counts: run.counts,
        stopped: options.stop.reason(),
    })
}

/// The paths collected so far that a later pattern may match again, so
/// that overlapping targets take a file once. Kept as 128-bit digests
/// (two distinct paths share one with a chance of about 2^-64 even at 2^32
/// paths), in tables of fixed size: a growing table would double, and for a
/// moment hold both its old and new halves (27 MB of a 500 000-file run).
/// About 20 bytes a path, and only for patterns that overlap a later one
/// (see [`DedupPlan`]).
#[derive(Default)]
struct SeenPaths(Vec<HashSet<[u8; 16]>>);

/// Paths per table: 7/8 of 65 536 buckets, hashbrown's largest load.
const SEEN_TABLE: usize = 57_344;

impl SeenPaths {
    fn key(path: &SourcePath) -> [u8; 16] {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(path.as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        key
    }

    /// Records `path`.
    fn insert(&mut self, path: &SourcePath) {
        self.check_and_record(path, false, true);
    }

    /// Whether `path` was recorded (when `check`), recording it (when
    /// `record`): one digest for both, on the per-file path.
    fn check_and_record(&mut self, path: &SourcePath, check: bool, record: bool) -> bool {
        if !check && !record {
            return false;
        }
        let key = Self::key(path);
        if self.0.iter().any(|table| table.contains(&key)) {
            return check;
        }
        if !record {
            return false;
        }
        match self.0.last_mut() {
            Some(table) if table.len() < SEEN_TABLE => {
                table.insert(key);
            }
            _ => {
                let mut table = HashSet::with_capacity(SEEN_TABLE);
                table.insert(key);
                self.0.push(table);
            }
        }
        false
    }

    /// Whether `path` was recorded.
    fn contains(&self, path: &SourcePath) -> bool {
        let key = Self::key(path);
        self.0.iter().any(|table| table.contains(&key))
    }
}

/// For each pattern walked, in order (every target's, then the sweep's):
/// whether its matches must be checked against the paths already taken (an
/// earlier pattern may match them) and recorded (a later one may). Two
/// patterns may match a common path unless their leading literal names
/// differ somewhere, so `/var/log/**` and `/etc/passwd` never need the
/// record, and a profile of disjoint targets keeps none at all.
struct DedupPlan(Vec<(bool, bool)>);

impl DedupPlan {
    fn new(patterns: &[&PathPattern], case_sensitive: bool) -> Self {
        let plan = (0..patterns.len())
            .map(|i| {
                let overlaps = |j: usize| may_overlap(patterns[i], patterns[j], case_sensitive);
                let check = (0..i).any(overlaps);
                let record = (i + 1..patterns.len()).any(overlaps);
                (check, record)
            })
            .collect();
        DedupPlan(plan)
    }

    /// The plan for the `index`th pattern (check and record when unknown).
    fn at(&self, index: usize) -> (bool, bool) {
        self.0.get(index).copied().unwrap_or((true, true))
    }
}

/// Whether some path could match both patterns: false only when, at a
/// position both have, both are literal names that differ.
fn may_overlap(a: &PathPattern, b: &PathPattern, case_sensitive: bool) -> bool {
    use crate::glob::Component;
    for (x, y) in a.components().iter().zip(b.components()) {
        let (Component::Name(x), Component::Name(y)) = (x, y) else {
            return true;
        };
        let (Some(x), Some(y)) = (x.literal(), y.literal()) else {
            return true;
        };
        let same = if case_sensitive {
            x == y
        } else if x.is_ascii() && y.is_ascii() {
            x.eq_ignore_ascii_case(&y)
        } else {
            // Unicode case rules of the file system are not ours to guess.
            true
        };
        if !same {
            return false;
        }
    }
    true
}

struct Run<'a> {
    source: &'a dyn Source,
    sink: &'a mut dyn Sink,
    options: &'a EngineOptions,
    observer: &'a dyn Observer,
    seen: SeenPaths,
    /// Which patterns check and record taken paths.
    dedup: DedupPlan,
    /// Patterns walked so far (the index into `dedup`).
    walked: usize,
    /// The plan of the pattern being walked.
    current: (bool, bool),
    counts: RunCounts,
    /// The current target's files collected whole, for a per-target parser.
    per_target: Vec<SourcePath>,
    /// Whether the profile is for macOS (refusals then say [`FULL_DISK_ACCESS`]).
    macos: bool,
}

impl Run<'_> {
    /// The text of a source error for the manifest; a refusal is counted,
    /// and on a macOS profile says what is usually missing.
    fn describe(&mut self, error: &SourceError) -> String {
        let mut text = error.to_string();
        if matches!(error, SourceError::PermissionDenied { .. }) {
            self.counts.permission_denied += 1;
            if self.macos && !text.contains(FULL_DISK_ACCESS) {
                text.push_str(" (");
                text.push_str(FULL_DISK_ACCESS);
                text.push_str(", or root)");
            }
        }
        text
    }

    fn live(&mut self, profile: &Profile) -> Result<(), SinkError> {
        for target in &profile.live {
            if self.options.stop.is_set() {
                break;
            }
            let Some(collector) = self.options.hooks.live_collector(&target.kind).cloned() else {
                let mut record = ManifestRecord::new(
                    &SourcePath::root(),
                    &target.name,
                    EntryKind::Other,
                    Status::Skipped,
                );
                record.path = format!("live:{}", target.kind);
                record.error = Some(format!(
                    "live kind `{}` is not available from this tool or source",
                    target.kind
                ));
                self.emit(record)?;
                continue;
            };
            tracing::info!(kind = %target.kind, "collecting live state");
            let mut context = LiveContext {
                source: self.source,
                stop: &self.options.stop,
                sink: &mut *self.sink,
                target_name: target.name.clone(),
                records: Vec::new(),
            };
            let result = collector.collect(target, &mut context);
            let records = std::mem::take(&mut context.records);
            if let Err(error) = result {
                tracing::warn!(kind = %target.kind, %error, "live collection failed");
                let mut record = ManifestRecord::new(
                    &SourcePath::root(),
                    &target.name,
                    EntryKind::Other,
                    Status::Error,
                );
                record.path = format!("live:{}", target.kind);
                record.error = Some(error);
                self.emit(record)?;
            }
            for record in records {
                self.emit(record)?;
            }
        }
        Ok(())
    }

    /// Runs the target's parser over a file just stored, into `parsed/…`.
    fn parse(
        &mut self,
        target: &Target,
        path: &SourcePath,
        archive_path: &[u8],
        record: &mut ManifestRecord,
    ) -> Result<(), SinkError> {
        let Some(name) = &target.parse else {
            return Ok(());
        };
        let Some(parser) = self.options.hooks.parser(name).cloned() else {
            record.extra.insert(
                "parsed_error".into(),
                format!("parser `{name}` is not available in this tool").into(),
            );
            return Ok(());
        };
        if parser.per_target() {
            self.per_target.push(path.clone());
            return Ok(());
        }
        let mut member = b"parsed/".to_vec();
        let relative = archive_path
            .strip_prefix(b"files/".as_slice())
            .unwrap_or(archive_path);
        member.extend_from_slice(relative);
        member.extend_from_slice(parser.suffix().as_bytes());
        let outcome = self
            .source
            .open(path, None)
            .map_err(|e| e.to_string())
            .and_then(|mut opened| {
                let mut buffer =
                    GeneratedBuffer::new(DEFAULT_GENERATED_CAP).map_err(|e| e.to_string())?;
                let facts = parser.parse(target, path, &mut opened.reader, &mut buffer)?;
                let generated = buffer.finish().map_err(|e| e.to_string())?;
                Ok((facts, generated))
            });
        match outcome {
            Ok((facts, generated)) => {
                let mut reader = generated.reader()?;
                self.sink.add_member(&member, generated.len, &mut reader)?;
                let (text, _) = crate::archive::text_and_b64(&member);
                let mut parsed = serde_json::Map::new();
                parsed.insert("member".into(), text.into());
                parsed.insert("sha256".into(), generated.sha256.clone().into());
                parsed.insert("size".into(), generated.len.into());
                for (k, v) in facts {
                    parsed.insert(k, v);
                }
                record.extra.insert("parsed".into(), parsed.into());
            }
            Err(error) => {
                tracing::warn!(path = %path, %error, parser = %name, "cannot parse");
                record.extra.insert("parsed_error".into(), error.into());
            }
        }
        Ok(())
    }

    /// Runs a per-target parser (see [`FileParser::per_target`]) over the
    /// files the target collected whole, once its globs are all walked.
    fn parse_target(&mut self, target: &Target) -> Result<(), SinkError> {
        let Some(parser) = target
            .parse
            .as_deref()
            .and_then(|name| self.options.hooks.parser(name))
            .filter(|p| p.per_target())
            .cloned()
        else {
            return Ok(());
        };
        if self.options.dry_run || self.options.stop.is_set() {
            return Ok(());
        }
        let files = std::mem::take(&mut self.per_target);
        tracing::info!(target_name = %target.name, parser = parser.name(), files = files.len(), "parsing the target");
        let mut context = LiveContext {
            source: self.source,
            stop: &self.options.stop,
            sink: &mut *self.sink,
            target_name: target.name.clone(),
            records: Vec::new(),
        };
        let result = parser.parse_target(target, &files, &mut context);
        let records = std::mem::take(&mut context.records);
        if let Err(error) = result {
            tracing::warn!(target_name = %target.name, %error, "parse failed");
            let mut record = ManifestRecord::new(
                &SourcePath::root(),
                &target.name,
                EntryKind::Other,
                Status::Error,
            );
            record.path = format!("parse:{}", parser.name());
            record.error = Some(error);
            self.emit(record)?;
        }
        for record in records {
            self.emit(record)?;
        }
        Ok(())
    }

    fn handle(
        &mut self,
        target: &Target,
        event: WalkEvent,
        case_sensitive: bool,
    ) -> Result<(), SinkError> {
        match event {
            WalkEvent::Error(path, error) => {
                tracing::warn!(path = %path, error = %error, "cannot read");
                let kind = match error {
                    SourceError::NotAFile { kind, .. } => kind,
                    _ => EntryKind::Directory,
                };
                let mut record = ManifestRecord::new(&path, &target.name, kind, Status::Error);
                record.error = Some(self.describe(&error));
                self.emit(record)
            }
            WalkEvent::Match(path, metadata) => {
                if target
                    .exclude
                    .iter()
                    .any(|g| g.matches_path(path.as_bytes(), case_sensitive))
                {
                    return Ok(());
                }
                if self.options.is_own_file(&path) {
                    tracing::debug!(path = %path, "skipping the collector's own output");
                    return Ok(());
                }
                let (check, record) = self.current;
                if self.seen.check_and_record(&path, check, record) {
                    tracing::debug!(path = %path, "already collected by an earlier target");
                    return Ok(());
                }
                self.collect(target, &path, &metadata, case_sensitive, None)
            }
        }
    }

    fn emit(&mut self, record: ManifestRecord) -> Result<(), SinkError> {
        self.counts.count(&record);
        self.sink.add_record(&record)?;
        self.observer.on_record(&record);
        Ok(())
    }

    fn archive_path(&self, path: &SourcePath) -> Vec<u8> {
        let mut archive_path = self.options.archive_prefix.clone();
        archive_path.extend_from_slice(path.relative());
        archive_path
    }

    /// Collects one entry; `known` carries what the sweep found in a file
    /// it already read (it is then not checked again).
    fn collect(
        &mut self,
        target: &Target,
        path: &SourcePath,
        metadata: &Metadata,
        case_sensitive: bool,
        known: Option<crate::hunt::Checked>,
    ) -> Result<(), SinkError> {
        let (mut record, checked) =
            self.collect_entry(target, path, metadata, case_sensitive, known)?;
        if let Some(reason) = checked.yara_not_scanned {
            record.extra.insert("yara".into(), reason.into());
        }
        let hits = checked.hits;
        if let (Some(hunt), false) = (&self.options.hunt, hits.is_empty()) {
            let mut hits = hits;
            for hit in &mut hits {
                match &record.archive_path {
                    Some(_) if record.status != Status::Error => {
                        if let Some(bytes) = crate::archive::bytes_of(
                            record.archive_path.as_deref().unwrap_or(""),
                            record.archive_path_b64.as_deref(),
                        ) {
                            hit.set_archive_path(&bytes);
                        }
                        if record.sha256.as_deref() != Some(hit.sha256.as_str()) {
                            hit.note = Some(format!(
                                "changed between the sweep's read and its collection: the archive holds bytes of SHA-256 {}",
                                record.sha256.as_deref().unwrap_or("unknown")
                            ));
                        }
                    }
                    _ => {
                        hit.note = Some(format!(
                            "not collected: {}",
                            record.error.as_deref().unwrap_or(record.status.name())
                        ));
                    }
                }
            }
            hunt.record(&hits);
            self.counts.hits += hits.len() as u64;
            record.extra.insert("hits".into(), hits.len().into());
        }
        self.emit(record)
    }

    /// Collects one entry and returns its record (not yet emitted) and what
    /// the hunt found in it.
    fn collect_entry(
        &mut self,
        target: &Target,
        path: &SourcePath,
        metadata: &Metadata,
        case_sensitive: bool,
        known: Option<crate::hunt::Checked>,
    ) -> Result<(ManifestRecord, crate::hunt::Checked), SinkError> {
        let known_or_none = |known: Option<crate::hunt::Checked>| known.unwrap_or_default();
        let mut record = ManifestRecord::new(path, &target.name, metadata.kind, Status::Ok)
            .with_metadata(metadata);
        match metadata.kind {
            EntryKind::File => {}
            EntryKind::Symlink => {
                return Ok((
                    self.collect_link(record, path, metadata)?,
                    known_or_none(known),
                ))
            }
            other => {
                record.status = Status::Skipped;
                record.error = Some(format!("is a {}; never opened", other.name()));
                return Ok((record, known_or_none(known)));
            }
        }
        let limit = match (target.max_file_size, self.options.max_file_size) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(limit) = limit {
            if metadata.size > limit {
                record.status = Status::Skipped;
                record.error = Some(format!(
                    "larger than max_file_size ({} > {})",
                    format_size(metadata.size),
                    format_size(limit)
                ));
                return Ok((record, known_or_none(known)));
            }
        }
        if let Some(max_total) = self.options.max_total {
            if self.counts.bytes.saturating_add(metadata.size) > max_total {
                record.status = Status::Skipped;
                record.error = Some(format!(
                    "--max-total reached ({} stored)",
                    format_size(self.counts.bytes)
                ));
                return Ok((record, known_or_none(known)));
            }
        }
        if self.options.dry_run {
            record.status = Status::Skipped;
            record.note = Some("dry run: not read".into());
            return Ok((record, known_or_none(known)));
        }
        let opened = match self.source.open_listed(path, None, metadata) {
            Ok(opened) => opened,
            Err(e) => {
                tracing::warn!(path = %path, error = %e, "cannot open");
                record.status = match e {
                    SourceError::NotAFile { .. } | SourceError::NotFound { .. } => Status::Skipped,
                    _ => Status::Error,
                };
                record.error = Some(self.describe(&e));
                return Ok((record, known_or_none(known)));
            }
        };
        let method = opened.method;
        let mut reader = opened.reader;
        // The size of the object actually opened is what the header promises.
        let record_meta = opened.metadata;
        record = record.with_metadata(&record_meta);
        record.target = target.name.clone();
        let archive_path = self.archive_path(path);
        record.set_archive_path(&archive_path);
        record.method = Some(method.to_string());
        let entry = StoredEntry {
            archive_path: &archive_path,
            size: record_meta.size,
            metadata: &record_meta,
        };
        let hunt = self
            .options
            .hunt
            .clone()
            .filter(|h| h.checks_files() && known.is_none());
        let mut tap = hunt.as_ref().map(|h| h.tap(record_meta.size));
        let mut copy = CopyReader::new(&mut reader, record_meta.size, &self.options.stop);
        if let Some(tap) = tap.as_mut() {
            copy = copy.with_tap(tap);
        }
        self.sink.add_file(&entry, &mut copy)?;
        let outcome = copy.finish();
        let checked = match (hunt, tap) {
            (Some(hunt), Some(tap)) => hunt.check(
                path,
                record_meta.size,
                &outcome.sha256,
                tap,
                case_sensitive,
                &format!("target:{}", target.name),
            ),
            _ => known_or_none(known),
        };
        if let Some(error) = &outcome.error {
            tracing::warn!(path = %path, error = %error, "partial copy");
        }
        record.sha256 = Some(outcome.sha256);
        record.bytes_read = Some(outcome.bytes_read);
        record.status = outcome.status;
        record.error = outcome.error;
        record.note = outcome.note;
        self.counts.bytes += record_meta.size;
        drop(reader);
        if record.status == Status::Ok {
            self.parse(target, path, &archive_path, &mut record)?;
        }
        Ok((record, checked))
    }

    fn collect_link(
        &mut self,
        mut record: ManifestRecord,
        path: &SourcePath,
        metadata: &Metadata,
    ) -> Result<ManifestRecord, SinkError> {
        match self.source.read_link(path) {
            Ok(target) => {
                record.link_target = Some(String::from_utf8_lossy(&target).into_owned());
                record.method = Some("readlink".into());
                if !self.options.dry_run {
                    let archive_path = self.archive_path(path);
                    record.set_archive_path(&archive_path);
                    let entry = StoredEntry {
                        archive_path: &archive_path,
                        size: 0,
                        metadata,
                    };
                    self.sink.add_symlink(&entry, &target)?;
                }
                record.size = Some(0);
            }
            Err(e) => {
                record.status = Status::Error;
                record.error = Some(e.to_string());
            }
        }
        Ok(record)
    }
}

#[cfg(test)]
mod dedup_tests {
    use super::*;
    use crate::glob::Glob;

    fn plan(globs: &[&str], case_sensitive: bool) -> Vec<(bool, bool)> {
        let parsed: Vec<Glob> = globs
            .iter()
            .map(|g| Glob::parse(g).expect("glob"))
            .collect();
        let patterns: Vec<&PathPattern> = parsed.iter().flat_map(|g| g.alternatives()).collect();
        DedupPlan::new(&patterns, case_sensitive).0
    }

    #[test]
    fn disjoint_literal_prefixes_keep_no_record() {
        assert_eq!(
            plan(
                &["/var/log/**", "/etc/passwd", "/home/*/.bash_history"],
                true
            ),
            vec![(false, false); 3]
        );
    }

    #[test]
    fn overlapping_patterns_record_and_check() {
        // `/etc/**` takes /etc/passwd first; the literal must check, and
        // only the first records; `/var/**` overlaps nothing.
        assert_eq!(
            plan(&["/etc/**", "/var/**", "/etc/passwd"], true),
            vec![(false, true), (false, false), (true, false)]
        );
        // A wildcard where the other is literal may overlap.
        assert_eq!(
            plan(&["/*/passwd", "/etc/passwd"], true),
            vec![(false, true), (true, false)]
        );
        // Case-insensitive sources compare names without case.
        assert_eq!(
            plan(
                &["/Windows/System32/**", "/windows/system32/config/SAM"],
                false
            ),
            vec![(false, true), (true, false)]
        );
        assert_eq!(
            plan(
                &["/Windows/System32/**", "/windows/system32/config/SAM"],
                true
            ),
            vec![(false, false), (false, false)]
        );
    }

    #[test]
    fn seen_paths_span_tables() {
        let mut seen = SeenPaths::default();
        let paths: Vec<SourcePath> = (0..SEEN_TABLE + 10)
            .map(|i| SourcePath::parse(format!("/f{i}").as_bytes()).expect("path"))
            .collect();
        for path in &paths {
            seen.insert(path);
        }
        seen.insert(&paths[3]);
        assert_eq!(seen.0.len(), 2);
        assert_eq!(
            seen.0.iter().map(HashSet::len).sum::<usize>(),
            SEEN_TABLE + 10
        );
        assert!(paths.iter().all(|p| seen.contains(p)));
        assert!(!seen.contains(&SourcePath::parse(b"/other").expect("path")));
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::source::FsSource;
    use std::io::Read;

    #[derive(Default)]
    struct MemorySink {
        files: Vec<(Vec<u8>, Vec<u8>)>,
        links: Vec<(Vec<u8>, Vec<u8>)>,
        records: Vec<ManifestRecord>,
    }

    impl Sink for MemorySink {
        fn add_file(&mut self, e: &StoredEntry<'_>, data: &mut dyn Read) -> Result<(), SinkError> {
            let mut bytes = Vec::new();
            data.read_to_end(&mut bytes)?;
            assert_eq!(bytes.len() as u64, e.size);
            self.files.push((e.archive_path.to_vec(), bytes));
            Ok(())
        }
        fn add_symlink(&mut self, e: &StoredEntry<'_>, t: &[u8]) -> Result<(), SinkError> {
            self.links.push((e.archive_path.to_vec(), t.to_vec()));
            Ok(())
        }
        fn add_member(&mut self, n: &[u8], _: u64, d: &mut dyn Read) -> Result<(), SinkError> {
            let mut bytes = Vec::new();
            d.read_to_end(&mut bytes)?;
            self.files.push((n.to_vec(), bytes));
            Ok(())
        }
        fn add_record(&mut self, record: &ManifestRecord) -> Result<(), SinkError> {
            self.records.push(record.clone());
            Ok(())
        }
    }

    #[test]
    fn collects_once_skips_specials_and_limits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        std::fs::write(root.join("etc/hosts"), b"127.0.0.1 localhost\n").expect("write");
        std::fs::write(root.join("etc/big"), vec![7u8; 5000]).expect("write");
        std::os::unix::fs::symlink("/dev/null", root.join("etc/history")).expect("link");
        let status = std::process::Command::new("mkfifo")
            .arg(root.join("etc/pipe"))
            .status()
            .expect("mkfifo");
        assert!(status.success());
        let profile = Profile::from_toml(
            "name = \"t\"\n[[target]]\nname = \"etc\"\npaths = [\"/etc/*\"]\nmax_file_size = \"4KiB\"\n\
             [[target]]\nname = \"again\"\npaths = [\"/etc/hosts\"]\n",
            "t.toml",
        )
        .expect("profile");
        let mut sink = MemorySink::default();
        let report = run(
            &profile,
            &FsSource::tree(root),
            &mut sink,
            &EngineOptions::default(),
            &(),
        )
        .expect("run");
        assert_eq!(
            sink.files,
            vec![(
                b"files/etc/hosts".to_vec(),
                b"127.0.0.1 localhost\n".to_vec()
            )]
        );
        assert_eq!(
            sink.links,
            vec![(b"files/etc/history".to_vec(), b"/dev/null".to_vec())]
        );
        let by_path = |p: &str| {
            sink.records
                .iter()
                .find(|r| r.path == p)
                .unwrap_or_else(|| panic!("record for {p}"))
        };
        assert_eq!(by_path("/etc/big").status, Status::Skipped);
        assert!(by_path("/etc/big")
            .error
            .as_deref()
            .unwrap_or("")
            .contains("max_file_size"));
        assert_eq!(by_path("/etc/pipe").status, Status::Skipped);
        assert_eq!(by_path("/etc/pipe").kind, EntryKind::Fifo);
        assert_eq!(
            by_path("/etc/hosts").sha256.as_deref(),
            Some("081ef9d5367595d16e30b4b4549d9f43537320508b4ce0788963e10e4f808857")
        );
        assert_eq!(sink.records.len(), 4, "hosts is recorded once");
        assert_eq!(report.counts.ok, 2);
        assert_eq!(report.counts.skipped, 2);
        assert_eq!(report.stopped, None);
    }

    /// A per-target parser that lists what it was given, in one member.
    struct Lister;

    impl FileParser for Lister {
        fn name(&self) -> &'static str {
            "unifiedlog"
        }
        fn suffix(&self) -> &'static str {
            ".txt"
        }
        fn parse(
            &self,
            _: &Target,
            _: &SourcePath,
            _: &mut dyn crate::source::ReadSeek,
            _: &mut dyn std::io::Write,
        ) -> Result<hooks::Facts, String> {
            panic!("a per-target parser is never called file by file")
        }
        fn per_target(&self) -> bool {
            true
        }
        fn parse_target(
            &self,
            _: &Target,
            files: &[SourcePath],
            context: &mut LiveContext<'_>,
        ) -> Result<(), String> {
            let mut buffer = context.buffer().map_err(|e| e.to_string())?;
            for file in files {
                let mut opened = context.source.open(file, None).map_err(|e| e.to_string())?;
                std::io::copy(&mut opened.reader, &mut buffer).map_err(|e| e.to_string())?;
            }
            let generated = buffer.finish().map_err(|e| e.to_string())?;
            context
                .add_member("parsed/all.txt", &generated, "test", hooks::Facts::new())
                .map_err(|e| e.to_string())
        }
    }

    #[test]
    fn a_per_target_parser_reads_the_targets_files_once_all_are_stored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("logs")).expect("mkdir");
        std::fs::write(root.join("logs/a"), b"A").expect("write");
        std::fs::write(root.join("logs/b"), b"B").expect("write");
        let profile = Profile::from_toml(
            "name = \"t\"\n[[target]]\nname = \"logs\"\npaths = [\"/logs/*\"]\nparse = \"unifiedlog\"\n",
            "t.toml",
        )
        .expect("profile");
        let options = EngineOptions {
            hooks: Hooks {
                parsers: vec![std::sync::Arc::new(Lister)],
                live: Vec::new(),
            },
            ..EngineOptions::default()
        };
        let mut sink = MemorySink::default();
        run(&profile, &FsSource::tree(root), &mut sink, &options, &()).expect("run");
        let names: Vec<&[u8]> = sink.files.iter().map(|(n, _)| n.as_slice()).collect();
        assert_eq!(
            names,
            vec![&b"files/logs/a"[..], b"files/logs/b", b"parsed/all.txt"],
            "the parse comes after the target's files"
        );
        assert_eq!(sink.files[2].1, b"AB");
        let record = sink
            .records
            .iter()
            .find(|r| r.path == "parsed/all.txt")
            .expect("record of the member");
        assert_eq!(record.target, "logs");
        assert_eq!(record.method.as_deref(), Some("test"));
    }
}
