//! Hunting while collecting: indicator lists and YARA rules checked against
//! every file a run reads, in the same read, and the sweep of wider trees
//! that collects only the files that hit.
//!
//! The engine gives each file's bytes to a [`FileTap`] as it copies them
//! (MD5 and SHA-1 only when some indicator needs them; a buffer for YARA
//! when the file fits `--yara-max-size`), then asks [`Hunt::check`] for the
//! hits. Hits are kept (zstd-compressed) until the end of the run, then
//! written as `sealbag/hits.jsonl`, one JSON object per hit, and the lists,
//! rules and counts as `sealbag/hunt.json`.

mod yara;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use md5::Md5;
use sha1::{Digest, Sha1};

use crate::archive::text_and_b64;
use crate::engine::Tap;
use crate::glob::Glob;
use crate::ioc::{FileFacts, IndicatorSet, IocError, ListSummary};
use crate::SourcePath;

pub use yara::{RulesFile, RulesSummary, YaraMatch, YaraRules, YaraString, YARA_AVAILABLE};

/// Archive member with one JSON object per hit.
pub const HITS_MEMBER: &str = "sealbag/hits.jsonl";
/// Archive member describing the lists, rules and sweep of the run.
pub const HUNT_MEMBER: &str = "sealbag/hunt.json";
/// Default of `--yara-max-size`: larger files are hashed but not scanned.
pub const DEFAULT_YARA_MAX_SIZE: u64 = 64 << 20;
/// Default of `--yara-timeout`: the longest one file's scan may take.
pub const DEFAULT_YARA_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `[sweep] max_file_size`: a sweep reads every file of a tree, and
/// indicators rarely name disk images or databases.
pub const DEFAULT_SWEEP_MAX_FILE_SIZE: u64 = 512 << 20;
/// Offsets kept per YARA string in a hit.
#[cfg(feature = "yara")]
const MAX_OFFSETS: usize = 8;
/// Files listed by name in `sealbag/hunt.json` as not scanned with YARA
/// (the counts go on past it).
const MAX_NOT_SCANNED_LISTED: usize = 10_000;

/// Why hunting cannot start (the run does not either: exit 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HuntError {
    /// An indicator list is unreadable or malformed.
    #[error("bad indicator list: {0}")]
    Ioc(#[from] IocError),
    /// A YARA rules file is unreadable or does not compile.
    #[error("bad YARA rules: {path}: {message}")]
    Yara {
        /// The rules file or folder.
        path: String,
        /// The compiler's message.
        message: String,
    },
    /// `--yara` was given to a build without the `yara` feature.
    #[error("this build has no YARA support (built without the `yara` feature)\nhint: use a release built with `--features yara`, or hunt with `--ioc` hash and name lists")]
    NoYara,
    /// The in-memory hit log could not be started.
    #[error("cannot start the hit log: {0}")]
    HitLog(#[source] std::io::Error),
}

/// What to hunt for: the merged flags and profile, before loading.
#[derive(Debug, Clone)]
pub struct HuntConfig {
    /// Indicator lists (plain, CSV, STIX).
    pub ioc_files: Vec<PathBuf>,
    /// YARA rule files or folders of `.yar`/`.yara` files.
    pub yara: Vec<PathBuf>,
    /// Files larger than this are not scanned with YARA.
    pub yara_max_size: u64,
    /// Per-file YARA scan time limit.
    pub yara_timeout: Duration,
    /// Trees to sweep.
    pub sweep: Vec<Glob>,
    /// Files larger than this are not read by the sweep.
    pub sweep_max_file_size: Option<u64>,
}

impl Default for HuntConfig {
    fn default() -> Self {
        HuntConfig {
            ioc_files: Vec::new(),
            yara: Vec::new(),
            yara_max_size: DEFAULT_YARA_MAX_SIZE,
            yara_timeout: DEFAULT_YARA_TIMEOUT,
            sweep: Vec::new(),
            sweep_max_file_size: Some(DEFAULT_SWEEP_MAX_FILE_SIZE),
        }
    }
}

impl HuntConfig {
    /// Whether there is anything to hunt for or sweep.
    pub fn is_empty(&self) -> bool {
        self.ioc_files.is_empty() && self.yara.is_empty() && self.sweep.is_empty()
    }
}

/// Counts of the hunt, for `sealbag/hunt.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HuntCounts {
    /// Files checked against the indicators (collected or swept).
    pub files_checked: u64,
    /// Bytes of those files.
    pub bytes_checked: u64,
    /// Files scanned with YARA.
    pub yara_scanned: u64,
    /// Files not scanned with YARA: larger than `--yara-max-size` (each
    /// listed in `yara_not_scanned`, and in its manifest record's `yara`
    /// field when collected).
    pub yara_too_large: u64,
    /// YARA scans that failed or ran out of time (listed likewise).
    pub yara_failed: u64,
    /// Files the sweep read.
    pub swept_files: u64,
    /// Bytes the sweep read.
    pub swept_bytes: u64,
    /// Files the sweep left unread: larger than its size cap.
    pub swept_too_large: u64,
    /// Entries the sweep could not read (permission, damage).
    pub sweep_errors: u64,
    /// Hits recorded.
    pub hits: u64,
}

/// `sealbag/hunt.json`: what the run hunted with and what it found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HuntSummary {
    /// The indicator lists, with their SHA-256 and counts.
    pub ioc_lists: Vec<ListSummary>,
    /// The YARA rule files, when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yara: Option<RulesSummary>,
    /// `--yara-max-size`.
    pub yara_max_size: u64,
    /// `--yara-timeout`, in seconds.
    pub yara_timeout_secs: f64,
    /// Files YARA did not scan (too large, failed, out of time), the first
    /// 10 000 of them; `counts` has the totals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub yara_not_scanned: Vec<NotScanned>,
    /// Whether MD5 / SHA-1 were computed (some indicator needed them).
    pub computed: Vec<&'static str>,
    /// The sweep's paths.
    pub sweep: Vec<String>,
    /// The sweep's size cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep_max_file_size: Option<u64>,
    /// The counts.
    pub counts: HuntCounts,
}

/// A file YARA did not scan, in `sealbag/hunt.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotScanned {
    /// The path on the source.
    pub path: String,
    /// The exact path bytes, when `path` is not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_b64: Option<String>,
    /// Its size.
    pub size: u64,
    /// Why: over `--yara-max-size`, or the scan's error (`timeout`).
    pub reason: String,
}

/// What checking one file found: its hits, and whether YARA scanned it.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// The hits.
    pub hits: Vec<Hit>,
    /// Why YARA did not scan the file, when rules were loaded and it did
    /// not: the manifest record's `yara` field.
    pub yara_not_scanned: Option<String>,
}

/// The indicator, or rule, behind a hit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HitIndicator {
    /// `sha256`, `md5`, `sha1`, `name`, `stix` (a conjunction) or `yara`.
    pub kind: String,
    /// The hash or name; the STIX pattern; the YARA rule's name.
    pub value: String,
    /// What the list says it is; the rule's namespace for YARA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The list or rules file it came from.
    pub source: String,
    /// Its line in that file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The STIX indicator's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The YARA rule's tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The YARA rule's matching strings with their first offsets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub strings: Vec<YaraString>,
}

/// One line of `sealbag/hits.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hit {
    /// The path on the source.
    pub path: String,
    /// The exact path bytes, when `path` is not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_b64: Option<String>,
    /// Where the file's bytes are in the archive; absent when it could not
    /// be collected (`note` says why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_path: Option<String>,
    /// The exact archive path bytes, when not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_path_b64: Option<String>,
    /// `target:<name>` when a profile target read it, `sweep` when the sweep did.
    pub found_by: String,
    /// Size of the bytes matched.
    pub size: u64,
    /// SHA-256 of the bytes matched.
    pub sha256: String,
    /// MD5, when the run computed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// SHA-1, when the run computed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    /// What matched.
    pub indicator: HitIndicator,
    /// Anything an examiner should know (changed before collection, not collected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Hit {
    /// Sets where the hit's file is stored.
    pub fn set_archive_path(&mut self, archive_path: &[u8]) {
        let (text, b64) = text_and_b64(archive_path);
        self.archive_path = Some(text);
        self.archive_path_b64 = b64;
    }
}

/// Hits as JSON lines, zstd-compressed in memory until the end of the run
/// (the engine's buffer for generated members, with its memory cap).
struct HitLog {
    buffer: Option<crate::engine::GeneratedBuffer>,
    error: Option<String>,
}

/// Everything loaded for hunting, shared by the run (behind an `Arc`).
pub struct Hunt {
    indicators: IndicatorSet,
    yara: Option<YaraRules>,
    config: HuntConfig,
    log: Mutex<HitLog>,
    counts: Mutex<HuntCounts>,
    not_scanned: Mutex<Vec<NotScanned>>,
}

impl std::fmt::Debug for Hunt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hunt")
            .field("indicators", &self.indicators.len())
            .field("yara", &self.yara.as_ref().map(YaraRules::rule_count))
            .field("sweep", &self.config.sweep)
            .finish()
    }
}

impl Hunt {
    /// Loads every list and compiles every rule file; any error stops here.
    pub fn load(config: HuntConfig) -> Result<Hunt, HuntError> {
        let mut indicators = IndicatorSet::default();
        for file in &config.ioc_files {
            let summary = indicators.add_list_file(file)?;
            tracing::info!(
                list = %summary.file,
                format = %summary.format,
                indicators = summary.total(),
                unsupported = summary.unsupported.values().sum::<u64>(),
                "indicator list loaded"
            );
            for (reason, count) in &summary.unsupported {
                tracing::warn!(list = %summary.file, %reason, count, "indicators not supported");
            }
        }
        let yara = if config.yara.is_empty() {
            None
        } else {
            let rules = YaraRules::compile(&config.yara)?;
            tracing::info!(rules = rules.rule_count(), "YARA rules compiled");
            Some(rules)
        };
        let buffer = crate::engine::GeneratedBuffer::new(crate::engine::DEFAULT_GENERATED_CAP)
            .map_err(|e| HuntError::Yara {
                path: String::new(),
                message: format!("cannot start the hit log: {e}"),
            })?;
        Ok(Hunt {
            indicators,
            yara,
            config,
            log: Mutex::new(HitLog {
                buffer: Some(buffer),
                error: None,
            }),
            counts: Mutex::new(HuntCounts::default()),
            not_scanned: Mutex::new(Vec::new()),
        })
    }

    /// The indicators loaded.
    pub fn indicators(&self) -> &IndicatorSet {
        &self.indicators
    }

    /// Whether files need checking (there are indicators or rules).
    pub fn checks_files(&self) -> bool {
        !self.indicators.is_empty() || self.yara.is_some()
    }

    /// The trees to sweep.
    pub fn sweep_paths(&self) -> &[Glob] {
        &self.config.sweep
    }

    /// The sweep's size cap.
    pub fn sweep_max_file_size(&self) -> Option<u64> {
        self.config.sweep_max_file_size
    }

    /// A tap for one file of `size` bytes, to give to [`crate::engine::CopyReader::with_tap`].
    pub fn tap(&self, size: u64) -> FileTap {
        let scan = self.yara.is_some() && size <= self.config.yara_max_size;
        FileTap {
            md5: self.indicators.needs_md5().then(Md5::new),
            sha1: self.indicators.needs_sha1().then(Sha1::new),
            buffer: scan.then(|| Vec::with_capacity(usize::try_from(size).unwrap_or(0))),
            too_large: self.yara.is_some() && !scan,
        }
    }

    /// The hits of one file just read: `sha256` is the hash of the bytes
    /// read, `tap` what saw them; and whether YARA scanned it.
    pub fn check(
        &self,
        path: &SourcePath,
        size: u64,
        sha256: &str,
        tap: FileTap,
        case_sensitive: bool,
        found_by: &str,
    ) -> Checked {
        let Some(sha256_bytes) = crate::ioc::parse_hex::<32>(sha256) else {
            return Checked::default();
        };
        let FileTap {
            md5,
            sha1,
            buffer,
            too_large,
        } = tap;
        let md5 = md5.map(|h| <[u8; 16]>::from(h.finalize()));
        let sha1 = sha1.map(|h| <[u8; 20]>::from(h.finalize()));
        let facts = FileFacts {
            name: path.file_name(),
            sha256: sha256_bytes,
            md5,
            sha1,
        };
        let (text, b64) = text_and_b64(path.as_bytes());
        let hit = |indicator: HitIndicator| Hit {
            path: text.clone(),
            path_b64: b64.clone(),
            archive_path: None,
            archive_path_b64: None,
            found_by: found_by.to_string(),
            size,
            sha256: sha256.to_string(),
            md5: md5.map(|h| crate::profile::hex(&h)),
            sha1: sha1.map(|h| crate::profile::hex(&h)),
            indicator,
            note: None,
        };
        let mut hits: Vec<Hit> = self
            .indicators
            .matches(&facts, case_sensitive)
            .into_iter()
            .map(|index| {
                let indicator = self.indicators.indicator(index);
                hit(HitIndicator {
                    kind: indicator.kind().to_string(),
                    value: indicator.value(),
                    label: indicator.label.clone(),
                    source: self.indicators.list_of(indicator).file.clone(),
                    line: indicator.line,
                    id: indicator.id.clone(),
                    tags: Vec::new(),
                    strings: Vec::new(),
                })
            })
            .collect();
        let mut yara_not_scanned = None;
        // Scan before taking the counts' lock: a scan may take seconds.
        let scanned = match (&self.yara, buffer) {
            (Some(rules), Some(buffer)) => Some(rules.scan(&buffer, self.config.yara_timeout)),
            _ => None,
        };
        let mut counts = self.lock_counts();
        counts.files_checked += 1;
        counts.bytes_checked += size;
        if too_large {
            counts.yara_too_large += 1;
            yara_not_scanned = Some(format!(
                "not scanned: larger than --yara-max-size ({size} > {} bytes)",
                self.config.yara_max_size
            ));
        }
        match scanned {
            None => {}
            Some(Ok(found)) => {
                counts.yara_scanned += 1;
                hits.extend(found.into_iter().map(|m| {
                    hit(HitIndicator {
                        kind: "yara".into(),
                        value: m.rule,
                        label: Some(m.namespace),
                        source: m.source,
                        line: None,
                        id: None,
                        tags: m.tags,
                        strings: m.strings,
                    })
                }));
            }
            Some(Err(error)) => {
                counts.yara_scanned += 1;
                counts.yara_failed += 1;
                tracing::warn!(path = %path, %error, "YARA scan failed");
                yara_not_scanned = Some(format!("scan failed: {error}"));
            }
        }
        drop(counts);
        if let Some(reason) = &yara_not_scanned {
            let mut list = match self.not_scanned.lock() {
                Ok(list) => list,
                Err(poisoned) => poisoned.into_inner(),
            };
            if list.len() < MAX_NOT_SCANNED_LISTED {
                list.push(NotScanned {
                    path: text.clone(),
                    path_b64: b64.clone(),
                    size,
                    reason: reason.clone(),
                });
            }
        }
        Checked {
            hits,
            yara_not_scanned,
        }
    }

    /// Records hits (their archive paths set) in the hit log.
    pub fn record(&self, hits: &[Hit]) {
        let mut log = match self.log.lock() {
            Ok(log) => log,
            Err(poisoned) => poisoned.into_inner(),
        };
        self.lock_counts().hits += hits.len() as u64;
        for hit in hits {
            tracing::warn!(
                path = %hit.path,
                kind = %hit.indicator.kind,
                value = %hit.indicator.value,
                label = hit.indicator.label.as_deref().unwrap_or(""),
                "IOC hit"
            );
            let Some(buffer) = log.buffer.as_mut() else {
                continue;
            };
            let written = serde_json::to_vec(hit)
                .map_err(std::io::Error::other)
                .and_then(|mut line| {
                    line.push(b'\n');
                    buffer.write_all(&line)
                });
            if let Err(e) = written {
                log.error = Some(e.to_string());
                log.buffer = None;
            }
        }
    }

    /// Adds to the sweep's counts.
    pub fn count_sweep(&self, files: u64, bytes: u64, too_large: u64, errors: u64) {
        let mut counts = self.lock_counts();
        counts.swept_files += files;
        counts.swept_bytes += bytes;
        counts.swept_too_large += too_large;
        counts.sweep_errors += errors;
    }

    /// The counts so far.
    pub fn counts(&self) -> HuntCounts {
        self.lock_counts().clone()
    }

    fn lock_counts(&self) -> std::sync::MutexGuard<'_, HuntCounts> {
        match self.counts.lock() {
            Ok(counts) => counts,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Ends the hunt: the bytes of `sealbag/hits.jsonl` and the summary.
    pub fn finish(&self) -> std::io::Result<(Vec<u8>, HuntSummary)> {
        let mut log = match self.log.lock() {
            Ok(log) => log,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(error) = log.error.take() {
            return Err(std::io::Error::other(format!(
                "the hit log failed: {error}"
            )));
        }
        let mut hits = Vec::new();
        if let Some(buffer) = log.buffer.take() {
            buffer.finish()?.reader()?.read_to_end(&mut hits)?;
        }
        let mut computed = vec!["sha256"];
        if self.indicators.needs_md5() {
            computed.push("md5");
        }
        if self.indicators.needs_sha1() {
            computed.push("sha1");
        }
        let summary = HuntSummary {
            ioc_lists: self.indicators.lists().to_vec(),
            yara: self.yara.as_ref().map(YaraRules::summary),
            yara_max_size: self.config.yara_max_size,
            yara_timeout_secs: self.config.yara_timeout.as_secs_f64(),
            yara_not_scanned: match self.not_scanned.lock() {
                Ok(list) => list.clone(),
                Err(poisoned) => poisoned.into_inner().clone(),
            },
            computed,
            sweep: self
                .config
                .sweep
                .iter()
                .map(|g| g.as_str().to_string())
                .collect(),
            sweep_max_file_size: self.config.sweep_max_file_size,
            counts: self.counts(),
        };
        Ok((hits, summary))
    }
}

/// Sees a file's bytes for the hunt: extra hashes and the YARA buffer.
pub struct FileTap {
    md5: Option<Md5>,
    sha1: Option<Sha1>,
    buffer: Option<Vec<u8>>,
    too_large: bool,
}

impl Tap for FileTap {
    fn update(&mut self, bytes: &[u8]) {
        if let Some(md5) = self.md5.as_mut() {
            md5.update(bytes);
        }
        if let Some(sha1) = self.sha1.as_mut() {
            sha1.update(bytes);
        }
        if let Some(buffer) = self.buffer.as_mut() {
            buffer.extend_from_slice(bytes);
        }
    }
}

/// Keeps at most [`MAX_OFFSETS`] offsets.
#[cfg(feature = "yara")]
pub(crate) fn first_offsets(offsets: impl Iterator<Item = u64>) -> Vec<u64> {
    offsets.take(MAX_OFFSETS).collect()
}
