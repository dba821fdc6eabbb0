//! `[[live]] kind = "persistence"` over the corpus tree.

use sealbag_common::archive::ManifestRecord;
use sealbag_common::engine::{self, EngineOptions, Sink, SinkError, StoredEntry};
use sealbag_common::profile::Profile;
use sealbag_common::FsSource;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Read;

/// Keeps members and records in memory.
#[derive(Default)]
pub struct Memory {
    pub members: Vec<(String, Vec<u8>)>,
    pub records: Vec<ManifestRecord>,
}

impl Sink for Memory {
    fn add_file(&mut self, e: &StoredEntry<'_>, d: &mut dyn Read) -> Result<(), SinkError> {
        let mut bytes = Vec::new();
        d.read_to_end(&mut bytes)?;
        self.members
            .push((String::from_utf8_lossy(e.archive_path).into_owned(), bytes));
        Ok(())
    }
    fn add_symlink(&mut self, e: &StoredEntry<'_>, t: &[u8]) -> Result<(), SinkError> {
        let mut name = String::from("LINK:");
        name.push_str(&String::from_utf8_lossy(e.archive_path));
        self.members.push((name, t.to_vec()));
        Ok(())
    }
    fn add_member(&mut self, n: &[u8], _: u64, d: &mut dyn Read) -> Result<(), SinkError> {
        let mut bytes = Vec::new();
        d.read_to_end(&mut bytes)?;
        self.members
            .push((String::from_utf8_lossy(n).into_owned(), bytes));
        Ok(())
    }
    fn add_record(&mut self, r: &ManifestRecord) -> Result<(), SinkError> {
        self.records.push(r.clone());
        Ok(())
    }
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn summarises_every_persistence_item_of_the_corpus() {
    let Some(fixture) = crate::fixture::build() else {
        return;
    };
    let profile = Profile::from_toml("name = \"p\"\n[[live]]\nkind = \"persistence\"\n", "p.toml")
        .expect("profile");
    let options = EngineOptions {
        hooks: sealbag_mac::hooks(),
        ..EngineOptions::default()
    };
    let mut sink = Memory::default();
    engine::run(
        &profile,
        &FsSource::tree(fixture.root()),
        &mut sink,
        &options,
        &(),
    )
    .expect("run");
    let (_, jsonl) = sink
        .members
        .iter()
        .find(|(n, _)| n == "live/persistence.jsonl")
        .expect("member");
    let lines: Vec<Value> = jsonl
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("json line"))
        .collect();
    let by_path = |p: &str| -> Vec<&Value> { lines.iter().filter(|l| l["path"] == p).collect() };

    let agent = by_path("/Library/LaunchAgents/foo.plist");
    assert_eq!(agent.len(), 1);
    assert_eq!(agent[0]["kind"], "launch_agent");
    assert_eq!(agent[0]["label"], "foo");
    assert_eq!(
        agent[0]["sha256"],
        "fcb0f0140c4351463c5c0826154c9140bd10e8ed21d5f8039f49969851a617f3"
    );
    assert_eq!(agent[0]["program_path"], "/usr/bin/true");
    assert_eq!(
        agent[0]["program_sha256"],
        sha256(crate::fixture::TRUE_BYTES)
    );

    let user_agent = by_path("/Users/user/Library/LaunchAgents/foo.plist");
    assert_eq!(user_agent[0]["kind"], "user_launch_agent");
    assert_eq!(
        user_agent[0]["arguments"],
        serde_json::json!(["/usr/bin/true"])
    );
    assert_eq!(
        user_agent[0]["program_sha256"],
        sha256(crate::fixture::TRUE_BYTES)
    );

    let daemon = by_path("/Library/LaunchDaemons/com.foobar.test.plist");
    assert_eq!(daemon[0]["label"], "com.foobar.test");
    assert_eq!(daemon[0]["run_at_load"], true);
    assert_eq!(daemon[0]["keep_alive"], true);
    assert_eq!(daemon[0]["program"], "/Test");
    assert_eq!(
        daemon[0]["arguments"],
        serde_json::json!(["--flag", "arg1"])
    );
    assert_eq!(daemon[0]["program_error"], "/Test: not found");

    let login = by_path("/private/var/db/com.apple.xpc.launchd/loginitems.501.plist");
    let mut labels: Vec<&str> = login.iter().filter_map(|l| l["label"].as_str()).collect();
    // serde_json keeps the plist's order when another crate of the workspace
    // enables `preserve_order`, and sorts keys otherwise: compare as a set.
    labels.sort_unstable();
    assert_eq!(
        labels,
        ["com.csaba.fitzl.shield.ShieldHelper", "com.docker.helper"]
    );
    let docker = login
        .iter()
        .find(|l| l["label"] == "com.docker.helper")
        .expect("the docker login item");
    assert_eq!(docker["app"], "com.docker.docker");
    assert_eq!(docker["version"], "45519");

    let legacy = by_path("/Users/user/Library/Preferences/com.apple.loginitems.plist");
    assert_eq!(legacy[0]["names"], serde_json::json!(["iTunesHelper"]));
    assert!(legacy[0]["urls"]
        .as_array()
        .expect("urls")
        .contains(&Value::from(
            "file:///Applications/iTunes.app/Contents/MacOS/iTunesHelper.app/"
        )));

    let cron = by_path("/usr/lib/cron/tabs/root");
    assert_eq!(cron.len(), 1);
    assert_eq!(
        cron[0]["entry"],
        "*/5 * * * * /usr/local/bin/beacon --quiet"
    );
    assert_eq!(cron[0]["line"], 2);

    let linked = by_path("/Library/LaunchDaemons/linked.plist");
    assert_eq!(
        linked[0]["link_target"],
        "/Users/user/Library/LaunchAgents/foo.plist"
    );
    assert!(linked[0].get("label").is_none(), "a link is never followed");

    let count = |k: &str| lines.iter().filter(|l| l["kind"] == k).count();
    assert_eq!(count("background_items"), 2);
    assert_eq!(count("login_items_sfl"), 1);
    assert_eq!(count("startup_item"), 1);
    assert_eq!(count("emond_rule"), 1);
    assert_eq!(count("periodic"), 1);
    assert_eq!(lines.len(), 15, "{lines:#?}");
    let damaged = by_path("/Library/LaunchAgents/truncated.plist");
    assert!(
        damaged[0]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("plist: not a valid property list")),
        "{damaged:?}"
    );
    assert_eq!(
        damaged[0]["sha256"],
        "9646969651b013880d2b148bb0634df20543209b68cd0589a304943780f80276"
    );
    assert_eq!(
        lines.iter().filter(|l| l.get("error").is_some()).count(),
        1,
        "{lines:#?}"
    );

    let record = sink
        .records
        .iter()
        .find(|r| r.path == "live/persistence.jsonl")
        .expect("record");
    assert_eq!(record.sha256.as_deref(), Some(sha256(jsonl).as_str()));
    assert_eq!(record.extra["launch_agent"], 2);
}
