//! Every regular file and named stream of the NTFS corpus images, read by
//! `NtfsSource`, compared byte for byte with The Sleuth Kit's `icat`.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sealbag_common::{Source, SourcePath};
use sha2::{Digest, Sha256};

fn corpus() -> Option<PathBuf> {
    // `../shared/corpus` beside the workspace root (found upwards, so a git
    // worktree one level deeper finds it too).
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = manifest
        .ancestors()
        .map(|a| a.join("shared/corpus/ntfs"))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| manifest.join("../../../shared/corpus/ntfs"));
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("corpus missing at {}", dir.display());
    }
    eprintln!("SKIP: NTFS corpus not found at {}", dir.display());
    None
}

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("-V").output().is_ok();
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{tool} missing (tests/deps/windows.apt)");
        }
        eprintln!("SKIP: {tool} not installed");
    }
    found
}

fn decompress(zst: &Path, dir: &Path) -> PathBuf {
    let out = dir.join(zst.file_stem().expect("stem"));
    let status = Command::new("zstd")
        .args(["-q", "-d", "-f"])
        .arg(zst)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("zstd");
    assert!(status.success());
    out
}

fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Compares every `fls -r -p` regular file with a $DATA address; returns how many.
fn compare_image(image: &Path, offset_sectors: u64) -> usize {
    let volume = sealbag_win::open_image(image, None).expect("open image");
    assert_eq!(volume.offset, offset_sectors * 512);
    let source = &volume.source;
    let fls = Command::new("fls")
        .args(["-r", "-p", "-o", &offset_sectors.to_string()])
        .arg(image)
        .output()
        .expect("fls");
    assert!(fls.status.success());
    let text = String::from_utf8(fls.stdout).expect("utf8");
    let mut by_path: HashMap<String, Vec<String>> = HashMap::new();
    for line in text.lines() {
        let Some((head, path)) = line.split_once(":\t") else {
            continue;
        };
        let mut fields = head.split_whitespace();
        let kind = fields.next().unwrap_or("");
        let addr = fields.next().unwrap_or("");
        if head.contains('*') || !kind.ends_with("/r") || path.starts_with("$OrphanFiles") {
            continue;
        }
        // Only $DATA (type 128); `$BadClus:$Bad` is as large as the volume.
        if addr.split('-').nth(1) != Some("128") || path == "$BadClus:$Bad" || path.contains("/.:")
        {
            continue;
        }
        by_path
            .entry(path.to_string())
            .or_default()
            .push(addr.to_string());
    }
    let mut compared = 0;
    for (path, addrs) in by_path {
        if addrs.len() != 1 {
            continue; // the same name listed for two records: ambiguous for a path lookup
        }
        let expected = Command::new("icat")
            .args(["-o", &offset_sectors.to_string()])
            .arg(image)
            .arg(&addrs[0])
            .output()
            .expect("icat");
        assert!(expected.status.success(), "icat {path}");
        let source_path = SourcePath::parse(format!("/{path}").as_bytes()).expect("path");
        let mut opened = source
            .open(&source_path, None)
            .unwrap_or_else(|e| panic!("{}: open {path}: {e}", image.display()));
        let mut got = Vec::new();
        opened
            .reader
            .read_to_end(&mut got)
            .unwrap_or_else(|e| panic!("{}: read {path}: {e}", image.display()));
        assert_eq!(opened.metadata.size, got.len() as u64, "{path}: size");
        assert_eq!(
            sha(&got),
            sha(&expected.stdout),
            "{}: {path} ({}) differs from icat",
            image.display(),
            addrs[0]
        );
        compared += 1;
    }
    compared
}

#[test]
fn corpus_images_match_icat() {
    let Some(corpus) = corpus() else { return };
    if !have("icat") || !have("zstd") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // (image, NTFS offset in sectors, files + streams compared at least)
    for (name, offset, at_least) in [
        ("grr-ntfs-ads-mbr", 63, 20),
        ("colinfinck-testfs1-mkntfs", 0, 15),
        ("dfvfs-windows-volume", 0, 12),
        ("schicht-tiny-win7", 0, 23),
        ("suhanov-win10-compressed", 128, 24),
    ] {
        let image = decompress(&corpus.join(format!("{name}.raw.zst")), dir.path());
        let compared = compare_image(&image, offset);
        if name == "suhanov-win10-compressed" {
            // /1.txt is LZNT1-compressed: equal to icat above means decompressed.
            let volume = sealbag_win::open_image(&image, None).expect("open");
            let meta = volume
                .source
                .metadata(&SourcePath::parse(b"/1.TXT").expect("path"))
                .expect("case-insensitive lookup");
            assert_eq!(
                meta.extra.get("ntfs_compressed"),
                Some(&serde_json::Value::Bool(true))
            );
            assert_eq!(meta.extra.get("mft_record"), Some(&serde_json::json!(39)));
        }
        if name == "grr-ntfs-ads-mbr" {
            let volume = sealbag_win::open_image(&image, None).expect("open");
            let streams = volume
                .source
                .streams(&SourcePath::parse(b"/adstest/dir").expect("path"))
                .expect("streams");
            assert_eq!(streams, vec!["ads.txt".to_string()]);
            let names: Vec<Vec<u8>> = volume
                .source
                .read_dir(&SourcePath::parse(b"/adstest").expect("path"))
                .expect("list")
                .into_iter()
                .map(|e| e.name)
                .collect();
            assert_eq!(
                names,
                vec![
                    b"a.txt:ads.txt".to_vec(),
                    b"a.txt".to_vec(),
                    b"dir:ads.txt".to_vec(),
                    b"dir".to_vec()
                ]
            );
        }
        eprintln!("{name}: {compared} files and streams equal to icat");
        assert_eq!(compared, at_least, "{name}: only {compared} compared");
        std::fs::remove_file(&image).expect("rm");
    }
}

#[test]
fn committed_fixture_matches_icat() {
    if !have("icat") || !have("zstd") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let zst = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fixture1.raw.zst");
    let image = decompress(&zst, dir.path());
    // 200 entries in many/, plus the files, streams and metadata files.
    let compared = compare_image(&image, 0);
    assert!(compared >= 215, "only {compared} compared");
    let volume = sealbag_win::open_image(&image, None).expect("open");
    let source = &volume.source;
    assert_eq!(source.label(), Some("fixture"));
    let meta = |p: &str| {
        source
            .metadata(&SourcePath::parse(p.as_bytes()).expect("path"))
            .unwrap_or_else(|e| panic!("{p}: {e}"))
    };
    assert_eq!(
        meta("/COMPRESSED/notes.TXT").extra.get("ntfs_compressed"),
        Some(&serde_json::Value::Bool(true))
    );
    assert_eq!(meta("/sparse.bin").size, 1 << 20);
    // The stream is reachable both ways, with the same bytes.
    let zone = b"[ZoneTransfer]\r\nZoneId=3\r\nHostUrl=https://example.invalid/setup.exe\r\n";
    let path = SourcePath::parse(b"/users/ALICE/downloads/setup.exe").expect("path");
    let mut a = Vec::new();
    source
        .open(&path, Some("Zone.Identifier"))
        .expect("open stream")
        .reader
        .read_to_end(&mut a)
        .expect("read");
    assert_eq!(a, zone);
    let mut b = Vec::new();
    let joined =
        SourcePath::parse(b"/Users/alice/Downloads/setup.exe:Zone.Identifier").expect("path");
    source
        .open(&joined, None)
        .expect("open")
        .reader
        .read_to_end(&mut b)
        .expect("read");
    assert_eq!(b, zone);
    assert_eq!(
        source.streams(&path).expect("streams"),
        vec!["Zone.Identifier".to_string()]
    );
    // Unicode names come back as UTF-8.
    let names: Vec<Vec<u8>> = source
        .read_dir(&SourcePath::parse(b"/Users/alice").expect("path"))
        .expect("list")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(
        names.contains(&"Тест 入乡.txt".as_bytes().to_vec()),
        "{names:?}"
    );
    // $UsnJrnl is absent on this volume: not found, not an error.
    assert!(matches!(
        source.metadata(&SourcePath::parse(b"/$Extend/$UsnJrnl:$J").expect("path")),
        Err(sealbag_common::source::SourceError::NotFound { .. })
    ));
}

/// `cargo test -p sealbag-win --test icat -- --ignored --nocapture`: MFT
/// records parsed per second on the corpus images (a figure, not a check).
#[test]
#[ignore]
fn mft_enumeration_rate() {
    let Some(corpus) = corpus() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    for name in [
        "plaso-vsstest-win7",
        "suhanov-win10-20h1-usnjrnl-vss",
        "colinfinck-testfs1-mkntfs",
    ] {
        let image = decompress(&corpus.join(format!("{name}.raw.zst")), dir.path());
        let volume = sealbag_win::open_image(&image, None).expect("open");
        let started = std::time::Instant::now();
        let total = volume.source.record_count();
        let mut in_use = 0;
        let mut errors = 0;
        for n in 0..total {
            match volume.source.probe_record(n) {
                Ok(true) => in_use += 1,
                Ok(false) => {}
                Err(_) => errors += 1,
            }
        }
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{name}: {total} records ({in_use} in use, {errors} unreadable/unused) in {secs:.3} s: {:.0} records/s",
            total as f64 / secs
        );
        std::fs::remove_file(&image).expect("rm");
    }
}

/// Opt-in (decompresses a 64 GiB sparse image): `$Extend/$UsnJrnl:$J`
/// equals the corpus' `usn/suhanov-win10-20h1.UsnJrnl_J` (TSK icat 42-128-3).
#[test]
#[ignore]
fn usnjrnl_j_matches_corpus() {
    let Some(corpus) = corpus() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let image = decompress(
        &corpus.join("suhanov-win10-20h1-usnjrnl-vss.raw.zst"),
        dir.path(),
    );
    let volume = sealbag_win::open_image(&image, None).expect("open");
    assert_eq!(volume.offset, 2048 * 512);
    let path = SourcePath::parse(b"/$Extend/$UsnJrnl:$J").expect("path");
    let mut opened = volume.source.open(&path, None).expect("open $J");
    let mut bytes = Vec::new();
    opened.reader.read_to_end(&mut bytes).expect("read $J");
    let expected =
        std::fs::read(corpus.join("usn/suhanov-win10-20h1.UsnJrnl_J")).expect("corpus $J");
    assert_eq!(bytes.len(), expected.len());
    assert_eq!(sha(&bytes), sha(&expected));
    let mft = std::fs::read(corpus.join("mft/suhanov-win10-20h1.MFT")).expect("corpus $MFT");
    let mut got = Vec::new();
    volume
        .source
        .open(&SourcePath::parse(b"/$MFT").expect("path"), None)
        .expect("open $MFT")
        .reader
        .read_to_end(&mut got)
        .expect("read $MFT");
    assert_eq!(sha(&got), sha(&mft));
}
