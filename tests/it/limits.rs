//! Trees that try to exhaust the collector (10 000 levels deep, 200 000
//! entries in one folder), a tree that changes while it is read, and the
//! guards that keep the collector gentle (`--allow-same-volume`,
//! `--rate-limit`, `--low-priority`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// Runs python3 `script` with `args` (trees too deep for `mkdir -p`).
fn python(script: &str, args: &[&Path]) {
    require_tool("python3");
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .status()
        .expect("python3");
    assert!(status.success(), "python3 helper failed");
}

/// `rm -rf` (coreutils walks any depth; std and Python recurse).
fn remove_tree(path: &Path) {
    let _ = Command::new("rm").arg("-rf").arg(path).status();
}

fn verify_ok(key: &Path, archive: &Path) {
    let out = Command::new(sealbag_bin())
        .args(["verify", "--identity"])
        .arg(key)
        .arg(archive)
        .output()
        .expect("verify");
    assert_eq!(out.status.code(), Some(0), "verify: {}", text(&out.stderr));
}

#[test]
fn a_tree_10000_levels_deep_is_collected_as_deep_as_paths_go() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path());
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("deep")).expect("mkdir");
    // Each level holds `f` ("level N") and the next `d`.
    python(
        "import os,sys\nos.chdir(sys.argv[1])\nfor i in range(10000):\n    open('f','w').write('level %d\\n' % i)\n    os.mkdir('d'); os.chdir('d')\n",
        &[&root.join("deep")],
    );
    let profile = profile(dir.path(), &["/deep/**/f"]);
    let archive = dir.path().join("deep.tar.zst.age");
    let out = collect_tree(&root, &profile, &public, &archive, &[]);
    let stderr = text(&out.stderr);
    // Paths past the OS limit (4096 bytes) cannot be opened by name: those
    // levels are errors, the rest is collected, the run finishes.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    verify_ok(&key, &archive);
    let extracted = dir.path().join("x");
    stock_extract(&archive, &key, &extracted, &["sealbag"]);
    let records = manifest(&extracted);
    let ok: Vec<&String> = records
        .iter()
        .filter(|(_, r)| r["status"] == "ok")
        .map(|(p, _)| p)
        .collect();
    // `/deep` + N × `/d` + `/f` under a root of R bytes must fit in PATH_MAX.
    assert!(ok.len() > 1000, "only {} levels collected", ok.len());
    assert!(records.contains_key("/deep/f"), "the first level");
    let errors: Vec<&serde_json::Value> = records
        .values()
        .filter(|r| r["status"] == "error")
        .collect();
    assert!(
        !errors.is_empty(),
        "the levels past PATH_MAX must be errors"
    );
    assert!(
        errors
            .iter()
            .all(|r| r["error"].as_str().unwrap_or("").contains("too long")),
        "{errors:?}"
    );
    remove_tree(&root);
}

#[test]
fn a_folder_of_200000_entries_is_collected_whole_in_bounded_memory() {
    require_tool("/usr/bin/time");
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path());
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("many")).expect("mkdir");
    python(
        "import os,sys\nd=sys.argv[1]\nfor i in range(200000):\n    open(os.path.join(d,'e%06d' % i),'w').write(str(i))\n",
        &[&root.join("many")],
    );
    let profile = profile(dir.path(), &["/many/*"]);
    let archive = dir.path().join("many.tar.zst.age");
    let out = Command::new("/usr/bin/time")
        .args(["-f", "maxrss_kib=%M"])
        .arg(linux_bin())
        .arg("collect")
        .arg("--root")
        .arg(&root)
        .arg("-p")
        .arg(&profile)
        .arg("-r")
        .arg(&public)
        .arg("-o")
        .arg(&archive)
        .arg("-q")
        .stdout(Stdio::null())
        .output()
        .expect("run");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let rss: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss_kib="))
        .and_then(|v| v.trim().parse().ok())
        .expect("GNU time's %M");
    assert!(rss < 64 * 1024, "peak RSS {rss} KiB, over 64 MiB");
    // The manifest (about 11 MB compressed here) spilled beside the output,
    // sealed, and the spill is gone once read back into the archive.
    let spill = dir.path().join("many.tar.zst.age.manifest-spill");
    assert!(!spill.exists(), "{} left behind", spill.display());
    verify_ok(&key, &archive);
    let extracted = dir.path().join("x");
    stock_extract(&archive, &key, &extracted, &["sealbag"]);
    let records = manifest(&extracted);
    let ok = records.values().filter(|r| r["status"] == "ok").count();
    assert_eq!(ok, 200_000);
    let log = std::fs::read_to_string(extracted.join("sealbag/log.jsonl")).expect("log");
    assert!(
        log.contains("outgrew memory") && log.contains(".manifest-spill"),
        "no spill logged: {log}"
    );
    assert_eq!(records["/many/e123456"]["size"], 6);
    assert_eq!(
        records["/many/e123456"]["sha256"],
        // sha256("123456")
        "8d969eef6ecad3c29a3a629280e686cf0c3f5d5a86aff3ca12020c923adc6c92"
    );
}

/// Waits until `path` exists and holds more than `bytes`.
fn wait_for_output(path: &Path, bytes: u64, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) > bytes {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the collector ended ({status}) before the tree was changed");
        }
        assert!(Instant::now() < deadline, "no output after 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn files_that_shrink_vanish_or_are_replaced_and_a_folder_deleted_mid_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path());
    let root = dir.path().join("root");
    let t = root.join("t");
    std::fs::create_dir_all(t.join("b-dir")).expect("mkdir");
    // `a-slow` is read first, held to 1 MB/s by --rate-limit: the test
    // changes the rest of the tree while it is being read.
    let mut state = 0x1234_5678u32;
    let noise: Vec<u8> = (0..8_000_000u32)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    std::fs::write(t.join("a-slow"), &noise).expect("write");
    std::fs::write(t.join("b-dir/inner"), b"deleted with its folder").expect("write");
    std::fs::write(t.join("c-vanish"), b"deleted before it is read").expect("write");
    std::fs::write(t.join("d-replace"), b"the original").expect("write");
    let profile = profile(dir.path(), &["/t/**"]);
    let archive = dir.path().join("moving.tar.zst.age");
    let mut child = Command::new(linux_bin())
        .arg("collect")
        .arg("--root")
        .arg(&root)
        .arg("-p")
        .arg(&profile)
        .arg("-r")
        .arg(&public)
        .arg("-o")
        .arg(&archive)
        .args(["--rate-limit", "1", "--compression", "none", "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    // Output past 1.5 MB: `a-slow` is being read (well before 6 MB, the
    // point it is cut to), everything is listed.
    wait_for_output(&archive, 1_500_000, &mut child);
    std::fs::OpenOptions::new()
        .write(true)
        .open(t.join("a-slow"))
        .expect("open")
        .set_len(6_000_000)
        .expect("shrink");
    remove_tree(&t.join("b-dir"));
    std::fs::remove_file(t.join("c-vanish")).expect("rm");
    std::fs::write(t.join("d-new"), b"a replacement").expect("write");
    std::fs::rename(t.join("d-new"), t.join("d-replace")).expect("rename");
    let out = child.wait_with_output().expect("wait");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    verify_ok(&key, &archive);
    // Stored without compression: `age -d | tar -x`.
    let extracted = dir.path().join("x");
    std::fs::create_dir_all(&extracted).expect("mkdir");
    let status = Command::new("bash")
        .arg("-c")
        .arg("set -o pipefail; age -d -i \"$1\" \"$2\" | tar -x -C \"$3\" sealbag")
        .arg("bash")
        .arg(&key)
        .arg(&archive)
        .arg(&extracted)
        .status()
        .expect("age | tar");
    assert!(status.success(), "age -d | tar -x");
    let records = manifest(&extracted);
    let slow = &records["/t/a-slow"];
    assert_eq!(slow["status"], "partial", "{slow}");
    assert!(
        slow["error"]
            .as_str()
            .unwrap_or("")
            .contains("bytes 6000000..8000000 zero-filled"),
        "{slow}"
    );
    let mut expected = noise[..6_000_000].to_vec();
    expected.resize(8_000_000, 0);
    let want = {
        use sha2::Digest;
        hex(&sha2::Sha256::digest(&expected))
    };
    assert_eq!(slow["sha256"], want.as_str());
    assert_eq!(records["/t/c-vanish"]["status"], "error");
    for gone in ["/t/b-dir", "/t/c-vanish"] {
        let r = &records[gone];
        assert_eq!(r["status"], "error", "{gone}: {r}");
    }
    let replaced = &records["/t/d-replace"];
    // Listed as the original, opened as another file: never mixed up.
    assert!(
        replaced["status"] == "error"
            || (replaced["status"] == "ok"
                && replaced["sha256"]
                    == "3f8855b618aaaae1f4febec93c64020885943b4cfe5db513eb4c45dc108adf2c"),
        "{replaced}"
    );
}

#[test]
fn a_live_collection_refuses_to_write_onto_the_collected_volume() {
    use std::os::unix::fs::MetadataExt;
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("same-volume");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    let root_dev = std::fs::metadata("/").expect("/").dev();
    if std::fs::metadata(&out_dir).expect("out").dev() != root_dev {
        eprintln!(
            "!!! SKIPPED: {} is not on the root file system; cannot show the refusal here",
            out_dir.display()
        );
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI checkout must be on /"
        );
        return;
    }
    let archive = out_dir.join("live.tar.zst");
    let _ = std::fs::remove_file(&archive);
    let profile = profile(&out_dir, &["/etc/hostname"]);
    let out = collect(&[
        "--no-encrypt".as_ref(),
        "-p".as_ref(),
        profile.as_os_str(),
        "-o".as_ref(),
        archive.as_os_str(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("onto the volume being collected"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint:") && stderr.contains("--allow-same-volume"),
        "{stderr}"
    );
    assert!(!archive.exists(), "nothing may be written when refused");
    let out = collect(&[
        "--no-encrypt".as_ref(),
        "--allow-same-volume".as_ref(),
        "-p".as_ref(),
        profile.as_os_str(),
        "-o".as_ref(),
        archive.as_os_str(),
    ]);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        text(&out.stderr)
    );
    assert!(archive.exists());
    let _ = std::fs::remove_file(&archive);
}

#[test]
fn low_priority_and_rate_limit_keep_the_archive_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path());
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("d")).expect("mkdir");
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(root.join("d/file"), &body).expect("write");
    let profile = profile(dir.path(), &["/d/file"]);
    let archive = dir.path().join("gentle.tar.zst.age");
    let out = collect_tree(
        &root,
        &profile,
        &public,
        &archive,
        &["--low-priority", "--rate-limit", "50"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let extracted = dir.path().join("x");
    stock_extract(&archive, &key, &extracted, &[]);
    assert_eq!(
        std::fs::read(extracted.join("files/d/file")).expect("file"),
        body
    );
    let log = std::fs::read_to_string(extracted.join("sealbag/log.jsonl")).expect("log");
    assert!(log.contains("nice 19, I/O class idle"), "{log}");
    assert!(log.contains("50.00 MB/s"), "{log}");
}
