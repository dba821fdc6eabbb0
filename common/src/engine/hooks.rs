//! What a tool plugs into the engine: file parsers (`parse = "evtx"`) and
//! volatile-state collectors (`[[live]] kind = "processes"`).
//!
//! The engine stays OS-independent: it knows the profile keys, and each
//! tool registers the implementations it has. A profile entry no registered
//! implementation answers is recorded as not available, never silently dropped.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use super::generated::{Generated, GeneratedBuffer};
use super::sink::{Sink, SinkError};
use super::stop::StopSignal;
use crate::archive::{ManifestRecord, Status};
use crate::profile::{LiveTarget, Target};
use crate::source::{EntryKind, ReadSeek, Source, SourcePath, Timestamp};

/// Facts a parser or collector reports for the manifest (record counts,
/// first and last timestamps, what could not be recovered).
pub type Facts = BTreeMap<String, serde_json::Value>;

/// Turns a collected file into a readable derived form, stored under `parsed/`.
pub trait FileParser: Send + Sync {
    /// The `parse = "…"` value this parser answers to.
    fn name(&self) -> &'static str;

    /// The ending of the parsed member (`.jsonl`, `.json`), appended to the file's path.
    fn suffix(&self) -> &'static str;

    /// Parses `data` (the file as on the source, from its start) into `out`.
    /// A damaged file should yield every record it can and say in the facts
    /// what was lost; an error means nothing useful could be parsed.
    fn parse(
        &self,
        target: &Target,
        path: &SourcePath,
        data: &mut dyn ReadSeek,
        out: &mut dyn Write,
    ) -> Result<Facts, String>;

    /// Whether this parser reads a target's files together, once the whole
    /// target is collected, instead of each file alone: the unified logs
    /// need their tracev3, timesync and uuidtext files at once. Such a
    /// parser implements [`FileParser::parse_target`]; its `parse` is never called.
    fn per_target(&self) -> bool {
        false
    }

    /// For a [`per_target`](FileParser::per_target) parser: parses `files`
    /// (the target's files that were collected whole, in the order they were
    /// stored), reading them back through `context.source`, and adds its
    /// members (`parsed/…`) and records through `context`.
    fn parse_target(
        &self,
        target: &Target,
        files: &[SourcePath],
        context: &mut LiveContext<'_>,
    ) -> Result<(), String> {
        let _ = (target, files, context);
        Err(format!("parser `{}` reads files one by one", self.name()))
    }
}

/// Reads one kind of volatile state (processes, sockets…) and writes members under `live/`.
pub trait LiveCollector: Send + Sync {
    /// The `[[live]] kind` values this collector answers to.
    fn kinds(&self) -> &'static [&'static str];

    /// Collects `target`, adding members through `context`.
    fn collect(&self, target: &LiveTarget, context: &mut LiveContext<'_>) -> Result<(), String>;
}

/// The implementations a tool registers.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Parsers by name.
    pub parsers: Vec<Arc<dyn FileParser>>,
    /// Volatile-state collectors.
    pub live: Vec<Arc<dyn LiveCollector>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field(
                "parsers",
                &self.parsers.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .field(
                "live",
                &self.live.iter().map(|l| l.kinds()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Hooks {
    /// The parser registered for `name`.
    pub fn parser(&self, name: &str) -> Option<&Arc<dyn FileParser>> {
        self.parsers.iter().find(|p| p.name() == name)
    }

    /// The collector registered for `kind`.
    pub fn live_collector(&self, kind: &str) -> Option<&Arc<dyn LiveCollector>> {
        self.live.iter().find(|l| l.kinds().contains(&kind))
    }
}

/// What a live collector works with: the source, the stop signal, and a
/// way to add members that records each in the manifest.
pub struct LiveContext<'a> {
    /// The source being collected (the live root, or an image).
    pub source: &'a dyn Source,
    /// Set when the run must stop.
    pub stop: &'a StopSignal,
    pub(crate) sink: &'a mut dyn Sink,
    pub(crate) target_name: String,
    pub(crate) records: Vec<ManifestRecord>,
}

impl LiveContext<'_> {
    /// A fresh buffer for a member of unknown size.
    pub fn buffer(&self) -> std::io::Result<GeneratedBuffer> {
        GeneratedBuffer::new(super::generated::DEFAULT_GENERATED_CAP)
    }

    /// Stores `generated` as `name` (e.g. `live/processes.jsonl`) and records
    /// it in the manifest with `method` (how it was read) and `facts`.
    pub fn add_member(
        &mut self,
        name: &str,
        generated: &Generated,
        method: &str,
        facts: Facts,
    ) -> Result<(), SinkError> {
        let mut reader = generated.reader()?;
        self.sink
            .add_member(name.as_bytes(), generated.len, &mut reader)?;
        let path = SourcePath::parse(name.as_bytes()).unwrap_or_else(SourcePath::root);
        let mut record =
            ManifestRecord::new(&path, &self.target_name, EntryKind::Other, Status::Ok);
        record.path = name.to_string();
        record.set_archive_path(name.as_bytes());
        record.size = Some(generated.len);
        record.sha256 = Some(generated.sha256.clone());
        record.method = Some(method.to_string());
        record.times.modified = Some(Timestamp::now());
        record.extra = facts;
        self.records.push(record);
        Ok(())
    }

    /// Stores a symbolic link `name` → `target` (e.g. a `.logarchive` entry
    /// pointing at the copy of the file under `files/`, so a layout costs no
    /// second copy of the data) and records it in the manifest.
    pub fn add_link(&mut self, name: &str, target: &[u8], facts: Facts) -> Result<(), SinkError> {
        let mut metadata = crate::source::Metadata::new(EntryKind::Symlink, 0);
        metadata.times.modified = Some(Timestamp::now());
        metadata.mode = Some(0o777);
        let entry = super::sink::StoredEntry {
            archive_path: name.as_bytes(),
            size: 0,
            metadata: &metadata,
        };
        self.sink.add_symlink(&entry, target)?;
        let path = SourcePath::parse(name.as_bytes()).unwrap_or_else(SourcePath::root);
        let mut record =
            ManifestRecord::new(&path, &self.target_name, EntryKind::Symlink, Status::Ok);
        record.path = name.to_string();
        record.set_archive_path(name.as_bytes());
        record.size = Some(0);
        record.link_target = Some(String::from_utf8_lossy(target).into_owned());
        record.method = Some("generated-link".into());
        record.times.modified = metadata.times.modified;
        record.extra = facts;
        self.records.push(record);
        Ok(())
    }

    /// Records that this live target (or part of it) cannot be read from
    /// this source (a kernel-only kind on an image), without making the run
    /// an error: the manifest says `skipped` and why.
    pub fn record_skipped(&mut self, what: &str, reason: String) {
        let mut record = ManifestRecord::new(
            &SourcePath::root(),
            &self.target_name,
            EntryKind::Other,
            Status::Skipped,
        );
        record.path = what.to_string();
        record.error = Some(reason);
        self.records.push(record);
    }

    /// Records a problem of this live target without failing the run.
    pub fn record_error(&mut self, what: &str, error: String) {
        let mut record = ManifestRecord::new(
            &SourcePath::root(),
            &self.target_name,
            EntryKind::Other,
            Status::Error,
        );
        record.path = what.to_string();
        record.error = Some(error);
        self.records.push(record);
    }
}
