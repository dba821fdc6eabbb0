//! `parse = "unifiedlog"`: the unified logs to JSON lines,
//! `parsed/unifiedlogs.jsonl`, one object per log entry.
//!
//! The parse needs a target's files together (each tracev3 file's entries
//! take their format strings from the `uuidtext` and `dsc` files and their
//! times from the `timesync` files), so it is a per-target parser
//! ([`FileParser::per_target`]): once the target's files are all stored,
//! the engine hands it the list of those collected whole, and it reads them
//! back through the same [`Source`](sealbag_common::source::Source) (never a
//! path on the collecting machine). It works on the live folders
//! (`/private/var/db/{diagnostics,uuidtext}`) and on a `.logarchive` alike:
//! files are recognised by their place (see [`classify`]).
//!
//! Memory stays bounded: tracev3 files are parsed one at a time, chunk by
//! chunk, and each entry is written as soon as it is built into a
//! compressed in-memory member; past [`PART_LIMIT`] compressed bytes that
//! member is sealed into the archive and the next one begins
//! (`parsed/unifiedlogs.2.jsonl`, …), so no run holds all its entries. The
//! string files are cached within a byte budget ([`BoundedCache`]), files
//! are read under caps ([`MAX_TRACEV3`]…), and the oversize strings carried
//! between chunks are capped ([`MAX_OVERSIZE`]).
//!
//! A damaged tracev3 file yields every entry before the damage; the facts
//! say, per file, which byte range could not be parsed. A panic of the
//! crate on hostile bytes is caught and reported the same way.
//!
//! Each line: `time` (RFC 3339, UTC, nanoseconds), `time_ns`, `level`,
//! `event_type`, `subsystem`, `category`, `process`, `pid`, `euid`,
//! `thread_id`, `message`, `format_string`, `library`, `library_uuid`,
//! `process_uuid`, `activity_id`, `parent_activity_id`, `boot_uuid`,
//! `timezone`, `tracev3` (the file it came from).

mod entry;
mod provider;

use std::collections::HashMap;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};

use macos_unifiedlogs::iterator::UnifiedLogIterator;
use macos_unifiedlogs::parser::build_log;
use macos_unifiedlogs::timesync::TimesyncBoot;
use macos_unifiedlogs::unified_log::{EventType, LogData, UnifiedLogData};
use sealbag_common::engine::{
    Facts, FileParser, GeneratedBuffer, LiveContext, StopSignal, DEFAULT_GENERATED_CAP,
};
use sealbag_common::profile::Target;
use sealbag_common::source::{ReadSeek, SourcePath, Timestamp};

pub use entry::{level, rfc3339, write_line};
pub use provider::{
    classify, read_capped, BoundedCache, CacheMisses, LogFile, SourceProvider, MAX_DSC,
    MAX_TIMESYNC, MAX_TRACEV3, MAX_UUIDTEXT,
};

/// The first (usually only) member of the parse.
pub const MEMBER: &str = "parsed/unifiedlogs.jsonl";

/// Compressed bytes after which a member is sealed and the next begun
/// (under the engine's cap on one generated member).
pub const PART_LIMIT: usize = DEFAULT_GENERATED_CAP - (8 << 20);

/// Most oversize strings carried from one chunk to the next.
pub const MAX_OVERSIZE: usize = 65_536;

/// Name of the `n`th member (1-based).
pub fn member_name(part: u32) -> String {
    if part <= 1 {
        MEMBER.to_string()
    } else {
        format!("parsed/unifiedlogs.{part}.jsonl")
    }
}

/// What happened to one tracev3 file.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FileReport {
    /// Its path on the source.
    pub path: String,
    /// Its size.
    pub bytes: u64,
    /// Entries built from it (before `since`).
    pub entries: u64,
    /// What could not be parsed, when something could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<String>,
}

/// What a parse did, for the manifest.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ParseReport {
    /// Entries built.
    pub entries: u64,
    /// Entries written (at or after `since`).
    pub written: u64,
    /// Entries left out as older than `since`.
    pub before_since: u64,
    /// Earliest entry time written (RFC 3339).
    pub first: Option<String>,
    /// Latest entry time written (RFC 3339).
    pub last: Option<String>,
    /// Boots found in the timesync files.
    pub timesync_boots: usize,
    /// uuidtext and dsc files available.
    pub uuidtext_files: usize,
    /// dsc files available.
    pub dsc_files: usize,
    /// Each tracev3 file, in the order parsed.
    pub files: Vec<FileReport>,
    /// Other problems (unreadable timesync files…).
    pub errors: Vec<String>,
    /// Referenced uuidtext UUIDs that were missing or unreadable (count).
    pub missing_uuidtext: usize,
    /// Referenced dsc UUIDs that were missing or unreadable (count).
    pub missing_dsc: usize,
    /// The first few missing UUIDs, with why.
    pub missing_examples: Vec<String>,
    /// Oversize strings dropped to stay under [`MAX_OVERSIZE`].
    pub oversize_dropped: u64,
    /// Set when the run was stopped during the parse.
    pub stopped: bool,
}

/// Reads every timesync file; problems go to `errors`.
fn timesync(
    provider: &SourceProvider<'_>,
    errors: &mut Vec<String>,
) -> HashMap<String, TimesyncBoot> {
    let mut boots: HashMap<String, TimesyncBoot> = HashMap::new();
    for path in &provider.timesync {
        let data = match read_capped(provider.source(), path, MAX_TIMESYNC) {
            Ok(d) => d,
            Err(e) => {
                errors.push(format!("{path}: timesync not read: {e}"));
                continue;
            }
        };
        let parsed = catch_unwind(|| {
            TimesyncBoot::parse_timesync_data(&data)
                .map(|(_, m)| m)
                .map_err(|e| e.to_string())
        });
        match parsed {
            Ok(Ok(map)) => {
                for (boot, mut value) in map {
                    match boots.get_mut(&boot) {
                        Some(known) => known.timesync.append(&mut value.timesync),
                        None => {
                            boots.insert(boot, value);
                        }
                    }
                }
            }
            Ok(Err(e)) => errors.push(format!("{path}: not a timesync file: {e}")),
            Err(_) => errors.push(format!("{path}: timesync parser panicked; file skipped")),
        }
    }
    boots
}

/// Parses every tracev3 file of `provider`, calling `emit` with each JSON
/// line (entries at or after `since`, in nanoseconds since the epoch).
/// `emit` failing (the output is broken) ends the parse with its error.
pub fn parse_logs(
    provider: &SourceProvider<'_>,
    since: Option<i64>,
    stop: &StopSignal,
    emit: &mut dyn FnMut(&[u8]) -> Result<(), String>,
) -> Result<ParseReport, String> {
    let mut report = ParseReport::default();
    let boots = timesync(provider, &mut report.errors);
    report.timesync_boots = boots.len();
    (report.uuidtext_files, report.dsc_files) = provider.string_files();
    let cache = BoundedCache::default();
    let mut oversize = Vec::new();
    let mut line = Vec::with_capacity(4096);
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for path in &provider.tracev3 {
        if stop.is_set() {
            report.stopped = true;
            break;
        }
        let mut file = FileReport {
            path: path.display(),
            ..FileReport::default()
        };
        let data = match read_capped(provider.source(), path, MAX_TRACEV3) {
            Ok(d) => d,
            Err(e) => {
                file.lost = Some(format!("not parsed: {e}"));
                report.files.push(file);
                continue;
            }
        };
        file.bytes = data.len() as u64;
        let mut chunks = UnifiedLogIterator {
            data,
            header: Vec::new(),
            evidence: path.display(),
        };
        let mut why = "a damaged chunk";
        loop {
            if stop.is_set() {
                report.stopped = true;
                why = "the run was stopped";
                break;
            }
            let before = chunks.data.len();
            let mut chunk = match catch_unwind(AssertUnwindSafe(|| chunks.next())) {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(_) => {
                    why = "the parser panicked on a damaged chunk";
                    break;
                }
            };
            chunk.oversize.append(&mut oversize);
            let built = catch_unwind(AssertUnwindSafe(|| {
                build_log(&chunk, provider, &cache, &boots, false).0
            }));
            let pids = dump_pids(&chunk);
            oversize = std::mem::take(&mut chunk.oversize);
            if oversize.len() > MAX_OVERSIZE {
                let excess = oversize.len() - MAX_OVERSIZE;
                oversize.drain(..excess);
                report.oversize_dropped += excess as u64;
            }
            match built {
                Ok(mut entries) => {
                    for entry in &mut entries {
                        if matches!(
                            entry.event_type,
                            EventType::Statedump | EventType::Simpledump
                        ) {
                            if let Some(&pid) = pids.get(&entry.pid) {
                                entry.pid = pid;
                            }
                        }
                        emit_entry(entry, since, &mut report, &mut file, &mut line, emit)?;
                        let ns = entry::time_ns(entry);
                        if since.is_none_or(|s| ns >= s) {
                            first = first.min(ns);
                            last = last.max(ns);
                        }
                    }
                }
                Err(_) => {
                    report.errors.push(format!(
                        "{path}: the parser panicked building the entries of a chunk at byte {}; that chunk is lost",
                        file.bytes - before as u64
                    ));
                }
            }
            if !chunks.data.is_empty() && chunks.data.len() >= before {
                why = "a chunk that does not advance";
                break;
            }
        }
        let left = chunks.data.len() as u64;
        if left > 0 {
            file.lost = Some(format!(
                "bytes {}..{} ({left} bytes) not parsed: {why}",
                file.bytes - left,
                file.bytes
            ));
        }
        report.files.push(file);
    }
    if report.written > 0 {
        report.first = Some(rfc3339(first));
        report.last = Some(rfc3339(last));
    }
    let misses = cache.misses();
    report.missing_uuidtext = misses.uuidtext.0;
    report.missing_dsc = misses.dsc.0;
    report.missing_examples = misses
        .uuidtext
        .1
        .into_iter()
        .take(10)
        .map(|m| format!("uuidtext {m}"))
        .chain(
            misses
                .dsc
                .1
                .into_iter()
                .take(10)
                .map(|m| format!("dsc {m}")),
        )
        .collect();
    Ok(report)
}

/// The real pid of each unique process id in the chunk's catalogs. The
/// crate (0.7.0) gives statedumps and simpledumps the unique id (the
/// catalog's key) as `pid`, where firehose entries get the catalog's pid;
/// UnifiedLogReader, like `log show`, reports the pid.
fn dump_pids(chunk: &UnifiedLogData) -> HashMap<u64, u64> {
    let mut pids = HashMap::new();
    for catalog in &chunk.catalog_data {
        for process in catalog.catalog.catalog_process_info_entries.values() {
            pids.insert(process.first_number_proc_id, u64::from(process.pid));
        }
    }
    pids
}

fn emit_entry(
    entry: &LogData,
    since: Option<i64>,
    report: &mut ParseReport,
    file: &mut FileReport,
    line: &mut Vec<u8>,
    emit: &mut dyn FnMut(&[u8]) -> Result<(), String>,
) -> Result<(), String> {
    report.entries += 1;
    file.entries += 1;
    let ns = entry::time_ns(entry);
    if since.is_some_and(|s| ns < s) {
        report.before_since += 1;
        return Ok(());
    }
    line.clear();
    write_line(line, entry, ns).map_err(|e| e.to_string())?;
    emit(line)?;
    report.written += 1;
    Ok(())
}

/// The `unifiedlog` parser hook (a per-target parser).
#[derive(Debug, Default, Clone, Copy)]
pub struct UnifiedLogParser;

/// Writes the lines into members of at most [`PART_LIMIT`] compressed bytes.
struct Parts<'c, 'a> {
    context: &'c mut LiveContext<'a>,
    buffer: GeneratedBuffer,
    part: u32,
    in_part: u64,
}

impl Parts<'_, '_> {
    fn write(&mut self, line: &[u8]) -> Result<(), String> {
        if self.buffer.compressed_len() >= PART_LIMIT {
            self.seal(Facts::new())?;
        }
        self.buffer.write_all(line).map_err(|e| e.to_string())?;
        self.in_part += 1;
        Ok(())
    }

    fn seal(&mut self, mut facts: Facts) -> Result<(), String> {
        let fresh = GeneratedBuffer::new(DEFAULT_GENERATED_CAP).map_err(|e| e.to_string())?;
        let generated = std::mem::replace(&mut self.buffer, fresh)
            .finish()
            .map_err(|e| e.to_string())?;
        facts.insert("part".into(), self.part.into());
        facts.insert("entries_in_part".into(), self.in_part.into());
        self.context
            .add_member(
                &member_name(self.part),
                &generated,
                "macos-unifiedlogs",
                facts,
            )
            .map_err(|e| e.to_string())?;
        self.part += 1;
        self.in_part = 0;
        Ok(())
    }
}

impl FileParser for UnifiedLogParser {
    fn name(&self) -> &'static str {
        "unifiedlog"
    }

    fn suffix(&self) -> &'static str {
        ".jsonl"
    }

    fn parse(
        &self,
        _target: &Target,
        _path: &SourcePath,
        _data: &mut dyn ReadSeek,
        _out: &mut dyn Write,
    ) -> Result<Facts, String> {
        Err("`unifiedlog` reads a target's files together (parse_target)".into())
    }

    fn per_target(&self) -> bool {
        true
    }

    fn parse_target(
        &self,
        target: &Target,
        files: &[SourcePath],
        context: &mut LiveContext<'_>,
    ) -> Result<(), String> {
        let provider = SourceProvider::new(context.source, files);
        if provider.tracev3.is_empty() {
            context.record_skipped(
                "parse:unifiedlog",
                "no tracev3 file among the target's files collected whole: nothing to parse".into(),
            );
            return Ok(());
        }
        let since = target.since.map(|d| {
            let now = Timestamp::now();
            let secs = now
                .secs
                .saturating_sub(i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            secs.saturating_mul(1_000_000_000)
                .saturating_add(i64::from(now.nanos))
        });
        let stop = context.stop;
        let mut parts = Parts {
            buffer: GeneratedBuffer::new(DEFAULT_GENERATED_CAP).map_err(|e| e.to_string())?,
            context,
            part: 1,
            in_part: 0,
        };
        let report = parse_logs(&provider, since, stop, &mut |line| parts.write(line))?;
        let mut facts = Facts::new();
        if let serde_json::Value::Object(map) =
            serde_json::to_value(&report).map_err(|e| e.to_string())?
        {
            facts.extend(map);
        }
        facts.insert(
            "since".into(),
            since.map_or(serde_json::Value::Null, |s| rfc3339(s).into()),
        );
        facts.insert("parts".into(), parts.part.into());
        parts.seal(facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_parts() {
        assert_eq!(member_name(1), "parsed/unifiedlogs.jsonl");
        assert_eq!(member_name(3), "parsed/unifiedlogs.3.jsonl");
    }
}
