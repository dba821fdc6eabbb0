//! Damaged volumes: random bytes flipped in the MFT and anywhere on the
//! fixture; walking and reading everything must end, without a panic.

use std::io::{Cursor, Read};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sealbag_common::{Source, SourcePath};
use sealbag_win::NtfsSource;

fn fixture() -> Option<Vec<u8>> {
    let zst = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fixture1.raw.zst");
    match Command::new("zstd")
        .args(["-q", "-d", "-c"])
        .arg(&zst)
        .output()
    {
        Ok(out) if out.status.success() => Some(out.stdout),
        _ => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "zstd missing");
            eprintln!("SKIP: zstd not installed");
            None
        }
    }
}

/// Visits every entry; returns how many were seen.
fn walk_all(source: &dyn Source) -> usize {
    let mut stack = vec![SourcePath::root()];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = source.read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            seen += 1;
            if seen > 20_000 {
                return seen;
            }
            let path = dir.join(&entry.name);
            let Ok(meta) = source.metadata(&path) else {
                continue;
            };
            match meta.kind {
                sealbag_common::source::EntryKind::Directory => stack.push(path),
                sealbag_common::source::EntryKind::File => {
                    if let Ok(mut opened) = source.open(&path, None) {
                        let mut sink = Vec::new();
                        let _ = (&mut opened.reader).take(16 << 20).read_to_end(&mut sink);
                    }
                }
                _ => {
                    let _ = source.read_link(&path);
                }
            }
        }
    }
    seen
}

#[test]
fn flipped_bytes_never_panic_or_hang() {
    let Some(clean) = fixture() else { return };
    let cluster = u64::from(u16::from_le_bytes([clean[11], clean[12]])) * u64::from(clean[13]);
    let mft = u64::from_le_bytes(clean[48..56].try_into().expect("8")) * cluster;
    let clean_source =
        NtfsSource::new(Cursor::new(clean.clone()), "test", "fixture").expect("clean");
    let clean_count = walk_all(&clean_source);
    assert!(clean_count > 200);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let started = Instant::now();
    for round in 0..150 {
        let mut image = clean.clone();
        for _ in 0..24 {
            let at = if round % 3 == 0 {
                next() % image.len() as u64
            } else {
                mft + next() % (96 * 1024)
            } as usize;
            image[at] ^= 1 << (next() % 8);
        }
        if let Ok(source) = NtfsSource::new(Cursor::new(image), "test", "damaged") {
            walk_all(&source);
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(240),
        "took {:?}",
        started.elapsed()
    );
}
