//! A file the OS refuses: the manifest and the summary say
//! `needs Full Disk Access` and point to the PPPC profile.
//!
//! macOS's TCC cannot be reproduced on Linux; a mode-000 file read by a
//! user that is not root is refused the same way (`EACCES`). As root the
//! test drops to `nobody` with util-linux's `setpriv`.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::Value;

fn uid() -> Option<u32> {
    let out = Command::new("id").arg("-u").output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

#[test]
fn a_refused_file_says_needs_full_disk_access() {
    let Some(uid) = uid() else {
        eprintln!("SKIP: `id` not found");
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("root");
    let tcc = root.join("Library/Application Support/com.apple.TCC");
    std::fs::create_dir_all(&tcc).expect("mkdir");
    std::fs::write(tcc.join("TCC.db"), b"secret").expect("write");
    std::fs::write(root.join("Library/readable.txt"), b"ok").expect("write");
    let profile = work.path().join("p.toml");
    std::fs::write(
        &profile,
        "name = \"fda\"\nos = \"macos\"\n[[target]]\nname = \"tcc\"\n\
         paths = [\"/Library/Application Support/com.apple.TCC/TCC.db\", \"/Library/readable.txt\"]\n",
    )
    .expect("profile");
    let out_dir = work.path().join("out");
    std::fs::create_dir(&out_dir).expect("mkdir");
    for dir in [
        work.path(),
        root.as_path(),
        &root.join("Library"),
        &root.join("Library/Application Support"),
        &tcc,
    ] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    std::fs::set_permissions(&out_dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::set_permissions(tcc.join("TCC.db"), std::fs::Permissions::from_mode(0o000))
        .expect("chmod");
    let archive = out_dir.join("fda.tar.zst");
    let mut command = if uid == 0 {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(env!("CARGO_BIN_EXE_sealbag-mac"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_sealbag-mac"))
    };
    let output = match command
        .args(["collect", "--no-encrypt", "--profile"])
        .arg(&profile)
        .arg("-o")
        .arg(&archive)
        .arg("--root")
        .arg(&root)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "setpriv: {e}");
            eprintln!("SKIP: cannot run as another user ({e})");
            return;
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if uid == 0 && stderr.contains("setpriv:") {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{stderr}");
        eprintln!("SKIP: setpriv refused: {stderr}");
        return;
    }
    assert_eq!(
        output.status.code(),
        Some(1),
        "finished with errors: {stderr}"
    );
    let summary: Value = serde_json::from_slice(&output.stdout).expect("summary");
    let warning = summary["warning"]
        .as_str()
        .expect("a warning in the summary");
    assert!(
        warning.starts_with("1 entries refused by the OS: needs Full Disk Access"),
        "{warning}"
    );
    assert!(
        warning.contains("packaging/macos/sealbag-pppc.mobileconfig"),
        "{warning}"
    );
    assert_eq!(summary["counts"]["permission_denied"], 1);
    assert!(
        stderr.contains("warning: 1 entries refused by the OS: needs Full Disk Access"),
        "{stderr}"
    );

    let list = Command::new("sh")
        .arg("-c")
        .arg("zstd -dq < \"$1\" | tar -xO sealbag/manifest.jsonl")
        .arg("sh")
        .arg(&archive)
        .output()
        .expect("zstd | tar");
    let manifest = String::from_utf8_lossy(&list.stdout);
    let record: Value = manifest
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|r| r["path"] == "/Library/Application Support/com.apple.TCC/TCC.db")
        .expect("record of the refused file");
    assert_eq!(record["status"], "error");
    assert_eq!(
        record["error"],
        "/Library/Application Support/com.apple.TCC/TCC.db: permission denied (needs Full Disk Access, or root)"
    );
}
