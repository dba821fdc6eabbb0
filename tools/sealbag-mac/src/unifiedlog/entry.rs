//! One unified-log entry as one JSON line.

use macos_unifiedlogs::unified_log::{EventType, LogData, LogType};
use sealbag_common::source::Timestamp;

/// The level as `log show` names it (`default`, `info`, `debug`, `error`,
/// `fault`), or the kind for entries that are not messages.
pub fn level(log_type: &LogType) -> &'static str {
    match log_type {
        LogType::Debug => "debug",
        LogType::Info => "info",
        LogType::Default => "default",
        LogType::Error => "error",
        LogType::Fault => "fault",
        LogType::Create => "create",
        LogType::Useraction => "useraction",
        LogType::ProcessSignpostEvent => "process_signpost_event",
        LogType::ProcessSignpostStart => "process_signpost_start",
        LogType::ProcessSignpostEnd => "process_signpost_end",
        LogType::SystemSignpostEvent => "system_signpost_event",
        LogType::SystemSignpostStart => "system_signpost_start",
        LogType::SystemSignpostEnd => "system_signpost_end",
        LogType::ThreadSignpostEvent => "thread_signpost_event",
        LogType::ThreadSignpostStart => "thread_signpost_start",
        LogType::ThreadSignpostEnd => "thread_signpost_end",
        LogType::Simpledump => "simpledump",
        LogType::Statedump => "statedump",
        LogType::Loss => "loss",
    }
}

/// The event type (`log`, `activity`, `signpost`…).
pub fn event_type(event_type: &EventType) -> &'static str {
    match event_type {
        EventType::Unknown => "unknown",
        EventType::Log => "log",
        EventType::Activity => "activity",
        EventType::Trace => "trace",
        EventType::Signpost => "signpost",
        EventType::Simpledump => "simpledump",
        EventType::Statedump => "statedump",
        EventType::Loss => "loss",
    }
}

/// Nanoseconds since the epoch of an entry, as the crate computes them (an
/// `f64`: about a quarter of a microsecond of precision at today's dates).
pub fn time_ns(entry: &LogData) -> i64 {
    // `as` saturates (and maps NaN to 0): a hostile timesync cannot overflow.
    entry.time as i64
}

/// RFC 3339 in UTC with nanoseconds.
pub fn rfc3339(ns: i64) -> String {
    Timestamp::new(ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000)).to_string()
}

#[derive(serde::Serialize)]
struct Line<'a> {
    time: String,
    time_ns: i64,
    level: &'static str,
    event_type: &'static str,
    subsystem: &'a str,
    category: &'a str,
    process: &'a str,
    pid: u64,
    euid: u32,
    thread_id: u64,
    message: &'a str,
    format_string: &'a str,
    library: &'a str,
    library_uuid: &'a str,
    process_uuid: &'a str,
    activity_id: u64,
    parent_activity_id: u64,
    boot_uuid: &'a str,
    timezone: &'a str,
    tracev3: &'a str,
}

/// Appends `entry` as one JSON object and a newline to `out`.
pub fn write_line(out: &mut Vec<u8>, entry: &LogData, ns: i64) -> serde_json::Result<()> {
    let line = Line {
        time: rfc3339(ns),
        time_ns: ns,
        level: level(&entry.log_type),
        event_type: event_type(&entry.event_type),
        subsystem: &entry.subsystem,
        category: &entry.category,
        process: &entry.process,
        pid: entry.pid,
        euid: entry.euid,
        thread_id: entry.thread_id,
        message: &entry.message,
        format_string: &entry.raw_message,
        library: &entry.library,
        library_uuid: &entry.library_uuid,
        process_uuid: &entry.process_uuid,
        activity_id: entry.activity_id,
        parent_activity_id: entry.parent_activity_id,
        boot_uuid: &entry.boot_uuid,
        timezone: &entry.timezone_name,
        tracev3: &entry.evidence,
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_with_nanoseconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(1_642_302_206_123_456_789),
            "2022-01-16T03:03:26.123456789Z"
        );
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
    }
}
