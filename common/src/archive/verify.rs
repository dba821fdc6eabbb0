//! Checks an opened archive: every stored file against the manifest, and the
//! archive's own completeness.

use std::collections::BTreeMap;
use std::io::{self, Read};

use sha2::{Digest, Sha256};

use super::manifest::bytes_of;
use super::reader::Plaintext;
use super::writer::names;

/// Largest manifest or custody record read into memory.
const MAX_METADATA_BYTES: u64 = 1 << 30;

/// The result of [`verify`].
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Files re-hashed and found as the manifest says.
    pub files_verified: u64,
    /// Manifest records read.
    pub manifest_records: u64,
    /// Files whose bytes differ from the manifest: `path: what`.
    pub mismatches: Vec<String>,
    /// Files the manifest lists as stored but the archive lacks.
    pub missing: Vec<String>,
    /// Files stored but not in the manifest.
    pub unlisted: Vec<String>,
    /// Damage that stopped the reading, with its position.
    pub damaged: Option<String>,
    /// Whether the collection ran to its end (from `collection.json`).
    pub complete: Option<bool>,
    /// Why the collection stopped early.
    pub stopped: Option<String>,
    /// Manifest records by status (`ok`, `partial`, `error`, `skipped`).
    pub statuses: BTreeMap<String, u64>,
    /// The custody record, when present.
    pub collection: Option<serde_json::Value>,
    /// The indicator and rule hits (`sealbag/hits.jsonl`), one object each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hits: Vec<serde_json::Value>,
}

impl VerifyReport {
    /// True when nothing is damaged, missing, altered or unlisted.
    pub fn is_intact(&self) -> bool {
        self.damaged.is_none()
            && self.mismatches.is_empty()
            && self.missing.is_empty()
            && self.unlisted.is_empty()
            && self.collection.is_some()
            && self.manifest_records > 0
    }
}

struct Stored {
    size: u64,
    sha256: String,
}

/// Reads the whole archive and checks it.
pub fn verify(plaintext: Plaintext) -> VerifyReport {
    let mut report = VerifyReport::default();
    let mut stored: BTreeMap<Vec<u8>, Stored> = BTreeMap::new();
    let mut manifest: Option<Vec<u8>> = None;
    let mut hits = Vec::new();
    let tar_position = plaintext.tar_position.clone();
    let sealed_position = plaintext.sealed_position.clone();
    let damage = |what: String| {
        format!(
            "{what} (at tar byte {}, sealed-file byte {})",
            tar_position.get(),
            sealed_position.get()
        )
    };
    let mut archive = tar::Archive::new(plaintext.reader);
    let entries = match archive.entries() {
        Ok(entries) => entries,
        Err(e) => {
            report.damaged = Some(damage(format!("not a tar stream: {e}")));
            return report;
        }
    };
    for entry in entries {
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                report.damaged = Some(damage(format!("damaged: {e}")));
                break;
            }
        };
        let path = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        let result = if path.starts_with(names::FILES_PREFIX.as_bytes()) {
            if kind.is_file() {
                hash(&mut entry).map(|(size, sha256)| {
                    stored.insert(path.clone(), Stored { size, sha256 });
                })
            } else {
                Ok(())
            }
        } else if path == names::MANIFEST.as_bytes() {
            read_capped(&mut entry).map(|bytes| manifest = Some(bytes))
        } else if path == crate::hunt::HITS_MEMBER.as_bytes() {
            read_capped(&mut entry).map(|bytes| hits = parse_hits(&bytes))
        } else if path == names::COLLECTION.as_bytes() {
            read_capped(&mut entry).map(|bytes| {
                report.collection = serde_json::from_slice(&bytes).ok();
            })
        } else {
            io::copy(&mut entry, &mut io::sink()).map(|_| ())
        };
        if let Err(e) = result {
            report.damaged = Some(damage(format!(
                "damaged inside `{}`: {e}",
                String::from_utf8_lossy(&path)
            )));
            break;
        }
    }
    let collection = report.collection.take();
    let damaged = report.damaged.take();
    let mut report = summarise(stored, manifest.as_deref(), damaged);
    report.collection = collection;
    report.hits = hits;
    fill_collection(&mut report);
    report
}

/// The objects of `sealbag/hits.jsonl` (a line that is not JSON is kept as a string).
fn parse_hits(bytes: &[u8]) -> Vec<serde_json::Value> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            serde_json::from_slice(line)
                .unwrap_or_else(|_| String::from_utf8_lossy(line).into_owned().into())
        })
        .collect()
}

/// Checks files already written (by `unpack`) against the manifest.
pub(crate) fn check_written(
    written: &[(Vec<u8>, u64, String)],
    manifest: Option<&[u8]>,
    collection: Option<&[u8]>,
    damaged: Option<String>,
) -> VerifyReport {
    let stored = written
        .iter()
        .filter(|(path, _, _)| path.starts_with(names::FILES_PREFIX.as_bytes()))
        .map(|(path, size, sha256)| {
            (
                path.clone(),
                Stored {
                    size: *size,
                    sha256: sha256.clone(),
                },
            )
        })
        .collect();
    let mut report = summarise(stored, manifest, damaged);
    report.collection = collection.and_then(|c| serde_json::from_slice(c).ok());
    fill_collection(&mut report);
    report
}

fn fill_collection(report: &mut VerifyReport) {
    if let Some(collection) = &report.collection {
        report.complete = collection.get("complete").and_then(|c| c.as_bool());
        report.stopped = collection
            .get("stopped")
            .and_then(|s| s.as_str())
            .map(str::to_string);
    }
}

fn summarise(
    mut stored: BTreeMap<Vec<u8>, Stored>,
    manifest: Option<&[u8]>,
    damaged: Option<String>,
) -> VerifyReport {
    let mut report = VerifyReport {
        damaged,
        ..VerifyReport::default()
    };
    match manifest {
        None => {
            if report.damaged.is_none() {
                report.damaged = Some(
                    "no manifest: the archive was cut off before the collection finished".into(),
                );
            }
        }
        Some(bytes) => check_manifest(bytes, &mut stored, &mut report),
    }
    report
}

fn check_manifest(bytes: &[u8], stored: &mut BTreeMap<Vec<u8>, Stored>, report: &mut VerifyReport) {
    for (number, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let record: serde_json::Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                report
                    .mismatches
                    .push(format!("manifest line {}: not JSON: {e}", number + 1));
                continue;
            }
        };
        report.manifest_records += 1;
        let text = |key: &str| record.get(key).and_then(|v| v.as_str());
        if let Some(status) = text("status") {
            *report.statuses.entry(status.to_string()).or_default() += 1;
        }
        let Some(archive_text) = text("archive_path") else {
            continue;
        };
        if text("kind") != Some("file") {
            continue;
        }
        let Some(archive_path) = bytes_of(archive_text, text("archive_path_b64")) else {
            report.mismatches.push(format!(
                "manifest line {}: bad archive_path_b64",
                number + 1
            ));
            continue;
        };
        let Some(found) = stored.remove(&archive_path) else {
            report.missing.push(archive_text.to_string());
            continue;
        };
        let size = record.get("size").and_then(|v| v.as_u64());
        if size != Some(found.size) {
            report.mismatches.push(format!(
                "{archive_text}: size {} in the archive, {} in the manifest",
                found.size,
                size.map_or("none".into(), |s| s.to_string())
            ));
        } else if text("sha256") != Some(found.sha256.as_str()) {
            report.mismatches.push(format!(
                "{archive_text}: SHA-256 {} in the archive, {} in the manifest",
                found.sha256,
                text("sha256").unwrap_or("none")
            ));
        } else {
            report.files_verified += 1;
        }
    }
    report.unlisted.extend(
        stored
            .keys()
            .map(|k| String::from_utf8_lossy(k).into_owned()),
    );
}

fn hash(reader: &mut dyn Read) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, crate::profile::hex(&hasher.finalize())))
}

fn read_capped(reader: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(MAX_METADATA_BYTES).read_to_end(&mut bytes)?;
    Ok(bytes)
}
