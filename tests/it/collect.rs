//! A collection of an awkward tree, read back with stock age, zstd and GNU tar.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use crate::support::*;

/// Builds the awkward tree under `root/data`; returns the long file's relative path.
fn awkward_tree(root: &Path) -> String {
    let data = root.join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(data.join("plain.txt"), b"plain text\n").expect("write");
    std::fs::write(data.join(".hidden"), b"dot file\n").expect("write");
    std::fs::write(data.join("empty"), b"").expect("write");
    // A name that is not UTF-8.
    std::fs::write(
        data.join(OsStr::from_bytes(b"latin1-\xe9t\xe9.log")),
        b"bytes\n",
    )
    .expect("write");
    // A path far beyond ustar's 100 + 155 bytes.
    let mut long = data.clone();
    let mut relative = String::from("data");
    for i in 0..12 {
        let part = format!("directory-level-{i:02}-with-a-rather-long-name");
        long.push(&part);
        relative.push('/');
        relative.push_str(&part);
    }
    std::fs::create_dir_all(&long).expect("mkdir long");
    std::fs::write(long.join("deep.txt"), b"deep\n").expect("write");
    relative.push_str("/deep.txt");
    // Special files: never opened.
    let status = std::process::Command::new("mkfifo")
        .arg(data.join("pipe"))
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let _socket = std::os::unix::net::UnixListener::bind(data.join("sock")).expect("socket");
    std::mem::forget(_socket);
    // Links: a loop, a dangling one, one out of the tree; none followed.
    std::fs::create_dir_all(data.join("loop")).expect("mkdir");
    symlink("..", data.join("loop/up")).expect("link");
    symlink("/nonexistent/target", data.join("dangling")).expect("link");
    symlink("/etc/passwd", data.join("outside")).expect("link");
    // A 1 GiB sparse file.
    let sparse = std::fs::File::create(data.join("sparse.img")).expect("create");
    sparse.set_len(1 << 30).expect("truncate");
    // Random-ish bytes.
    let noise: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::fs::write(data.join("noise.bin"), &noise).expect("write");
    // Unreadable to others (root reads it anyway; the manifest keeps its mode).
    std::fs::write(data.join("secret"), b"mode 000\n").expect("write");
    std::fs::set_permissions(data.join("secret"), std::fs::Permissions::from_mode(0o000))
        .expect("chmod");
    relative
}

#[test]
fn awkward_tree_round_trips_through_stock_tools() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path());
    let root = dir.path().join("root");
    let long_relative = awkward_tree(&root);
    let profile = profile(dir.path(), &["/data"]);
    let archive = dir.path().join("out.tar.zst.age");

    let out = collect(&[
        "--root".as_ref(),
        root.as_os_str(),
        "--profile".as_ref(),
        profile.as_os_str(),
        "--recipient".as_ref(),
        public.as_ref(),
        "--output".as_ref(),
        archive.as_os_str(),
        "--case".as_ref(),
        "CASE-42".as_ref(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "collect failed: {}",
        text(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("JSON summary on stdout");
    assert_eq!(summary["complete"], true);
    assert_eq!(
        summary["sha256"].as_str(),
        Some(sha256_file(&archive).as_str())
    );

    let tar = dir.path().join("out.tar");
    stock_decrypt(&archive, &key, &tar);
    let extracted = dir.path().join("x");
    gnu_tar_extract(&tar, &extracted);

    // Every regular file: bytes identical, hash as in the manifest.
    let records = manifest(&extracted);
    let data = root.join("data");
    for name in [
        "plain.txt",
        ".hidden",
        "empty",
        "noise.bin",
        "secret",
        long_relative.trim_start_matches("data/"),
    ] {
        let original = data.join(name);
        let copy = extracted.join("files/data").join(name);
        assert_eq!(
            std::fs::read(&copy).expect("extracted"),
            std::fs::read(&original).expect("original"),
            "{name}"
        );
        let record = &records[&format!("/data/{name}")];
        assert_eq!(record["status"], "ok", "{name}: {record}");
        assert_eq!(
            record["sha256"].as_str(),
            Some(sha256_file(&original).as_str()),
            "{name}"
        );
    }
    // The non-UTF-8 name arrives byte for byte; the manifest keeps it exactly.
    let latin = extracted
        .join("files/data")
        .join(OsStr::from_bytes(b"latin1-\xe9t\xe9.log"));
    assert_eq!(std::fs::read(latin).expect("latin1 file"), b"bytes\n");
    let latin_record = records
        .values()
        .find(|r| r["path_b64"].is_string())
        .expect("a record with path_b64");
    assert_eq!(latin_record["path_b64"], "L2RhdGEvbGF0aW4xLel06S5sb2c=");

    // The sparse GiB: all zeros, hashed as such.
    let sparse = &records["/data/sparse.img"];
    assert_eq!(sparse["size"], 1u64 << 30);
    assert_eq!(
        sparse["sha256"],
        "49bc20df15e412a64472421e13fe86ff1c5165e18b2afccf160d4dc19fe68a14"
    );
    assert_eq!(
        std::fs::metadata(extracted.join("files/data/sparse.img"))
            .expect("sparse")
            .len(),
        1 << 30
    );

    // Specials are recorded, never opened; links are stored as links.
    assert_eq!(records["/data/pipe"]["status"], "skipped");
    assert_eq!(records["/data/pipe"]["kind"], "fifo");
    assert_eq!(records["/data/sock"]["kind"], "socket");
    assert_eq!(records["/data/loop/up"]["kind"], "symlink");
    assert_eq!(records["/data/loop/up"]["link_target"], "..");
    assert_eq!(records["/data/outside"]["link_target"], "/etc/passwd");
    let outside = std::fs::read_link(extracted.join("files/data/outside")).expect("a link");
    assert_eq!(outside, Path::new("/etc/passwd"));

    // Original times and mode survive in the tar and the manifest.
    let plain_meta = std::fs::metadata(data.join("plain.txt")).expect("meta");
    let copy_meta = std::fs::metadata(extracted.join("files/data/plain.txt")).expect("meta");
    assert_eq!(
        copy_meta.modified().expect("mtime"),
        plain_meta.modified().expect("mtime")
    );
    assert_eq!(records["/data/secret"]["mode"], 0o100000);

    let custody = collection(&extracted);
    assert_eq!(custody["case_id"], "CASE-42");
    assert_eq!(custody["complete"], true);
    assert_eq!(custody["tool"], "sealbag-linux");
    assert_eq!(custody["encryption"]["recipients"][0], public.as_str());

    // Our own verifier agrees.
    let verify = std::process::Command::new(sealbag_bin())
        .args(["verify", "--identity"])
        .arg(&key)
        .arg(&archive)
        .output()
        .expect("verify");
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
    assert!(text(&verify.stderr).contains("INTACT"));
}

#[test]
fn file_growing_while_read_keeps_a_consistent_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path());
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("log")).expect("mkdir");
    let log = root.join("log/growing.log");
    std::fs::write(&log, vec![b'a'; 8 << 20]).expect("write");
    let writer_path = log.clone();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done_writer = done.clone();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(writer_path)
            .expect("open");
        while !done_writer.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = file.write_all(b"new line\n");
        }
    });
    let profile = profile(dir.path(), &["/log/*"]);
    let archive = dir.path().join("grow.tar.zst.age");
    let out = collect(&[
        "--root".as_ref(),
        root.as_os_str(),
        "-p".as_ref(),
        profile.as_os_str(),
        "-r".as_ref(),
        public.as_ref(),
        "-o".as_ref(),
        archive.as_os_str(),
    ]);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().expect("writer");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let tar = dir.path().join("grow.tar");
    stock_decrypt(&archive, &key, &tar);
    let extracted = dir.path().join("x");
    gnu_tar_extract(&tar, &extracted);
    let stored = std::fs::read(extracted.join("files/log/growing.log")).expect("stored");
    let now = std::fs::read(&log).expect("log");
    assert!(stored.len() >= 8 << 20);
    assert_eq!(
        &now[..stored.len()],
        &stored[..],
        "the stored bytes are a prefix of the file"
    );
    let record = &manifest(&extracted)["/log/growing.log"];
    assert_eq!(record["size"], stored.len() as u64);
    assert_eq!(
        record["sha256"].as_str(),
        Some(sha256_file(&extracted.join("files/log/growing.log")).as_str())
    );
}

#[test]
fn dry_run_lists_and_reads_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).expect("mkdir");
    std::fs::write(root.join("etc/hosts"), b"127.0.0.1 localhost\n").expect("write");
    let out = collect(&["--root".as_ref(), root.as_os_str(), "--dry-run".as_ref()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "20\tcollect\tsystem identity\t/etc/hosts\n"
    );
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(entries.len(), 1, "no archive was written: {entries:?}");
}

#[test]
fn never_collects_its_own_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path());
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("data")).expect("mkdir");
    std::fs::write(root.join("data/evidence.txt"), b"evidence\n").expect("write");
    let profile = profile(dir.path(), &["/data/**"]);
    let archive = root.join("data/self.tar.zst.age");
    let out = collect(&[
        "--root".as_ref(),
        root.as_os_str(),
        "-p".as_ref(),
        profile.as_os_str(),
        "-r".as_ref(),
        public.as_ref(),
        "-o".as_ref(),
        archive.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let extracted = dir.path().join("x");
    stock_extract(&archive, &key, &extracted, &[]);
    let paths: Vec<String> = manifest(&extracted).into_keys().collect();
    assert_eq!(paths, ["/data/evidence.txt"]);
}
