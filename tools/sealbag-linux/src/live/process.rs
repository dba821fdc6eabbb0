//! `processes`: one record per process from `/proc/PID/{stat,status,cmdline,exe,cwd,fd}`.
//!
//! Start times come from `stat` field 22 (clock ticks since boot) plus
//! `btime` from `/proc/stat`. The tick rate is taken as 100 Hz
//! (`USER_HZ`): the kernel reports `/proc` times in `USER_HZ`, which is 100
//! on every architecture Linux builds for today, so no `sysconf` call (and no
//! `unsafe`) is needed. A process that exits while being read simply yields
//! fewer fields or no record; it is not an error.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use sealbag_common::engine::{Facts, LiveCollector, LiveContext};
use sealbag_common::profile::LiveTarget;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{lossy, read_at, read_host, read_host_text, require_live, Jsonl, SMALL_FILE_CAP};

/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`, see the module doc).
pub const CLK_TCK: u64 = 100;

/// Executables larger than this are not hashed (256 MiB).
pub const EXE_HASH_CAP: u64 = 256 << 20;

/// Most distinct executables whose hash is remembered.
const HASH_CACHE_MAX: usize = 16_384;

/// The fields of `/proc/PID/stat` a responder needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Process id.
    pub pid: u32,
    /// Command name (`comm`, at most 15 bytes in the kernel, any bytes).
    pub comm: String,
    /// State letter (`R`, `S`, `D`, `Z`, `T`…).
    pub state: char,
    /// Parent process id.
    pub ppid: u32,
    /// Session id.
    pub session: i64,
    /// Controlling terminal device number.
    pub tty_nr: i64,
    /// Number of threads.
    pub num_threads: i64,
    /// Start time in clock ticks after boot.
    pub starttime: u64,
    /// Virtual memory size in bytes.
    pub vsize: u64,
    /// Resident set size in pages.
    pub rss: i64,
}

/// Parses `/proc/PID/stat`. The command name sits in parentheses and may
/// itself contain `)` and spaces, so the fields after it are found from the
/// last `)`. `None` if the text is truncated or malformed.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    if close < open {
        return None;
    }
    let pid = text[..open].trim().parse().ok()?;
    let comm = text[open + 1..close].to_string();
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    if rest.len() < 22 {
        return None;
    }
    Some(Stat {
        pid,
        comm,
        state: rest[0].chars().next()?,
        ppid: rest[1].parse().ok()?,
        session: rest[3].parse().ok()?,
        tty_nr: rest[4].parse().ok()?,
        num_threads: rest[17].parse().ok()?,
        starttime: rest[19].parse().ok()?,
        vsize: rest[20].parse().ok()?,
        rss: rest[21].parse().ok()?,
    })
}

/// Real and effective user and group ids from `/proc/PID/status`
/// (`Uid:` and `Gid:` lines: real, effective, saved, file system).
pub fn parse_status_ids(text: &str) -> (Option<[u32; 2]>, Option<[u32; 2]>) {
    let ids = |prefix: &str| {
        text.lines().find_map(|line| {
            let mut it = line.strip_prefix(prefix)?.split_whitespace();
            let real = it.next()?.parse().ok()?;
            let effective = it.next()?.parse().ok()?;
            Some([real, effective])
        })
    };
    (ids("Uid:"), ids("Gid:"))
}

/// Splits `/proc/PID/cmdline` into its arguments (NUL-separated, a final
/// NUL optional). A process that rewrote its argv may use spaces instead;
/// that is kept as one argument, as the kernel shows it.
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes.split(|b| *b == 0).map(lossy).collect()
}

/// Start time as seconds since the epoch from ticks after boot.
pub fn start_time(btime: i64, starttime_ticks: u64) -> i64 {
    btime.saturating_add((starttime_ticks / CLK_TCK).min(i64::MAX as u64) as i64)
}

/// Reads every process; see the module documentation.
#[derive(Debug)]
pub struct ProcessCollector {
    /// Where procfs is mounted (`/proc`).
    pub proc_root: PathBuf,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        ProcessCollector {
            proc_root: PathBuf::from("/proc"),
        }
    }
}

/// The numeric entries of `/proc`: the process ids.
pub(crate) fn pids(proc_root: &Path) -> Result<Vec<u32>, String> {
    let dir = std::fs::read_dir(proc_root).map_err(|e| format!("{}: {e}", proc_root.display()))?;
    let mut pids: Vec<u32> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// Maps uids to user names from the host's `/etc/passwd` (bounded).
pub(crate) fn user_names(context: &LiveContext<'_>) -> HashMap<u32, String> {
    super::read_source(context.source, "/etc/passwd", super::SMALL_FILE_CAP * 8)
        .map(|data| {
            super::parse_passwd(&lossy(&data))
                .into_iter()
                .map(|u| (u.uid, u.name))
                .collect()
        })
        .unwrap_or_default()
}

/// `exe` link target, with the kernel's ` (deleted)` suffix split off.
fn exe_target(link: &Path) -> Option<(String, bool)> {
    let target = lossy(std::os::unix::ffi::OsStrExt::as_bytes(
        std::fs::read_link(link).ok()?.as_os_str(),
    ));
    Some(match target.strip_suffix(" (deleted)") {
        Some(path) => (path.to_string(), true),
        None => (target, false),
    })
}

/// SHA-256 of the executable through `/proc/PID/exe` (works for deleted
/// binaries too), cached by device and inode.
fn exe_hash(
    exe: &Path,
    cache: &mut HashMap<(u64, u64, i64), String>,
) -> (Option<String>, Option<String>) {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::metadata(exe) {
        Ok(m) => m,
        Err(e) => return (None, Some(e.to_string())),
    };
    if meta.len() > EXE_HASH_CAP {
        return (
            None,
            Some(format!("larger than {} MiB", EXE_HASH_CAP >> 20)),
        );
    }
    let key = (meta.dev(), meta.ino(), meta.mtime());
    if let Some(hash) = cache.get(&key) {
        return (Some(hash.clone()), None);
    }
    let mut file = match std::fs::File::open(exe) {
        Ok(f) => f,
        Err(e) => return (None, Some(e.to_string())),
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total += n as u64;
                if total > EXE_HASH_CAP {
                    return (
                        None,
                        Some(format!("larger than {} MiB", EXE_HASH_CAP >> 20)),
                    );
                }
                hasher.update(&buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (None, Some(e.to_string())),
        }
    }
    let hash = super::hex(&hasher.finalize());
    if cache.len() < HASH_CACHE_MAX {
        cache.insert(key, hash.clone());
    }
    (Some(hash), None)
}

impl LiveCollector for ProcessCollector {
    fn kinds(&self) -> &'static [&'static str] {
        &["processes"]
    }

    fn collect(&self, _target: &LiveTarget, context: &mut LiveContext<'_>) -> Result<(), String> {
        if !require_live(context, "processes") {
            return Ok(());
        }
        let btime = read_host_text(&self.proc_root.join("stat"), SMALL_FILE_CAP)
            .ok()
            .and_then(|t| crate::host::boot_time(&t))
            .map(|t| t.secs);
        let users = user_names(context);
        let mut cache = HashMap::new();
        let mut out = Jsonl::new(context)?;
        let mut vanished = 0u64;
        for pid in pids(&self.proc_root)? {
            if context.stop.is_set() {
                break;
            }
            let dir = self.proc_root.join(pid.to_string());
            let read_at = read_at();
            let Some(stat) = read_host_text(&dir.join("stat"), SMALL_FILE_CAP)
                .ok()
                .and_then(|t| parse_stat(&t))
            else {
                vanished += 1;
                continue;
            };
            let (uids, gids) = read_host_text(&dir.join("status"), SMALL_FILE_CAP)
                .map(|t| parse_status_ids(&t))
                .unwrap_or((None, None));
            let cmdline = read_host(&dir.join("cmdline"), SMALL_FILE_CAP)
                .map(|b| parse_cmdline(&b))
                .ok();
            let exe = exe_target(&dir.join("exe"));
            let (sha256, hash_error) = if exe.is_some() {
                exe_hash(&dir.join("exe"), &mut cache)
            } else {
                (None, None)
            };
            let cwd = std::fs::read_link(dir.join("cwd"))
                .ok()
                .map(|p| lossy(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str())));
            let fd_count = std::fs::read_dir(dir.join("fd")).ok().map(|d| d.count());
            let uid = uids.map(|u| u[0]);
            let record = json!({
                "read_at": read_at,
                "pid": stat.pid,
                "ppid": stat.ppid,
                "uid": uid,
                "euid": uids.map(|u| u[1]),
                "gid": gids.map(|g| g[0]),
                "user": uid.and_then(|u| users.get(&u)),
                "state": stat.state.to_string(),
                "comm": stat.comm,
                "start_time": btime.map(|b| sealbag_common::source::Timestamp::new(start_time(b, stat.starttime), 0).to_string()),
                "start_ticks": stat.starttime,
                "session": stat.session,
                "tty_nr": stat.tty_nr,
                "threads": stat.num_threads,
                "vsize": stat.vsize,
                "rss_pages": stat.rss,
                "cmdline": cmdline,
                "exe": exe.as_ref().map(|e| &e.0),
                "exe_deleted": exe.as_ref().map(|e| e.1),
                "exe_sha256": sha256,
                "exe_hash_error": hash_error,
                "cwd": cwd,
                "fd_count": fd_count,
            });
            out.write(&record)?;
        }
        let mut facts = Facts::new();
        facts.insert("vanished_while_read".into(), vanished.into());
        facts.insert("clk_tck_assumed".into(), CLK_TCK.into());
        out.finish(context, "live/processes.jsonl", "procfs", facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_hostile_comm() {
        let text = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 3 0 98765 1000000 250 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
        let stat = parse_stat(text).expect("parses");
        assert_eq!(stat.pid, 1234);
        assert_eq!(stat.comm, "a) b (c)");
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.ppid, 1);
        assert_eq!(stat.num_threads, 3);
        assert_eq!(stat.starttime, 98765);
        assert_eq!(stat.vsize, 1_000_000);
        assert_eq!(stat.rss, 250);
        // Truncated, garbage, empty.
        assert_eq!(parse_stat(&text[..40]), None);
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat(")("), None);
        assert_eq!(parse_stat(""), None);
        assert_eq!(parse_stat("99999999999 (x) S 1"), None);
    }

    #[test]
    fn stat_of_this_process_is_consistent() {
        let text = std::fs::read_to_string("/proc/self/stat").expect("procfs");
        let stat = parse_stat(&text).expect("parses");
        assert_eq!(stat.pid, std::process::id());
        assert!("RS".contains(stat.state), "{}", stat.state);
        let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
        let ppid: u32 = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("PPid line");
        assert_eq!(stat.ppid, ppid);
        let (uids, gids) = parse_status_ids(&status);
        assert!(uids.is_some() && gids.is_some());
    }

    #[test]
    fn cmdline_splits_on_nul() {
        assert_eq!(
            parse_cmdline(b"sleep\x001234.5678\x00"),
            vec!["sleep", "1234.5678"]
        );
        assert_eq!(
            parse_cmdline(b"nginx: worker process"),
            vec!["nginx: worker process"]
        );
        assert_eq!(parse_cmdline(b""), Vec::<String>::new());
        assert_eq!(parse_cmdline(b"a\x00\x00b\x00"), vec!["a", "", "b"]);
        assert_eq!(parse_cmdline(b"\xff\x00"), vec!["\u{fffd}"]);
    }

    #[test]
    fn start_time_adds_ticks_to_boot() {
        assert_eq!(start_time(1_700_000_000, 12_345), 1_700_000_123);
        assert_eq!(start_time(i64::MAX, u64::MAX), i64::MAX);
    }

    /// A sink that only counts the lines of the `live/` members.
    struct CountingSink {
        lines: u64,
        bytes: u64,
        pids: Vec<u64>,
    }

    impl sealbag_common::engine::Sink for CountingSink {
        fn add_file(
            &mut self,
            _: &sealbag_common::engine::StoredEntry<'_>,
            _: &mut dyn Read,
        ) -> Result<(), sealbag_common::engine::SinkError> {
            Ok(())
        }
        fn add_symlink(
            &mut self,
            _: &sealbag_common::engine::StoredEntry<'_>,
            _: &[u8],
        ) -> Result<(), sealbag_common::engine::SinkError> {
            Ok(())
        }
        fn add_member(
            &mut self,
            _: &[u8],
            size: u64,
            data: &mut dyn Read,
        ) -> Result<(), sealbag_common::engine::SinkError> {
            use std::io::BufRead;
            for line in std::io::BufReader::new(data).lines() {
                let line = line.expect("utf-8 line");
                let value: serde_json::Value = serde_json::from_str(&line).expect("json");
                self.pids.push(value["pid"].as_u64().expect("pid"));
                self.lines += 1;
            }
            self.bytes = size;
            Ok(())
        }
        fn add_record(
            &mut self,
            _: &sealbag_common::archive::ManifestRecord,
        ) -> Result<(), sealbag_common::engine::SinkError> {
            Ok(())
        }
    }

    #[test]
    fn many_fake_processes_stream_through() {
        fake_proc_run(2_000);
    }

    /// The brief's scale; slow where /tmp is a disk (100k files created).
    #[test]
    #[ignore = "slow (about a minute): cargo test -p sealbag-linux -- --ignored"]
    fn fifty_thousand_processes_stream_through() {
        fake_proc_run(50_000);
    }

    /// Runs the collector through the engine over a fake `/proc` of `n`
    /// processes and checks every one comes out, in order, as JSON.
    fn fake_proc_run(n: u32) {
        let dir = tempfile::tempdir().expect("tempdir");
        let proc_root = dir.path().to_path_buf();
        std::fs::write(proc_root.join("stat"), "cpu 1\nbtime 1700000000\n").expect("stat");
        for pid in 1..=n {
            let d = proc_root.join(pid.to_string());
            std::fs::create_dir(&d).expect("pid dir");
            let stat = format!(
                "{pid} (p {pid}) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {pid}00 4096 1 0\n"
            );
            std::fs::write(d.join("stat"), stat).expect("stat");
            std::fs::write(d.join("cmdline"), format!("/bin/p\0{pid}\0")).expect("cmdline");
        }
        // A process that vanished: a directory without `stat`.
        std::fs::create_dir(proc_root.join(format!("{}", n + 1))).expect("vanished");
        std::fs::create_dir(proc_root.join("self")).expect("non-numeric");

        let profile = sealbag_common::profile::Profile::from_toml(
            "name = \"t\"\n[[live]]\nkind = \"processes\"\n",
            "t.toml",
        )
        .expect("profile");
        let options = sealbag_common::engine::EngineOptions {
            hooks: sealbag_common::engine::Hooks {
                live: vec![std::sync::Arc::new(ProcessCollector { proc_root })],
                ..Default::default()
            },
            ..Default::default()
        };
        let mut sink = CountingSink {
            lines: 0,
            bytes: 0,
            pids: Vec::new(),
        };
        sealbag_common::engine::run(
            &profile,
            &sealbag_common::FsSource::live(),
            &mut sink,
            &options,
            &(),
        )
        .expect("run");
        assert_eq!(sink.lines, u64::from(n));
        assert_eq!(sink.pids, (1..=u64::from(n)).collect::<Vec<_>>());
        assert!(sink.bytes > u64::from(n) * 300, "{} bytes", sink.bytes);
    }
}
