//! `sealbag ticket --split SIZE` and `--upload-ticket` with that ticket,
//! against moto on 127.0.0.1: the host, holding no credential, writes the
//! split set (`KEY.000` … and `KEY.index.json`) and nothing else, aborts
//! the part uploads it did not need, and a second use, a disagreeing
//! `--split`, a too-small `--max-size` and an expired ticket (with
//! `--fallback-output`) each end as they should.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;

use crate::fallback::{listing, verify};
use crate::support::*;
use crate::upload::*;

/// `sealbag ticket --split SIZE` with the responder's (test) credentials.
fn split_ticket(
    port: u16,
    dir: &Path,
    key: &str,
    expires: &str,
    max_size: &str,
    split: &str,
) -> PathBuf {
    let path = dir.join(format!("split-ticket-{expires}-{max_size}.json"));
    let out = Command::new(sealbag_bin())
        .args(["ticket", "--bucket", BUCKET, "--key", key])
        .args([
            "--expires",
            expires,
            "--max-size",
            max_size,
            "--split",
            split,
        ])
        .args(["--s3-region", "us-east-1"])
        .args(["--s3-endpoint", &format!("http://127.0.0.1:{port}")])
        .arg("--output")
        .arg(&path)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("sealbag ticket");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    path
}

/// Open multipart uploads in the bucket.
fn open_uploads(port: u16) -> usize {
    boto(
        port,
        "print(len(s3.list_multipart_uploads(Bucket=b).get('Uploads', [])))",
        &[],
    )
    .trim()
    .parse()
    .expect("a count")
}

#[test]
fn a_split_ticket_delivers_the_set_write_only_once_and_aborts_unused_part_uploads() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // 60 MiB in 6 MiB parts: 10 part objects, of which the ~20 MiB archive uses 4.
    let path = split_ticket(moto.port, dir.path(), "ts/set.age", "1h", "60MiB", "6MiB");
    let ticket: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("ticket")).expect("JSON");
    assert_eq!(ticket["kind"], "s3-split");
    assert_eq!(ticket["split_size"], 6u64 << 20);
    let uploads = ticket["split_parts"].as_array().expect("split_parts");
    assert_eq!(uploads.len(), 10);
    assert_eq!(uploads[3]["object"], "s3://evidence/ts/set.age.003");
    // A part object of 6 MiB fits one 8 MiB multipart part.
    assert_eq!(uploads[0]["parts"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        ticket["index"]["object"],
        "s3://evidence/ts/set.age.index.json"
    );
    assert_eq!(open_uploads(moto.port), 11, "the responder started them");

    let args = ["--upload-ticket", path.to_str().expect("utf-8")];
    let out = run_collector(dir.path(), &args, false);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary = summary_of(&out);
    assert_eq!(
        summary["split_index"].as_str(),
        Some("s3://evidence/ts/set.age.index.json"),
        "{summary}"
    );
    // Exactly the set: parts 000..003 within the size, and the index.
    let objects = listing(moto.port);
    let parts: Vec<_> = objects
        .iter()
        .filter(|(key, _)| !key.ends_with(".index.json"))
        .collect();
    assert!(parts.len() >= 3, "{objects:?}");
    for (n, (key, size)) in parts.iter().enumerate() {
        assert_eq!(key, &format!("ts/set.age.{n:03}"), "{objects:?}");
        assert!(*size <= 6 << 20, "{key}: {size}");
    }
    assert_eq!(objects.len(), parts.len() + 1, "{objects:?}");
    assert!(objects
        .iter()
        .any(|(key, _)| key == "ts/set.age.index.json"));
    // The part uploads the archive did not need were aborted.
    assert_eq!(open_uploads(moto.port), 0, "{stderr}");

    // The parts, downloaded and joined, are the archive the collector hashed.
    let mut whole = Vec::new();
    for (key, _) in &parts {
        let local = dir.path().join("part");
        boto(
            moto.port,
            "s3.download_file(b, argv[0], argv[1])",
            &[key, &local.to_string_lossy()],
        );
        whole.extend(std::fs::read(&local).expect("part"));
    }
    let joined = dir.path().join("joined.age");
    std::fs::write(&joined, &whole).expect("write");
    assert_eq!(summary["sha256"].as_str(), Some(&*sha256_file(&joined)));
    assert_eq!(summary["bytes"].as_u64(), Some(whole.len() as u64));
    let (identity, _) = keygen_once(dir.path());
    stock_extract(&joined, &identity, &dir.path().join("x"), &[]);
    assert_eq!(
        std::fs::read(dir.path().join("x/files/data/f2.bin")).expect("f2"),
        noise(5 << 20, 9)
    );
    // The responder checks the set in the store.
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let s3 = ["--s3-endpoint", &endpoint, "--s3-region", "us-east-1"];
    let out = verify(dir.path(), "s3://evidence/ts/set.age.index.json", &s3);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("each as the index says"));

    // Used twice: refused by the store, and nothing in the bucket changes.
    let out = run_collector(dir.path(), &args, false);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("NoSuchUpload"), "{stderr}");
    assert!(stderr.contains("the ticket was already used"), "{stderr}");
    assert_eq!(listing(moto.port), objects);
    assert_eq!(open_uploads(moto.port), 0);
    // Nor can the ticket's index URL overwrite the index: its upload is spent.
    let url = ticket["index"]["parts"][0]
        .as_str()
        .expect("index part URL");
    let status = boto(
        moto.port,
        "import urllib.request, urllib.error\ntry:\n    print(urllib.request.urlopen(urllib.request.Request(argv[0], data=b'forged', method='PUT')).status)\nexcept urllib.error.HTTPError as e:\n    print(e.code)",
        &[url],
    );
    // (S3 answers 404 NoSuchUpload; the moto used here answers 500.)
    let status: u16 = status.trim().parse().expect("a status");
    assert!(status >= 400, "the store took a forged index: {status}");
    assert_eq!(listing(moto.port), objects, "the index is unchanged");
}

#[test]
fn split_and_ticket_must_agree_before_collecting() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = split_ticket(moto.port, dir.path(), "ts/agree.age", "1h", "12MiB", "6MiB");
    let ticket = path.to_string_lossy().into_owned();
    let out = run_collector(
        dir.path(),
        &["--upload-ticket", &ticket, "--split", "7MiB"],
        false,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--split 7340032: the upload ticket")
            && stderr.contains("was made for parts of 6291456 bytes")
            && stderr.contains("hint:"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("collected"),
        "refused before collecting: {stderr}"
    );
    // The ticket is untouched: its part and index uploads are still open,
    // no object written.
    assert_eq!(open_uploads(moto.port), 3);
    assert!(listing(moto.port).is_empty());

    // A ticket for one object with `--split`: refused as before.
    let plain = ticket_for_one_object(dir.path());
    let out = run_collector(
        dir.path(),
        &[
            "--upload-ticket",
            &plain.to_string_lossy(),
            "--split",
            "6MiB",
        ],
        false,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "`--split` with `--upload-ticket` is not supported: a ticket presigns one object"
        ),
        "{stderr}"
    );
}

/// A ticket for one object, valid for an hour (its URLs are never used).
fn ticket_for_one_object(dir: &Path) -> PathBuf {
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3600;
    let path = dir.join("plain-ticket.json");
    let ticket = serde_json::json!({
        "format": "sealbag-ticket-1",
        "kind": "s3-multipart",
        "object": "s3://evidence/plain.age",
        "upload_id": "x",
        "expires_unix": expires,
        "part_size": 8u64 << 20,
        "max_size": 8u64 << 20,
        "parts": ["http://127.0.0.1:9/evidence/plain.age?partNumber=1"],
        "complete": "http://127.0.0.1:9/evidence/plain.age",
        "abort": "http://127.0.0.1:9/evidence/plain.age",
    });
    std::fs::write(&path, serde_json::to_vec(&ticket).expect("JSON")).expect("write");
    path
}

#[test]
fn a_split_ticket_too_small_for_the_archive_stops_and_leaves_no_open_upload() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // Two part objects of 6 MiB for a ~20 MiB archive.
    let path = split_ticket(moto.port, dir.path(), "ts/small.age", "1h", "12MiB", "6MiB");
    let out = run_collector(
        dir.path(),
        &["--upload-ticket", &path.to_string_lossy()],
        false,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the split ticket holds 2 part objects of 6291456 bytes: the archive is larger than its --max-size"),
        "{stderr}"
    );
    // The two completed parts stay (a write-only ticket cannot delete) and
    // the message names them; no multipart upload is left open.
    assert!(
        stderr.contains("stay in the bucket (a ticket cannot delete)"),
        "{stderr}"
    );
    assert_eq!(open_uploads(moto.port), 0);
    let keys: Vec<_> = listing(moto.port).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["ts/small.age.000", "ts/small.age.001"]);
}

#[test]
fn an_expired_split_ticket_with_fallback_keeps_a_split_set_locally() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let fallback = dir.path().join("fallback");
    std::fs::create_dir(&fallback).expect("mkdir");
    let path = split_ticket(moto.port, dir.path(), "ts/late.age", "1s", "60MiB", "6MiB");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = run_collector(
        dir.path(),
        &[
            "--upload-ticket",
            &path.to_string_lossy(),
            "--fallback-output",
            &fallback.to_string_lossy(),
        ],
        false,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("expired"), "{stderr}");
    let summary = summary_of(&out);
    let index = Path::new(summary["kept_locally"].as_str().expect("kept")).to_path_buf();
    assert_eq!(
        index.file_name().map(|n| n.to_string_lossy().into_owned()),
        Some("late.age.index.json".into()),
        "{summary}"
    );
    let mut names: Vec<_> = std::fs::read_dir(&fallback)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 4, "{names:?}");
    for (n, name) in names.iter().take(names.len() - 1).enumerate() {
        assert_eq!(name, &format!("late.age.{n:03}"));
        let size = std::fs::metadata(fallback.join(name)).expect("stat").len();
        assert!(size <= 6 << 20, "{name}: {size}");
    }
    let out = verify(dir.path(), &index.to_string_lossy(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn a_split_ticket_whose_index_is_refused_fails_and_leaves_no_open_upload() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // Every PUT of the index's part is refused (500, retried, then given up).
    let (port, faults) = proxy(
        moto.port,
        Fault::RefuseParts(b"PUT /evidence/ts/noindex.age.index.json"),
    );
    let path = split_ticket(port, dir.path(), "ts/noindex.age", "1h", "60MiB", "6MiB");
    let out = run_collector(
        dir.path(),
        &["--upload-ticket", &path.to_string_lossy()],
        false,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(faults.load(Ordering::SeqCst) >= 6, "every try refused");
    assert!(
        stderr.contains("s3://evidence/ts/noindex.age.index.json"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stay in the bucket (a ticket cannot delete)"),
        "{stderr}"
    );
    // The index's and the unused parts' uploads were aborted; the parts
    // written stay, without an index (`verify` of the set fails).
    assert_eq!(open_uploads(moto.port), 0, "{stderr}");
    let keys: Vec<_> = listing(moto.port).into_iter().map(|(k, _)| k).collect();
    assert!(keys.len() >= 3, "{keys:?}");
    assert!(keys.iter().all(|k| !k.ends_with(".index.json")), "{keys:?}");
}
