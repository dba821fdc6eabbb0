//! Bad input gets an error a person can act on: what, where, and what to do.

use std::process::Command;

use crate::support::*;

#[test]
fn bad_profile_names_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("bad.toml");
    std::fs::write(
        &profile,
        "name = \"bad\"\n[[target]]\nname = \"x\"\npaths = [\"/ok\", \"/a/{b\"]\n",
    )
    .expect("write");
    let out = collect(&["--dry-run".as_ref(), "-p".as_ref(), profile.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:4:17: bad glob `/a/{{b`", profile.display())),
        "{stderr}"
    );

    let out = Command::new(sealbag_bin())
        .args(["profile", "check"])
        .arg(&profile)
        .output()
        .expect("profile check");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(":4:17:"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bad_or_missing_key_says_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).expect("mkdir");
    let out = collect(&[
        "--root".as_ref(),
        root.as_os_str(),
        "-r".as_ref(),
        "age1notakey".as_ref(),
        "-o".as_ref(),
        dir.path().join("x.age").as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("invalid age recipient `age1notakey` (from --recipient)"),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
    assert!(
        !dir.path().join("x.age").exists(),
        "no archive on a bad key"
    );

    let out = collect(&[
        "--root".as_ref(),
        root.as_os_str(),
        "-o".as_ref(),
        dir.path().join("y.age").as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no recipient"),
        "{}",
        text(&out.stderr)
    );

    let (key, _) = keygen(dir.path());
    let out = Command::new(sealbag_bin())
        .args(["keygen", "-o"])
        .arg(&key)
        .output()
        .expect("keygen");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("never overwrites"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn never_overwrites_an_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, public) = keygen(dir.path());
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).expect("mkdir");
    let output = dir.path().join("exists.age");
    std::fs::write(&output, b"precious").expect("write");
    let out = collect(&[
        "--root".as_ref(),
        root.as_os_str(),
        "-r".as_ref(),
        public.as_ref(),
        "-o".as_ref(),
        output.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read(&output).expect("read"), b"precious");
}
