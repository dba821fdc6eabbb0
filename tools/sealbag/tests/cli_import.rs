//! `sealbag profile import-kape|import-artifacts|check` driven as a program.

use std::path::Path;
use std::process::{Command, Output};

fn sealbag(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sealbag"))
        .args(args)
        .output()
        .expect("sealbag runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, content: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

#[test]
fn import_kape_writes_loadable_profiles_and_names_every_failure() {
    let input = tempfile::tempdir().expect("tempdir");
    let root = input.path();
    write(
        root,
        "Windows/Prefetch.tkape",
        "Description: Prefetch files\nTargets:\n    -\n        Name: Prefetch\n        Path: C:\\Windows\\prefetch\\\n        FileMask: '*.pf'\n",
    );
    write(
        root,
        "Compound/Triage.tkape",
        "Description: triage\nTargets:\n    -\n        Name: Prefetch\n        Path: Prefetch.tkape\n    -\n        Name: Loop\n        Path: LoopA.tkape\n",
    );
    write(
        root,
        "Compound/LoopA.tkape",
        "Targets:\n  - {Name: B, Path: LoopB.tkape}\n",
    );
    write(
        root,
        "Compound/LoopB.tkape",
        "Targets:\n  - {Name: A, Path: LoopA.tkape}\n",
    );
    write(root, "Windows/Broken.tkape", "Targets: [\n");
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().join("profiles");
    let dir_text = dir.display().to_string();
    let root_text = root.display().to_string();
    let run = sealbag(&["profile", "import-kape", &root_text, "--output", &dir_text]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "FAILED: LoopA (Compound/LoopA.tkape): include cycle: LoopA -> LoopB -> LoopA"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "FAILED: LoopB (Compound/LoopB.tkape): include cycle: LoopB -> LoopA -> LoopB"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "FAILED: Broken (Windows/Broken.tkape): not valid YAML: Windows/Broken.tkape:"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "note: Triage (triage): include of `LoopA.tkape` dropped: `LoopA` was not converted"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 converted (1 with notes), 3 failed, 5 in all"),
        "{stderr}"
    );
    let mut written: Vec<String> = text(&run.stdout).lines().map(str::to_string).collect();
    written.sort();
    assert_eq!(
        written,
        [
            format!("{dir_text}/prefetch.toml"),
            format!("{dir_text}/triage.toml")
        ]
    );
    let shown = sealbag(&["profile", "show", &format!("{dir_text}/triage.toml")]);
    assert_eq!(shown.status.code(), Some(0));
    assert!(text(&shown.stdout).contains("\"/Windows/prefetch/*.pf\""));

    // A second import into the same folder never overwrites.
    let again = sealbag(&["profile", "import-kape", &root_text, "--output", &dir_text]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already exists; profiles are never overwritten"));
}

#[test]
fn import_artifacts_counts_what_it_cannot_convert() {
    let input = tempfile::tempdir().expect("tempdir");
    write(
        input.path(),
        "x.yaml",
        "# two artifacts\nname: Hosts\ndoc: hosts file\nsources:\n- type: FILE\n  attributes:\n    paths: ['%%environ_systemroot%%\\System32\\drivers\\etc\\hosts']\n    separator: '\\'\nsupported_os: [Windows]\n---\nname: RunKeys\ndoc: run keys\nsources:\n- type: REGISTRY_KEY\n  attributes: {keys: ['HKEY_LOCAL_MACHINE\\Software\\Run']}\nsupported_os: [Windows]\n",
    );
    let out = tempfile::tempdir().expect("tempdir");
    let dir_text = out.path().join("p").display().to_string();
    let run = sealbag(&[
        "profile",
        "import-artifacts",
        &input.path().display().to_string(),
        "--output",
        &dir_text,
    ]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("FAILED: RunKeys (x.yaml:11): no FILE, PATH or ARTIFACT_GROUP source; not convertible: 1 REGISTRY_KEY"), "{stderr}");
    assert!(
        stderr.contains("sources sealbag does not collect as files: 1 REGISTRY_KEY"),
        "{stderr}"
    );
    let written = std::fs::read_to_string(format!("{dir_text}/hosts.toml")).expect("written");
    assert!(written.contains("os = \"windows\""), "{written}");
    assert!(
        written.contains("\"/Windows/System32/drivers/etc/hosts\""),
        "{written}"
    );
}

#[test]
fn check_warns_but_succeeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "p.toml",
        "name = \"p\"\nos = \"linux\"\n[[target]]\nname = \"a\"\npaths = [\"/Windows/System32/config/SAM\", \"/etc/passwd\"]\n[[target]]\nname = \"b\"\npaths = [\"/etc/passwd\"]\n",
    );
    let path = dir.path().join("p.toml").display().to_string();
    let run = sealbag(&["profile", "check", &path]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(warnings[0].ends_with("target `a`: `/Windows/System32/config/SAM` can never match on Linux: it names `windows`, a Windows folder"), "{stderr}");
    assert!(
        warnings[1].ends_with("`/etc/passwd` is in target `a` and again in target `b`"),
        "{stderr}"
    );
}
