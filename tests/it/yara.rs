//! `--yara` (builds with the cargo feature `yara`: `cargo test -p
//! sealbag-tests --features yara --test it yara::`). Rules run over a
//! generated tree of thousands of files; the matches are compared with
//! Debian's `yara` (libyara 4, an independent implementation) run over the
//! same tree, and the archive is read back with stock `age`, `zstd` and
//! GNU tar.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::support::*;

const NOISE: usize = 3000;

/// Bytes of the implant: the text marker at 100 and 700, the hex one at 400.
fn implant() -> Vec<u8> {
    let mut bytes = vec![b'.'; 1000];
    bytes[100..111].copy_from_slice(b"EVIL_MARKER");
    bytes[400..406].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0x13, 0x37]);
    bytes[700..711].copy_from_slice(b"EVIL_MARKER");
    bytes
}

const IMPLANT_RULES: &str = r#"rule Implant_Marker : apt42 loader
{
    meta:
        description = "test implant: marker text and magic bytes"
    strings:
        $text = "EVIL_MARKER"
        $magic = { DE AD BE EF 13 37 }
        $unused = "never in any file" wide
    condition:
        $text and $magic and not $unused
}
"#;

/// Rules that a noise file could match if the scan were wrong: the noise
/// has the words, never all of them, and never at the required place.
const OTHER_RULES: &str = r#"rule Noise_Needs_Three
{
    strings:
        $a = "noise"
        $b = "file"
        $c = "EVIL_MARKER"
    condition:
        all of them
}

rule Elf_Header : elf
{
    condition:
        uint32(0) == 0x464C457F
}
"#;

fn write(root: &Path, relative: &str, bytes: &[u8]) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

/// (`/path`, rule) pairs.
type Matches = BTreeSet<(String, String)>;

/// Files of `root` that Debian's `yara` matches with `rules`, as
/// (`/path`, rule) pairs, and its `-s` lines (`0x64:$text: …`) per path.
fn libyara(rules: &[&Path], root: &Path) -> (Matches, Vec<(String, String)>) {
    require_tool("yara");
    let out = Command::new("yara")
        .args(["-r", "-s", "-g"])
        .args(rules)
        .arg(root)
        .output()
        .expect("yara");
    assert!(out.status.success(), "yara: {}", text(&out.stderr));
    let mut matched = BTreeSet::new();
    let mut strings = Vec::new();
    let mut current = String::new();
    for line in text(&out.stdout).lines() {
        if line.starts_with("0x") {
            strings.push((current.clone(), line.to_string()));
            continue;
        }
        // `Rule [tag,tag] /root/path`
        let (rule, rest) = line.split_once(' ').expect("rule line");
        let (_tags, path) = rest.split_once("] ").expect("tags");
        let relative = Path::new(path).strip_prefix(root).expect("under root");
        current = format!("/{}", relative.display());
        matched.insert((current.clone(), rule.to_string()));
    }
    (matched, strings)
}

fn stored_files(extracted: &Path) -> BTreeSet<String> {
    let mut stored = BTreeSet::new();
    let mut stack = vec![extracted.join("files")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let entry = entry.expect("entry");
            if entry.file_type().expect("type").is_dir() {
                stack.push(entry.path());
            } else {
                let path = entry.path();
                let rel = path.strip_prefix(extracted.join("files")).expect("prefix");
                stored.insert(format!("/{}", rel.display()));
            }
        }
    }
    stored
}

fn hits(extracted: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(extracted.join("sealbag/hits.jsonl"))
        .expect("hits.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("hit JSON"))
        .collect()
}

fn hunt_json(extracted: &Path) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(extracted.join("sealbag/hunt.json")).expect("hunt.json"),
    )
    .expect("hunt JSON")
}

#[test]
fn a_rule_hits_one_file_among_thousands_and_the_sweep_takes_only_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let root = d.join("root");
    write(&root, "etc/hosts", b"127.0.0.1 localhost\n");
    // Read by the profile's target: scanned in the same read, and a hit.
    write(&root, "etc/cron.d/implant", &implant());
    for i in 0..NOISE {
        // Text noise with two of the three words of `Noise_Needs_Three`,
        // and binary noise, some of it with the magic bytes alone.
        let bytes = if i % 3 == 0 {
            let mut b = vec![0u8; 64 + i % 512];
            b[i % 40..i % 40 + 6].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0x13, 0x37]);
            b
        } else {
            format!("noise file {i}\n").into_bytes()
        };
        write(
            &root,
            &format!("data/sweep/noise/d{:02}/f{i:04}.bin", i / 100),
            &bytes,
        );
    }
    write(&root, "data/sweep/tools/x/implant.bin", &implant());
    // The marker alone does not satisfy the condition.
    write(
        &root,
        "data/sweep/readme.txt",
        b"EVIL_MARKER is our test string\n",
    );
    let rules = d.join("rules");
    write(&rules, "implant.yar", IMPLANT_RULES.as_bytes());
    write(&rules, "sub/other.yara", OTHER_RULES.as_bytes());
    write(&rules, "notes.txt", b"not a rules file: ignored");
    let profile = d.join("hunt.toml");
    std::fs::write(
        &profile,
        "name = \"hunt\"\n[[target]]\nname = \"etc\"\npaths = [\"/etc/**\"]\n",
    )
    .expect("profile");

    let (key, public) = keygen(d);
    let archive = d.join("out.tar.zst.age");
    let out = collect_tree(
        &root,
        &profile,
        &public,
        &archive,
        &["--yara", rules.to_str().expect("utf8"), "--sweep", "/data"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "hits are not errors: {stderr}");
    assert!(
        stderr.contains(", 2 IOC hits (sealbag/hits.jsonl)"),
        "{stderr}"
    );
    let x = d.join("x");
    stock_extract(&archive, &key, &x, &[]);

    // The independent scan finds exactly these two files in the whole tree.
    let (matched, strings) = libyara(
        &[&rules.join("implant.yar"), &rules.join("sub/other.yara")],
        &root,
    );
    let want: BTreeSet<(String, String)> = [
        ("/etc/cron.d/implant", "Implant_Marker"),
        ("/data/sweep/tools/x/implant.bin", "Implant_Marker"),
    ]
    .into_iter()
    .map(|(p, r)| (p.to_string(), r.to_string()))
    .collect();
    assert_eq!(matched, want, "libyara's view of the tree");

    let hits = hits(&x);
    let seen: BTreeSet<(String, String)> = hits
        .iter()
        .map(|h| {
            (
                h["path"].as_str().expect("path").to_string(),
                h["indicator"]["value"].as_str().expect("rule").to_string(),
            )
        })
        .collect();
    assert_eq!(seen, matched, "our hits are libyara's matches");
    assert_eq!(hits.len(), 2);
    for hit in &hits {
        let path = hit["path"].as_str().expect("path");
        let found_by = if path.starts_with("/etc/") {
            "target:etc"
        } else {
            "sweep"
        };
        assert_eq!(hit["found_by"], found_by, "{hit}");
        assert_eq!(hit["sha256"], sha256_file(&root.join(&path[1..])));
        assert_eq!(hit["archive_path"], format!("files{path}"));
        let indicator = &hit["indicator"];
        assert_eq!(indicator["kind"], "yara");
        assert_eq!(
            indicator["label"], "implant",
            "the namespace: the file's stem"
        );
        assert_eq!(
            indicator["source"],
            rules.join("implant.yar").display().to_string()
        );
        assert_eq!(indicator["tags"], serde_json::json!(["apt42", "loader"]));
        assert_eq!(
            indicator["strings"],
            serde_json::json!([
                {"identifier": "$text", "offsets": [100, 700]},
                {"identifier": "$magic", "offsets": [400]},
            ]),
            "{hit}"
        );
        assert!(hit.get("note").is_none(), "{hit}");
    }
    // libyara reports the same offsets (`0x64:$text: EVIL_MARKER`).
    let implant_lines: Vec<&str> = strings
        .iter()
        .filter(|(p, _)| p == "/data/sweep/tools/x/implant.bin")
        .map(|(_, l)| l.split(": ").next().expect("offset"))
        .collect();
    assert_eq!(implant_lines, ["0x64:$text", "0x2bc:$text", "0x190:$magic"]);

    // The archive: the target's files, and of the sweep only the hit.
    let expected: BTreeSet<String> = [
        "/etc/hosts",
        "/etc/cron.d/implant",
        "/data/sweep/tools/x/implant.bin",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(stored_files(&x), expected);
    for path in &expected {
        assert_eq!(
            std::fs::read(x.join(format!("files{path}"))).expect("stored"),
            std::fs::read(root.join(&path[1..])).expect("original"),
            "{path}"
        );
    }
    let records = manifest(&x);
    assert_eq!(records.len(), 3, "no record for swept misses");
    assert_eq!(
        records["/data/sweep/tools/x/implant.bin"]["target"],
        "sweep"
    );
    assert_eq!(records["/etc/cron.d/implant"]["hits"], 1);
    assert!(records.values().all(|r| r.get("yara").is_none()));

    let hunt = hunt_json(&x);
    let counts = &hunt["counts"];
    assert_eq!(counts["swept_files"], NOISE + 2, "{counts}");
    assert_eq!(counts["yara_scanned"], NOISE + 4, "{counts}");
    assert_eq!(counts["yara_too_large"], 0);
    assert_eq!(counts["yara_failed"], 0);
    assert_eq!(counts["hits"], 2);
    assert_eq!(hunt["yara"]["rules"], 3);
    let files = hunt["yara"]["files"].as_array().expect("rules files");
    assert_eq!(files.len(), 2, "notes.txt is not a rules file");
    assert_eq!(
        files[0]["sha256"],
        sha256_file(&rules.join("implant.yar")),
        "{files:?}"
    );
    assert_eq!(files[1]["namespace"], "other");

    // `sealbag verify` prints both hits.
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
        2,
        "{report}"
    );
    assert!(report.contains("yara Implant_Marker"), "{report}");
}

#[test]
fn a_syntax_error_names_the_rules_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(&d.join("root"), "etc/hosts", b"x");
    let rules = d.join("rules");
    write(&rules, "a-good.yar", IMPLANT_RULES.as_bytes());
    write(
        &rules,
        "b-bad.yar",
        b"rule Fine { condition: true }\n\nrule Broken\n{\n    strings:\n        $a = \"x\"\n    condition:\n        $a and and\n}\n",
    );
    let archive = d.join("out.tar.zst");
    let out = collect(&[
        "--root".as_ref(),
        d.join("root").as_os_str(),
        "--yara".as_ref(),
        rules.as_os_str(),
        "--no-encrypt".as_ref(),
        "-o".as_ref(),
        archive.as_os_str(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let at = format!(
        "bad YARA rules: {}:8:16: ",
        rules.join("b-bad.yar").display()
    );
    assert!(stderr.contains(&at), "wanted `{at}` in: {stderr}");
    assert!(!archive.exists(), "no archive on a usage error");

    // libyara puts the error on the same line.
    require_tool("yara");
    let out = Command::new("yara")
        .arg(rules.join("b-bad.yar"))
        .arg(d.join("root"))
        .output()
        .expect("yara");
    assert!(
        text(&out.stderr).contains("b-bad.yar(8)"),
        "libyara: {}",
        text(&out.stderr)
    );
}

#[test]
fn a_file_over_yara_max_size_is_not_scanned_and_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let root = d.join("root");
    write(&root, "etc/small", &implant());
    // Over the cap: collected and hashed, not scanned, and the manifest says so.
    let mut big = implant();
    big.resize(4096, b'.');
    write(&root, "etc/big", &big);
    // Over the cap and swept: not collected (no hit), listed in hunt.json.
    write(&root, "data/big-swept", &big);
    write(&root, "data/small-swept", b"nothing here");
    let rules = d.join("implant.yar");
    std::fs::write(&rules, IMPLANT_RULES).expect("rules");
    let profile = d.join("hunt.toml");
    std::fs::write(
        &profile,
        "name = \"hunt\"\n[[target]]\nname = \"etc\"\npaths = [\"/etc/*\"]\n",
    )
    .expect("profile");
    let (key, public) = keygen(d);
    let archive = d.join("out.tar.zst.age");
    let out = collect_tree(
        &root,
        &profile,
        &public,
        &archive,
        &[
            "--yara",
            rules.to_str().expect("utf8"),
            "--yara-max-size",
            "1KiB",
            "--sweep",
            "/data",
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let x = d.join("x");
    stock_extract(&archive, &key, &x, &[]);

    let hits = hits(&x);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["path"], "/etc/small");
    let records = manifest(&x);
    assert_eq!(
        records.keys().map(String::as_str).collect::<Vec<_>>(),
        ["/etc/big", "/etc/small"]
    );
    assert_eq!(
        records["/etc/big"]["yara"],
        "not scanned: larger than --yara-max-size (4096 > 1024 bytes)"
    );
    assert_eq!(records["/etc/big"]["status"], "ok");
    assert_eq!(
        records["/etc/big"]["sha256"],
        sha256_file(&root.join("etc/big"))
    );
    assert!(records["/etc/small"].get("yara").is_none());
    assert_eq!(
        std::fs::read(x.join("files/etc/big")).expect("stored"),
        big,
        "collected whole"
    );

    let hunt = hunt_json(&x);
    assert_eq!(hunt["yara_max_size"], 1024);
    assert_eq!(hunt["counts"]["yara_too_large"], 2);
    assert_eq!(hunt["counts"]["yara_scanned"], 2);
    let listed: Vec<(&str, u64)> = hunt["yara_not_scanned"]
        .as_array()
        .expect("yara_not_scanned")
        .iter()
        .map(|n| {
            (
                n["path"].as_str().expect("path"),
                n["size"].as_u64().expect("size"),
            )
        })
        .collect();
    assert_eq!(listed, [("/etc/big", 4096), ("/data/big-swept", 4096)]);
}

#[test]
fn a_scan_over_yara_timeout_is_stopped_and_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let root = d.join("root");
    // A quadratic condition over 64 KiB: billions of steps, hours of work.
    write(&root, "etc/slow", &vec![b'a'; 64 << 10]);
    write(&root, "etc/fast", &implant());
    let rules = d.join("rules.yar");
    std::fs::write(
        &rules,
        format!(
            "{IMPLANT_RULES}\nrule Slow\n{{\n    condition:\n        for all i in (0..filesize - 1) : (\n            for all j in (0..filesize - 1) : (uint8(i) != uint8(j) + 1)\n        )\n}}\n"
        ),
    )
    .expect("rules");
    let profile = profile(d, &["/etc/*"]);
    let (key, public) = keygen(d);
    let archive = d.join("out.tar.zst.age");
    let started = std::time::Instant::now();
    let out = collect_tree(
        &root,
        &profile,
        &public,
        &archive,
        &[
            "--yara",
            rules.to_str().expect("utf8"),
            "--yara-timeout",
            "1s",
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // Generous: the point is that it ends, on a loaded machine too.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(120),
        "the time limit did not stop the scan"
    );
    let x = d.join("x");
    stock_extract(&archive, &key, &x, &[]);
    let records = manifest(&x);
    assert_eq!(
        records["/etc/slow"]["yara"],
        "scan failed: timeout after 1s (--yara-timeout)"
    );
    assert_eq!(
        records["/etc/slow"]["status"], "ok",
        "collected all the same"
    );
    // The next file's scan is not affected.
    let hits = hits(&x);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["path"], "/etc/fast");
    let hunt = hunt_json(&x);
    assert_eq!(hunt["counts"]["yara_failed"], 1);
    assert_eq!(hunt["yara_not_scanned"][0]["path"], "/etc/slow");
}
