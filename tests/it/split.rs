//! `--split`: parts within the size, their `cat` is the archive the index
//! and the collector's summary name, stock tools open it, and `verify`
//! names a missing or an altered part.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

/// Incompressible bytes (xorshift), so the ciphertext spans many parts.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

struct SplitRun {
    dir: tempfile::TempDir,
    key: PathBuf,
    base: PathBuf,
    summary: serde_json::Value,
}

const PART: u64 = 64 * 1024;

fn split_run() -> SplitRun {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path());
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("data")).expect("mkdir");
    std::fs::write(root.join("data/a.bin"), noise(700_000, 1)).expect("write");
    std::fs::write(root.join("data/b.bin"), noise(300_000, 2)).expect("write");
    let profile = profile(dir.path(), &["/data"]);
    let base = dir.path().join("out.tar.zst.age");
    let out = collect(&[
        "--root".as_ref(),
        root.as_os_str(),
        "--profile".as_ref(),
        profile.as_os_str(),
        "--recipient".as_ref(),
        public.as_ref(),
        "--output".as_ref(),
        base.as_os_str(),
        "--split".as_ref(),
        "64KiB".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("summary JSON on stdout");
    SplitRun {
        dir,
        key,
        base,
        summary,
    }
}

fn parts_of(base: &Path) -> Vec<PathBuf> {
    let dir = base.parent().expect("dir");
    let name = base
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let n = p.file_name().expect("name").to_string_lossy().into_owned();
            n.strip_prefix(&format!("{name}."))
                .is_some_and(|rest| rest.len() == 3 && rest.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    parts.sort();
    parts
}

fn sealbag(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(sealbag_bin())
        .args(args)
        .output()
        .expect("run sealbag")
}

#[test]
fn split_parts_are_within_size_and_concatenate_to_the_indexed_archive() {
    let run = split_run();
    assert!(
        !run.base.exists(),
        "no unsplit file is written beside the parts"
    );
    let parts = parts_of(&run.base);
    assert!(parts.len() > 3, "{} parts", parts.len());
    for (i, part) in parts.iter().enumerate() {
        let size = std::fs::metadata(part).expect("stat").len();
        assert!(size <= PART, "{}: {size} bytes", part.display());
        if i + 1 < parts.len() {
            assert_eq!(size, PART, "every part but the last is full");
        }
        assert_eq!(
            part.file_name().expect("name").to_string_lossy(),
            format!("out.tar.zst.age.{i:03}")
        );
    }

    // The index: each part's hash as sha256 of the file, computed here.
    let index_path = run.dir.path().join("out.tar.zst.age.index.json");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).expect("index")).expect("index JSON");
    assert_eq!(index["format"], "sealbag-split-1");
    assert_eq!(index["archive"], "out.tar.zst.age");
    assert_eq!(index["part_size"], PART);
    let listed = index["parts"].as_array().expect("parts");
    assert_eq!(listed.len(), parts.len());
    for (record, part) in listed.iter().zip(&parts) {
        assert_eq!(
            record["name"].as_str(),
            Some(&*part.file_name().expect("name").to_string_lossy())
        );
        assert_eq!(record["sha256"].as_str(), Some(&*sha256_file(part)));
        assert_eq!(
            record["bytes"].as_u64(),
            Some(std::fs::metadata(part).expect("stat").len())
        );
    }

    // `cat` of the parts (by the shell, in glob order) is the archive the
    // collector printed and the index records.
    let whole = run.dir.path().join("whole.age");
    let status = Command::new("sh")
        .arg("-c")
        .arg("cat \"$1\".[0-9][0-9][0-9] > \"$2\"")
        .arg("sh")
        .arg(&run.base)
        .arg(&whole)
        .status()
        .expect("cat");
    assert!(status.success());
    let sha = sha256_file(&whole);
    assert_eq!(index["sha256"].as_str(), Some(sha.as_str()));
    assert_eq!(run.summary["sha256"].as_str(), Some(sha.as_str()));
    assert_eq!(
        index["bytes"].as_u64(),
        Some(std::fs::metadata(&whole).expect("stat").len())
    );
    assert_eq!(run.summary["bytes"], index["bytes"]);
    assert_eq!(
        run.summary["split_index"].as_str(),
        Some(&*index_path.display().to_string())
    );

    // Stock tools open the concatenation, and the files are the originals.
    let out_dir = run.dir.path().join("x");
    stock_extract(&whole, &run.key, &out_dir, &[]);
    assert_eq!(
        std::fs::read(out_dir.join("files/data/a.bin")).expect("a"),
        noise(700_000, 1)
    );
    assert_eq!(
        std::fs::read(out_dir.join("files/data/b.bin")).expect("b"),
        noise(300_000, 2)
    );

    // sealbag verify takes the index, the first part, or the archive's name.
    for named in [index_path.clone(), parts[0].clone(), run.base.clone()] {
        let out = sealbag(&[
            "verify".as_ref(),
            "-i".as_ref(),
            run.key.as_os_str(),
            named.as_os_str(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "verify {}: {}",
            named.display(),
            text(&out.stderr)
        );
        assert!(text(&out.stderr).contains("INTACT"));
    }
    let into = run.dir.path().join("unpacked");
    let out = sealbag(&[
        "unpack".as_ref(),
        "-i".as_ref(),
        run.key.as_os_str(),
        "--into".as_ref(),
        into.as_os_str(),
        index_path.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(into.join("files/data/a.bin")).expect("a"),
        noise(700_000, 1)
    );
}

#[test]
fn verify_names_a_missing_part() {
    let run = split_run();
    let parts = parts_of(&run.base);
    std::fs::remove_file(&parts[3]).expect("remove");
    let out = sealbag(&[
        "verify".as_ref(),
        "-i".as_ref(),
        run.key.as_os_str(),
        parts[0].as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("part out.tar.zst.age.003: missing"),
        "{stderr}"
    );
    assert!(stderr.contains("NOT INTACT"), "{stderr}");
}

#[test]
fn verify_and_unpack_name_an_altered_part() {
    let run = split_run();
    let parts = parts_of(&run.base);
    let mut bytes = std::fs::read(&parts[2]).expect("read");
    bytes[1000] ^= 0x01;
    std::fs::write(&parts[2], &bytes).expect("write");
    let index = run.dir.path().join("out.tar.zst.age.index.json");
    let out = sealbag(&[
        "verify".as_ref(),
        "-i".as_ref(),
        run.key.as_os_str(),
        index.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("part out.tar.zst.age.002: altered"),
        "{stderr}"
    );
    let into = run.dir.path().join("unpacked");
    let out = sealbag(&[
        "unpack".as_ref(),
        "-i".as_ref(),
        run.key.as_os_str(),
        "--into".as_ref(),
        into.as_os_str(),
        index.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("part out.tar.zst.age.002: altered"),
        "{}",
        text(&out.stderr)
    );
}
