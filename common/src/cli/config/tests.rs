use super::*;
use clap::Parser;

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    args: CollectArgs,
}

fn flags(list: &[&str]) -> CollectArgs {
    let mut argv = vec!["t"];
    argv.extend_from_slice(list);
    Flags::parse_from(argv).args
}

const TOOL: Tool = Tool {
    name: "sealbag-linux",
    version: "test",
    default_profile: "linux-triage",
};

/// A system root and a binary folder in a temp dir.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("root/etc/sealbag")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("bin")).expect("mkdir");
        Setup { dir }
    }
    fn system(&self) -> PathBuf {
        self.dir.path().join("root/etc/sealbag/sealbag.toml")
    }
    fn beside(&self) -> PathBuf {
        self.dir.path().join("bin/sealbag.toml")
    }
    fn resolve(&self, args: &CollectArgs) -> Result<Effective, ConfigError> {
        resolve_in(
            &TOOL,
            Platform::Linux,
            args,
            Some(&self.dir.path().join("root")),
            Some(&self.beside()),
        )
    }
    fn value(&self, effective: &Effective, key: &str) -> Option<(Value, Origin)> {
        entry(&effective.entries, key).and_then(|e| e.value.clone())
    }
}

#[test]
fn flags_over_system_over_beside_over_defaults() {
    let s = Setup::new();
    std::fs::write(
        s.beside(),
        "case = \"from-beside\"\nrecipients = [\"age1beside\"]\noperator = \"beside-op\"\nthreads = 2\n",
    )
    .expect("write");
    std::fs::write(s.system(), "\n\ncase = \"from-system\"\nthreads = 3\n").expect("write");
    let args = flags(&["--operator", "flag-op"]);
    let e = s.resolve(&args).expect("valid");
    assert_eq!(
        s.value(&e, "case"),
        Some((
            Value::Text("from-system".into()),
            Origin::File {
                path: s.system(),
                line: 3
            }
        ))
    );
    assert_eq!(
        s.value(&e, "recipients"),
        Some((
            Value::Texts(vec!["age1beside".into()]),
            Origin::File {
                path: s.beside(),
                line: 2
            }
        ))
    );
    assert_eq!(
        s.value(&e, "operator"),
        Some((Value::Text("flag-op".into()), Origin::Flag))
    );
    assert_eq!(
        s.value(&e, "threads"),
        Some((
            Value::Count(3),
            Origin::File {
                path: s.system(),
                line: 4
            }
        ))
    );
    assert_eq!(
        s.value(&e, "profile"),
        Some((Value::Text("linux-triage".into()), Origin::Default))
    );
    let mut applied = args.clone();
    e.apply(&mut applied);
    assert_eq!(applied.case_id.as_deref(), Some("from-system"));
    assert_eq!(applied.operator.as_deref(), Some("flag-op"));
    assert_eq!(applied.recipients, vec!["age1beside".to_string()]);
    assert_eq!(applied.threads, Some(3));
    assert_eq!(applied.profile, None, "the default stays the tool's own");
}

#[test]
fn every_key_parses_and_applies() {
    let s = Setup::new();
    std::fs::write(
        s.system(),
        r#"profile = "site.toml"
recipients = ["age1a", "age1b"]
recipients_files = ["team.txt", "/abs/keys.txt"]
output = "s3://bucket/{case}/{host}-{time}.tar.zst.age"
s3_endpoint = "https://minio.example:9000"
s3_region = "eu-west-1"
case = "IR-1"
operator = "soc"
max_file_size = "512MiB"
max_total = 1048576
time_limit = "30m"
rate_limit = 2.5
threads = 2
split = "2GiB"
low_priority = true
allow_same_volume = false
ioc = ["hashes.txt"]
sweep = ["/home", "/tmp"]
"#,
    )
    .expect("write");
    let e = s.resolve(&flags(&[])).expect("valid");
    let mut args = flags(&[]);
    e.apply(&mut args);
    let dir = s.dir.path().join("root/etc/sealbag");
    assert_eq!(
        args.profile,
        Some(dir.join("site.toml").to_string_lossy().into_owned())
    );
    assert_eq!(args.recipients, vec!["age1a", "age1b"]);
    assert_eq!(
        args.recipients_files,
        vec![dir.join("team.txt"), PathBuf::from("/abs/keys.txt")]
    );
    assert_eq!(
        args.output,
        Some(PathBuf::from(
            "s3://bucket/{case}/{host}-{time}.tar.zst.age"
        ))
    );
    assert_eq!(
        args.s3_endpoint.as_deref(),
        Some("https://minio.example:9000")
    );
    assert_eq!(args.s3_region.as_deref(), Some("eu-west-1"));
    assert_eq!(args.case_id.as_deref(), Some("IR-1"));
    assert_eq!(args.operator.as_deref(), Some("soc"));
    assert_eq!(args.max_file_size, Some(512 << 20));
    assert_eq!(args.max_total, Some(1 << 20));
    assert_eq!(args.time_limit, Some(Duration::from_secs(1800)));
    assert_eq!(args.rate_limit, Some(2_500_000));
    assert_eq!(args.threads, Some(2));
    assert_eq!(args.split, Some(2 << 30));
    assert!(args.low_priority);
    assert!(!args.allow_same_volume);
    assert_eq!(args.hunt.ioc, vec![dir.join("hashes.txt")]);
    assert_eq!(args.hunt.sweep, vec!["/home", "/tmp"]);
}

#[test]
fn unknown_key_names_file_line_and_the_keys() {
    let s = Setup::new();
    std::fs::write(s.system(), "case = \"x\"\n  recipient = \"age1\"\n").expect("write");
    let err = s.resolve(&flags(&[])).expect_err("unknown key");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2:3: unknown key `recipient`\nhint: the keys are: profile, recipients, recipients_files, output, upload_ticket, s3_endpoint, s3_region, fallback_output, case, operator, max_file_size, max_total, time_limit, rate_limit, threads, split, low_priority, allow_same_volume, ioc, sweep",
            s.system().display()
        )
    );
}

#[test]
fn wrong_type_names_the_value_and_an_example() {
    let s = Setup::new();
    std::fs::write(s.beside(), "threads = \"two\"\n").expect("write");
    let err = s.resolve(&flags(&[])).expect_err("wrong type");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:1:11: `threads` must be a whole number from 1 to 256, not a string\nhint: write it as --threads takes it, e.g. `threads = 2`",
            s.beside().display()
        )
    );
    std::fs::write(s.beside(), "max_total = \"20 parsecs\"\n").expect("write");
    let err = s.resolve(&flags(&[])).expect_err("bad size");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:1:13: `max_total`: unknown size unit `parsecs` in `20 parsecs`: use B, KiB, MiB, GiB, TiB (or KB, MB, GB, TB)\nhint: e.g. `\"512MiB\"`",
            s.beside().display()
        )
    );
}

#[test]
fn toml_syntax_error_has_line_and_column() {
    let s = Setup::new();
    std::fs::write(s.system(), "case = \"x\"\ncase = \"y\"\n").expect("write");
    let err = s.resolve(&flags(&[])).expect_err("duplicate key");
    assert!(
        err.place
            .starts_with(&format!("{}:2:", s.system().display())),
        "{err}"
    );
    assert!(err.message.contains("duplicate key"), "{err}");
}

#[test]
fn no_encrypt_is_refused_in_every_config() {
    let s = Setup::new();
    std::fs::write(s.beside(), "case = \"x\"\nno_encrypt = true\n").expect("write");
    let err = s.resolve(&flags(&[])).expect_err("refused");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2:1: `no_encrypt` is not accepted in a configuration\nhint: a configuration never turns encryption off; pass `--no-encrypt` on the command line, each time, for lab use",
            s.beside().display()
        )
    );
    // Even `false`: the key has no place in a configuration.
    std::fs::write(s.beside(), "no_encrypt = false\n").expect("write");
    assert!(s.resolve(&flags(&[])).is_err());
}

#[test]
fn output_and_ticket_are_one_choice() {
    let s = Setup::new();
    std::fs::write(s.beside(), "output = \"/evidence/out.age\"\n").expect("write");
    std::fs::write(s.system(), "upload_ticket = \"/etc/sealbag/ticket.json\"\n").expect("write");
    let e = s.resolve(&flags(&[])).expect("valid");
    let mut args = flags(&[]);
    e.apply(&mut args);
    assert_eq!(args.output, None, "the lower source's output is dropped");
    assert_eq!(
        args.upload_ticket,
        Some(PathBuf::from("/etc/sealbag/ticket.json"))
    );
    // A flag output beats a configured ticket.
    let mut args = flags(&["-o", "-"]);
    let e = s.resolve(&args).expect("valid");
    e.apply(&mut args);
    assert_eq!(args.output, Some(PathBuf::from("-")));
    assert_eq!(args.upload_ticket, None);
    // Both in one file: a contradiction.
    std::fs::write(
        s.system(),
        "output = \"-\"\nupload_ticket = \"/etc/sealbag/ticket.json\"\n",
    )
    .expect("write");
    let err = s.resolve(&flags(&[])).expect_err("both");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: sets both `output` and `upload_ticket`\nhint: keep one: the archive goes to one place",
            s.system().display()
        )
    );
}

#[test]
fn plist_layer_over_beside_with_tolerated_payload_keys() {
    let s = Setup::new();
    let prefs = s.dir.path().join("root/Library/Managed Preferences");
    std::fs::create_dir_all(&prefs).expect("mkdir");
    let plist = prefs.join("org.sealbag.sealbag.plist");
    // The reader is the mac tool's; here a stand-in that reads JSON.
    fn json(bytes: &[u8]) -> Result<serde_json::Value, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
    std::fs::write(
        &plist,
        r#"{"PayloadUUID": "x", "case": "mdm", "recipients": "age1one", "low_priority": true}"#,
    )
    .expect("write");
    std::fs::write(s.beside(), "case = \"beside\"\n").expect("write");
    let e = resolve_in(
        &TOOL,
        Platform::Macos(json),
        &flags(&[]),
        Some(&s.dir.path().join("root")),
        Some(&s.beside()),
    )
    .expect("valid");
    assert_eq!(
        s.value(&e, "case"),
        Some((Value::Text("mdm".into()), Origin::Plist(plist.clone())))
    );
    assert_eq!(
        s.value(&e, "recipients"),
        Some((
            Value::Texts(vec!["age1one".into()]),
            Origin::Plist(plist.clone())
        ))
    );
    std::fs::write(&plist, r#"{"recipients_files": ["keys.txt"]}"#).expect("write");
    let err = resolve_in(
        &TOOL,
        Platform::Macos(json),
        &flags(&[]),
        Some(&s.dir.path().join("root")),
        None,
    )
    .expect_err("relative path");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: key `recipients_files`: `recipients_files` = `keys.txt`: a relative path\nhint: give an absolute path",
            plist.display()
        )
    );
}

#[test]
fn show_renders_every_key_with_its_origin() {
    let s = Setup::new();
    std::fs::write(
        s.system(),
        "case = \"IR-7\"\nmax_total = \"20GiB\"\ntime_limit = \"1h 30m\"\nrate_limit = 20\n",
    )
    .expect("write");
    std::fs::write(s.beside(), "case = \"old\"\n").expect("write");
    let e = s.resolve(&flags(&["-r", "age1flag"])).expect("valid");
    let root = s.dir.path().join("root");
    let expected = format!(
        "# sealbag-linux: configuration of `collect`, highest precedence first:
#   command-line flags
#   {sys} (system)
#   {beside} (beside the binary)
#   embedded defaults
profile = \"linux-triage\"   # default
recipients = [\"age1flag\"]  # flag
# recipients_files (not set)
# output (not set)
# upload_ticket (not set)
# s3_endpoint (not set)
# s3_region (not set)
# fallback_output (not set)
case = \"IR-7\"              # {sys}:1; overrides {beside}:1
# operator (not set)
# max_file_size (not set)
max_total = \"20GiB\"        # {sys}:2
time_limit = \"1h 30m\"      # {sys}:3
rate_limit = 20.0          # {sys}:4
# threads (not set)
# split (not set)
# low_priority (not set)
# allow_same_volume (not set)
# ioc (not set)
# sweep (not set)
",
        sys = root.join("etc/sealbag/sealbag.toml").display(),
        beside = s.beside().display(),
    );
    assert_eq!(e.render(), expected);
    std::fs::remove_file(s.beside()).expect("rm");
    let e = s.resolve(&flags(&[])).expect("valid");
    assert!(
        e.render().contains(&format!(
            "#   {} (beside the binary; not present)\n",
            s.beside().display()
        )),
        "{}",
        e.render()
    );
}

#[test]
fn fallback_output_comes_from_a_file_relative_to_it_and_a_flag_wins() {
    let s = Setup::new();
    std::fs::write(
        s.beside(),
        "upload_ticket = \"ticket.json\"\nfallback_output = \"kept\"\n",
    )
    .expect("write");
    let e = s.resolve(&flags(&[])).expect("valid");
    let mut args = flags(&[]);
    e.apply(&mut args);
    let bin = s.dir.path().join("bin");
    assert_eq!(args.fallback_output, Some(bin.join("kept")));
    assert!(
        e.render().contains(&format!(
            "fallback_output = \"{}\"",
            bin.join("kept").display()
        )),
        "{}",
        e.render()
    );
    let mut args = flags(&["--fallback-output", "/mnt/usb"]);
    let e = s.resolve(&args).expect("valid");
    e.apply(&mut args);
    assert_eq!(args.fallback_output, Some(PathBuf::from("/mnt/usb")));
}
