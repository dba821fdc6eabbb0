//! Managed preferences: plists as a configuration profile leaves them in
//! `/Library/Managed Preferences/org.sealbag.sealbag.plist` (written here by
//! Python's `plistlib`, XML and binary, under `SEALBAG_CONFIG_ROOT`), read by
//! `sealbag-mac config show` and `collect`.

use std::path::Path;
use std::process::{Command, Output};

const EXE: &str = env!("CARGO_BIN_EXE_sealbag-mac");

/// Writes `payload` (a Python literal) with `plistlib` in `fmt` (`FMT_XML`, `FMT_BINARY`).
fn write_plist(path: &Path, payload: &str, fmt: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let script = format!(
        "import plistlib, sys\nwith open(sys.argv[1], 'wb') as f:\n    plistlib.dump({payload}, f, fmt=plistlib.{fmt})\n"
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3 (tests/deps: python3)");
    assert!(
        out.status.success(),
        "plistlib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sealbag_mac(root: &Path, args: &[&str]) -> Output {
    Command::new(EXE)
        .args(args)
        .env("SEALBAG_CONFIG_ROOT", root)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run sealbag-mac")
}

const PAYLOAD: &str = "{'PayloadUUID': 'A1B2', 'PayloadVersion': 1, 'case': 'IR-MDM-5', \
    'recipients': ['age1mdm'], 'output': '-', 'low_priority': True, 'max_total': 1073741824, \
    'rate_limit': 2.5}";

fn expected(plist: &Path, extra_case: &str) -> String {
    let beside = Path::new(EXE)
        .parent()
        .expect("bin dir")
        .join("sealbag.toml");
    format!(
        "# sealbag-mac: configuration of `collect`, highest precedence first:
#   command-line flags
#   {plist} (managed preferences)
#   {beside} (beside the binary; not present)
#   embedded defaults
profile = \"macos-triage\"  # default
recipients = [\"age1mdm\"]  # {plist}
# recipients_files (not set)
output = \"-\"              # {plist}
# upload_ticket (not set)
# s3_endpoint (not set)
# s3_region (not set)
# fallback_output (not set)
{extra_case}
# operator (not set)
# max_file_size (not set)
max_total = \"1GiB\"        # {plist}
# time_limit (not set)
rate_limit = 2.5          # {plist}
# threads (not set)
# split (not set)
low_priority = true       # {plist}
# allow_same_volume (not set)
# ioc (not set)
# sweep (not set)
",
        plist = plist.display(),
        beside = beside.display(),
    )
}

#[test]
fn managed_preferences_xml_and_binary_give_the_same_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let plist = root.join("Library/Managed Preferences/org.sealbag.sealbag.plist");
    for fmt in ["FMT_XML", "FMT_BINARY"] {
        write_plist(&plist, PAYLOAD, fmt);
        let out = sealbag_mac(root, &["config", "show"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{fmt}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected(
                &plist,
                &format!("case = \"IR-MDM-5\"         # {}", plist.display())
            ),
            "{fmt}"
        );
        // A flag wins over the managed value, which is still named.
        let out = sealbag_mac(root, &["config", "show", "--case", "IR-HAND"]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected(
                &plist,
                &format!(
                    "case = \"IR-HAND\"          # flag; overrides {}",
                    plist.display()
                )
            ),
            "{fmt}"
        );
    }
}

#[test]
fn bad_managed_preferences_stop_collect_with_the_key_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let tree = root.join("tree");
    std::fs::create_dir_all(&tree).expect("mkdir");
    let plist = root.join("Library/Managed Preferences/org.sealbag.sealbag.plist");
    let cases = [
        (
            "{'threads': 'four'}",
            format!(
                "error: {}: key `threads`: `threads` must be a whole number from 1 to 256, not a string\nhint: write it as --threads takes it, e.g. `threads = 2`\n",
                plist.display()
            ),
        ),
        (
            "{'no_encrypt': True, 'case': 'x'}",
            format!(
                "error: {}: key `no_encrypt`: `no_encrypt` is not accepted in a configuration\nhint: a configuration never turns encryption off; pass `--no-encrypt` on the command line, each time, for lab use\n",
                plist.display()
            ),
        ),
        (
            "['not', 'a', 'dictionary']",
            format!(
                "error: {}: the top level is an array, not a dictionary\nhint: the configuration profile's payload must be a dictionary of sealbag keys\n",
                plist.display()
            ),
        ),
    ];
    for (payload, message) in cases {
        write_plist(&plist, payload, "FMT_BINARY");
        let out = sealbag_mac(
            root,
            &[
                "collect",
                "--root",
                tree.to_str().expect("utf-8"),
                "-r",
                "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
                "-o",
                "-",
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{payload}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), message, "{payload}");
        assert!(out.stdout.is_empty(), "{payload}: bytes were written");
    }
}
