//! Machine-wide configuration: `sealbag.toml` beside the binary and
//! `/etc/sealbag/sealbag.toml` (moved under `SEALBAG_CONFIG_ROOT`) under the
//! flags; the archive read back with stock age, zstd and tar says what the
//! configuration asked for; `config show` and the errors, exactly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::*;

/// A copy of the collector in `dir/bin/`, so a `sealbag.toml` can sit beside it.
fn installed(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir bin");
    let exe = bin.join("sealbag-linux");
    if std::fs::hard_link(linux_bin(), &exe).is_err() {
        std::fs::copy(linux_bin(), &exe).expect("copy the collector");
    }
    exe
}

fn run(exe: &Path, root: &Path, args: &[&std::ffi::OsStr]) -> Output {
    Command::new(exe)
        .args(args)
        .env("SEALBAG_CONFIG_ROOT", root)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run the installed collector")
}

struct Site {
    dir: tempfile::TempDir,
    exe: PathBuf,
    root: PathBuf,
}

impl Site {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let exe = installed(dir.path());
        let root = dir.path().join("sysroot");
        std::fs::create_dir_all(root.join("etc/sealbag")).expect("mkdir etc");
        Site { dir, exe, root }
    }
    fn beside(&self) -> PathBuf {
        self.dir.path().join("bin/sealbag.toml")
    }
    fn system(&self) -> PathBuf {
        self.root.join("etc/sealbag/sealbag.toml")
    }
}

#[test]
fn config_files_under_flags_seal_and_record() {
    let site = Site::new();
    let d = site.dir.path();
    let (key, public) = keygen(d);
    let tree = d.join("tree");
    std::fs::create_dir_all(tree.join("data")).expect("mkdir");
    std::fs::write(tree.join("data/evidence.txt"), b"configured\n").expect("write");
    profile(d, &["/data/*"]);
    let archive = d.join("out.tar.zst.age");
    // Beside the binary: the key, a relative profile path, a case the
    // system file overrides.
    std::fs::write(
        site.beside(),
        format!(
            "recipients = [\"{public}\"]\nprofile = \"../test-profile.toml\"\ncase = \"beside\"\n"
        ),
    )
    .expect("write");
    std::fs::write(
        site.system(),
        format!(
            "case = \"IR-CONF-1\"\noperator = \"mdm\"\noutput = {:?}\n",
            archive.to_str().expect("utf-8 temp path")
        ),
    )
    .expect("write");
    let out = run(
        &site.exe,
        &site.root,
        &[
            "collect".as_ref(),
            "--root".as_ref(),
            tree.as_os_str(),
            "--operator".as_ref(),
            "flag-op".as_ref(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let extracted = d.join("x");
    stock_extract(&archive, &key, &extracted, &[]);
    assert_eq!(
        std::fs::read(extracted.join("files/data/evidence.txt")).expect("collected file"),
        b"configured\n"
    );
    let custody = collection(&extracted);
    assert_eq!(custody["case_id"], "IR-CONF-1", "system file over beside");
    assert_eq!(custody["operator"], "flag-op", "flag over system file");
    assert_eq!(custody["profile"]["name"], "test");
    assert_eq!(custody["encryption"]["scheme"], "age-x25519");
    assert_eq!(
        custody["encryption"]["recipients"],
        serde_json::json!([public])
    );
    // The run's log, inside the archive, says where each value came from.
    let log = std::fs::read_to_string(extracted.join("sealbag/log.jsonl")).expect("log");
    let line = format!("{}:1", site.system().display());
    assert!(
        log.lines()
            .any(|l| l.contains("configuration: `case`") && l.contains(&line)),
        "log.jsonl lacks the configuration record:\n{log}"
    );
}

#[test]
fn config_show_prints_each_value_and_its_source() {
    let site = Site::new();
    std::fs::write(
        site.beside(),
        "recipients = [\"age1beside\"]\ncase = \"beside\"\n",
    )
    .expect("write");
    std::fs::write(
        site.system(),
        "# pushed by the fleet manager\ncase = \"IR-9\"\noutput = \"s3://evidence/{case}/{host}-{time}.tar.zst.age\"\nlow_priority = true\n",
    )
    .expect("write");
    let out = run(
        &site.exe,
        &site.root,
        &[
            "config".as_ref(),
            "show".as_ref(),
            "--case".as_ref(),
            "IR-flag".as_ref(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let expected = format!(
        "# sealbag-linux: configuration of `collect`, highest precedence first:
#   command-line flags
#   {sys} (system)
#   {beside} (beside the binary)
#   embedded defaults
profile = \"linux-triage\"                          # default
recipients = [\"age1beside\"]                       # {beside}:1
# recipients_files (not set)
output = \"s3://evidence/{{case}}/{{host}}-{{time}}.tar.zst.age\"  # {sys}:3
# upload_ticket (not set)
# s3_endpoint (not set)
# s3_region (not set)
# fallback_output (not set)
case = \"IR-flag\"                                  # flag; overrides {sys}:2; overrides {beside}:2
# operator (not set)
# max_file_size (not set)
# max_total (not set)
# time_limit (not set)
# rate_limit (not set)
# threads (not set)
# split (not set)
low_priority = true                               # {sys}:4
# allow_same_volume (not set)
# ioc (not set)
# sweep (not set)
",
        sys = site.system().display(),
        beside = site.beside().display(),
    );
    assert_eq!(text(&out.stdout), expected);
}

#[test]
fn bad_config_stops_before_anything_is_written() {
    let site = Site::new();
    let d = site.dir.path();
    let (_, public) = keygen(d);
    let tree = d.join("tree");
    std::fs::create_dir_all(&tree).expect("mkdir");
    let archive = d.join("never.tar.zst.age");
    let cases = [
        (
            "case = \"x\"\nrecipent = \"age1\"\n",
            format!(
                "error: {}:2:1: unknown key `recipent`\nhint: the keys are: profile, recipients, recipients_files, output, upload_ticket, s3_endpoint, s3_region, fallback_output, case, operator, max_file_size, max_total, time_limit, rate_limit, threads, split, low_priority, allow_same_volume, ioc, sweep\n",
                site.system().display()
            ),
        ),
        (
            "low_priority = \"yes\"\n",
            format!(
                "error: {}:1:16: `low_priority` must be true or false, not a string\nhint: write it as --low-priority takes it, e.g. `low_priority = true`\n",
                site.system().display()
            ),
        ),
        (
            "no_encrypt = true\n",
            format!(
                "error: {}:1:1: `no_encrypt` is not accepted in a configuration\nhint: a configuration never turns encryption off; pass `--no-encrypt` on the command line, each time, for lab use\n",
                site.system().display()
            ),
        ),
    ];
    for (config, expected) in cases {
        std::fs::write(site.system(), config).expect("write");
        let out = run(
            &site.exe,
            &site.root,
            &[
                "collect".as_ref(),
                "--root".as_ref(),
                tree.as_os_str(),
                "-r".as_ref(),
                public.as_ref(),
                "-o".as_ref(),
                archive.as_os_str(),
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{config}");
        assert_eq!(text(&out.stderr), expected, "{config}");
        assert!(!archive.exists(), "{config}: an archive was written");
    }
}
