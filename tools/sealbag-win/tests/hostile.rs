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

/// Where record `number` is in the fixture image: in $MFT's first run
/// (mkntfs writes it contiguous), checked by the record number at 0x2C.
fn record_offset(image: &[u8], number: u64) -> usize {
    let cluster = u64::from(u16::from_le_bytes([image[11], image[12]])) * u64::from(image[13]);
    let mft = u64::from_le_bytes(image[48..56].try_into().expect("8")) * cluster;
    let at = (mft + number * 1024) as usize;
    assert_eq!(&image[at..at + 4], b"FILE");
    assert_eq!(
        u64::from(u32::from_le_bytes(
            image[at + 0x2C..at + 0x30].try_into().expect("4")
        )),
        number
    );
    at
}

fn record_of(source: &dyn Source, path: &str) -> u64 {
    source
        .metadata(&SourcePath::parse(path.as_bytes()).expect("path"))
        .expect("metadata")
        .inode
        .expect("record")
}

#[test]
fn bad_fixup_and_bad_run_list_are_errors_naming_the_record() {
    let Some(clean) = fixture() else { return };
    let source = NtfsSource::new(Cursor::new(clean.clone()), "test", "clean").expect("clean");
    let number = record_of(&source, "/Users/alice/big.txt");
    let at = record_offset(&clean, number);
    let path = SourcePath::parse(b"/Users/alice/big.txt").expect("path");

    // A torn write: the end of the record's first sector no longer holds
    // the update sequence number.
    let mut torn = clean.clone();
    torn[at + 510] ^= 0xFF;
    let source = NtfsSource::new(Cursor::new(torn), "test", "torn").expect("open");
    let err = source.metadata(&path).expect_err("torn record").to_string();
    assert!(
        err.contains(&format!("MFT record {number}")) && err.contains("fixup"),
        "{err}"
    );

    // An impossible data run header (9-byte offsets) in its $DATA.
    let mut runs = clean.clone();
    let first = u16::from_le_bytes([runs[at + 20], runs[at + 21]]) as usize;
    let mut offset = at + first;
    loop {
        let ty = u32::from_le_bytes(runs[offset..offset + 4].try_into().expect("4"));
        assert_ne!(ty, 0xFFFF_FFFF, "no $DATA");
        if ty == 0x80 {
            assert_eq!(runs[offset + 8], 1, "$DATA of big.txt is non-resident");
            let runs_at = u16::from_le_bytes([runs[offset + 32], runs[offset + 33]]) as usize;
            runs[offset + runs_at] = 0x91;
            break;
        }
        offset += u32::from_le_bytes(runs[offset + 4..offset + 8].try_into().expect("4")) as usize;
    }
    let source = NtfsSource::new(Cursor::new(runs), "test", "runs").expect("open");
    let err = source.metadata(&path).expect_err("bad runs").to_string();
    assert!(
        err.contains(&format!("MFT record {number}")) && err.contains("data run header 0x91"),
        "{err}"
    );
}

#[test]
fn directory_loop_in_an_index_is_cut_and_named() {
    let Some(clean) = fixture() else { return };
    let source = NtfsSource::new(Cursor::new(clean.clone()), "test", "clean").expect("clean");
    let many = record_of(&source, "/many");
    let target = record_of(&source, "/many/file17.txt");
    // The index entry of file17.txt in /many's INDX blocks (outside $MFT):
    // its file reference is 0x52 bytes before the UTF-16 name.
    let name: Vec<u8> = "file17.txt"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let in_indx = |at: usize| {
        (0..8).any(|k| {
            let block = (at / 512).checked_sub(k).map(|s| s * 512);
            block.is_some_and(|b| clean.get(b..b + 4) == Some(b"INDX".as_slice()))
        })
    };
    let entry = clean
        .windows(name.len())
        .enumerate()
        .filter(|(i, w)| *w == name.as_slice() && *i >= 0x52 && in_indx(*i))
        .map(|(i, _)| i - 0x52)
        .find(|e| {
            u64::from_le_bytes(clean[*e..*e + 8].try_into().expect("8")) & 0xFFFF_FFFF_FFFF
                == target
        })
        .expect("index entry of file17.txt");
    assert!(entry % 512 < 502, "the reference must not straddle a fixup");
    let mut looped = clean.clone();
    let many_at = record_offset(&clean, many);
    let many_sequence = u64::from(u16::from_le_bytes([
        clean[many_at + 16],
        clean[many_at + 17],
    ]));
    looped[entry..entry + 8].copy_from_slice(&(many | (many_sequence << 48)).to_le_bytes());
    let source = NtfsSource::new(Cursor::new(looped), "test", "looped").expect("open");
    // /many/file17.txt is now /many itself: listing below it names the loop.
    let err = source
        .read_dir(&SourcePath::parse(b"/many/file17.txt").expect("path"))
        .expect_err("loop")
        .to_string();
    assert!(
        err.contains(&format!("directory loop: MFT record {many}")),
        "{err}"
    );
    // A full walk ends, having seen each real entry once more at most.
    let started = Instant::now();
    let seen = walk_all(&source);
    assert!(seen < 20_000, "walk did not end: {seen}");
    assert!(started.elapsed() < Duration::from_secs(60));
}
