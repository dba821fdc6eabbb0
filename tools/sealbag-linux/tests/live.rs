//! End-to-end: the collector binary reads this machine's live state, and a
//! `--root` tree's files, and the archive (opened with GNU tar and zstd)
//! holds what the test itself put there.
//!
//! Needs: `tar`, `zstd` (Debian packages `tar`, `zstd`).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_sealbag-linux");

/// Runs `sealbag-linux collect --no-encrypt` with `extra` flags and unpacks
/// the archive into `dir/x` with stock tools; returns the exit code.
fn collect_and_unpack(dir: &Path, profile_text: &str, extra: &[&str]) -> i32 {
    let profile = dir.join("test-live.toml");
    std::fs::write(&profile, profile_text).expect("profile");
    let out = dir.join("out.tar.zst");
    let status = Command::new(BIN)
        .arg("collect")
        .arg("--no-encrypt")
        .arg("-q")
        .arg("-p")
        .arg(&profile)
        .arg("-o")
        .arg(&out)
        .args(extra)
        .stdout(Stdio::null())
        .status()
        .expect("run sealbag-linux");
    let unpacked = dir.join("x");
    std::fs::create_dir_all(&unpacked).expect("mkdir");
    let tar = Command::new("tar")
        .arg("--zstd")
        .arg("-xf")
        .arg(&out)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .expect("GNU tar with zstd (apt install tar zstd)");
    assert!(tar.success(), "tar --zstd -x failed");
    status.code().unwrap_or(-1)
}

fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn live_processes_and_sockets_reach_the_archive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sleeper = Command::new("sleep")
        .arg("1234.5678")
        .spawn()
        .expect("sleep");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();

    let profile = "name = \"test-live\"\nos = \"linux\"\n\
        [[live]]\nkind = \"processes\"\n[[live]]\nkind = \"network\"\n\
        [[live]]\nkind = \"system\"\n[[live]]\nkind = \"mounts\"\n";
    let code = collect_and_unpack(dir.path(), profile, &["--allow-same-volume"]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert!(code == 0 || code == 1, "exit {code}");
    let x = dir.path().join("x");

    let processes = jsonl(&x.join("live/processes.jsonl"));
    let sleep = processes
        .iter()
        .find(|p| p["pid"] == sleeper.id())
        .expect("the sleep process is listed");
    assert_eq!(sleep["cmdline"], serde_json::json!(["sleep", "1234.5678"]));
    assert_eq!(sleep["ppid"], std::process::id());
    assert_eq!(sleep["exe_deleted"], false);
    let exe = sleep["exe"].as_str().expect("exe path");
    let expected = {
        use sha2::Digest;
        let bytes = std::fs::read(exe).expect("read sleep binary");
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(sleep["exe_sha256"], expected.as_str());
    assert!(sleep["read_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    let me = processes
        .iter()
        .find(|p| p["pid"] == std::process::id())
        .expect("this test process is listed");

    let sockets = jsonl(&x.join("live/network.jsonl"));
    let socket = sockets
        .iter()
        .find(|s| s["proto"] == "tcp" && s["local_port"] == port)
        .expect("the test's listener is listed");
    assert_eq!(socket["local_addr"], "127.0.0.1");
    assert_eq!(socket["state"], "LISTEN");
    assert_eq!(socket["pid"], std::process::id());
    assert_eq!(socket["comm"], me["comm"]);

    let system = jsonl(&x.join("live/system.jsonl"));
    assert_eq!(system.len(), 1);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    assert_eq!(system[0]["kernel"], kernel.trim());
    let mounts = jsonl(&x.join("live/mounts.jsonl"));
    assert!(mounts.iter().any(|m| m["mount_point"] == "/"));
    drop(listener);
}

/// A glibc x86_64 `struct utmp` (384 bytes), built here independently of the parser.
fn utmp(
    kind: i16,
    pid: i32,
    line: &str,
    user: &str,
    host: &str,
    secs: u32,
    v4: [u8; 4],
) -> Vec<u8> {
    let mut b = vec![0u8; 384];
    b[0..2].copy_from_slice(&kind.to_le_bytes());
    b[4..8].copy_from_slice(&pid.to_le_bytes());
    b[8..8 + line.len()].copy_from_slice(line.as_bytes());
    b[44..44 + user.len()].copy_from_slice(user.as_bytes());
    b[76..76 + host.len()].copy_from_slice(host.as_bytes());
    b[340..344].copy_from_slice(&secs.to_le_bytes());
    b[348..352].copy_from_slice(&v4);
    b
}

#[test]
fn a_tree_skips_kernel_kinds_and_parses_its_own_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc/cron.d")).expect("etc");
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\nmallory:x:4242:4242::/home/mallory:/bin/sh\n",
    )
    .expect("passwd");
    std::fs::write(root.join("etc/group"), "root:x:0:\n").expect("group");
    std::fs::write(
        root.join("etc/shadow"),
        "root:$6$salt$hash:19700:0:99999:7:::\nmallory:!:19700:0:99999:7:::\n",
    )
    .expect("shadow");
    std::fs::create_dir_all(root.join("var/log")).expect("var/log");
    let mut wtmp = utmp(
        7,
        999,
        "pts/0",
        "mallory",
        "203.0.113.9",
        1_700_000_000,
        [203, 0, 113, 9],
    );
    wtmp.extend(utmp(8, 999, "pts/0", "", "", 1_700_000_600, [0; 4]));
    wtmp.extend([0xAB; 100]); // a torn final record
    std::fs::write(root.join("var/log/wtmp"), &wtmp).expect("wtmp");
    // lastlog: 292-byte records indexed by uid; only mallory (4242) has one.
    let mut lastlog = vec![0u8; 4243 * 292];
    let at = 4242 * 292;
    lastlog[at..at + 4].copy_from_slice(&1_700_000_000u32.to_le_bytes());
    lastlog[at + 4..at + 9].copy_from_slice(b"pts/0");
    lastlog[at + 36..at + 47].copy_from_slice(b"203.0.113.9");
    std::fs::write(root.join("var/log/lastlog"), &lastlog).expect("lastlog");
    let cron = "* * * * * root /tmp/.x/miner\n";
    std::fs::write(root.join("etc/cron.d/evil"), cron).expect("cron");
    let profile = "name = \"test-tree\"\nos = \"linux\"\n\
        [[live]]\nkind = \"processes\"\n[[live]]\nkind = \"users\"\n\
        [[live]]\nkind = \"persistence\"\n[[live]]\nkind = \"bodyfile\"\npaths = [\"/etc\"]\n\
        [[live]]\nkind = \"logins\"\n";
    let root_arg = root.to_str().expect("utf-8 temp path");
    let code = collect_and_unpack(
        dir.path(),
        profile,
        &["--root", root_arg, "--include-shadow"],
    );
    assert_eq!(code, 0, "a skipped kernel kind is not an error");
    let x = dir.path().join("x");

    assert!(!x.join("live/processes.jsonl").exists());
    let manifest = jsonl(&x.join("sealbag/manifest.jsonl"));
    let skipped = manifest
        .iter()
        .find(|r| r["path"] == "live:processes")
        .expect("processes recorded");
    assert_eq!(skipped["status"], "skipped");
    assert!(skipped["error"]
        .as_str()
        .is_some_and(|e| e.contains("not available from an image/tree")));

    let users = jsonl(&x.join("live/users.jsonl"));
    assert_eq!(users.iter().filter(|u| u["kind"] == "user").count(), 2);
    assert!(users
        .iter()
        .any(|u| u["name"] == "mallory" && u["uid"] == 4242));
    let shadow = jsonl(&x.join("live/shadow.jsonl"));
    assert_eq!(shadow.len(), 2);
    assert_eq!(shadow[0]["hash_type"], "sha512crypt");

    let persistence = jsonl(&x.join("live/persistence.jsonl"));
    let evil = persistence
        .iter()
        .find(|p| p["path"] == "/etc/cron.d/evil")
        .expect("cron file listed");
    let expected = {
        use sha2::Digest;
        sha2::Sha256::digest(cron.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(evil["sha256"], expected.as_str());
    assert_eq!(
        evil["lines"],
        serde_json::json!(["* * * * * root /tmp/.x/miner"])
    );

    let logins = jsonl(&x.join("live/logins.jsonl"));
    assert_eq!(logins.len(), 3, "{logins:?}");
    assert_eq!(logins[0]["type"], "USER_PROCESS");
    assert_eq!(logins[0]["user"], "mallory");
    assert_eq!(logins[0]["addr"], "203.0.113.9");
    assert_eq!(logins[0]["time"], "2023-11-14T22:13:20.000000000Z");
    assert_eq!(logins[1]["type"], "DEAD_PROCESS");
    assert_eq!(logins[2]["type"], "LASTLOG");
    assert_eq!(logins[2]["uid"], 4242);
    assert_eq!(logins[2]["host"], "203.0.113.9");
    let record = manifest
        .iter()
        .find(|r| r["path"] == "live/logins.jsonl")
        .expect("logins in the manifest");
    assert_eq!(record["/var/log/wtmp partial_tail_bytes"], 100);

    let body = std::fs::read_to_string(x.join("live/bodyfile.txt")).expect("bodyfile");
    let names: Vec<&str> = body
        .lines()
        .map(|l| l.split('|').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        vec![
            "/etc",
            "/etc/cron.d",
            "/etc/cron.d/evil",
            "/etc/group",
            "/etc/passwd",
            "/etc/shadow"
        ]
    );
    let passwd_line = body
        .lines()
        .find(|l| l.contains("|/etc/passwd|"))
        .expect("line");
    let fields: Vec<&str> = passwd_line.split('|').collect();
    assert_eq!(fields.len(), 11);
    assert_eq!(fields[0], "0");
    assert_eq!(fields[3], "r/rrw-r--r--");
    let len = std::fs::metadata(root.join("etc/passwd"))
        .expect("meta")
        .len();
    assert_eq!(fields[6], len.to_string());
}

#[test]
fn without_the_flag_shadow_is_not_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).expect("etc");
    std::fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").expect("passwd");
    std::fs::write(root.join("etc/shadow"), "root:$6$s$h:1:0:99999:7:::\n").expect("shadow");
    let profile = "name = \"test-noshadow\"\nos = \"linux\"\n[[live]]\nkind = \"users\"\n";
    let root_arg = root.to_str().expect("utf-8 temp path");
    collect_and_unpack(dir.path(), profile, &["--root", root_arg]);
    let x = dir.path().join("x");
    assert!(x.join("live/users.jsonl").exists());
    assert!(!x.join("live/shadow.jsonl").exists());
    let manifest = std::fs::read_to_string(x.join("sealbag/manifest.jsonl")).expect("manifest");
    assert!(!manifest.contains("$6$"));
}
