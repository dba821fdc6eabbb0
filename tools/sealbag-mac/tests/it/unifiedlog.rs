//! `parse = "unifiedlog"` over the corpus samples, checked against
//! ydkhatri's UnifiedLogReader (Python, MIT; `UnifiedLog` 0.3 on PyPI), a
//! reader independent of the `macos-unifiedlogs` crate.
//!
//! How the expected values were derived (once, by hand; the reader does not
//! install on a current Python, so it is not run by the tests):
//! `scripts/UnifiedLogReader.py -f TSV_ALL uuidtext timesync FILE.tracev3 out`
//! over `../shared/corpus/macos/unifiedlog`, with two local patches that only
//! let it go on where the corpus is incoherent (README there): a boot with no
//! timesync record gets times from 0 instead of refusing the file, and a
//! missing dsc file finds no strings instead of raising. Counted with
//! Python's `csv` over its TSV output.

use std::collections::BTreeMap;
use std::path::Path;

use sealbag_common::engine::{walk, StopSignal, WalkEvent};
use sealbag_common::glob::Glob;
use sealbag_common::source::EntryKind;
use sealbag_common::{FsSource, SourcePath};
use sealbag_mac::unifiedlog::{parse_logs, ParseReport, SourceProvider};
use serde_json::Value;

/// Every regular file of `root` as a source path.
fn files(source: &FsSource) -> Vec<SourcePath> {
    let stop = StopSignal::new();
    let mut out = Vec::new();
    for pattern in Glob::parse("/**").expect("glob").alternatives() {
        walk(source, pattern, true, &stop, &mut |event| {
            if let WalkEvent::Match(path, meta) = event {
                if meta.kind == EntryKind::File {
                    out.push(path);
                }
            }
        });
    }
    out.sort();
    out
}

/// Parses the unified logs under `root`, returning the lines and the report.
fn parse(root: &Path, since: Option<i64>) -> (Vec<Value>, ParseReport) {
    let source = FsSource::tree(root);
    let files = files(&source);
    let provider = SourceProvider::new(&source, &files);
    let mut lines = Vec::new();
    let report = parse_logs(&provider, since, &StopSignal::new(), &mut |line| {
        assert_eq!(line.last(), Some(&b'\n'), "one object per line");
        lines.push(serde_json::from_slice(line).map_err(|e| e.to_string())?);
        Ok(())
    })
    .expect("parse");
    (lines, report)
}

/// The corpus laid out as on a Mac (the two tracev3 files in Persist and
/// Special), or `None` after a SKIP.
fn layout() -> Option<tempfile::TempDir> {
    let logs = crate::corpus("macos/unifiedlog")?;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("private/var/db");
    for (from, to) in [
        (
            "0000000000000030.tracev3",
            "diagnostics/Persist/0000000000000030.tracev3",
        ),
        (
            "0000000000000f85.tracev3",
            "diagnostics/Special/0000000000000f85.tracev3",
        ),
        (
            "timesync/0000000000000002.timesync",
            "diagnostics/timesync/0000000000000002.timesync",
        ),
    ] {
        let dest = db.join(to);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(logs.join(from), dest).expect("copy");
    }
    for file in crate::files_under(&logs.join("uuidtext")) {
        let relative = file.strip_prefix(&logs).expect("under");
        let dest = db.join(relative);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&file, dest).expect("copy");
    }
    Some(dir)
}

fn by_file<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["tracev3"].as_str().is_some_and(|p| p.ends_with(name)))
        .collect()
}

#[test]
fn parses_the_corpus_as_unifiedlogreader_does() {
    let Some(dir) = layout() else {
        return;
    };
    let (lines, report) = parse(dir.path(), None);
    // UnifiedLogReader: 5 logs in 0030, 8654 in 0f85.
    assert_eq!(report.entries, 8659, "{report:#?}");
    assert_eq!(report.written, 8659);
    assert_eq!(lines.len(), 8659);
    assert_eq!(report.files.len(), 2);
    assert!(report.files.iter().all(|f| f.lost.is_none()), "{report:#?}");

    // 0030.tracev3, entry by entry (UnifiedLogReader's TSV: LogType,
    // ThreadId, PID, Subsystem, Category, ActivityId).
    let first = by_file(&lines, "0000000000000030.tracev3");
    let seen: Vec<(String, u64, u64, String, String, u64)> = first
        .iter()
        .map(|l| {
            (
                l["level"].as_str().unwrap_or_default().to_string(),
                l["thread_id"].as_u64().unwrap_or_default(),
                l["pid"].as_u64().unwrap_or_default(),
                l["subsystem"].as_str().unwrap_or_default().to_string(),
                l["category"].as_str().unwrap_or_default().to_string(),
                l["activity_id"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let e = |level: &str, thread: u64, activity: u64| {
        (
            level.to_string(),
            thread,
            14225,
            "com.apple.AssetCache".to_string(),
            "builtin".to_string(),
            activity,
        )
    };
    assert_eq!(
        seen,
        vec![
            e("error", 0x6D7E, 0),
            e("default", 0x6D7E, 0),
            e("default", 0x6D7E, 0),
            e("error", 0x6D7E, 0),
            e("default", 0x6D9A, 0x1B73),
        ]
    );
    // Their uuidtext file is not in the corpus: the format string is
    // missing, and the boot (E955FE07…) has no timesync record.
    assert!(first
        .iter()
        .all(|l| l["boot_uuid"] == "E955FE07AB9D48ECA85197AC5C611182"));

    // 0f85.tracev3: levels as UnifiedLogReader counts them ("State" is a statedump).
    let second = by_file(&lines, "0000000000000f85.tracev3");
    let mut levels = BTreeMap::new();
    for l in &second {
        *levels
            .entry(l["level"].as_str().unwrap_or_default())
            .or_insert(0) += 1;
    }
    assert_eq!(
        levels,
        BTreeMap::from([
            ("debug", 485),
            ("default", 7187),
            ("error", 92),
            ("fault", 26),
            ("info", 368),
            ("statedump", 496),
        ])
    );
    // Statedumps carry their own text: two UnifiedLogReader shows.
    let statedump = |needle: &str| {
        second
            .iter()
            .find(|l| {
                l["level"] == "statedump"
                    && l["message"].as_str().is_some_and(|m| m.contains(needle))
            })
            .unwrap_or_else(|| panic!("a statedump with `{needle}`"))
    };
    assert_eq!(statedump("CLLocationManagerStateTracker")["pid"], 49450);
    assert_eq!(
        statedump("UAUserActivityManager @ 0x113218590 supportsActivityContinuation=YES")["pid"],
        49450
    );
    // Every line: an RFC 3339 time with nanoseconds that agrees with time_ns.
    for l in &lines {
        let time = l["time"].as_str().expect("time");
        assert_eq!(time.len(), 30, "{time}");
        let ns = l["time_ns"].as_i64().expect("time_ns");
        assert_eq!(time, sealbag_mac::unifiedlog::rfc3339(ns));
    }
    // What is missing is said: the uuidtext of 0030 and the dsc of 0f85.
    assert!(report.missing_uuidtext >= 1, "{report:#?}");
    assert!(
        report
            .missing_examples
            .iter()
            .any(|m| m.contains("101674443A9A33FCAF11D0ADEBBF5B95")),
        "{report:#?}"
    );
    assert!(
        report
            .missing_examples
            .iter()
            .any(|m| m.contains("671E082086AB3339A38401EFBD8017A4")),
        "{report:#?}"
    );
}

#[test]
fn since_keeps_only_newer_entries() {
    let Some(dir) = layout() else {
        return;
    };
    let (all, _) = parse(dir.path(), None);
    let mut times: Vec<i64> = all.iter().filter_map(|l| l["time_ns"].as_i64()).collect();
    times.sort_unstable();
    let cut = times[times.len() / 2];
    let expected = times.iter().filter(|&&t| t >= cut).count() as u64;
    let (kept, report) = parse(dir.path(), Some(cut));
    assert_eq!(report.written, expected);
    assert_eq!(kept.len() as u64, expected);
    assert_eq!(report.before_since, 8659 - expected);
    assert!(expected > 0 && expected < 8659);
    assert!(kept.iter().all(|l| l["time_ns"].as_i64() >= Some(cut)));
}

/// A deterministic byte generator for damage (no dependency).
fn noise(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

#[test]
fn damaged_tracev3_gives_what_it_can_and_says_what_was_lost() {
    let Some(dir) = layout() else {
        return;
    };
    let special = dir
        .path()
        .join("private/var/db/diagnostics/Special/0000000000000f85.tracev3");
    let whole = std::fs::read(&special).expect("read");

    // Cut in the middle: the entries of the chunks before the cut, and the range lost.
    std::fs::write(&special, &whole[..400_000]).expect("write");
    let (_, report) = parse(dir.path(), None);
    let file = report
        .files
        .iter()
        .find(|f| f.path.ends_with("0f85.tracev3"))
        .expect("file");
    assert!(file.entries > 1000 && file.entries < 8654, "{file:?}");
    let lost = file.lost.as_deref().expect("a loss is reported");
    assert!(lost.ends_with("not parsed: a damaged chunk"), "{lost}");
    assert!(lost.contains("..400000 ("), "{lost}");

    // Random damage, many times: never a panic out of the parse, never a
    // hang (each parse is timed in a thread), a bounded output.
    let mut next = noise(6);
    for round in 0..24u64 {
        let mut bytes = whole.clone();
        for _ in 0..(1 + round % 8) {
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] = next() as u8;
        }
        if round % 3 == 0 {
            bytes.truncate((next() % bytes.len() as u64) as usize);
        }
        std::fs::write(&special, &bytes).expect("write");
        let root = dir.path().to_path_buf();
        let (done, wait) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let result = std::panic::catch_unwind(|| parse(&root, None).1);
            let _ = done.send(result.map(|r| r.entries));
        });
        match wait.recv_timeout(std::time::Duration::from_secs(120)) {
            Ok(Ok(entries)) => assert!(entries < 1_000_000, "round {round}: {entries}"),
            Ok(Err(_)) => panic!("round {round}: the parse panicked"),
            Err(_) => panic!("round {round}: the parse hangs"),
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_collection_with_parse_unifiedlog_stores_the_jsonl() {
    let Some(dir) = layout() else {
        return;
    };
    for tool in ["zstd", "tar"] {
        if std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "`{tool}` missing under CI=true"
            );
            eprintln!("SKIP: `{tool}` not installed; test not run");
            return;
        }
    }
    let work = tempfile::tempdir().expect("tempdir");
    let profile = work.path().join("ul.toml");
    std::fs::write(
        &profile,
        "name = \"ul\"\nos = \"macos\"\n\
         [[target]]\nname = \"unified logs\"\n\
         paths = [\"/private/var/db/diagnostics/**\", \"/private/var/db/uuidtext/**\"]\n\
         parse = \"unifiedlog\"\n",
    )
    .expect("profile");
    let archive = work.path().join("ul.tar.zst");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sealbag-mac"))
        .args(["collect", "--no-encrypt", "--profile"])
        .arg(&profile)
        .arg("-o")
        .arg(&archive)
        .arg("--root")
        .arg(dir.path())
        .output()
        .expect("run sealbag-mac");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = work.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("zstd -dq < \"$1\" | tar -x -C \"$2\"")
        .arg("sh")
        .arg(&archive)
        .arg(&out)
        .status()
        .expect("sh");
    assert!(status.success());
    let jsonl =
        std::fs::read(out.join("parsed/unifiedlogs.jsonl")).expect("parsed/unifiedlogs.jsonl");
    // The same lines the library gives for the same files, byte for byte.
    let (lines, _) = parse(dir.path(), None);
    let mut expected = Vec::new();
    for line in &lines {
        serde_json::to_writer(&mut expected, line).expect("json");
        expected.push(b'\n');
    }
    assert_eq!(jsonl.len(), expected.len());
    assert_eq!(jsonl.iter().filter(|&&b| b == b'\n').count(), 8659);
    // The tracev3 files themselves are stored whole.
    let logs = crate::corpus("macos/unifiedlog").expect("corpus");
    assert_eq!(
        std::fs::read(
            out.join("files/private/var/db/diagnostics/Special/0000000000000f85.tracev3")
        )
        .expect("stored"),
        std::fs::read(logs.join("0000000000000f85.tracev3")).expect("corpus")
    );
    let manifest = std::fs::read_to_string(out.join("sealbag/manifest.jsonl")).expect("manifest");
    let record: Value = manifest
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("record"))
        .find(|r| r["path"] == "parsed/unifiedlogs.jsonl")
        .expect("record of the parse");
    assert_eq!(record["sha256"], sha256_hex(&jsonl));
    assert_eq!(record["method"], "macos-unifiedlogs");
    assert_eq!(record["entries"], 8659, "{record}");
    assert_eq!(record["written"], 8659);
    assert_eq!(record["parts"], 1);
    assert_eq!(record["files"].as_array().map(Vec::len), Some(2));
}
