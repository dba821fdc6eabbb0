//! The Windows profiles load, and the evtx hook runs through the engine.

use std::io::Read;

use sealbag_common::archive::ManifestRecord;
use sealbag_common::engine::{self, EngineOptions, Sink, SinkError, StoredEntry};
use sealbag_common::profile::{Profile, TargetOs};
use sealbag_common::FsSource;

#[derive(Default)]
struct Memory {
    members: Vec<(Vec<u8>, Vec<u8>)>,
    records: Vec<ManifestRecord>,
}

impl Sink for Memory {
    fn add_file(&mut self, entry: &StoredEntry<'_>, data: &mut dyn Read) -> Result<(), SinkError> {
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes)?;
        self.members.push((entry.archive_path.to_vec(), bytes));
        Ok(())
    }
    fn add_symlink(&mut self, _: &StoredEntry<'_>, _: &[u8]) -> Result<(), SinkError> {
        Ok(())
    }
    fn add_member(&mut self, name: &[u8], _: u64, data: &mut dyn Read) -> Result<(), SinkError> {
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes)?;
        self.members.push((name.to_vec(), bytes));
        Ok(())
    }
    fn add_record(&mut self, record: &ManifestRecord) -> Result<(), SinkError> {
        self.records.push(record.clone());
        Ok(())
    }
}

#[test]
fn windows_profiles_load() {
    for name in ["windows-minimal", "windows-triage"] {
        let profile = Profile::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(profile.os, TargetOs::Windows);
        assert!(profile
            .targets
            .iter()
            .any(|t| t.parse.as_deref() == Some("evtx")));
    }
    let triage = Profile::load("windows-triage").expect("triage");
    assert!(triage.targets.len() >= 15, "includes windows-minimal");
}

#[test]
fn evtx_target_is_parsed_into_the_archive() {
    let Some(corpus) = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/corpus/evtx"))
        .find(|d| d.is_dir())
    else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "evtx corpus missing"
        );
        eprintln!("SKIP: evtx corpus not found");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("Windows/System32/winevt/Logs");
    std::fs::create_dir_all(&logs).expect("mkdir");
    std::fs::copy(
        corpus.join("new-user-security.evtx"),
        logs.join("Security.evtx"),
    )
    .expect("copy");
    let profile = Profile::load("windows-minimal").expect("profile");
    let options = EngineOptions {
        hooks: sealbag_win::hooks(),
        ..EngineOptions::default()
    };
    let mut sink = Memory::default();
    engine::run(
        &profile,
        &FsSource::tree(dir.path()),
        &mut sink,
        &options,
        &(),
    )
    .expect("run");
    let (_, parsed) = sink
        .members
        .iter()
        .find(|(name, _)| name == b"parsed/Windows/System32/winevt/Logs/Security.evtx.jsonl")
        .expect("parsed member");
    // new-user-security.evtx: one chunk announcing records 1..=4.
    assert_eq!(
        parsed
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        4
    );
    let record = sink
        .records
        .iter()
        .find(|r| r.path == "/Windows/System32/winevt/Logs/Security.evtx")
        .expect("record");
    assert_eq!(record.extra["parsed"]["records"], 4);
    assert_eq!(record.extra["parsed"]["bad_records_or_chunks"], 0);
    assert_eq!(
        record.extra["parsed"]["first_timestamp"],
        "2013-10-23T16:22:39.973500000Z"
    );
}
