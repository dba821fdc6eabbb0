//! The evtx parser over every event log of the corpus.
//!
//! The expected record counts are derived independently of the `evtx`
//! crate: each valid chunk header (`ElfChnk\0`) gives the first and last
//! event record id it holds, and a clean log holds exactly
//! `last - first + 1` records per chunk.

use std::io::Cursor;
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = manifest
        .ancestors()
        .map(|a| a.join("shared/corpus/evtx"))
        .find(|d| d.is_dir());
    match dir {
        Some(dir) => Some(dir),
        None if std::env::var("CI").as_deref() == Ok("true") => panic!("evtx corpus missing"),
        None => {
            eprintln!("SKIP: evtx corpus not found");
            None
        }
    }
}

/// Records the chunk headers announce: sum of (last id - first id + 1) over
/// chunks with a valid magic; also the number of chunks with a bad magic.
fn chunk_header_count(bytes: &[u8]) -> (u64, u64) {
    let mut total = 0;
    let mut bad = 0;
    let header_chunks = u16::from_le_bytes([bytes[42], bytes[43]]) as usize;
    for i in 0..header_chunks.max((bytes.len() - 4096) / 65536) {
        let at = 4096 + i * 65536;
        let Some(chunk) = bytes.get(at..at + 65536) else {
            break;
        };
        if &chunk[..8] != b"ElfChnk\0" {
            if chunk.iter().any(|b| *b != 0) {
                bad += 1;
            }
            continue;
        }
        let first = u64::from_le_bytes(chunk[24..32].try_into().expect("8"));
        let last = u64::from_le_bytes(chunk[32..40].try_into().expect("8"));
        if last >= first && last - first < 10_000 {
            total += last - first + 1;
        }
    }
    (total, bad)
}

#[test]
fn every_corpus_log_parses_with_expected_counts() {
    let Some(dir) = corpus() else { return };
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("read corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "evtx"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 10);
    for path in names {
        let bytes = std::fs::read(&path).expect("read");
        let (announced, bad_chunks) = chunk_header_count(&bytes);
        let mut out = Vec::new();
        let mut errors = Vec::new();
        let counts =
            sealbag_win::parse_evtx(&mut Cursor::new(bytes), &[], None, &mut out, &mut errors)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let lines = out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() as u64;
        eprintln!(
            "{}: {} records ({} announced by chunk headers, {} bad chunks), {} bad, first {:?} last {:?}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
            counts.records,
            announced,
            bad_chunks,
            counts.bad,
            counts.first.map(|t| t.to_string()),
            counts.last.map(|t| t.to_string())
        );
        assert_eq!(lines, counts.written);
        assert_eq!(counts.written, counts.records);
        assert!(counts.records > 0);
        if path.ends_with("sample_with_a_bad_chunk_magic.evtx") {
            // Two chunks have a broken magic and three more fail to parse:
            // what is lost is counted, never hidden.
            assert_eq!(bad_chunks, 2);
            assert_eq!((counts.records, counts.bad), (301, 3));
            assert!(counts.records < announced);
        } else {
            assert_eq!(counts.records, announced, "{}", path.display());
            // Chunk slots with a broken magic are each reported once.
            assert_eq!(counts.bad, bad_chunks, "{}", path.display());
        }
    }
}

#[test]
fn event_id_filter_keeps_only_listed_ids() {
    let Some(dir) = corpus() else { return };
    let bytes = std::fs::read(dir.join("security.evtx")).expect("read");
    let mut out = Vec::new();
    let counts = sealbag_win::parse_evtx(
        &mut Cursor::new(bytes),
        &[4624],
        None,
        &mut out,
        &mut Vec::new(),
    )
    .expect("parse");
    assert!(counts.written > 0 && counts.written < counts.records);
    for line in out.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let value: serde_json::Value = serde_json::from_slice(line).expect("json");
        assert_eq!(sealbag_win::event_id(&value["event"]), Some(4624));
    }
}

#[test]
fn since_filter_drops_older_records() {
    let Some(dir) = corpus() else { return };
    let bytes = std::fs::read(dir.join("new-user-security.evtx")).expect("read");
    let run = |since| {
        let mut out = Vec::new();
        sealbag_win::parse_evtx(
            &mut Cursor::new(bytes.clone()),
            &[],
            Some(since),
            &mut out,
            &mut Vec::new(),
        )
        .expect("parse")
    };
    use sealbag_common::source::Timestamp;
    // Record times from the record headers (FILETIME at offset 16 of each `**` record):
    // 16:22:39.973500, 16:22:39.989125 (x2), 16:22:40.036000 on 2013-10-23.
    assert_eq!(run(Timestamp::new(0, 0)).written, 4);
    assert_eq!(run(Timestamp::new(1_382_545_360, 0)).written, 1);
    assert_eq!(run(Timestamp::new(1_382_545_359, 980_000_000)).written, 3);
    let late = run(Timestamp::new(2_000_000_000, 0));
    assert_eq!((late.records, late.written), (4, 0));
}
