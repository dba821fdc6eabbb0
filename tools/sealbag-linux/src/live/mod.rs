//! Volatile state read straight from `/proc`, `/sys` and system files, never
//! by running `ps`, `netstat` or `ss` (whose output an attacker may control).
//!
//! Each kind is a [`LiveCollector`] writing JSON Lines under `live/`; every
//! record carries `read_at`, the RFC 3339 UTC time it was read. Parsers are
//! pure functions over text or bytes (tested with this machine's files and
//! hostile input); the collectors only open files and feed them in.
//!
//! Kinds that need a running kernel (`processes`, `network`, `mounts`,
//! `modules`, `system`, `routes`, `arp`) record one *skipped* entry when the
//! source is not the live system (`--root`); the file-based kinds
//! (`sessions`, `logins`, `packages`, `users`, `persistence`, `bodyfile`)
//! read through the [`Source`] and so work on mounted trees too.

mod bodyfile;
mod files;
mod kernel;
mod network;
mod process;
mod utmp;

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use sealbag_common::engine::{Facts, GeneratedBuffer, LiveCollector, LiveContext};
use sealbag_common::source::{Source, SourcePath, Timestamp};

pub use bodyfile::{bodyfile_line, mode_string, BodyfileCollector};
pub use files::{
    parse_dpkg_status, parse_group, parse_passwd, parse_shadow, PackagesCollector,
    PersistenceCollector, UsersCollector,
};
pub use kernel::{
    parse_arp, parse_fib_trie_local, parse_if_inet6, parse_ipv6_route, parse_modules,
    parse_mountinfo, parse_route, ArpCollector, ModulesCollector, MountsCollector, RoutesCollector,
    SystemCollector,
};
pub use network::{
    decode_addr, parse_packet, parse_proc_net, parse_unix, NetworkCollector, PacketSocket, Socket,
    UnixSocket,
};
pub use process::{parse_cmdline, parse_stat, parse_status_ids, ProcessCollector, Stat};
pub use utmp::{
    parse_lastlog_record, parse_utmp_record, Utmp, UtmpCollector, LASTLOG_SIZE, UTMP_SIZE,
};

/// Largest single `/proc` or configuration file read whole (1 MiB):
/// enough for any real `stat`, `status`, `cmdline` or `passwd`.
pub const SMALL_FILE_CAP: u64 = 1 << 20;

/// Largest text table read whole (`/proc/net/tcp` on a busy server,
/// `/var/lib/dpkg/status`): 64 MiB.
pub const TABLE_CAP: u64 = 64 << 20;

/// Every live collector this tool provides. `include_shadow` lets the
/// `users` kind read `/etc/shadow` (off unless `--include-shadow`).
pub fn collectors(include_shadow: bool) -> Vec<Arc<dyn LiveCollector>> {
    vec![
        Arc::new(ProcessCollector::default()),
        Arc::new(NetworkCollector::default()),
        Arc::new(UtmpCollector),
        Arc::new(MountsCollector),
        Arc::new(ModulesCollector),
        Arc::new(SystemCollector),
        Arc::new(RoutesCollector),
        Arc::new(ArpCollector),
        Arc::new(PackagesCollector),
        Arc::new(UsersCollector { include_shadow }),
        Arc::new(PersistenceCollector),
        Arc::new(BodyfileCollector),
    ]
}

/// The kinds that describe the running kernel (`/proc`, `/sys`), which a
/// disk image does not have.
pub const VOLATILE_KINDS: &[&str] = &[
    "processes",
    "network",
    "mounts",
    "modules",
    "system",
    "routes",
    "arp",
];

/// The live collectors for a disk image (`--image`): the file-based kinds
/// read through the image's source as usual; every volatile kind is
/// answered by [`NotFromImage`], which says once that it cannot be had.
pub fn image_collectors(include_shadow: bool) -> Vec<Arc<dyn LiveCollector>> {
    vec![
        Arc::new(NotFromImage::default()),
        Arc::new(UtmpCollector),
        Arc::new(PackagesCollector),
        Arc::new(UsersCollector { include_shadow }),
        Arc::new(PersistenceCollector),
        Arc::new(BodyfileCollector),
    ]
}

/// Answers every volatile kind on an image with one `skipped` record for
/// the whole run (not one per target, nor one per volume).
#[derive(Debug, Default)]
pub struct NotFromImage {
    said: std::sync::atomic::AtomicBool,
}

impl LiveCollector for NotFromImage {
    fn kinds(&self) -> &'static [&'static str] {
        VOLATILE_KINDS
    }

    fn collect(
        &self,
        _target: &sealbag_common::profile::LiveTarget,
        context: &mut LiveContext<'_>,
    ) -> Result<(), String> {
        if self.said.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        let reason = format!(
            "not available from an image: volatile state ({}) lives in a running kernel, not on the disk; said once for every volatile target of the profile",
            VOLATILE_KINDS.join(", ")
        );
        tracing::warn!("{reason}");
        context.record_skipped("live:volatile", reason);
        Ok(())
    }
}

/// `read_at` for a record: now, RFC 3339 UTC.
pub(crate) fn read_at() -> String {
    Timestamp::now().to_string()
}

/// Whether the source is this running system (so `/proc` describes it).
pub(crate) fn is_live(context: &LiveContext<'_>) -> bool {
    context.source.info().kind == "live"
}

/// For kinds that need a running kernel: records once that an image or tree
/// has none, and says whether to go on.
pub(crate) fn require_live(context: &mut LiveContext<'_>, kind: &str) -> bool {
    if is_live(context) {
        return true;
    }
    let info = context.source.info();
    context.record_skipped(
        &format!("live:{kind}"),
        format!(
            "not available from an image/tree ({} source at {}): needs the running kernel's /proc",
            info.kind, info.location
        ),
    );
    false
}

/// Reads at most `cap` bytes of a host file (for `/proc` and `/sys`).
pub(crate) fn read_host(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut data = Vec::new();
    file.take(cap).read_to_end(&mut data)?;
    Ok(data)
}

/// Reads at most `cap` bytes of a host file as (lossy) text.
pub(crate) fn read_host_text(path: &Path, cap: u64) -> std::io::Result<String> {
    read_host(path, cap).map(|d| String::from_utf8_lossy(&d).into_owned())
}

/// Why a file could not be read through the source: absent (often normal:
/// not every system has every file) or an error worth recording.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Nothing at that path.
    NotFound,
    /// Anything else, with the path.
    Other(String),
}

impl From<String> for ReadError {
    fn from(e: String) -> Self {
        ReadError::Other(e)
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotFound => f.write_str("not found"),
            ReadError::Other(e) => f.write_str(e),
        }
    }
}

impl From<ReadError> for serde_json::Value {
    fn from(e: ReadError) -> Self {
        e.to_string().into()
    }
}

/// Opens a file through the source, telling absence from failure.
pub(crate) fn open_source<'a>(
    source: &'a dyn Source,
    path: &str,
) -> Result<sealbag_common::source::OpenedFile<'a>, ReadError> {
    let sp = SourcePath::parse(path.as_bytes())
        .ok_or_else(|| ReadError::Other(format!("{path}: not an absolute path")))?;
    source.open(&sp, None).map_err(|e| match e {
        sealbag_common::source::SourceError::NotFound { .. } => ReadError::NotFound,
        e => ReadError::Other(e.to_string()),
    })
}

/// Reads at most `cap` bytes of a file through the source.
pub(crate) fn read_source(source: &dyn Source, path: &str, cap: u64) -> Result<Vec<u8>, ReadError> {
    let opened = open_source(source, path)?;
    let mut data = Vec::new();
    opened
        .reader
        .take(cap)
        .read_to_end(&mut data)
        .map_err(|e| format!("{path}: {e}"))?;
    Ok(data)
}

/// Lossy UTF-8 of raw bytes (names on disk are not always UTF-8).
pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// JSON Lines written into a generated member, counted.
pub(crate) struct Jsonl {
    buffer: GeneratedBuffer,
    /// Records written.
    pub count: u64,
}

impl Jsonl {
    /// A fresh writer from the context's buffer.
    pub fn new(context: &LiveContext<'_>) -> Result<Self, String> {
        Ok(Jsonl {
            buffer: context.buffer().map_err(|e| format!("buffer: {e}"))?,
            count: 0,
        })
    }

    /// Writes one record as a line.
    pub fn write(&mut self, value: &serde_json::Value) -> Result<(), String> {
        let mut line = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        line.push(b'\n');
        self.buffer
            .write_all(&line)
            .map_err(|e| format!("writing record {}: {e}", self.count + 1))?;
        self.count += 1;
        Ok(())
    }

    /// Writes raw bytes (for non-JSON members such as the bodyfile).
    pub fn write_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.buffer
            .write_all(bytes)
            .map_err(|e| format!("writing line {}: {e}", self.count + 1))?;
        self.count += 1;
        Ok(())
    }

    /// Stores the member as `name` with `method` and `facts` (plus `records`).
    pub fn finish(
        self,
        context: &mut LiveContext<'_>,
        name: &str,
        method: &str,
        mut facts: Facts,
    ) -> Result<(), String> {
        facts.insert("records".into(), self.count.into());
        let generated = self.buffer.finish().map_err(|e| format!("{name}: {e}"))?;
        context
            .add_member(name, &generated, method, facts)
            .map_err(|e| format!("{name}: {e}"))
    }
}

/// Lower-case hexadecimal of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noise (a 64-bit LCG), with bytes biased towards the
    /// separators the parsers split on so they reach deep code paths.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..len)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let b = (x >> 33) as u8;
                match b % 8 {
                    0 => b' ',
                    1 => b':',
                    2 => b'\n',
                    3 => b"0123456789ABCDEF"[(b >> 4) as usize],
                    4 => b'\0',
                    5 => b"()-/\\|"[(b as usize) % 6],
                    _ => b,
                }
            })
            .collect()
    }

    #[test]
    fn parsers_survive_garbage() {
        for seed in 0..300u64 {
            let bytes = noise(seed, (seed as usize * 37) % 4096);
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse_stat(&text);
            let _ = parse_status_ids(&text);
            let _ = parse_cmdline(&bytes);
            let _ = parse_proc_net(&text, "tcp");
            let _ = parse_packet(&text);
            let _ = parse_unix(&text);
            let _ = decode_addr(&text);
            let _ = parse_mountinfo(&text);
            let _ = parse_modules(&text);
            let _ = parse_route(&text);
            let _ = parse_ipv6_route(&text);
            let _ = parse_arp(&text);
            let _ = parse_fib_trie_local(&text);
            let _ = parse_if_inet6(&text);
            let _ = parse_passwd(&text);
            let _ = parse_group(&text);
            let _ = parse_shadow(&text);
            let _ = parse_dpkg_status(&text);
            for chunk in bytes.chunks(UTMP_SIZE) {
                let _ = parse_utmp_record(chunk);
            }
            for chunk in bytes.chunks(LASTLOG_SIZE) {
                let _ = parse_lastlog_record(chunk);
            }
        }
    }

    #[test]
    fn hex_is_lowercase_pairs() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(hex(&[]), "");
    }
}
