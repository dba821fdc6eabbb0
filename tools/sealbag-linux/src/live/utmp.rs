//! `sessions` and `logins`: the login records of `utmp` (who is logged in),
//! `wtmp` (login history), `btmp` (failed logins) and `lastlog`.
//!
//! Layout: glibc's `struct utmp` on 64-bit Linux, 384 bytes (`ut_tv` is two
//! 32-bit fields there for compatibility); `struct lastlog`, 292 bytes,
//! indexed by uid. Both are read through the source, so a mounted image's
//! files are parsed too; the raw files are collected by the profile.

use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, Ipv6Addr};

use sealbag_common::engine::{Facts, LiveCollector, LiveContext};
use sealbag_common::profile::LiveTarget;
use sealbag_common::source::{SourcePath, Timestamp};
use serde_json::json;

use super::{lossy, read_at, Jsonl};

/// Size of one `struct utmp` record.
pub const UTMP_SIZE: usize = 384;
/// Size of one `struct lastlog` record.
pub const LASTLOG_SIZE: usize = 292;

/// One utmp/wtmp/btmp record, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utmp {
    /// Record type name (`USER_PROCESS`, `DEAD_PROCESS`, `BOOT_TIME`…).
    pub kind: String,
    /// Process id of the login process.
    pub pid: i32,
    /// Terminal (`pts/0`).
    pub line: String,
    /// Terminal suffix / inittab id.
    pub id: String,
    /// User name.
    pub user: String,
    /// Remote host name (or kernel version for boot records).
    pub host: String,
    /// Session id.
    pub session: i32,
    /// Seconds since the epoch.
    pub time_secs: i64,
    /// Microseconds.
    pub time_usec: i64,
    /// Remote address, when set.
    pub addr: Option<String>,
}

fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    lossy(&bytes[..end])
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    i32::from_le_bytes(w)
}

fn type_name(t: i16) -> String {
    match t {
        0 => "EMPTY".into(),
        1 => "RUN_LVL".into(),
        2 => "BOOT_TIME".into(),
        3 => "NEW_TIME".into(),
        4 => "OLD_TIME".into(),
        5 => "INIT_PROCESS".into(),
        6 => "LOGIN_PROCESS".into(),
        7 => "USER_PROCESS".into(),
        8 => "DEAD_PROCESS".into(),
        9 => "ACCOUNTING".into(),
        other => format!("UNKNOWN({other})"),
    }
}

/// Decodes one 384-byte record; `None` if `bytes` is shorter.
pub fn parse_utmp_record(bytes: &[u8]) -> Option<Utmp> {
    let b = bytes.get(..UTMP_SIZE)?;
    let ut_type = i16::from_le_bytes([b[0], b[1]]);
    let mut addr_bytes = [0u8; 16];
    addr_bytes.copy_from_slice(&b[348..364]);
    let addr = if addr_bytes == [0u8; 16] {
        None
    } else if addr_bytes[4..] == [0u8; 12] {
        Some(Ipv4Addr::new(addr_bytes[0], addr_bytes[1], addr_bytes[2], addr_bytes[3]).to_string())
    } else {
        Some(Ipv6Addr::from(addr_bytes).to_string())
    };
    Some(Utmp {
        kind: type_name(ut_type),
        pid: i32_at(b, 4),
        line: cstr(&b[8..40]),
        id: cstr(&b[40..44]),
        user: cstr(&b[44..76]),
        host: cstr(&b[76..332]),
        session: i32_at(b, 336),
        time_secs: i64::from(i32_at(b, 340) as u32),
        time_usec: i64::from(i32_at(b, 344)),
        addr,
    })
}

/// Decodes one 292-byte lastlog record: (time, line, host); `None` if
/// shorter or never used (time 0).
pub fn parse_lastlog_record(bytes: &[u8]) -> Option<(i64, String, String)> {
    let b = bytes.get(..LASTLOG_SIZE)?;
    let time = i64::from(i32_at(b, 0) as u32);
    (time != 0).then(|| (time, cstr(&b[4..36]), cstr(&b[36..292])))
}

fn utmp_json(u: &Utmp, source: &str, index: u64, read_at: &str) -> serde_json::Value {
    json!({
        "read_at": read_at,
        "source": source,
        "record": index,
        "type": u.kind,
        "user": u.user,
        "line": u.line,
        "id": u.id,
        "host": u.host,
        "addr": u.addr,
        "pid": u.pid,
        "session": u.session,
        "time": Timestamp::new(u.time_secs, u.time_usec.clamp(0, 999_999) * 1000).to_string(),
    })
}

/// Streams the records of one utmp-format file into `out`; returns the count
/// of records and whether the file ended in a partial record.
fn stream_utmp(
    context: &LiveContext<'_>,
    path: &str,
    out: &mut Jsonl,
    skip_empty: bool,
) -> Result<(u64, usize), super::ReadError> {
    let mut opened = super::open_source(context.source, path)?;
    let read_at = read_at();
    let mut record = [0u8; UTMP_SIZE];
    let mut index = 0u64;
    loop {
        if context.stop.is_set() {
            return Ok((index, 0));
        }
        let mut filled = 0;
        while filled < UTMP_SIZE {
            match opened.reader.read(&mut record[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(super::ReadError::Other(format!(
                        "{path}: offset {}: {e}",
                        index * UTMP_SIZE as u64
                    )))
                }
            }
        }
        if filled < UTMP_SIZE {
            return Ok((index, filled));
        }
        if let Some(u) = parse_utmp_record(&record) {
            if !(skip_empty && u.kind == "EMPTY") {
                out.write(&utmp_json(&u, path, index, &read_at))
                    .map_err(super::ReadError::Other)?;
            }
        }
        index += 1;
    }
}

/// Reads utmp (`sessions`) or wtmp, btmp and lastlog (`logins`).
#[derive(Debug)]
pub struct UtmpCollector;

impl UtmpCollector {
    fn files(
        context: &mut LiveContext<'_>,
        candidates: &[&[&str]],
        out: &mut Jsonl,
        facts: &mut Facts,
        skip_empty: bool,
    ) {
        for alternatives in candidates {
            for path in alternatives.iter() {
                match stream_utmp(context, path, out, skip_empty) {
                    Ok((n, partial)) => {
                        facts.insert(format!("{path} records"), n.into());
                        if partial > 0 {
                            facts.insert(format!("{path} partial_tail_bytes"), partial.into());
                        }
                        break;
                    }
                    Err(super::ReadError::NotFound) => {
                        if Some(path) == alternatives.last() {
                            facts.insert(
                                alternatives.join(" | "),
                                "not found (nothing to parse)".into(),
                            );
                        }
                        continue;
                    }
                    Err(e) => {
                        facts.insert(format!("{path} error"), e.into());
                        break;
                    }
                }
            }
        }
    }

    fn lastlog(context: &mut LiveContext<'_>, out: &mut Jsonl, facts: &mut Facts) {
        let path = "/var/log/lastlog";
        let Some(sp) = SourcePath::parse(path.as_bytes()) else {
            return;
        };
        let mut opened = match context.source.open(&sp, None) {
            Ok(o) => o,
            Err(e) => {
                facts.insert(format!("{path} error"), e.to_string().into());
                return;
            }
        };
        // lastlog is sparse and indexed by uid: read the records of known
        // users only, never the (possibly terabyte-sized) holes.
        let size = opened.metadata.size;
        let read_at = read_at();
        let users = super::process::user_names(context);
        let mut uids: Vec<_> = users.into_iter().collect();
        uids.sort();
        let mut found = 0u64;
        for (uid, name) in uids {
            let offset = u64::from(uid) * LASTLOG_SIZE as u64;
            if offset + LASTLOG_SIZE as u64 > size {
                continue;
            }
            let mut record = [0u8; LASTLOG_SIZE];
            if opened.reader.seek(SeekFrom::Start(offset)).is_err()
                || opened.reader.read_exact(&mut record).is_err()
            {
                continue;
            }
            if let Some((time, line, host)) = parse_lastlog_record(&record) {
                found += 1;
                let _ = out.write(&json!({
                    "read_at": read_at,
                    "source": path,
                    "type": "LASTLOG",
                    "uid": uid,
                    "user": name,
                    "line": line,
                    "host": host,
                    "time": Timestamp::new(time, 0).to_string(),
                }));
            }
        }
        facts.insert(format!("{path} records"), found.into());
    }
}

impl LiveCollector for UtmpCollector {
    fn kinds(&self) -> &'static [&'static str] {
        &["sessions", "logins"]
    }

    fn collect(&self, target: &LiveTarget, context: &mut LiveContext<'_>) -> Result<(), String> {
        let mut out = Jsonl::new(context)?;
        let mut facts = Facts::new();
        if target.kind == "sessions" {
            Self::files(
                context,
                &[&["/run/utmp", "/var/run/utmp"]],
                &mut out,
                &mut facts,
                true,
            );
            out.finish(context, "live/sessions.jsonl", "utmp", facts)
        } else {
            Self::files(
                context,
                &[&["/var/log/wtmp"], &["/var/log/btmp"]],
                &mut out,
                &mut facts,
                true,
            );
            Self::lastlog(context, &mut out, &mut facts);
            out.finish(context, "live/logins.jsonl", "utmp", facts)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        kind: i16,
        pid: i32,
        line: &str,
        user: &str,
        host: &str,
        secs: u32,
        addr: [u8; 16],
    ) -> Vec<u8> {
        let mut b = vec![0u8; UTMP_SIZE];
        b[0..2].copy_from_slice(&kind.to_le_bytes());
        b[4..8].copy_from_slice(&pid.to_le_bytes());
        b[8..8 + line.len()].copy_from_slice(line.as_bytes());
        b[44..44 + user.len()].copy_from_slice(user.as_bytes());
        b[76..76 + host.len()].copy_from_slice(host.as_bytes());
        b[340..344].copy_from_slice(&secs.to_le_bytes());
        b[344..348].copy_from_slice(&250_000i32.to_le_bytes());
        b[348..364].copy_from_slice(&addr);
        b
    }

    #[test]
    fn crafted_records() {
        let mut v4 = [0u8; 16];
        v4[..4].copy_from_slice(&[192, 0, 2, 7]);
        let b = record(7, 4242, "pts/3", "mallory", "192.0.2.7", 1_700_000_000, v4);
        let u = parse_utmp_record(&b).expect("full record");
        assert_eq!(u.kind, "USER_PROCESS");
        assert_eq!(u.pid, 4242);
        assert_eq!(u.line, "pts/3");
        assert_eq!(u.user, "mallory");
        assert_eq!(u.host, "192.0.2.7");
        assert_eq!(u.addr.as_deref(), Some("192.0.2.7"));
        assert_eq!(u.time_secs, 1_700_000_000);
        let json = utmp_json(&u, "/var/log/wtmp", 0, "x");
        assert_eq!(json["time"], "2023-11-14T22:13:20.250000000Z");

        let v6: [u8; 16] = "2001:db8::9".parse::<Ipv6Addr>().expect("v6").octets();
        let u = parse_utmp_record(&record(8, 1, "", "", "", 0, v6)).expect("record");
        assert_eq!(u.addr.as_deref(), Some("2001:db8::9"));
        assert_eq!(u.kind, "DEAD_PROCESS");

        // Truncated; no NUL terminator in a full-width field; bad type.
        assert_eq!(parse_utmp_record(&b[..383]), None);
        let mut full = record(99, -1, "", "", "", u32::MAX, [0; 16]);
        full[44..76].fill(b'A');
        let u = parse_utmp_record(&full).expect("record");
        assert_eq!(u.user.len(), 32);
        assert_eq!(u.kind, "UNKNOWN(99)");
        assert_eq!(u.time_secs, i64::from(u32::MAX));
    }

    #[test]
    fn lastlog_records() {
        let mut b = vec![0u8; LASTLOG_SIZE];
        assert_eq!(parse_lastlog_record(&b), None);
        b[0..4].copy_from_slice(&1_700_000_000u32.to_le_bytes());
        b[4..9].copy_from_slice(b"pts/1");
        b[36..45].copy_from_slice(b"10.0.0.99");
        assert_eq!(
            parse_lastlog_record(&b),
            Some((1_700_000_000, "pts/1".into(), "10.0.0.99".into()))
        );
        assert_eq!(parse_lastlog_record(&b[..100]), None);
    }

    #[test]
    fn this_machines_wtmp_parses_whole() {
        let Ok(data) = std::fs::read("/var/log/wtmp") else {
            eprintln!("SKIP: no /var/log/wtmp on this machine");
            return;
        };
        assert_eq!(data.len() % UTMP_SIZE, 0, "wtmp is whole records");
        for chunk in data.chunks(UTMP_SIZE) {
            let u = parse_utmp_record(chunk).expect("record");
            assert!(!u.kind.starts_with("UNKNOWN"), "{u:?}");
        }
    }
}
