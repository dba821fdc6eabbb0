//! `--fallback-output DIR` against moto on 127.0.0.1 (and a closed port):
//! the archive kept locally when the store cannot be reached or refuses
//! every part (exit 3, `kept_locally` in the summary, the kept file
//! decrypted with stock age | zstd | tar and checked by `sealbag verify`);
//! nothing left behind when the upload succeeds; DIR on the collected
//! volume refused. Also `--split` with `s3://` (parts, index, remote
//! verify naming a missing or altered part) and `sealbag verify s3://…`
//! through a proxy that cuts the answer mid-object.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;

use crate::support::*;
use crate::upload::*;

/// `sealbag verify -i key TARGET [more]` with the test's S3 keys.
pub(crate) fn verify(dir: &Path, target: &str, more: &[&str]) -> std::process::Output {
    let (identity, _) = keygen_once(dir);
    Command::new(sealbag_bin())
        .args(["verify", "-i"])
        .arg(&identity)
        .arg(target)
        .args(more)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "info")
        .output()
        .expect("sealbag verify")
}

/// The kept file: named by the summary, in DIR, hashed as printed, checked
/// by `sealbag verify`, and read with stock age | zstd | tar.
fn check_kept(dir: &Path, fallback: &Path, out: &std::process::Output) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let summary = summary_of(out);
    assert_eq!(summary["uploaded"], false, "{summary}");
    assert!(summary["upload_error"].as_str().is_some(), "{summary}");
    let kept = Path::new(summary["kept_locally"].as_str().expect("kept_locally")).to_path_buf();
    assert_eq!(kept.parent(), Some(fallback), "{summary}");
    assert!(
        stderr.contains("UPLOAD FAILED")
            && stderr.contains(&format!("KEPT LOCALLY at {}", kept.display())),
        "{stderr}"
    );
    // Only the archive is left in DIR: no reserve, nothing else.
    let names: Vec<_> = std::fs::read_dir(fallback)
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(summary["sha256"].as_str(), Some(&*sha256_file(&kept)));
    assert_eq!(
        summary["bytes"].as_u64(),
        Some(std::fs::metadata(&kept).expect("stat").len())
    );
    let out = verify(dir, &kept.to_string_lossy(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (identity, _) = keygen_once(dir);
    let extracted = dir.join("x");
    stock_extract(&kept, &identity, &extracted, &[]);
    for i in 0..4u64 {
        assert_eq!(
            std::fs::read(extracted.join(format!("files/data/f{i}.bin"))).expect("read"),
            noise(5 << 20, i + 7),
            "f{i}.bin"
        );
    }
    let log = std::fs::read_to_string(extracted.join("sealbag/log.jsonl")).expect("log");
    assert!(log.contains("--fallback-output"), "the run log says so");
}

#[test]
fn an_unreachable_store_with_fallback_keeps_the_archive_locally_and_exits_3() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fallback = dir.path().join("fallback");
    std::fs::create_dir(&fallback).expect("mkdir");
    // A port nobody listens on: connection refused from the first request.
    let closed = free_port();
    let out = upload_with(
        dir.path(),
        &format!("http://127.0.0.1:{closed}"),
        "cases/unreachable.age",
        &["--fallback-output", &fallback.to_string_lossy()],
    );
    check_kept(dir.path(), &fallback, &out);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("UPLOAD FAILED before it started"),
        "{stderr}"
    );
    let kept = summary_of(&out)["kept_locally"]
        .as_str()
        .expect("kept")
        .to_string();
    assert!(
        Path::new(&kept)
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("sealbag-")),
        "{kept}"
    );
}

#[test]
fn a_store_refusing_every_part_with_fallback_keeps_the_archive_locally() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let fallback = dir.path().join("fallback");
    std::fs::create_dir(&fallback).expect("mkdir");
    let (port, faults) = proxy(moto.port, Fault::RefuseParts(b"partNumber="));
    let out = upload_with(
        dir.path(),
        &format!("http://127.0.0.1:{port}"),
        "refused-kept.age",
        &["--fallback-output", &fallback.to_string_lossy()],
    );
    check_kept(dir.path(), &fallback, &out);
    assert!(faults.load(Ordering::SeqCst) >= 6, "every try refused");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("HTTP 500"), "{stderr}");
    assert!(
        fallback.join("refused-kept.age").exists(),
        "named after the object"
    );
    // The store holds nothing: the upload was aborted.
    assert_eq!(
        boto(
            moto.port,
            "print(len(s3.list_multipart_uploads(Bucket=b).get('Uploads', [])), s3.list_objects_v2(Bucket=b).get('KeyCount', 0))",
            &[]
        )
        .trim(),
        "0 0"
    );
}

#[test]
fn a_successful_upload_with_fallback_leaves_nothing_locally() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let fallback = dir.path().join("fallback");
    std::fs::create_dir(&fallback).expect("mkdir");
    let out = upload_with(
        dir.path(),
        &format!("http://127.0.0.1:{}", moto.port),
        "fine.age",
        &["--fallback-output", &fallback.to_string_lossy()],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("the local fallback copy was deleted"),
        "{stderr}"
    );
    let summary = summary_of(&out);
    assert_eq!(summary["uploaded"], true, "{summary}");
    assert!(summary.get("kept_locally").is_none(), "{summary}");
    assert_eq!(
        std::fs::read_dir(&fallback).expect("dir").count(),
        0,
        "nothing left in DIR"
    );
    read_back(moto.port, dir.path(), "fine.age", &summary);
}

#[test]
fn a_fallback_folder_on_the_collected_volume_is_refused_unless_allowed() {
    use std::os::unix::fs::MetadataExt;
    let fallback = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fallback-same-volume");
    let _ = std::fs::remove_dir_all(&fallback);
    std::fs::create_dir_all(&fallback).expect("mkdir");
    if std::fs::metadata(&fallback).expect("dir").dev() != std::fs::metadata("/").expect("/").dev()
    {
        eprintln!(
            "!!! SKIPPED: {} is not on the root file system; cannot show the refusal here",
            fallback.display()
        );
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI checkout must be on /"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = profile(dir.path(), &["/etc/hostname"]);
    let (_, public) = keygen_once(dir.path());
    let closed = free_port();
    let endpoint = format!("http://127.0.0.1:{closed}");
    // A live collection (no --root): `/` is the collected volume.
    let run = |more: &[&str]| {
        Command::new(linux_bin())
            .arg("collect")
            .args(["-r", &public, "-p"])
            .arg(&profile)
            .args(["--output", "s3://evidence/live.tar.zst.age"])
            .args(["--s3-endpoint", &endpoint, "--s3-region", "us-east-1"])
            .arg("--fallback-output")
            .arg(&fallback)
            .args(more)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("collect")
    };
    let out = run(&[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("onto the volume being collected")
            && stderr.contains("--allow-same-volume"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(&fallback).expect("dir").count(), 0);
    let out = run(&["--allow-same-volume"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let summary = summary_of(&out);
    let kept = Path::new(summary["kept_locally"].as_str().expect("kept")).to_path_buf();
    assert!(kept.starts_with(&fallback), "{summary}");
    assert_eq!(summary["sha256"].as_str(), Some(&*sha256_file(&kept)));
    let _ = std::fs::remove_dir_all(&fallback);
}

/// Keys of the bucket, in order, with their sizes.
pub(crate) fn listing(port: u16) -> Vec<(String, u64)> {
    boto(
        port,
        "for o in s3.list_objects_v2(Bucket=b).get('Contents', []): print(o['Key'], o['Size'])",
        &[],
    )
    .lines()
    .filter_map(|line| {
        let (key, size) = line.rsplit_once(' ')?;
        Some((key.to_string(), size.parse().ok()?))
    })
    .collect()
}

#[test]
fn split_with_s3_uploads_numbered_objects_and_an_index_that_verify_checks() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let out = upload_with(dir.path(), &endpoint, "split/set.age", &["--split", "6MiB"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary = summary_of(&out);
    assert_eq!(
        summary["split_index"].as_str(),
        Some("s3://evidence/split/set.age.index.json")
    );
    let objects = listing(moto.port);
    let parts: Vec<_> = objects
        .iter()
        .filter(|(key, _)| !key.ends_with(".index.json"))
        .collect();
    assert!(parts.len() >= 4, "{objects:?}");
    for (n, (key, size)) in parts.iter().enumerate() {
        assert_eq!(key, &format!("split/set.age.{n:03}"), "{objects:?}");
        assert!(*size <= 6 << 20, "{key}: {size}");
    }
    assert!(objects
        .iter()
        .any(|(key, _)| key == "split/set.age.index.json"));
    assert_eq!(objects.len(), parts.len() + 1, "{objects:?}");
    // Download the set: the parts in order are the archive the collector
    // hashed, byte for byte, and a local verify of the index agrees.
    let local = dir.path().join("down");
    std::fs::create_dir(&local).expect("mkdir");
    let mut whole = Vec::new();
    for (key, _) in &objects {
        let name = key.rsplit('/').next().expect("name");
        let path = local.join(name);
        boto(
            moto.port,
            "s3.download_file(b, argv[0], argv[1])",
            &[key, &path.to_string_lossy()],
        );
        if !name.ends_with(".index.json") {
            whole.extend(std::fs::read(&path).expect("part"));
        }
    }
    let joined = dir.path().join("joined.age");
    std::fs::write(&joined, &whole).expect("write");
    assert_eq!(summary["sha256"].as_str(), Some(&*sha256_file(&joined)));
    assert_eq!(summary["bytes"].as_u64(), Some(whole.len() as u64));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(local.join("set.age.index.json")).expect("index"))
            .expect("JSON");
    assert_eq!(index["sha256"], summary["sha256"]);
    assert_eq!(index["format"], "sealbag-split-1");
    let local_index = local.join("set.age.index.json");
    let out = verify(dir.path(), &local_index.to_string_lossy(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (identity, _) = keygen_once(dir.path());
    stock_extract(&joined, &identity, &dir.path().join("x"), &[]);
    assert_eq!(
        std::fs::read(dir.path().join("x/files/data/f3.bin")).expect("f3"),
        noise(5 << 20, 10)
    );

    // The remote set, verified in the store.
    let s3 = ["--s3-endpoint", &endpoint, "--s3-region", "us-east-1"];
    let remote = "s3://evidence/split/set.age.index.json";
    let out = verify(dir.path(), remote, &s3);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("each as the index says"));

    // An altered part (same size) is named.
    let altered = local.join("set.age.001");
    let mut bytes = std::fs::read(&altered).expect("part");
    bytes[1000] ^= 0x55;
    std::fs::write(&altered, &bytes).expect("write");
    boto(
        moto.port,
        "s3.upload_file(argv[1], b, argv[0])",
        &["split/set.age.001", &altered.to_string_lossy()],
    );
    let out = verify(dir.path(), remote, &s3);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("part set.age.001: altered"), "{stderr}");

    // A deleted part is named.
    boto(
        moto.port,
        "s3.delete_object(Bucket=b, Key=argv[0])",
        &["split/set.age.002"],
    );
    let out = verify(dir.path(), remote, &s3);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("part set.age.002: missing"), "{stderr}");
}

#[test]
fn split_is_refused_with_a_ticket_or_a_url_saying_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_collector(
        dir.path(),
        &[
            "--output",
            "https://example.invalid/b/k?X-Amz-Signature=x",
            "--split",
            "1MiB",
        ],
        false,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the URL names one object") && stderr.contains("hint:"),
        "{stderr}"
    );
}

#[test]
fn verify_through_a_connection_cut_mid_object_resumes_with_a_range() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = upload(
        dir.path(),
        &format!("http://127.0.0.1:{}", moto.port),
        "resume.age",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (port, faults) = proxy(
        moto.port,
        Fault::DropResponseOnce(b"GET /evidence/resume.age"),
    );
    let out = verify(
        dir.path(),
        "s3://evidence/resume.age",
        &[
            "--s3-endpoint",
            &format!("http://127.0.0.1:{port}"),
            "--s3-region",
            "us-east-1",
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(faults.load(Ordering::SeqCst), 1, "the proxy cut the answer");
    assert!(stderr.contains("resuming from byte"), "{stderr}");
}

#[test]
fn an_expired_ticket_with_fallback_keeps_the_archive_locally() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let fallback = dir.path().join("fallback");
    std::fs::create_dir(&fallback).expect("mkdir");
    let path = ticket(moto.port, dir.path(), "late-kept.age", "1s");
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
    check_kept(dir.path(), &fallback, &out);
    assert!(text(&out.stderr).contains("expired"));
}

#[test]
fn split_with_fallback_keeps_a_split_set_locally_that_verify_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fallback = dir.path().join("fallback");
    std::fs::create_dir(&fallback).expect("mkdir");
    let closed = free_port();
    let out = upload_with(
        dir.path(),
        &format!("http://127.0.0.1:{closed}"),
        "split/kept.age",
        &[
            "--split",
            "6MiB",
            "--fallback-output",
            &fallback.to_string_lossy(),
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let summary = summary_of(&out);
    let index = Path::new(summary["kept_locally"].as_str().expect("kept")).to_path_buf();
    assert!(
        index.to_string_lossy().ends_with(".index.json"),
        "{summary}"
    );
    let parts = std::fs::read_dir(&fallback)
        .expect("dir")
        .filter(|e| {
            !e.as_ref()
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .ends_with(".json")
        })
        .count();
    assert!(parts >= 4, "{parts} parts");
    let out = verify(dir.path(), &index.to_string_lossy(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn fallback_refuses_to_keep_plaintext_and_a_malformed_url_before_collecting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fallback = dir.path().join("fallback");
    std::fs::create_dir(&fallback).expect("mkdir");
    let dir_arg = fallback.to_string_lossy().into_owned();
    let out = run_collector(
        dir.path(),
        &[
            "--no-encrypt",
            "--output",
            "s3://evidence/plain.tar.zst",
            "--fallback-output",
            &dir_arg,
        ],
        true,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unencrypted"), "{stderr}");
    let out = run_collector(
        dir.path(),
        &["--output", "s3://evidence", "--fallback-output", &dir_arg],
        true,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("a key is needed"), "{stderr}");
    assert_eq!(std::fs::read_dir(&fallback).expect("dir").count(), 0);
}

#[test]
fn a_split_upload_refused_by_the_store_is_aborted_with_exit_2() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // Part objects are refused from the second one on: the first is
    // completed, then deleted when the set fails.
    let (port, faults) = proxy(moto.port, Fault::RefuseParts(b"set.age.001?"));
    let out = upload_with(
        dir.path(),
        &format!("http://127.0.0.1:{port}"),
        "refused/set.age",
        &["--split", "6MiB"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(faults.load(Ordering::SeqCst) >= 6, "every try refused");
    assert!(
        stderr.contains("the parts already completed were deleted"),
        "{stderr}"
    );
    assert_eq!(
        boto(
            moto.port,
            "print(len(s3.list_multipart_uploads(Bucket=b).get('Uploads', [])), s3.list_objects_v2(Bucket=b).get('KeyCount', 0))",
            &[]
        )
        .trim(),
        "0 0"
    );
}
