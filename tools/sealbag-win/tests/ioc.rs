//! Hunting on an NTFS image: `sealbag-win collect --image` with an indicator
//! list and a sweep over the committed fixture (tests/fixtures/make-ntfs.sh).
//! Hashes in the list are made by coreutils' `sha256sum`; names match
//! case-insensitively, as NTFS does.

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
fn image_sweep_collects_the_listed_files_only() {
    if !have("zstd", "-V") || !have("sha256sum", "--version") || !have("tar", "--version") {
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
    // make-ntfs.sh wrote `entry 7\n` into many/file7.txt.
    std::fs::write(d.join("file7.txt"), b"entry 7\n").expect("write");
    let out = Command::new("sha256sum")
        .arg("file7.txt")
        .current_dir(d)
        .output()
        .expect("sha256sum");
    let mut list = String::from_utf8(out.stdout).expect("utf8");
    list.insert_str(0, "# from the ticket\n");
    std::fs::write(d.join("hashes.txt"), list).expect("write list");
    std::fs::write(
        d.join("names.csv"),
        "name,label\nSETUP.EXE,fake installer\n",
    )
    .expect("csv");
    std::fs::write(
        d.join("p.toml"),
        "name = \"p\"\n[[target]]\nname = \"hosts\"\npaths = [\"/Windows/System32/drivers/etc/hosts\"]\n",
    )
    .expect("profile");
    let archive = d.join("out.tar.zst");
    let out = Command::new(env!("CARGO_BIN_EXE_sealbag-win"))
        .args(["collect", "--no-encrypt", "--image"])
        .arg(&image)
        .arg("-p")
        .arg(d.join("p.toml"))
        .arg("--ioc")
        .arg(d.join("hashes.txt"))
        .arg("--ioc")
        .arg(d.join("names.csv"))
        .args(["--sweep", "/many", "/Users"])
        .arg("-o")
        .arg(&archive)
        .output()
        .expect("run sealbag-win");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(", 2 IOC hits"), "{stderr}");
    std::fs::create_dir(d.join("x")).expect("mkdir");
    let shell = format!(
        "zstd -d -q < '{}' | tar -x -C '{}'",
        archive.display(),
        d.join("x").display()
    );
    assert!(Command::new("sh")
        .arg("-c")
        .arg(&shell)
        .status()
        .expect("sh")
        .success());
    let root = d.join("x/files/fixture1");
    let mut stored = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let entry = entry.expect("entry");
            if entry.file_type().expect("type").is_dir() {
                stack.push(entry.path());
            } else {
                let path = entry.path();
                stored.push(
                    path.strip_prefix(&root)
                        .expect("prefix")
                        .display()
                        .to_string(),
                );
            }
        }
    }
    stored.sort();
    assert_eq!(
        stored,
        [
            "Users/alice/Downloads/setup.exe",
            "Windows/System32/drivers/etc/hosts",
            "many/file7.txt"
        ]
    );
    assert_eq!(
        std::fs::read(root.join("many/file7.txt")).expect("file7"),
        b"entry 7\n"
    );
    assert_eq!(
        std::fs::read(root.join("Users/alice/Downloads/setup.exe")).expect("setup"),
        b"MZ fake installer\n"
    );
    let hits = std::fs::read_to_string(d.join("x/sealbag/hits.jsonl")).expect("hits");
    let hits: Vec<serde_json::Value> = hits
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(hits.len(), 2);
    let setup = hits
        .iter()
        .find(|h| h["indicator"]["kind"] == "name")
        .expect("name hit");
    assert_eq!(setup["path"], "/Users/alice/Downloads/setup.exe");
    assert_eq!(setup["indicator"]["value"], "SETUP.EXE");
    assert_eq!(
        setup["archive_path"],
        "files/fixture1/Users/alice/Downloads/setup.exe"
    );
    let file7 = hits
        .iter()
        .find(|h| h["indicator"]["kind"] == "sha256")
        .expect("hash hit");
    assert_eq!(file7["path"], "/many/file7.txt");
    assert_eq!(file7["indicator"]["label"], "file7.txt");
}
