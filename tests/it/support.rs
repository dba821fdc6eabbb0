//! Shared helpers: the binaries, keys, and reading archives with stock tools.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sha2::{Digest, Sha256};

/// The collector binary under test.
pub fn linux_bin() -> &'static str {
    env!("CARGO_BIN_EXE_e2e-sealbag-linux")
}

/// The responder's tool under test.
pub fn sealbag_bin() -> &'static str {
    env!("CARGO_BIN_EXE_e2e-sealbag")
}

/// Fails the test with a clear message if a stock tool is missing.
pub fn require_tool(name: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{name}` is not installed: run `bash tests/run.sh`, which installs tests/deps/*.apt"
    );
}

/// A fresh identity in `dir`; returns (identity file, public key).
pub fn keygen(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("key.txt");
    let out = Command::new(sealbag_bin())
        .args(["keygen", "-o"])
        .arg(&key)
        .output()
        .expect("run keygen");
    assert!(out.status.success(), "keygen: {}", text(&out.stderr));
    let public = text(&out.stdout).trim().to_string();
    assert!(public.starts_with("age1"), "public key: {public}");
    (key, public)
}

/// Lossy text of bytes.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the collector with `args`.
pub fn collect(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(linux_bin())
        .arg("collect")
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run sealbag-linux")
}

/// Decrypts with Debian's `age` and decompresses with `zstd`: the stock path.
pub fn stock_decrypt(archive: &Path, key: &Path, tar_out: &Path) {
    require_tool("age");
    require_tool("zstd");
    let status = Command::new("sh")
        .arg("-c")
        .arg("age -d -i \"$1\" \"$2\" | zstd -d -q > \"$3\"")
        .arg("sh")
        .arg(key)
        .arg(archive)
        .arg(tar_out)
        .status()
        .expect("age | zstd");
    assert!(status.success(), "age -d | zstd -d failed");
}

/// `age -d | zstd -d | tar -x MEMBERS` with no intermediate file.
pub fn stock_extract(archive: &Path, key: &Path, dir: &Path, members: &[&str]) {
    require_tool("age");
    require_tool("zstd");
    require_tool("tar");
    std::fs::create_dir_all(dir).expect("mkdir");
    let out = Command::new("bash")
        .arg("-c")
        .arg("set -o pipefail; k=$1; a=$2; d=$3; shift 3; age -d -i \"$k\" \"$a\" | zstd -d -q | tar -x -C \"$d\" \"$@\"")
        .arg("bash")
        .arg(key)
        .arg(archive)
        .arg(dir)
        .args(members)
        .output()
        .expect("age | zstd | tar");
    assert!(
        out.status.success(),
        "age | zstd | tar: {}",
        text(&out.stderr)
    );
}

/// Extracts a tar with GNU tar into `dir`.
pub fn gnu_tar_extract(tar_file: &Path, dir: &Path) {
    require_tool("tar");
    std::fs::create_dir_all(dir).expect("mkdir");
    let out = Command::new("tar")
        .arg("-xf")
        .arg(tar_file)
        .arg("-C")
        .arg(dir)
        .output()
        .expect("tar -x");
    assert!(out.status.success(), "GNU tar: {}", text(&out.stderr));
}

/// SHA-256 (hex) of a file, streamed.
pub fn sha256_file(path: &Path) -> String {
    let mut file = std::fs::File::open(path).expect("open");
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hex(&hasher.finalize())
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The manifest records, by `path`.
pub fn manifest(extracted: &Path) -> BTreeMap<String, serde_json::Value> {
    let text = std::fs::read_to_string(extracted.join("sealbag/manifest.jsonl")).expect("manifest");
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("manifest JSON"))
        .map(|v| {
            let path = v["path"].as_str().expect("path").to_string();
            (path, v)
        })
        .collect()
}

/// The custody record.
pub fn collection(extracted: &Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(extracted.join("sealbag/collection.json")).expect("collection");
    serde_json::from_str(&text).expect("collection JSON")
}

/// A profile file collecting `paths` as one target.
pub fn profile(dir: &Path, paths: &[&str]) -> PathBuf {
    let list: Vec<String> = paths.iter().map(|p| format!("{p:?}")).collect();
    let path = dir.join("test-profile.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"test\"\ndescription = \"e2e\"\n[[target]]\nname = \"all\"\npaths = [{}]\n",
            list.join(", ")
        ),
    )
    .expect("write profile");
    path
}

/// Runs the collector over the tree `root` with `profile`, sealed to
/// `public` into `archive`, plus `extra` flags.
pub fn collect_tree(
    root: &Path,
    profile: &Path,
    public: &str,
    archive: &Path,
    extra: &[&str],
) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "--root".as_ref(),
        root.as_os_str(),
        "-p".as_ref(),
        profile.as_os_str(),
        "-r".as_ref(),
        public.as_ref(),
        "-o".as_ref(),
        archive.as_os_str(),
    ];
    args.extend(extra.iter().map(|e| std::ffi::OsStr::new(*e)));
    collect(&args)
}
