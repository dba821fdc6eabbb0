//! The sweep: walk wider trees than the profile's targets, read each
//! regular file once to hash (and scan) it, and collect only the files that
//! hit, with their hits.
//!
//! The walk is the engine's own ([`walk`]): links are never followed, FIFOs
//! and devices never opened, `/proc`, `/sys` and `/dev` never entered by a
//! wildcard, and the stop signal (`--time-limit`, Ctrl-C) is obeyed between
//! files and between reads. Files the targets already collected were
//! already checked and are passed over. Files that do not hit leave no
//! manifest record: only counts in `sealbag/hunt.json`.

use std::io::Read;

use sha2::{Digest, Sha256};

use super::{walk, Run, SinkError, Tap, WalkEvent};
use crate::hunt::Hunt;
use crate::profile::Target;
use crate::source::{EntryKind, Metadata, SourcePath};

/// The target name of what the sweep collects, in the manifest.
pub const SWEEP_TARGET: &str = "sweep";

/// Read size of the sweep.
const CHUNK: usize = 256 * 1024;

#[derive(Default)]
struct Tally {
    files: u64,
    bytes: u64,
    too_large: u64,
    errors: u64,
}

impl Run<'_> {
    /// Sweeps the hunt's trees; see the module documentation.
    pub(super) fn sweep(&mut self, hunt: &Hunt, case_sensitive: bool) -> Result<(), SinkError> {
        if hunt.sweep_paths().is_empty() {
            return Ok(());
        }
        if !hunt.checks_files() {
            tracing::warn!("--sweep without --ioc or --yara: nothing to look for; sweep skipped");
            return Ok(());
        }
        let limit = match (hunt.sweep_max_file_size(), self.options.max_file_size) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let target = Target {
            name: SWEEP_TARGET.into(),
            description: "files of the sweep that hit an indicator or rule".into(),
            profile: String::new(),
            paths: hunt.sweep_paths().to_vec(),
            exclude: Vec::new(),
            max_file_size: None,
            parse: None,
            event_ids: Vec::new(),
            since: None,
        };
        let mut tally = Tally::default();
        let mut buffer = vec![0u8; CHUNK];
        let options = self.options;
        let source = self.source;
        'globs: for glob in hunt.sweep_paths() {
            for pattern in glob.alternatives() {
                if options.stop.is_set() {
                    break 'globs;
                }
                tracing::info!(path = %glob.as_str(), "sweeping");
                let mut failure = None;
                self.current = self.dedup.at(self.walked);
                self.walked += 1;
                walk(
                    source,
                    pattern,
                    case_sensitive,
                    &options.stop,
                    &mut |event| {
                        if failure.is_some() {
                            return;
                        }
                        let result = match event {
                            WalkEvent::Error(path, error) => {
                                tracing::debug!(path = %path, %error, "sweep cannot read");
                                tally.errors += 1;
                                Ok(())
                            }
                            WalkEvent::Match(path, metadata) => self.sweep_file(
                                hunt,
                                &target,
                                &path,
                                &metadata,
                                limit,
                                case_sensitive,
                                &mut tally,
                                &mut buffer,
                            ),
                        };
                        if let Err(e) = result {
                            failure = Some(e);
                            options.stop.request(super::StopReason::OutputFailed);
                        }
                    },
                );
                if let Some(e) = failure {
                    hunt.count_sweep(tally.files, tally.bytes, tally.too_large, tally.errors);
                    return Err(e);
                }
            }
        }
        hunt.count_sweep(tally.files, tally.bytes, tally.too_large, tally.errors);
        tracing::info!(
            files = tally.files,
            bytes = tally.bytes,
            too_large = tally.too_large,
            errors = tally.errors,
            "sweep done"
        );
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn sweep_file(
        &mut self,
        hunt: &Hunt,
        target: &Target,
        path: &SourcePath,
        metadata: &Metadata,
        limit: Option<u64>,
        case_sensitive: bool,
        tally: &mut Tally,
        buffer: &mut [u8],
    ) -> Result<(), SinkError> {
        if metadata.kind != EntryKind::File
            || (self.current.0 && self.seen.contains(path))
            || self.options.is_own_file(path)
        {
            return Ok(());
        }
        if limit.is_some_and(|limit| metadata.size > limit) {
            tally.too_large += 1;
            return Ok(());
        }
        let opened = match self.source.open(path, None) {
            Ok(opened) => opened,
            Err(error) => {
                tracing::debug!(path = %path, %error, "sweep cannot open");
                tally.errors += 1;
                return Ok(());
            }
        };
        let size = opened.metadata.size;
        let mut reader = opened.reader;
        let mut tap = hunt.tap(size);
        let mut hasher = Sha256::new();
        let mut read = 0u64;
        // Exactly the size listed at open, like a collection would store.
        while read < size {
            if self.options.stop.is_set() {
                return Ok(());
            }
            let want = usize::try_from(size - read)
                .unwrap_or(usize::MAX)
                .min(buffer.len());
            match reader.read(&mut buffer[..want]) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buffer[..n]);
                    tap.update(&buffer[..n]);
                    read += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    tracing::debug!(path = %path, %error, offset = read, "sweep read failed");
                    tally.errors += 1;
                    return Ok(());
                }
            }
        }
        drop(reader);
        tally.files += 1;
        tally.bytes += read;
        let sha256 = crate::profile::hex(&hasher.finalize());
        let mut checked = hunt.check(path, read, &sha256, tap, case_sensitive, SWEEP_TARGET);
        if checked.hits.is_empty() {
            return Ok(());
        }
        if read < size {
            for hit in &mut checked.hits {
                hit.note = Some(format!(
                    "shrank while swept: listed as {size} bytes, {read} read"
                ));
            }
        }
        if self.current.1 {
            self.seen.insert(path);
        }
        self.collect(target, path, metadata, case_sensitive, Some(checked))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::sync::Arc;

    use super::super::{run, EngineOptions, Sink, SinkError, StoredEntry};
    use crate::archive::ManifestRecord;
    use crate::glob::Glob;
    use crate::hunt::{Hunt, HuntConfig};
    use crate::profile::Profile;
    use crate::source::MemorySource;

    #[derive(Default)]
    struct Memory {
        files: Vec<(String, Vec<u8>)>,
        records: Vec<ManifestRecord>,
    }

    impl Sink for Memory {
        fn add_file(&mut self, e: &StoredEntry<'_>, data: &mut dyn Read) -> Result<(), SinkError> {
            let mut bytes = Vec::new();
            data.read_to_end(&mut bytes)?;
            self.files
                .push((String::from_utf8_lossy(e.archive_path).into_owned(), bytes));
            Ok(())
        }
        fn add_symlink(&mut self, _: &StoredEntry<'_>, _: &[u8]) -> Result<(), SinkError> {
            Ok(())
        }
        fn add_member(&mut self, _: &[u8], _: u64, _: &mut dyn Read) -> Result<(), SinkError> {
            Ok(())
        }
        fn add_record(&mut self, record: &ManifestRecord) -> Result<(), SinkError> {
            self.records.push(record.clone());
            Ok(())
        }
    }

    fn hunt(list: &str, sweep: &[&str]) -> Arc<Hunt> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("list.csv");
        std::fs::write(&path, list).expect("write");
        let config = HuntConfig {
            ioc_files: vec![path],
            sweep: sweep
                .iter()
                .map(|s| Glob::parse(s).expect("glob"))
                .collect(),
            ..HuntConfig::default()
        };
        Arc::new(Hunt::load(config).expect("load"))
    }

    #[test]
    fn names_fold_case_on_a_case_insensitive_source_and_only_hits_are_taken() {
        let mut source = MemorySource::new()
            .case_insensitive()
            .file(b"/Windows/System32/config/SAM", b"hive");
        for i in 0..2000 {
            source = source.file(
                format!("/Users/alice/AppData/f{i}.tmp").as_bytes(),
                format!("{i}").as_bytes(),
            );
        }
        let source = source
            .file(b"/Users/alice/AppData/Roaming/PSEXESVC.exe", b"psexec")
            .file(b"/Users/bob/psexesvc.EXE", b"psexec again")
            .file(b"/ProgramData/psexesvc.exe", b"outside the sweep");
        let profile = Profile::from_toml(
            "name = \"t\"\n[[target]]\nname = \"hives\"\npaths = [\"/Windows/System32/config/SAM\"]\n",
            "t.toml",
        )
        .expect("profile");
        let hunt = hunt(
            "filename,label\npsexesvc.exe,lateral movement\n",
            &["/Users"],
        );
        let options = EngineOptions {
            hunt: Some(hunt.clone()),
            ..EngineOptions::default()
        };
        let mut sink = Memory::default();
        let report = run(&profile, &source, &mut sink, &options, &()).expect("run");
        let stored: Vec<&str> = sink.files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            stored,
            [
                "files/Windows/System32/config/SAM",
                "files/Users/alice/AppData/Roaming/PSEXESVC.exe",
                "files/Users/bob/psexesvc.EXE"
            ]
        );
        assert_eq!(sink.records.len(), 3);
        assert_eq!(report.counts.hits, 2);
        let counts = hunt.counts();
        assert_eq!(counts.swept_files, 2002);
        assert_eq!(counts.hits, 2);
        let (hits, summary) = hunt.finish().expect("finish");
        let hits = String::from_utf8(hits).expect("utf8");
        assert_eq!(hits.lines().count(), 2);
        assert!(hits.contains("\"label\":\"lateral movement\""), "{hits}");
        assert!(
            hits.contains("\"archive_path\":\"files/Users/bob/psexesvc.EXE\""),
            "{hits}"
        );
        assert_eq!(summary.computed, ["sha256"]);
    }

    #[test]
    fn a_stopped_run_sweeps_nothing_more() {
        let mut source = MemorySource::new();
        for i in 0..100 {
            source = source.file(format!("/data/f{i}").as_bytes(), b"x");
        }
        let profile = Profile::from_toml("name = \"t\"\n", "t.toml").expect("profile");
        let hunt = hunt("filename\nf1\n", &["/data"]);
        let options = EngineOptions {
            hunt: Some(hunt.clone()),
            ..EngineOptions::default()
        };
        options.stop.request(super::super::StopReason::TimeLimit);
        let mut sink = Memory::default();
        let report = run(&profile, &source, &mut sink, &options, &()).expect("run");
        assert!(sink.files.is_empty());
        assert_eq!(hunt.counts().swept_files, 0);
        assert_eq!(report.stopped, Some(super::super::StopReason::TimeLimit));
    }
}
