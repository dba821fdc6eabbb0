//! Hunting while collecting: `--ioc` lists (plain lines made by coreutils'
//! `sha256sum`/`md5sum`, CSV, the committed STIX 2.1 bundle) and `--sweep`
//! over a generated tree of thousands of files. The archive is read back
//! with stock `age`, `zstd` and GNU tar, and must hold exactly the hits.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use crate::support::*;

const NOISE: usize = 3000;

fn write(root: &Path, relative: &str, bytes: &[u8]) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

/// coreutils `<tool> FILES…` run in `root`: `hash  path` lines.
fn coreutils(tool: &str, root: &Path, files: &[&str]) -> String {
    require_tool(tool);
    let out = Command::new(tool)
        .current_dir(root)
        .args(files)
        .output()
        .expect(tool);
    assert!(out.status.success(), "{tool}: {}", text(&out.stderr));
    text(&out.stdout)
}

fn bundle() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ioc/bundle.json")
}

#[test]
fn sweep_collects_exactly_the_hits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let root = d.join("root");
    write(&root, "etc/hosts", b"127.0.0.1 localhost\n");
    write(&root, "etc/passwd", b"root:x:0:0::/root:/bin/sh\n");
    for i in 0..NOISE {
        write(
            &root,
            &format!("data/sweep/noise/d{:02}/f{i:04}.txt", i / 100),
            format!("noise file {i}\n").as_bytes(),
        );
    }
    write(
        &root,
        "data/sweep/deep/x/payload.bin",
        b"listed by sha256\n",
    );
    write(&root, "data/sweep/old.dat", b"listed by md5\n");
    write(&root, "data/sweep/tools/mimikatz.exe", b"listed by name\n");
    // The Linux source is case-sensitive: another spelling is another name.
    write(&root, "data/sweep/tools/MIMIKATZ.EXE", b"listed by name\n");
    // Payloads of the committed STIX bundle (see tests/fixtures/ioc/make-bundle.py).
    write(
        &root,
        "data/sweep/stix/sha256.bin",
        b"stix-sha256 payload\n",
    );
    write(
        &root,
        "data/sweep/stix/stix-dropper.dll",
        b"stix-conjunction payload\n",
    );
    write(
        &root,
        "data/sweep/stix/other.dll",
        b"stix-conjunction payload\n",
    );
    write(&root, "data/sweep/beacon.exe", b"any bytes at all\n");
    // Listed, but over the sweep's size cap: not read, not collected.
    write(&root, "data/sweep/big.bin", &vec![7u8; 2 << 20]);
    // Never opened, never followed.
    let fifo = root.join("data/sweep/pipe");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    std::os::unix::fs::symlink("..", root.join("data/sweep/deep/loop")).expect("symlink");

    let mut list = String::from("# case IR-042: hashes from the ticket\n");
    list += &coreutils(
        "sha256sum",
        &root,
        &[
            "etc/hosts",
            "data/sweep/deep/x/payload.bin",
            "data/sweep/big.bin",
        ],
    );
    list += &coreutils("md5sum", &root, &["data/sweep/old.dat"]);
    for i in 0..1000 {
        use sha2::Digest;
        list += &format!(
            "{}  nothing {i}\n",
            hex(&sha2::Sha256::digest(format!("no {i}")))
        );
    }
    std::fs::write(d.join("hashes.txt"), list).expect("write list");
    std::fs::write(
        d.join("names.csv"),
        "filename,description\nmimikatz.exe,credential dumper\n",
    )
    .expect("write csv");
    let profile = d.join("hunt.toml");
    std::fs::write(
        &profile,
        "name = \"hunt\"\n[[target]]\nname = \"etc\"\npaths = [\"/etc/hosts\", \"/etc/passwd\"]\n\
         [ioc]\nfiles = [\"names.csv\"]\n[sweep]\nmax_file_size = \"1MiB\"\n",
    )
    .expect("write profile");

    let (key, public) = keygen(d);
    let archive = d.join("out.tar.zst.age");
    let out = collect(&[
        OsStr::new("--root"),
        root.as_os_str(),
        OsStr::new("-p"),
        profile.as_os_str(),
        OsStr::new("--ioc"),
        d.join("hashes.txt").as_os_str(),
        OsStr::new("--ioc"),
        bundle().as_os_str(),
        OsStr::new("--sweep"),
        OsStr::new("/data"),
        OsStr::new("-r"),
        OsStr::new(&public),
        OsStr::new("-o"),
        archive.as_os_str(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "hits are not errors: {stderr}");
    assert!(
        stderr.contains(", 7 IOC hits (sealbag/hits.jsonl)"),
        "{stderr}"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("summary JSON on stdout");
    assert_eq!(summary["counts"]["hits"], 7);

    let x = d.join("x");
    stock_extract(&archive, &key, &x, &[]);

    // Exactly these files are in the archive: the targets, and the sweep's hits.
    let mut stored = BTreeSet::new();
    let mut stack = vec![x.join("files")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let entry = entry.expect("entry");
            if entry.file_type().expect("type").is_dir() {
                stack.push(entry.path());
            } else {
                let rel = entry.path();
                let rel = rel.strip_prefix(x.join("files")).expect("prefix");
                stored.insert(format!("/{}", rel.display()));
            }
        }
    }
    let expected: BTreeSet<String> = [
        "/etc/hosts",
        "/etc/passwd",
        "/data/sweep/deep/x/payload.bin",
        "/data/sweep/old.dat",
        "/data/sweep/tools/mimikatz.exe",
        "/data/sweep/stix/sha256.bin",
        "/data/sweep/stix/stix-dropper.dll",
        "/data/sweep/beacon.exe",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(stored, expected);
    for path in &expected {
        assert_eq!(
            std::fs::read(x.join(format!("files{path}"))).expect("stored"),
            std::fs::read(root.join(&path[1..])).expect("original"),
            "{path}"
        );
    }

    // The hits, one line each, with their indicator and where they are.
    let hits: Vec<serde_json::Value> = std::fs::read_to_string(x.join("sealbag/hits.jsonl"))
        .expect("hits.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("hit JSON"))
        .collect();
    let mut seen: Vec<(String, String, String, String)> = hits
        .iter()
        .map(|h| {
            let source = h["indicator"]["source"].as_str().expect("source");
            (
                h["path"].as_str().expect("path").to_string(),
                h["indicator"]["kind"].as_str().expect("kind").to_string(),
                Path::new(source)
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned(),
                h["found_by"].as_str().expect("found_by").to_string(),
            )
        })
        .collect();
    seen.sort();
    let t = |p: &str, k: &str, s: &str, f: &str| (p.into(), k.into(), s.into(), f.into());
    let mut want = vec![
        t("/etc/hosts", "sha256", "hashes.txt", "target:etc"),
        t(
            "/data/sweep/deep/x/payload.bin",
            "sha256",
            "hashes.txt",
            "sweep",
        ),
        t("/data/sweep/old.dat", "md5", "hashes.txt", "sweep"),
        t(
            "/data/sweep/tools/mimikatz.exe",
            "name",
            "names.csv",
            "sweep",
        ),
        t(
            "/data/sweep/stix/sha256.bin",
            "sha256",
            "bundle.json",
            "sweep",
        ),
        t(
            "/data/sweep/stix/stix-dropper.dll",
            "stix",
            "bundle.json",
            "sweep",
        ),
        t("/data/sweep/beacon.exe", "name", "bundle.json", "sweep"),
    ];
    want.sort();
    assert_eq!(seen, want);
    for hit in &hits {
        let path = hit["path"].as_str().expect("path");
        let original = root.join(&path[1..]);
        assert_eq!(hit["sha256"], sha256_file(&original), "{path}");
        assert_eq!(hit["archive_path"], format!("files{path}"));
        assert!(hit.get("note").is_none(), "{hit}");
    }
    let by_path = |p: &str| {
        hits.iter()
            .find(|h| h["path"] == p)
            .unwrap_or_else(|| panic!("hit {p}"))
    };
    // coreutils wrote `hash  path`: the path is the label; the line is kept.
    let old = by_path("/data/sweep/old.dat");
    assert_eq!(old["indicator"]["label"], "data/sweep/old.dat");
    assert_eq!(old["indicator"]["line"], 5);
    // The MD5 the run computed is the one md5sum wrote into the list.
    assert_eq!(old["md5"], old["indicator"]["value"]);
    let dropper = by_path("/data/sweep/stix/stix-dropper.dll");
    assert_eq!(
        dropper["indicator"]["id"],
        "indicator--0b2c1f4e-7d8a-4d43-9a77-4c54e2b3a102"
    );
    assert_eq!(
        dropper["indicator"]["label"],
        "TestLoader dropper (name and MD5)"
    );
    assert_eq!(
        by_path("/data/sweep/tools/mimikatz.exe")["indicator"]["label"],
        "credential dumper"
    );

    // The manifest: one record per file stored, each hit counted on it.
    let records = manifest(&x);
    assert_eq!(records.len(), expected.len(), "no record for swept misses");
    assert_eq!(records["/etc/passwd"].get("hits"), None);
    assert_eq!(records["/etc/hosts"]["hits"], 1);
    assert_eq!(records["/data/sweep/old.dat"]["target"], "sweep");

    // hunt.json: what was loaded, what was not supported, what the sweep read.
    let hunt: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(x.join("sealbag/hunt.json")).expect("hunt.json"),
    )
    .expect("hunt JSON");
    let counts = &hunt["counts"];
    // Every regular file under /data but the one over the cap; those the
    // targets took are not read again.
    assert_eq!(counts["swept_files"], NOISE + 8, "{counts}");
    assert_eq!(counts["swept_too_large"], 1);
    assert_eq!(counts["hits"], 7);
    assert_eq!(
        hunt["computed"],
        serde_json::json!(["sha256", "md5", "sha1"])
    );
    let stix = hunt["ioc_lists"]
        .as_array()
        .expect("lists")
        .iter()
        .find(|l| l["format"] == "stix")
        .expect("stix list");
    assert_eq!(
        stix["unsupported"],
        serde_json::json!({
            "`ipv4-addr` objects": 1,
            "pattern_type `yara`": 1,
            "revoked indicator": 1,
            "several observations joined by AND": 1
        })
    );
    assert_eq!(
        stix["loaded"],
        serde_json::json!({"sha256": 1, "stix": 1, "sha1": 1, "name": 1})
    );
    assert_eq!(stix["sha256"], sha256_file(&bundle()));

    // `sealbag verify` prints the hits; they do not make the archive "not intact".
    let out = Command::new(sealbag_bin())
        .args(["verify", "-i"])
        .arg(&key)
        .arg(&archive)
        .output()
        .expect("verify");
    let report = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(
        report.lines().filter(|l| l.starts_with("HIT ")).count(),
        7,
        "{report}"
    );
    assert!(
        report.contains(
            "HIT      /data/sweep/tools/mimikatz.exe  name mimikatz.exe (credential dumper)"
        ),
        "{report}"
    );
    assert!(report.contains(": 7 IOC hits"), "{report}");
}

#[test]
fn malformed_list_is_refused_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("root/etc")).expect("mkdir");
    std::fs::write(d.join("root/etc/hosts"), b"x").expect("write");
    std::fs::write(
        d.join("bad.txt"),
        "# ok\n5d41402abc4b2a76b9719d911017c592\n5d41402abc4b2a76b9719d911017c59 one short\n",
    )
    .expect("write");
    let archive = d.join("out.tar.zst.age");
    let out = collect(&[
        OsStr::new("--root"),
        d.join("root").as_os_str(),
        OsStr::new("--ioc"),
        d.join("bad.txt").as_os_str(),
        OsStr::new("--no-encrypt"),
        OsStr::new("-o"),
        archive.as_os_str(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: bad indicator list: {}:3: `5d41402abc4b2a76b9719d911017c59` is not an MD5, SHA-1 or SHA-256",
            d.join("bad.txt").display()
        )),
        "{stderr}"
    );
    assert!(!archive.exists(), "no archive on a usage error");

    // A sweep with nothing to look for is a usage error too.
    let out = collect(&[
        OsStr::new("--root"),
        d.join("root").as_os_str(),
        OsStr::new("--sweep"),
        OsStr::new("/etc"),
        OsStr::new("--no-encrypt"),
        OsStr::new("-o"),
        archive.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--sweep needs something to look for"));
}
