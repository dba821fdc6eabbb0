//! The plist parser against Python's `plistlib`, file by file, key by key.

use std::path::Path;
use std::process::Command;

use sealbag_mac::plist::{parse_bytes, PlistError};
use serde_json::Value;

fn plistlib(files: &[std::path::PathBuf]) -> serde_json::Map<String, Value> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/scripts/plistlib_json.py"
    );
    let output = Command::new("python3")
        .arg(script)
        .args(files)
        .output()
        .expect("python3 runs (the tests need it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    match serde_json::from_slice(&output.stdout).expect("script prints JSON") {
        Value::Object(map) => map,
        other => panic!("unexpected script output {other}"),
    }
}

/// Compares two JSON trees, naming the first differing key path.
fn same(ours: &Value, truth: &Value, at: &str) -> Result<(), String> {
    match (ours, truth) {
        (Value::Object(a), Value::Object(b)) => {
            let ka: Vec<_> = a.keys().collect();
            let kb: Vec<_> = b.keys().collect();
            if ka != kb {
                return Err(format!("{at}: keys {ka:?} != {kb:?}"));
            }
            a.iter()
                .try_for_each(|(k, v)| same(v, &b[k], &format!("{at}/{k}")))
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Err(format!("{at}: {} items != {}", a.len(), b.len()));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .try_for_each(|(i, (x, y))| same(x, y, &format!("{at}[{i}]")))
        }
        (Value::Number(a), Value::Number(b)) if a.is_f64() || b.is_f64() => {
            let (x, y) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            if (x - y).abs() <= 1e-9 * x.abs().max(1.0) {
                Ok(())
            } else {
                Err(format!("{at}: {x} != {y}"))
            }
        }
        (a, b) if a == b => Ok(()),
        (a, b) => Err(format!("{at}: {a} != {b}")),
    }
}

fn check_dir(dir: &Path, expect_parsed: usize) {
    let files = crate::files_under(dir);
    let truth = plistlib(&files);
    let mut parsed = 0;
    for file in &files {
        let bytes = std::fs::read(file).expect("read corpus file");
        let key = file.to_string_lossy();
        let expected = &truth[key.as_ref()];
        match (parse_bytes(&bytes), expected.get("ok")) {
            (Ok(ours), Some(value)) => {
                if let Err(e) = same(&ours.value, value, "") {
                    panic!("{key}: differs from plistlib at {e}");
                }
                parsed += 1;
            }
            (Err(_), None) => {}
            (Ok(_), None) => panic!("{key}: we parse what plistlib refuses: {expected}"),
            (Err(e), Some(_)) => panic!("{key}: plistlib parses, we fail: {e}"),
        }
    }
    assert_eq!(
        parsed,
        expect_parsed,
        "plists parsed under {}",
        dir.display()
    );
}

#[test]
fn every_corpus_plist_matches_plistlib() {
    let Some(tree) = crate::corpus("macos/tree") else {
        return;
    };
    // 24 plists and TCC.db, which both refuse (the corpus README counts 25).
    check_dir(&tree, 24);
}

#[test]
fn malformed_plist_fails_cleanly() {
    let Some(dir) = crate::corpus("macos/malformed") else {
        return;
    };
    check_dir(&dir, 0);
    let bytes = std::fs::read(dir.join("truncated.plist")).expect("read");
    let err = parse_bytes(&bytes).expect_err("truncated plist is refused");
    assert!(matches!(err, PlistError::Malformed(_)), "{err}");
}

/// Throughput figure: `cargo test -p sealbag-mac --release --test it -- --ignored --nocapture plists_per_second`.
#[test]
#[ignore = "a measurement, not a check"]
fn plists_per_second() {
    let Some(tree) = crate::corpus("macos/tree") else {
        return;
    };
    let plists: Vec<Vec<u8>> = crate::files_under(&tree)
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .filter(|b| parse_bytes(b).is_ok())
        .collect();
    let bytes: usize = plists.iter().map(Vec::len).sum();
    let rounds = 400;
    let clock = std::time::Instant::now();
    for _ in 0..rounds {
        for p in &plists {
            let parsed = parse_bytes(p).expect("parses");
            let json = serde_json::to_vec(&parsed.value).expect("json");
            std::hint::black_box(json);
        }
    }
    let secs = clock.elapsed().as_secs_f64();
    let n = (rounds * plists.len()) as f64;
    eprintln!(
        "FIGURE: {:.0} plists/s ({:.1} MB/s) parsing + JSON, {} corpus plists x {rounds}",
        n / secs,
        (rounds * bytes) as f64 / secs / 1e6,
        plists.len()
    );
}
