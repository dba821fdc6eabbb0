//! End to end: a macOS-like tree collected with `sealbag-mac collect --root`,
//! opened with Debian's `age`, `zstd` and GNU `tar`, compared byte for byte.

use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

fn run(cmd: &mut Command) -> std::process::Output {
    let output = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        output.status.success() || output.status.code() == Some(1),
        "{cmd:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "`{tool}` missing under CI=true (tests/deps/macos.apt)"
        );
        eprintln!("SKIP: `{tool}` not installed; end-to-end test not run");
    }
    found
}

#[test]
fn collects_a_macos_tree_into_an_archive_stock_tools_open() {
    if !(have("age") && have("age-keygen") && have("zstd") && have("tar")) {
        return;
    }
    let Some(fixture) = crate::fixture::build() else {
        return;
    };
    let corpus = crate::corpus("macos").expect("corpus present (fixture built)");
    let work = tempfile::tempdir().expect("tempdir");
    let key = work.path().join("key.txt");
    run(Command::new("age-keygen").arg("-o").arg(&key));
    let key_text = std::fs::read_to_string(&key).expect("key");
    let recipient = key_text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("public key line")
        .to_string();
    let archive = work.path().join("mac.tar.zst.age");

    let clock = Instant::now();
    let output = run(Command::new(env!("CARGO_BIN_EXE_sealbag-mac"))
        .args([
            "collect",
            "--profile",
            "macos-triage",
            "-r",
            &recipient,
            "-o",
        ])
        .arg(&archive)
        .arg("--root")
        .arg(fixture.root()));
    eprintln!(
        "FIGURE: --root collection of the fixture took {:?}",
        clock.elapsed()
    );
    let summary: Value = serde_json::from_slice(&output.stdout).expect("summary JSON on stdout");
    assert_eq!(summary["complete"], true, "{summary}");

    let out = work.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let status = Command::new("sh")
        .arg("-c")
        .arg("age -d -i \"$1\" \"$2\" | zstd -dq | tar -x -C \"$3\"")
        .args(["sh"])
        .arg(&key)
        .arg(&archive)
        .arg(&out)
        .status()
        .expect("sh");
    assert!(status.success(), "age | zstd | tar failed");

    // Every corpus file of the tree is stored byte for byte (the profile
    // names them all), except the account plists, which must never be
    // (they hold password hashes).
    let tree = corpus.join("tree");
    let mut compared = 0;
    for file in crate::files_under(&tree) {
        let relative = file.strip_prefix(&tree).expect("under");
        let stored = out.join("files").join(relative);
        if relative.starts_with("private/var/db/dslocal/nodes/Default/users") {
            assert!(!stored.exists(), "{} collected raw", relative.display());
            continue;
        }
        assert_eq!(
            std::fs::read(&stored).unwrap_or_else(|e| panic!("{}: {e}", stored.display())),
            std::fs::read(&file).expect("corpus"),
            "{}",
            relative.display()
        );
        compared += 1;
    }
    assert_eq!(compared, 23, "corpus tree files compared");

    // The logarchive bundle: every tracev3, timesync and uuidtext file, read
    // through the bundle's links, is the corpus file byte for byte.
    let bundle = out.join("logarchive/system_logs.logarchive");
    let logs = corpus.join("unifiedlog");
    let mut in_bundle = 0;
    for (from, at) in [
        (
            "0000000000000030.tracev3",
            "Persist/0000000000000030.tracev3",
        ),
        (
            "0000000000000f85.tracev3",
            "Special/0000000000000f85.tracev3",
        ),
        (
            "timesync/0000000000000002.timesync",
            "timesync/0000000000000002.timesync",
        ),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .chain(
        crate::files_under(&logs.join("uuidtext"))
            .into_iter()
            .map(|f| {
                let r = f
                    .strip_prefix(logs.join("uuidtext"))
                    .expect("under")
                    .to_string_lossy()
                    .into_owned();
                (format!("uuidtext/{r}"), r)
            }),
    ) {
        let inside = bundle.join(&at);
        assert!(
            std::fs::symlink_metadata(&inside)
                .expect("in bundle")
                .file_type()
                .is_symlink(),
            "{at} is a link to the one stored copy"
        );
        assert_eq!(
            std::fs::read(&inside).unwrap_or_else(|e| panic!("{at}: {e}")),
            std::fs::read(logs.join(&from)).expect("corpus"),
            "{at}"
        );
        in_bundle += 1;
    }
    assert_eq!(in_bundle, 8);
    assert_eq!(
        std::fs::read_to_string(bundle.join("Info.plist")).expect("Info.plist"),
        sealbag_mac::logarchive::info_plist(5)
    );
    // And Python's plistlib reads it as the one key `log` needs.
    let read = Command::new("python3")
        .arg("-c")
        .arg(
            "import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], 'rb'))))",
        )
        .arg(bundle.join("Info.plist"))
        .output()
        .expect("python3");
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&read.stdout).expect("json"),
        serde_json::json!({"OSArchiveVersion": 5})
    );

    // Parsed plists are there, and equal what our parser gives for the stored file.
    let parsed: Value = serde_json::from_slice(
        &std::fs::read(out.join("parsed/Library/LaunchDaemons/com.foobar.test.plist.json"))
            .expect("parsed launch daemon"),
    )
    .expect("json");
    assert_eq!(parsed["Label"], "com.foobar.test");
    assert_eq!(parsed["StartCalendarInterval"][1]["Hour"], 13);

    // A damaged plist is stored raw, whole, and its parse error recorded.
    assert_eq!(
        std::fs::read(out.join("files/Library/LaunchAgents/truncated.plist")).expect("stored"),
        std::fs::read(corpus.join("malformed/truncated.plist")).expect("corpus")
    );
    assert!(!out
        .join("parsed/Library/LaunchAgents/truncated.plist.json")
        .exists());

    // Accounts: attributes yes, hashes no.
    let accounts = std::fs::read_to_string(out.join("live/accounts.jsonl")).expect("accounts");
    assert_eq!(accounts.lines().count(), 2);
    assert!(!accounts.contains("ShadowHashData\":["), "hash data leaked");
    assert!(
        !accounts.contains("KerberosKeys\":["),
        "kerberos keys leaked"
    );
    let user: Value = serde_json::from_str(
        accounts
            .lines()
            .find(|l| l.contains("user.plist"))
            .expect("user line"),
    )
    .expect("json");
    assert_eq!(user["record"]["realname"][0], "Joaquin Moreno");
    assert_eq!(user["shadow_hash_types"][0], "SALTED-SHA512-PBKDF2");
    assert!(user["record"].get("ShadowHashData").is_none());

    // The manifest: commands skipped (not the live system), the TCC.db hash.
    let manifest = std::fs::read_to_string(out.join("sealbag/manifest.jsonl")).expect("manifest");
    let records: Vec<Value> = manifest
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    let commands: Vec<&Value> = records
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("command:"))
        })
        .collect();
    assert_eq!(commands.len(), 6);
    assert!(commands.iter().all(|r| r["status"] == "skipped"));
    let tcc = records
        .iter()
        .find(|r| r["path"] == "/Library/Application Support/com.apple.TCC/TCC.db")
        .expect("tcc record");
    let damaged = records
        .iter()
        .find(|r| r["path"] == "/Library/LaunchAgents/truncated.plist")
        .expect("damaged plist record");
    assert_eq!(damaged["status"], "ok", "{damaged}");
    assert!(
        damaged["parsed_error"]
            .as_str()
            .is_some_and(|e| e.contains("not a valid property list")),
        "{damaged}"
    );
    let parsed_ok = records
        .iter()
        .find(|r| r["path"] == "/Library/LaunchDaemons/com.foobar.test.plist")
        .expect("daemon record");
    assert_eq!(parsed_ok["parsed"]["plist_format"], "text");
    assert_eq!(
        tcc["sha256"],
        "028e38156a1c2aaa3c50e1b0c0a6a3d2b5071d4e12b2e4b27b7659c9b1ff54f5"
    );
}

#[test]
fn refuses_a_non_apfs_image_and_a_missing_live_system_clearly() {
    let work = tempfile::tempdir().expect("tempdir");
    let image = work.path().join("disk.img");
    std::fs::write(&image, [0u8; 4096]).expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_sealbag-mac"))
        .args(["collect", "--no-encrypt", "--image"])
        .arg(&image)
        .args(["--volume", "data", "-o"])
        .arg(work.path().join("x.tar"))
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("neither an APFS container nor a partitioned disk"),
        "{stderr}"
    );
    assert!(!work.path().join("x.tar").exists(), "no output on refusal");

    if !cfg!(target_os = "macos") {
        let output = Command::new(env!("CARGO_BIN_EXE_sealbag-mac"))
            .args(["collect", "--no-encrypt", "-o"])
            .arg(work.path().join("y.tar"))
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("this is not a Mac"), "{stderr}");
        assert!(stderr.contains("--root"), "{stderr}");
    }
}
