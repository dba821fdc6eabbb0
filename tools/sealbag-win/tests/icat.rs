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

/// `istat [options] IMAGE INODE`; `args` ends with the inode.
fn istat(image: &Path, args: &[&str]) -> String {
    let (inode, options) = args.split_last().expect("inode");
    let out = Command::new("istat")
        .args(options)
        .arg(image)
        .arg(inode)
        .output()
        .expect("istat");
    assert!(out.status.success(), "istat {args:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `$ATTRIBUTE_LIST` entries istat shows: (type, MFT record, starting VCN).
fn attribute_list(istat_text: &str) -> Vec<(u32, u64, u64)> {
    istat_text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("Type: ")?;
            let (ty, rest) = rest.split_once('-')?;
            let (_, rest) = rest.split_once("MFT Entry: ")?;
            let (record, vcn) = rest.split_once("VCN: ")?;
            Some((
                ty.trim().parse().ok()?,
                record.trim().parse().ok()?,
                vcn.trim().parse().ok()?,
            ))
        })
        .collect()
}

/// The runs of the first attribute `istat -r` lists under `header`:
/// (first cluster or `None` when sparse, length in clusters).
fn runs_under(istat_text: &str, header: &str) -> Vec<(Option<u64>, u64)> {
    let mut runs = Vec::new();
    let mut inside = false;
    for line in istat_text.lines() {
        if line.starts_with("Type: ") {
            if inside {
                break;
            }
            inside = line.contains(header);
            continue;
        }
        let Some(rest) = line
            .trim()
            .strip_prefix("Starting address: ")
            .filter(|_| inside)
        else {
            continue;
        };
        let (start, rest) = rest.split_once(", length: ").expect("run");
        let length: u64 = rest
            .split_whitespace()
            .next()
            .expect("len")
            .parse()
            .expect("len");
        runs.push((start.parse().ok(), length));
    }
    runs
}

/// `fls -l -r -p` regular-file $DATA streams: (path, address, size).
fn fls_files(image: &Path) -> Vec<(String, String, u64)> {
    let out = Command::new("fls")
        .args(["-l", "-r", "-p"])
        .arg(image)
        .output()
        .expect("fls");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf8");
    let mut files = Vec::new();
    for line in text.lines() {
        let Some((head, rest)) = line.split_once(":\t") else {
            continue;
        };
        let mut fields = head.split_whitespace();
        let kind = fields.next().unwrap_or("");
        let addr = fields.next().unwrap_or("");
        let cols: Vec<&str> = rest.split('\t').collect();
        if head.contains('*')
            || kind != "r/r"
            || cols[0].starts_with("$OrphanFiles")
            || addr.split('-').nth(1) != Some("128")
            || cols[0] == "$BadClus:$Bad"
        {
            continue;
        }
        let size = cols[cols.len() - 3].parse().expect("size");
        files.push((cols[0].to_string(), addr.to_string(), size));
    }
    files
}

fn icat_bytes(image: &Path, addr: &str) -> Vec<u8> {
    let out = Command::new("icat")
        .arg(image)
        .arg(addr)
        .output()
        .expect("icat");
    assert!(out.status.success(), "icat {addr}");
    out.stdout
}

fn read_all(source: &dyn Source, path: &str) -> (sealbag_common::source::Metadata, Vec<u8>) {
    let mut opened = source
        .open(&SourcePath::parse(path.as_bytes()).expect("path"), None)
        .unwrap_or_else(|e| panic!("open {path}: {e}"));
    let mut bytes = Vec::new();
    opened
        .reader
        .read_to_end(&mut bytes)
        .unwrap_or_else(|e| panic!("read {path}: {e}"));
    (opened.metadata, bytes)
}

fn fixture2(dir: &Path) -> PathBuf {
    let zst = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fixture2.raw.zst");
    decompress(&zst, dir)
}

/// fixture2 (make-ntfs-fragmented.sh): a file whose $DATA runs are split
/// between its base record and extension records, a 3000-entry directory
/// whose index allocation is split the same way, a fragmented $MFT, and a
/// `$UsnJrnl:$J` with a sparse head. Everything is compared with TSK.
#[test]
fn fragmented_fixture_matches_icat() {
    if !have("icat") || !have("zstd") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let image = fixture2(dir.path());
    let files = fls_files(&image);
    let record_of = |name: &str| -> u64 {
        let (_, addr, _) = files.iter().find(|f| f.0 == name).expect(name);
        addr.split('-').next().expect("n").parse().expect("n")
    };
    // The fixture really exercises the cases (checked with TSK, not with us).
    let fragmented = record_of("fragmented.txt");
    let split_data = attribute_list(&istat(&image, &[&fragmented.to_string()]))
        .into_iter()
        .filter(|(t, r, v)| *t == 128 && *r != fragmented && *v > 0)
        .count();
    assert!(
        split_data >= 1,
        "fragmented.txt has no $DATA in an extension record"
    );
    let runs = runs_under(&istat(&image, &["-r", &fragmented.to_string()]), "$DATA");
    assert!(
        runs.len() >= 150,
        "fragmented.txt has only {} runs",
        runs.len()
    );
    let fls_dirs = Command::new("fls").arg(&image).output().expect("fls");
    let bigdir: u64 = String::from_utf8_lossy(&fls_dirs.stdout)
        .lines()
        .find(|l| l.ends_with("\tbigdir"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|a| a.split('-').next())
        .and_then(|n| n.parse().ok())
        .expect("bigdir");
    assert!(
        attribute_list(&istat(&image, &[&bigdir.to_string()]))
            .iter()
            .any(|(t, r, v)| *t == 160 && *r != bigdir && *v > 0),
        "bigdir's index allocation is not split"
    );

    let volume = sealbag_win::open_image(&image, None).expect("open");
    let source = &volume.source;
    let mut by_icat = 0;
    for (path, addr, size) in &files {
        if path == "$UsnJrnl:$J" {
            continue; // below: its sparse head is skipped
        }
        let (meta, got) = read_all(source, &format!("/{path}"));
        assert_eq!(meta.size, *size, "{path}: size differs from fls");
        assert_eq!(got.len() as u64, *size, "{path}: bytes read");
        assert_eq!(
            Some(
                addr.split('-')
                    .next()
                    .expect("n")
                    .parse::<u64>()
                    .expect("n")
            ),
            meta.inode,
            "{path}: record"
        );
        // icat is slow (~0.2 s a call): every file outside bigdir/ (whose
        // 3000 entries are empty, size checked above) and one in 100 inside.
        if !path.starts_with("bigdir/") || path.ends_with("00") {
            assert_eq!(
                sha(&got),
                sha(&icat_bytes(&image, addr)),
                "{path} ({addr}) differs from icat"
            );
            by_icat += 1;
        }
    }
    assert!(by_icat >= 40, "only {by_icat} compared with icat");
    // The directory lists exactly what fls lists.
    let mut ours: Vec<Vec<u8>> = source
        .read_dir(&SourcePath::parse(b"/bigdir").expect("path"))
        .expect("list bigdir")
        .into_iter()
        .map(|e| e.name)
        .collect();
    let mut theirs: Vec<Vec<u8>> = files
        .iter()
        .filter_map(|(p, _, _)| p.strip_prefix("bigdir/"))
        .map(|n| n.as_bytes().to_vec())
        .collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours.len(), 3000);
    assert_eq!(ours, theirs);

    // $J: the allocated tail only, and where it starts.
    let (_, j_addr, j_size) = files
        .iter()
        .find(|f| f.0 == "$UsnJrnl:$J")
        .expect("$J in fls");
    let record = j_addr.split('-').next().expect("n");
    let j_runs = runs_under(&istat(&image, &["-r", record]), "$J");
    let cluster = source.cluster_size();
    let head: u64 = j_runs
        .iter()
        .take_while(|(lcn, _)| lcn.is_none())
        .map(|(_, n)| n * cluster)
        .sum();
    assert_eq!(head, 2_621_440, "the fixture's sparse head");
    let whole = icat_bytes(&image, j_addr);
    assert_eq!(whole.len() as u64, *j_size);
    let (meta, tail) = read_all(source, "/$UsnJrnl:$J");
    assert_eq!(meta.size, j_size - head);
    assert_eq!(sha(&tail), sha(&whole[head as usize..]));
    assert_eq!(meta.extra["ntfs_stream_offset"], serde_json::json!(head));
    assert_eq!(meta.extra["ntfs_stream_size"], serde_json::json!(j_size));
}

/// An extension record holding part of a file's runs is damaged: the file
/// is read up to the missing extents and then fails, never ends early as if
/// whole; the problem names the record.
#[test]
fn missing_extension_record_is_never_read_as_whole() {
    if !have("icat") || !have("zstd") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let image = fixture2(dir.path());
    let files = fls_files(&image);
    let (_, addr, size) = files
        .iter()
        .find(|f| f.0 == "fragmented.txt")
        .expect("fragmented.txt");
    let base: u64 = addr.split('-').next().expect("n").parse().expect("n");
    let (_, extension, vcn) = attribute_list(&istat(&image, &[&base.to_string()]))
        .into_iter()
        .filter(|(t, r, v)| *t == 128 && *r != base && *v > 0)
        .min_by_key(|(_, _, v)| *v)
        .expect("an extension piece");
    // Where that record is: walk $MFT's runs (from istat) to its cluster.
    let mut bytes = std::fs::read(&image).expect("read image");
    let cluster = u64::from(u16::from_le_bytes([bytes[11], bytes[12]])) * u64::from(bytes[13]);
    let mut want = extension * 1024 / cluster;
    let mut at = None;
    for (lcn, n) in runs_under(&istat(&image, &["-r", "0"]), "$DATA") {
        if want < n {
            at = Some((lcn.expect("allocated") + want) * cluster);
            break;
        }
        want -= n;
    }
    let at = at.expect("record in $MFT") as usize;
    assert_eq!(&bytes[at..at + 4], b"FILE");
    bytes[at..at + 4].copy_from_slice(b"BAAD");
    let expected = icat_bytes(&image, addr);
    std::fs::write(&image, &bytes).expect("write");

    let volume = sealbag_win::open_image(&image, None).expect("open");
    let path = SourcePath::parse(b"/fragmented.txt").expect("path");
    let mut opened = volume.source.open(&path, None).expect("open");
    assert_eq!(
        opened.metadata.size, *size,
        "the listed size is the whole file"
    );
    let problems = opened.metadata.extra["ntfs_problems"].to_string();
    assert!(
        problems.contains(&format!("MFT record {extension}")),
        "{problems}"
    );
    let mut got = Vec::new();
    let err = opened
        .reader
        .read_to_end(&mut got)
        .expect_err("the read must fail at the missing extents");
    assert!(err.to_string().contains(&format!("VCN {vcn}")), "{err}");
    assert_eq!(got.len() as u64, vcn * cluster);
    assert_eq!(got[..], expected[..got.len()]);
}
