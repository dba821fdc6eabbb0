//! `sealbag-win collect --image IMG --recipient KEY` end to end with the
//! default profile, read back with stock `age`, `zstd` and `tar`.

use std::path::Path;
use std::process::{Command, Stdio};

fn have(tool: &str, arg: &str) -> bool {
    let found = Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} missing"
        );
        eprintln!("SKIP: {tool} not installed");
    }
    found
}

#[test]
fn collect_image_with_default_profile_and_open_with_age() {
    if !have("age", "--version") || !have("zstd", "-V") || !have("age-keygen", "--version") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let zst = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fixture1.raw.zst");
    let image = d.join("fixture1.raw");
    assert!(Command::new("zstd")
        .args(["-q", "-d"])
        .arg(&zst)
        .arg("-o")
        .arg(&image)
        .status()
        .expect("zstd")
        .success());
    let key = d.join("key.txt");
    assert!(Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .stderr(Stdio::null())
        .status()
        .expect("age-keygen")
        .success());
    let text = std::fs::read_to_string(&key).expect("key");
    let public = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("public key")
        .to_string();
    let archive = d.join("out.tar.zst.age");
    let status = Command::new(env!("CARGO_BIN_EXE_sealbag-win"))
        .args(["collect", "--image"])
        .arg(&image)
        .args(["--recipient", &public, "--output"])
        .arg(&archive)
        .status()
        .expect("run sealbag-win");
    assert_eq!(status.code(), Some(0), "complete collection");
    let shell = format!(
        "age -d -i '{}' '{}' | zstd -d | tar -x -C '{}'",
        key.display(),
        archive.display(),
        d.join("x").display()
    );
    std::fs::create_dir(d.join("x")).expect("mkdir");
    assert!(Command::new("sh")
        .arg("-c")
        .arg(&shell)
        .status()
        .expect("sh")
        .success());
    let root = d.join("x/files/fixture1");
    assert_eq!(
        std::fs::read(root.join("Windows/System32/drivers/etc/hosts")).expect("hosts"),
        b"127.0.0.1 localhost\n"
    );
    assert_eq!(
        std::fs::read(root.join("Users/alice/Downloads/setup.exe:Zone.Identifier")).expect("zone"),
        b"[ZoneTransfer]\r\nZoneId=3\r\nHostUrl=https://example.invalid/setup.exe\r\n"
    );
    let mft = std::fs::read(root.join("$MFT")).expect("$MFT");
    assert_eq!(&mft[..4], b"FILE");
    let manifest = std::fs::read_to_string(d.join("x/sealbag/manifest.jsonl")).expect("manifest");
    let hosts: serde_json::Value = manifest
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|v: &serde_json::Value| v["path"] == "/Windows/System32/drivers/etc/hosts")
        .expect("hosts record");
    assert_eq!(hosts["method"], "ntfs-raw");
    // `fls -r -p` on the committed fixture: `r/r 73-128-2: Windows/System32/drivers/etc/hosts`.
    assert_eq!(hosts["mft_record"], 73);
    assert_eq!(
        hosts["sha256"],
        "081ef9d5367595d16e30b4b4549d9f43537320508b4ce0788963e10e4f808857"
    );
    assert!(hosts.get("fn_mtime").is_some());
}

#[test]
fn live_collection_off_windows_is_a_clear_usage_error() {
    if cfg!(windows) {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_sealbag-win"))
        .args(["collect", "--no-encrypt", "--output", "/dev/null"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs Windows") && err.contains("--image"),
        "{err}"
    );
}
