//! `--output 'https://…/CONTAINER/BLOB?<SAS>'` against Azurite, Microsoft's
//! Azure Storage emulator (npm `azurite`), started here on 127.0.0.1.
//!
//! The test makes its own SASs (HMAC-SHA256 over the service SAS
//! string-to-sign, with Azurite's well-known `devstoreaccount1` key): the
//! collector gets a container SAS with `c` and `w` only; the blob is read
//! back with a read SAS of its own and checked byte for byte with stock
//! `age | zstd | tar`, and its block list with the store's own view.
//!
//! Azurite is installed by this harness with `npm install --prefix
//! $CARGO_TARGET_TMPDIR/azurite azurite@3` the first time (Node.js and npm
//! installed by tests/run.sh when absent). Without npm or the registry the tests skip
//! loudly, and fail under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use hmac::{Hmac, Mac};

use crate::support::*;
use crate::upload::{free_port, keygen_once, noise, proxy, run_collector, summary_of, Fault};

const ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known account key (public: it is in Microsoft's docs).
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const CONTAINER: &str = "evidence";
const VERSION: &str = "2021-08-06";
/// Azurite takes any block size; 5 MiB blocks make the ~20 MiB archive four or five.
const BLOCK: &str = "5MiB";

struct Azurite {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `azurite-blob` under the target dir, installed with npm once per run.
fn installed() -> Option<&'static PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join("azurite");
        let bin = prefix.join("node_modules/.bin/azurite-blob");
        if bin.exists() {
            return Some(bin);
        }
        eprintln!(
            "installing azurite@3 with npm into {} (once)",
            prefix.display()
        );
        let installed = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&prefix)
            .arg("azurite@3")
            .stdin(Stdio::null())
            .output();
        match installed {
            Ok(out) if out.status.success() && bin.exists() => Some(bin),
            other => {
                let why = match other {
                    Ok(out) => text(&out.stderr),
                    Err(e) => format!("npm: {e}"),
                };
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "cannot install azurite under CI (`npm install azurite@3`; Node.js and npm: tests/run.sh installs them when absent): {why}"
                );
                eprintln!("!!! SKIPPED: azurite (npm) could not be installed: {why}; the Azure upload tests did not run");
                None
            }
        }
    })
    .as_ref()
}

/// Starts Azurite's blob service with an empty container, or skips loudly.
fn azurite() -> Option<Azurite> {
    let bin = installed()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let child = Command::new(bin)
        .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
        .args(["--silent", "--disableTelemetry", "--inMemoryPersistence"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start azurite-blob");
    let azurite = Azurite {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "azurite did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, body) = http(
        "PUT",
        &format!(
            "{}?restype=container&{}",
            azurite.url(CONTAINER),
            account_sas()
        ),
        None,
    );
    assert_eq!(status, 201, "create container: {body}");
    Some(azurite)
}

impl Azurite {
    /// The path-style URL of `path` (`CONTAINER[/BLOB]`), without a SAS.
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}/{path}", self.port)
    }
}

fn sign(string_to_sign: &str) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(KEY)
        .expect("key");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("hmac");
    mac.update(string_to_sign.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    sig.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

fn expiry(from_now: i64) -> String {
    let at = if from_now >= 0 {
        SystemTime::now() + Duration::from_secs(from_now as u64)
    } else {
        SystemTime::now() - Duration::from_secs(from_now.unsigned_abs())
    };
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A service SAS (version 2020-12-06 and later string-to-sign): `sr=c` for
/// the container, or `sr=b` for `blob`.
fn service_sas(permissions: &str, blob: Option<&str>, expires_in: i64) -> String {
    let se = expiry(expires_in);
    let (resource, sr) = match blob {
        Some(blob) => (format!("/blob/{ACCOUNT}/{CONTAINER}/{blob}"), "b"),
        None => (format!("/blob/{ACCOUNT}/{CONTAINER}"), "c"),
    };
    // sp, st, se, resource, si, sip, spr, sv, sr, snapshot time,
    // encryption scope, rscc, rscd, rsce, rscl, rsct.
    let to_sign = [
        permissions,
        "",
        &se,
        &resource,
        "",
        "",
        "",
        VERSION,
        sr,
        "",
        "",
        "",
        "",
        "",
        "",
        "",
    ]
    .join("\n");
    format!(
        "sv={VERSION}&sr={sr}&sp={permissions}&se={}&sig={}",
        se.replace(':', "%3A"),
        sign(&to_sign)
    )
}

/// An account SAS that may create the container.
fn account_sas() -> String {
    let se = expiry(3600);
    let to_sign = [
        ACCOUNT, "rwdlac", "b", "sco", "", &se, "", "", VERSION, "", "",
    ]
    .join("\n");
    format!(
        "sv={VERSION}&ss=b&srt=sco&sp=rwdlac&se={}&sig={}",
        se.replace(':', "%3A"),
        sign(&to_sign)
    )
}

/// One request with Python's urllib (an HTTP client independent of ours);
/// the body is saved to `save` when given. Returns the status and the body
/// (when not saved).
fn http(method: &str, url: &str, save: Option<&Path>) -> (u16, String) {
    let script = r#"
import sys, urllib.request, urllib.error
method, url, save = sys.argv[1], sys.argv[2], sys.argv[3]
req = urllib.request.Request(url, data=b"" if method == "PUT" else None, method=method,
                             headers={"x-ms-version": "2021-08-06"})
try:
    with urllib.request.urlopen(req) as r:
        status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
if save and status == 200:
    open(save, "wb").write(body)
    body = b""
sys.stdout.write("%d\n" % status)
sys.stdout.buffer.write(body)
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args([method, url])
        .arg(save.map(|p| p.as_os_str()).unwrap_or_default())
        .output()
        .expect("python3");
    assert!(out.status.success(), "urllib: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let (status, body) = stdout.split_once('\n').unwrap_or((&stdout, ""));
    (status.trim().parse().expect("status"), body.to_string())
}

/// The collector writing to `url` (a SAS URL) with 5 MiB blocks.
fn upload(dir: &Path, url: &str) -> std::process::Output {
    run_collector(
        dir,
        &[
            "--output",
            url,
            "--upload-part-size",
            BLOCK,
            "--case",
            "IR-9",
        ],
        false,
    )
}

/// The blob's name in the collector's summary (`…/evidence/NAME`).
fn blob_of(summary: &serde_json::Value) -> String {
    let output = summary["output"].as_str().expect("output");
    assert!(!output.contains('?'), "the SAS is never printed: {output}");
    output
        .split_once(&format!("/{CONTAINER}/"))
        .expect("container in the URL")
        .1
        .to_string()
}

/// Reads the blob back with a read SAS; checks it against the summary, the
/// committed block list, and stock `age | zstd | tar`. Returns the block count.
fn read_back(azurite: &Azurite, dir: &Path, blob: &str, summary: &serde_json::Value) -> usize {
    let read = service_sas("r", Some(blob), 3600);
    let local = dir.join("downloaded.age");
    let (status, body) = http(
        "GET",
        &format!("{}?{read}", azurite.url(&format!("{CONTAINER}/{blob}"))),
        Some(&local),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(summary["sha256"].as_str(), Some(&*sha256_file(&local)));
    assert_eq!(
        summary["bytes"].as_u64(),
        Some(std::fs::metadata(&local).expect("stat").len())
    );
    let (status, list) = http(
        "GET",
        &format!(
            "{}?comp=blocklist&blocklisttype=all&{read}",
            azurite.url(&format!("{CONTAINER}/{blob}"))
        ),
        None,
    );
    assert_eq!(status, 200, "{list}");
    assert!(
        list.contains("<UncommittedBlocks/>") || !list.contains("<UncommittedBlocks><Block>"),
        "{list}"
    );
    let names: Vec<&str> = list
        .split("<Name>")
        .skip(1)
        .filter_map(|s| s.split("</Name>").next())
        .collect();
    assert!(
        names.iter().all(|n| n.len() == 24),
        "ids of one length: {names:?}"
    );
    let (identity, _) = keygen_once(dir);
    // `sealbag verify` streams the blob through the same read SAS.
    let out = Command::new(sealbag_bin())
        .args(["verify", "-i"])
        .arg(&identity)
        .arg(format!(
            "{}?{read}",
            azurite.url(&format!("{CONTAINER}/{blob}"))
        ))
        .output()
        .expect("sealbag verify");
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(!said.contains("sig="), "{said}");
    let extracted = dir.join("x");
    stock_extract(&local, &identity, &extracted, &[]);
    for i in 0..4u64 {
        assert_eq!(
            std::fs::read(extracted.join(format!("files/data/f{i}.bin"))).expect("read"),
            noise(5 << 20, i + 7),
            "f{i}.bin"
        );
    }
    names.len()
}

fn blocks_in_log(stderr: &str) -> u64 {
    stderr
        .split("parts=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("parts= in the log")
}

#[test]
fn azure_block_upload_of_more_than_three_blocks_reads_back_byte_for_byte() {
    let Some(azurite) = azurite() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let sas = service_sas("cw", None, 3600);
    let url = format!("{}/{{case}}-{{host}}.age?{sas}", azurite.url(CONTAINER));
    let out = upload(dir.path(), &url);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("sig="),
        "the SAS stays out of the log: {stderr}"
    );
    let summary = summary_of(&out);
    let blob = blob_of(&summary);
    assert!(blob.starts_with("IR-9-"), "{blob}");
    let blocks = blocks_in_log(&stderr);
    assert!(blocks > 3, "{blocks} blocks");
    assert_eq!(
        read_back(&azurite, dir.path(), &blob, &summary) as u64,
        blocks
    );
}

#[test]
fn azure_block_dropped_mid_way_is_retried_and_the_blob_completes() {
    let Some(azurite) = azurite() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // Block 2's id, as the collector names it (base64 of `sealbag-0000000002`).
    static NEEDLE: OnceLock<Vec<u8>> = OnceLock::new();
    let needle = NEEDLE.get_or_init(|| {
        let id = base64::engine::general_purpose::STANDARD.encode("sealbag-0000000002");
        format!("blockid={}", id.replace('+', "%2B").replace('/', "%2F")).into_bytes()
    });
    let (port, faults) = proxy(azurite.port, Fault::DropOnce(needle));
    let sas = service_sas("cw", None, 3600);
    let url = format!("http://127.0.0.1:{port}/{ACCOUNT}/{CONTAINER}/dropped.age?{sas}");
    let out = upload(dir.path(), &url);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(faults.load(Ordering::SeqCst), 1, "the proxy cut one block");
    assert!(
        stderr.contains("part 2") && stderr.contains("retrying"),
        "{stderr}"
    );
    read_back(&azurite, dir.path(), "dropped.age", &summary_of(&out));
}

#[test]
fn azure_sas_without_write_is_refused_before_collecting() {
    let Some(azurite) = azurite() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let sas = service_sas("c", None, 3600);
    let url = format!("{}/nowrite.age?{sas}", azurite.url(CONTAINER));
    let out = upload(dir.path(), &url);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("without `w` (write)"), "{stderr}");
    assert!(stderr.contains("--permissions cw"), "{stderr}");
    assert!(!stderr.contains("sig="), "{stderr}");
    let read = service_sas("r", Some("nowrite.age"), 3600);
    let (status, _) = http(
        "GET",
        &format!("{}/nowrite.age?{read}", azurite.url(CONTAINER)),
        None,
    );
    assert_eq!(status, 404, "no blob");
}

#[test]
fn azure_sas_in_a_ticket_uploads_and_the_ticket_expires_with_the_sas() {
    let Some(azurite) = azurite() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let sas = service_sas("cw", None, 3600);
    // A container SAS lets the host name its blob: the template is filled in there.
    let url = format!("{}/{{case}}-ticketed.age?{sas}", azurite.url(CONTAINER));
    let ticket = dir.path().join("ticket.json");
    let out = Command::new(sealbag_bin())
        .args(["ticket", "--azure-sas", &url, "--output"])
        .arg(&ticket)
        .output()
        .expect("sealbag ticket");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ticket).expect("ticket")).expect("JSON");
    assert_eq!(value["format"], "sealbag-ticket-1");
    assert_eq!(value["kind"], "azure-sas");
    assert_eq!(value["url"].as_str(), Some(&*url));
    let se = sas
        .split('&')
        .find_map(|p| p.strip_prefix("se="))
        .expect("se")
        .replace("%3A", ":");
    let se_unix = humantime::parse_rfc3339(&se)
        .expect("se")
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    assert_eq!(value["expires_unix"].as_u64(), Some(se_unix));

    let args = [
        "--upload-ticket",
        ticket.to_str().expect("utf-8"),
        "--upload-part-size",
        BLOCK,
    ];
    let out = run_collector(dir.path(), &args, false);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("sig="), "{stderr}");
    let summary = summary_of(&out);
    assert_eq!(blob_of(&summary), "nocase-ticketed.age");
    read_back(&azurite, dir.path(), "nocase-ticketed.age", &summary);
}

#[test]
fn azure_expired_sas_gets_the_stores_403_with_its_code_and_a_likely_cause() {
    let Some(azurite) = azurite() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let sas = service_sas("cw", None, -3600);
    let url = format!("{}/late.age?{sas}", azurite.url(CONTAINER));
    let out = upload(dir.path(), &url);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the SAS expired at"), "{stderr}");
    assert!(stderr.contains("HTTP 403"), "{stderr}");
    assert!(
        stderr.contains("AuthorizationFailure: Server failed to authenticate"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: the SAS was refused: expired"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was committed"), "{stderr}");
    assert!(!stderr.contains("sig="), "{stderr}");
}

#[test]
fn azure_expired_sas_with_fallback_keeps_the_archive_locally_and_exits_3() {
    let Some(azurite) = azurite() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let fallback = dir.path().join("fallback");
    std::fs::create_dir(&fallback).expect("mkdir");
    let sas = service_sas("cw", None, -3600);
    let url = format!("{}/late-kept.age?{sas}", azurite.url(CONTAINER));
    let out = run_collector(
        dir.path(),
        &[
            "--output",
            &url,
            "--upload-part-size",
            BLOCK,
            "--fallback-output",
            &fallback.to_string_lossy(),
        ],
        false,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("HTTP 403"), "{stderr}");
    assert!(!stderr.contains("sig="), "{stderr}");
    let summary = summary_of(&out);
    let kept = fallback.join("late-kept.age");
    assert_eq!(
        summary["kept_locally"].as_str(),
        Some(&*kept.to_string_lossy())
    );
    assert_eq!(summary["sha256"].as_str(), Some(&*sha256_file(&kept)));
    let (identity, _) = keygen_once(dir.path());
    let extracted = dir.path().join("x");
    stock_extract(&kept, &identity, &extracted, &[]);
    for i in 0..4u64 {
        assert_eq!(
            std::fs::read(extracted.join(format!("files/data/f{i}.bin"))).expect("read"),
            noise(5 << 20, i + 7),
            "f{i}.bin"
        );
    }
}

#[test]
fn azure_upload_with_fallback_leaves_nothing_locally() {
    let Some(azurite) = azurite() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let fallback = dir.path().join("fallback");
    std::fs::create_dir(&fallback).expect("mkdir");
    let sas = service_sas("cw", None, 3600);
    let url = format!("{}/fine.age?{sas}", azurite.url(CONTAINER));
    let out = run_collector(
        dir.path(),
        &[
            "--output",
            &url,
            "--upload-part-size",
            BLOCK,
            "--fallback-output",
            &fallback.to_string_lossy(),
        ],
        false,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(std::fs::read_dir(&fallback).expect("dir").count(), 0);
    read_back(&azurite, dir.path(), "fine.age", &summary_of(&out));
}
