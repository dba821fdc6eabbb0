//! `parse = "evtx"`: Windows event logs to JSON lines, one record per line.
//!
//! Built on the `evtx` crate, reading the collected file from the source
//! (never a path). A damaged chunk or record is counted in the facts and the
//! parse goes on; the target's `event_ids` and `since` filter what is written
//! (the collected `.evtx` itself is always whole).

use std::io::Write;

use evtx::{EvtxParser, ParserSettings};
use sealbag_common::engine::{Facts, FileParser};
use sealbag_common::profile::Target;
use sealbag_common::source::{ReadSeek, SourcePath, Timestamp};

/// The evtx parser hook.
#[derive(Debug, Default, Clone, Copy)]
pub struct EvtxFileParser;

/// The `EventID` of a record's JSON (`123` or `{"#text": 123, …}`).
pub fn event_id(event: &serde_json::Value) -> Option<u32> {
    let id = event.get("Event")?.get("System")?.get("EventID")?;
    let id = id.get("#text").unwrap_or(id);
    id.as_u64()
        .or_else(|| id.as_str().and_then(|s| s.parse().ok()))
        .and_then(|v| u32::try_from(v).ok())
}

/// What a parse found, for the manifest.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EvtxCounts {
    /// Records parsed.
    pub records: u64,
    /// Records written (after the filters).
    pub written: u64,
    /// Records or chunks that could not be parsed.
    pub bad: u64,
    /// Earliest and latest record time.
    pub first: Option<Timestamp>,
    /// Latest record time.
    pub last: Option<Timestamp>,
}

/// Parses an event log from `data` into JSON lines on `out`.
pub fn parse_evtx(
    data: &mut dyn ReadSeek,
    event_ids: &[u32],
    since: Option<Timestamp>,
    out: &mut dyn Write,
    errors: &mut Vec<String>,
) -> Result<EvtxCounts, String> {
    let settings = ParserSettings::default()
        .num_threads(1)
        .separate_json_attributes(true);
    let mut parser = EvtxParser::from_read_seek(data)
        .map_err(|e| format!("not an event log: {e}"))?
        .with_configuration(settings);
    let mut counts = EvtxCounts::default();
    for record in parser.records_json_value() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                counts.bad += 1;
                if errors.len() < 20 {
                    errors.push(e.to_string());
                }
                continue;
            }
        };
        counts.records += 1;
        let ts = Timestamp::new(
            record.timestamp.as_second(),
            i64::from(record.timestamp.subsec_nanosecond()),
        );
        counts.first = Some(counts.first.map_or(ts, |f| f.min(ts)));
        counts.last = Some(counts.last.map_or(ts, |l| l.max(ts)));
        if !event_ids.is_empty()
            && !event_id(&record.data).is_some_and(|id| event_ids.contains(&id))
        {
            continue;
        }
        if since.is_some_and(|s| ts < s) {
            continue;
        }
        let line = serde_json::json!({
            "record_id": record.event_record_id,
            "timestamp": ts.to_string(),
            "event": record.data,
        });
        serde_json::to_writer(&mut *out, &line).map_err(|e| e.to_string())?;
        out.write_all(b"\n").map_err(|e| e.to_string())?;
        counts.written += 1;
    }
    Ok(counts)
}

impl FileParser for EvtxFileParser {
    fn name(&self) -> &'static str {
        "evtx"
    }

    fn suffix(&self) -> &'static str {
        ".jsonl"
    }

    fn parse(
        &self,
        target: &Target,
        _path: &SourcePath,
        data: &mut dyn ReadSeek,
        out: &mut dyn Write,
    ) -> Result<Facts, String> {
        let since = target.since.map(|d| {
            let now = Timestamp::now();
            Timestamp::new(
                now.secs.saturating_sub(d.as_secs() as i64),
                i64::from(now.nanos),
            )
        });
        let mut errors = Vec::new();
        let counts = parse_evtx(data, &target.event_ids, since, out, &mut errors)?;
        let mut facts = Facts::new();
        facts.insert("records".into(), counts.records.into());
        facts.insert("records_written".into(), counts.written.into());
        facts.insert("bad_records_or_chunks".into(), counts.bad.into());
        if let Some(first) = counts.first {
            facts.insert("first_timestamp".into(), first.to_string().into());
        }
        if let Some(last) = counts.last {
            facts.insert("last_timestamp".into(), last.to_string().into());
        }
        if !errors.is_empty() {
            facts.insert("errors".into(), errors.into());
        }
        Ok(facts)
    }
}
