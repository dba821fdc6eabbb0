//! `--output s3://…` against a real S3-compatible server started here on
//! 127.0.0.1 (moto's `moto_server`): a multipart upload of more than three
//! parts read back with boto3 and verified byte for byte; a connection
//! dropped mid-part and the retry that recovers; a store that refuses every
//! part, and the upload aborted with exit code 2.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;

pub(crate) const BUCKET: &str = "evidence";
/// S3's (and moto's) smallest part but the last.
pub(crate) const PART: &str = "5MiB";

pub(crate) struct Moto {
    child: Child,
    pub(crate) port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Starts moto_server, or skips loudly (fails under CI=true) when absent.
pub(crate) fn moto() -> Option<Moto> {
    let found = Command::new("sh")
        .arg("-c")
        .arg("command -v moto_server && python3 -c 'import boto3'")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "moto_server or boto3 missing under CI: `pip install 'moto[server]'` (see .ci/run)"
        );
        eprintln!("!!! SKIPPED: moto_server (PyPI `moto[server]`) or boto3 is not installed; the S3 upload tests did not run");
        return None;
    }
    let port = free_port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    boto(port, "s3.create_bucket(Bucket=b)", &[]);
    Some(moto)
}

/// Runs a boto3 snippet against moto (`s3` and `b` are bound); returns stdout.
pub(crate) fn boto(port: u16, code: &str, args: &[&str]) -> String {
    let script = format!(
        "import sys, boto3\ns3 = boto3.client('s3', endpoint_url='http://127.0.0.1:{port}', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\nb = '{BUCKET}'\nargv = sys.argv[1:]\n{code}\n"
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3");
    assert!(out.status.success(), "boto3: {}", text(&out.stderr));
    text(&out.stdout)
}

pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A ~20 MiB incompressible tree: more than three 5 MiB parts once sealed.
pub(crate) fn tree(dir: &Path) -> (PathBuf, PathBuf) {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("data")).expect("mkdir");
    for i in 0..4u64 {
        std::fs::write(root.join(format!("data/f{i}.bin")), noise(5 << 20, i + 7)).expect("write");
    }
    let profile = profile(dir, &["/data"]);
    (root, profile)
}

pub(crate) fn upload(dir: &Path, endpoint: &str, key: &str) -> std::process::Output {
    upload_with(dir, endpoint, key, &[])
}

/// [`upload`] with more flags.
pub(crate) fn upload_with(
    dir: &Path,
    endpoint: &str,
    key: &str,
    more: &[&str],
) -> std::process::Output {
    let output = format!("s3://{BUCKET}/{key}");
    let mut args = vec![
        "--output",
        &output,
        "--s3-endpoint",
        endpoint,
        "--s3-region",
        "us-east-1",
        "--upload-part-size",
        PART,
        "--case",
        "IR-7",
    ];
    args.extend_from_slice(more);
    run_collector(dir, &args, true)
}

/// The collector on the ~20 MiB tree; `credentials`: the test's S3 keys in
/// the environment (none at all otherwise, as on a host given a ticket).
pub(crate) fn run_collector(dir: &Path, args: &[&str], credentials: bool) -> std::process::Output {
    let root = dir.join("root");
    let profile = if root.exists() {
        dir.join("test-profile.toml")
    } else {
        tree(dir).1
    };
    let (_, public) = keygen_once(dir);
    let mut command = Command::new(linux_bin());
    command
        .arg("collect")
        .arg("--root")
        .arg(&root)
        .arg("--profile")
        .arg(&profile)
        .args(["--recipient", &public])
        .args(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-such-file"))
        // Never reach for an instance metadata service from a test.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    if credentials {
        command
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing");
    }
    command.output().expect("run sealbag-linux")
}

/// `sealbag ticket` against moto, with the responder's (test) credentials.
pub(crate) fn ticket(port: u16, dir: &Path, key: &str, expires: &str) -> PathBuf {
    let path = dir.join(format!("ticket-{expires}.json"));
    let out = Command::new(sealbag_bin())
        .args([
            "ticket",
            "--bucket",
            BUCKET,
            "--key",
            key,
            "--expires",
            expires,
        ])
        .args(["--max-size", "100MiB", "--s3-region", "us-east-1"])
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

#[test]
fn a_ticket_uploads_without_credentials_once_and_then_is_refused() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = ticket(moto.port, dir.path(), "ticketed.age", "1h");
    let value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("ticket")).expect("JSON");
    assert_eq!(value["format"], "sealbag-ticket-1");
    // 100 MiB in 8 MiB parts.
    assert_eq!(value["parts"].as_array().map(Vec::len), Some(13));
    let args = ["--upload-ticket", path.to_str().expect("utf-8")];
    let out = run_collector(dir.path(), &args, false);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    read_back(moto.port, dir.path(), "ticketed.age", &summary_of(&out));

    // Used twice: the store no longer knows the upload.
    let out = run_collector(dir.path(), &args, false);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("NoSuchUpload"), "{stderr}");
    assert!(stderr.contains("the ticket was already used"), "{stderr}");
}

#[test]
fn an_expired_ticket_is_refused_before_collecting() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = ticket(moto.port, dir.path(), "late.age", "1s");
    std::thread::sleep(Duration::from_millis(2100));
    let out = run_collector(
        dir.path(),
        &["--upload-ticket", path.to_str().expect("utf-8")],
        false,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("expired"), "{stderr}");
    assert!(
        stderr.contains("ask the responder for a new ticket"),
        "{stderr}"
    );
}

pub(crate) fn keygen_once(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("key.txt");
    if key.exists() {
        let out = Command::new(sealbag_bin())
            .args(["keygen", "-y"])
            .arg(&key)
            .output()
            .expect("keygen -y");
        return (key, text(&out.stdout).trim().to_string());
    }
    keygen(dir)
}

/// Downloads the object with boto3, checks it against the collector's
/// summary, and verifies it with `sealbag verify` and stock age | zstd | tar.
pub(crate) fn read_back(port: u16, dir: &Path, key: &str, summary: &serde_json::Value) {
    let local = dir.join("downloaded.age");
    boto(
        port,
        "s3.download_file(b, argv[0], argv[1])",
        &[key, &local.to_string_lossy()],
    );
    assert_eq!(summary["sha256"].as_str(), Some(&*sha256_file(&local)));
    assert_eq!(
        summary["bytes"].as_u64(),
        Some(std::fs::metadata(&local).expect("stat").len())
    );
    let (identity, _) = keygen_once(dir);
    let out = Command::new(sealbag_bin())
        .arg("verify")
        .arg("-i")
        .arg(&identity)
        .arg(&local)
        .output()
        .expect("verify");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let extracted = dir.join("x");
    stock_extract(&local, &identity, &extracted, &[]);
    for i in 0..4u64 {
        assert_eq!(
            std::fs::read(extracted.join(format!("files/data/f{i}.bin"))).expect("read"),
            noise(5 << 20, i + 7),
            "f{i}.bin"
        );
    }
}

pub(crate) fn summary_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no summary ({e}): stdout {} stderr {}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

#[test]
fn multipart_upload_of_more_than_three_parts_reads_back_byte_for_byte() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let out = upload(dir.path(), &endpoint, "cases/{case}/{host}.tar.zst.age");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary = summary_of(&out);
    let output = summary["output"].as_str().expect("output");
    let key = output
        .strip_prefix(&format!("s3://{BUCKET}/"))
        .expect("s3 URL in the summary");
    assert!(key.starts_with("cases/IR-7/"), "{key}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("upload complete"), "{stderr}");
    let parts: u64 = stderr
        .split("parts=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("parts= in the log");
    assert!(parts > 3, "{parts} parts");
    read_back(moto.port, dir.path(), key, &summary);
    // `sealbag verify s3://…` streams the object through the verifier.
    let (identity, _) = keygen_once(dir.path());
    let out = Command::new(sealbag_bin())
        .args(["verify", "-i"])
        .arg(&identity)
        .arg(output)
        .args(["--s3-endpoint", &endpoint, "--s3-region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("sealbag verify s3://");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The store's own view: one object, no upload left open.
    assert_eq!(
        boto(
            moto.port,
            "print(len(s3.list_multipart_uploads(Bucket=b).get('Uploads', [])))",
            &[]
        )
        .trim(),
        "0"
    );
}

/// What the proxy does to requests for parts.
#[derive(Clone, Copy)]
pub(crate) enum Fault {
    /// Cut the connection once, a megabyte into the request whose head
    /// holds this text (part 2's).
    DropOnce(&'static [u8]),
    /// Answer 500 to every request whose head holds this text (the parts').
    RefuseParts(&'static [u8]),
    /// Cut the connection once, a megabyte into the answer to the request
    /// whose head holds this text (a GET's).
    DropResponseOnce(&'static [u8]),
}

/// A TCP proxy to `port` that injects `fault`; returns its port and a counter of faults.
pub(crate) fn proxy(port: u16, fault: Fault) -> (u16, Arc<AtomicU32>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let local = listener.local_addr().expect("addr").port();
    let faults = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&faults);
    std::thread::spawn(move || {
        for client in listener.incoming().take(1000) {
            let Ok(mut client) = client else { continue };
            let Ok(mut server) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            let faults = Arc::clone(&counter);
            let (Ok(mut client_back), Ok(mut server_in)) = (client.try_clone(), server.try_clone())
            else {
                continue;
            };
            let cut = Arc::new(AtomicBool::new(false));
            let cut_back = Arc::clone(&cut);
            let faults_back = Arc::clone(&counter);
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                let mut sent = 0usize;
                while let Ok(n) = server_in.read(&mut buf) {
                    if n == 0 || client_back.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    if cut_back.load(Ordering::SeqCst) {
                        sent += n;
                        if sent > 1 << 20 {
                            // Mid-answer: a megabyte of the object is through.
                            faults_back.fetch_add(1, Ordering::SeqCst);
                            let _ = server_in.shutdown(Shutdown::Both);
                            break;
                        }
                    }
                }
                let _ = client_back.shutdown(Shutdown::Both);
            });
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                let mut window: Vec<u8> = Vec::new();
                let mut cutting: Option<usize> = None;
                while let Ok(n) = client.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    window.extend_from_slice(&buf[..n]);
                    let seen = |needle: &[u8]| window.windows(needle.len()).any(|w| w == needle);
                    match fault {
                        Fault::RefuseParts(needle) if seen(needle) => {
                            faults.fetch_add(1, Ordering::SeqCst);
                            // Take the whole part, as a store would, then refuse it.
                            let _ = client.set_read_timeout(Some(Duration::from_millis(300)));
                            while let Ok(n) = client.read(&mut buf) {
                                if n == 0 {
                                    break;
                                }
                            }
                            let _ = client.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                            break;
                        }
                        Fault::DropResponseOnce(needle)
                            if faults.load(Ordering::SeqCst) == 0 && seen(needle) =>
                        {
                            cut.store(true, Ordering::SeqCst);
                        }
                        Fault::DropOnce(needle)
                            if cutting.is_none()
                                && faults.load(Ordering::SeqCst) == 0
                                && seen(needle) =>
                        {
                            cutting = Some(0);
                        }
                        _ => {}
                    }
                    if window.len() > 256 {
                        window.drain(..window.len() - 256);
                    }
                    if server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    if let Some(sent) = cutting.as_mut() {
                        *sent += n;
                        if *sent > 1 << 20 {
                            // Mid-part: a megabyte of the part is through.
                            faults.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                    }
                }
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
            });
        }
    });
    (local, faults)
}

#[test]
fn a_connection_dropped_mid_part_is_retried_and_the_upload_completes() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, faults) = proxy(moto.port, Fault::DropOnce(b"partNumber=2&"));
    let out = upload(
        dir.path(),
        &format!("http://127.0.0.1:{port}"),
        "dropped.age",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(faults.load(Ordering::SeqCst), 1, "the proxy cut one part");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("part 2") && stderr.contains("retrying"),
        "{stderr}"
    );
    read_back(moto.port, dir.path(), "dropped.age", &summary_of(&out));
}

#[test]
fn a_store_refusing_every_part_gets_the_upload_aborted_and_exit_2() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, faults) = proxy(moto.port, Fault::RefuseParts(b"partNumber="));
    let out = upload(
        dir.path(),
        &format!("http://127.0.0.1:{port}"),
        "refused.age",
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(faults.load(Ordering::SeqCst) >= 6, "every try refused");
    assert!(stderr.contains("HTTP 500"), "{stderr}");
    assert!(
        stderr.contains("the multipart upload was aborted: nothing is left in the bucket"),
        "{stderr}"
    );
    assert_eq!(
        boto(
            moto.port,
            "print(len(s3.list_multipart_uploads(Bucket=b).get('Uploads', [])))",
            &[]
        )
        .trim(),
        "0"
    );
    assert_eq!(
        boto(
            moto.port,
            "print(s3.list_objects_v2(Bucket=b).get('KeyCount', 0))",
            &[]
        )
        .trim(),
        "0"
    );
}

/// A URL that boto3 presigned for one PUT of `key` (SigV4, one hour).
fn presigned_put(port: u16, key: &str) -> String {
    let url = boto(
        port,
        "import botocore.client\nv4 = boto3.client('s3', endpoint_url=s3.meta.endpoint_url, region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing', config=botocore.client.Config(signature_version='s3v4'))\nprint(v4.generate_presigned_url('put_object', Params={'Bucket': b, 'Key': argv[0]}, ExpiresIn=3600))",
        &[key],
    );
    let url = url.trim().to_string();
    assert!(url.contains("X-Amz-Signature="), "{url}");
    url
}

#[test]
fn a_presigned_put_url_takes_the_whole_archive_in_one_put() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let url = presigned_put(moto.port, "put/whole.age");
    let out = run_collector(dir.path(), &["--output", &url], false);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("upload complete"), "{stderr}");
    assert!(stderr.contains("parts=1 "), "{stderr}");
    assert!(
        !stderr.contains("X-Amz-Signature"),
        "never printed: {stderr}"
    );
    let summary = summary_of(&out);
    assert_eq!(
        summary["output"].as_str(),
        Some(&*format!(
            "http://127.0.0.1:{}/{BUCKET}/put/whole.age",
            moto.port
        ))
    );
    read_back(moto.port, dir.path(), "put/whole.age", &summary);
}

#[test]
fn a_presigned_put_stops_the_collection_before_its_memory_cap_and_delivers_the_archive() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let url = presigned_put(moto.port, "put/capped.age");
    let args = [
        "--output",
        &url,
        "--upload-buffer",
        "12MiB",
        "--reserve",
        "4MiB",
        "--threads",
        "1",
    ];
    let out = run_collector(dir.path(), &args, false);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nears what a single PUT holds"), "{stderr}");
    let summary = summary_of(&out);
    assert_eq!(summary["complete"], false);
    let bytes = summary["bytes"].as_u64().expect("bytes");
    assert!(bytes <= 12 << 20 && bytes > 8 << 20, "{bytes}");
    let local = dir.path().join("capped.age");
    boto(
        moto.port,
        "s3.download_file(b, argv[0], argv[1])",
        &["put/capped.age", &local.to_string_lossy()],
    );
    assert_eq!(summary["sha256"].as_str(), Some(&*sha256_file(&local)));
    let (identity, _) = keygen_once(dir.path());
    let extracted = dir.path().join("x");
    stock_extract(&local, &identity, &extracted, &[]);
    assert_eq!(
        std::fs::read(extracted.join("files/data/f0.bin")).expect("f0"),
        noise(5 << 20, 7)
    );
    let collection: serde_json::Value = serde_json::from_slice(
        &std::fs::read(extracted.join("sealbag/collection.json")).expect("collection.json"),
    )
    .expect("JSON");
    assert_eq!(collection["complete"], false, "{collection}");
}
