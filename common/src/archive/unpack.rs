//! Extracts an archive into a new folder, refusing anything that could
//! write outside it.
//!
//! Only regular files are written. Names must be relative and free of `..`;
//! links are never created (they are listed in the manifest, with their
//! targets); a name that repeats, or that is both a file and a folder, is
//! refused; a file that cannot be read whole is removed, never left looking
//! complete. Each file is hashed as it is written and checked against the
//! manifest at the end.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::reader::Plaintext;
use super::verify::VerifyReport;
use super::writer::names;

/// Why unpacking could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnpackError {
    /// The destination exists and is not an empty folder.
    #[error("{0}: exists and is not an empty folder\nhint: name a new folder with `--into`")]
    NotEmpty(PathBuf),
    /// The destination cannot be created.
    #[error("cannot create {path}: {source}")]
    Create {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// What [`unpack`] did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct UnpackReport {
    /// Files written.
    pub written: u64,
    /// Entries not written, each with the reason.
    pub refused: Vec<String>,
    /// The verification of what was written against the manifest.
    pub verify: VerifyReport,
}

/// Extracts `plaintext` into `into` (created; must not hold anything).
pub fn unpack(plaintext: Plaintext, into: &Path) -> Result<UnpackReport, UnpackError> {
    prepare(into)?;
    let mut report = UnpackReport::default();
    let mut hashes: Vec<(Vec<u8>, u64, String)> = Vec::new();
    let mut manifest = None;
    let mut collection = None;
    let tar_position = plaintext.tar_position.clone();
    let mut archive = tar::Archive::new(plaintext.reader);
    let entries = match archive.entries() {
        Ok(entries) => entries,
        Err(e) => {
            report.verify.damaged = Some(format!("not a tar stream: {e}"));
            return Ok(report);
        }
    };
    for entry in entries {
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                report.verify.damaged =
                    Some(format!("damaged at tar byte {}: {e}", tar_position.get()));
                break;
            }
        };
        let name = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&name).into_owned();
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            if !kind.is_dir() {
                report.refused.push(format!(
                    "{shown}: a {kind:?} entry; only regular files are written"
                ));
            }
            continue;
        }
        let Some(relative) = safe_relative(&name) else {
            report
                .refused
                .push(format!("{shown}: unsafe name (absolute, `..` or empty)"));
            continue;
        };
        let destination = into.join(&relative);
        let keep_bytes = name == names::MANIFEST.as_bytes() || name == names::COLLECTION.as_bytes();
        match write_file(&mut entry, into, &destination, keep_bytes) {
            Ok((size, sha256, kept)) => {
                report.written += 1;
                hashes.push((name.clone(), size, sha256));
                if name == names::MANIFEST.as_bytes() {
                    manifest = kept;
                } else if name == names::COLLECTION.as_bytes() {
                    collection = kept;
                }
            }
            Err(WriteFailure::Refused(why)) => report.refused.push(format!("{shown}: {why}")),
            Err(WriteFailure::Damaged(e)) => {
                report.verify.damaged = Some(format!(
                    "damaged inside `{shown}` at tar byte {}: {e}; the partial file was removed",
                    tar_position.get()
                ));
                break;
            }
        }
    }
    // Verify what was written against the manifest, with the same checker.
    report.verify = super::verify::check_written(
        &hashes,
        manifest.as_deref(),
        collection.as_deref(),
        report.verify.damaged.take(),
    );
    Ok(report)
}

fn prepare(into: &Path) -> Result<(), UnpackError> {
    match fs::read_dir(into) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(UnpackError::NotEmpty(into.to_path_buf()));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(into).map_err(|source| UnpackError::Create {
                path: into.to_path_buf(),
                source,
            })
        }
        Err(_) => Err(UnpackError::NotEmpty(into.to_path_buf())),
    }
}

/// The relative path for an archive name, or `None` if it could escape.
fn safe_relative(name: &[u8]) -> Option<PathBuf> {
    #[cfg(unix)]
    let path = {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(std::ffi::OsStr::from_bytes(name))
    };
    #[cfg(not(unix))]
    let path = PathBuf::from(String::from_utf8_lossy(name).replace(':', "%3A"));
    if name.contains(&0) || name.contains(&b'\\') && cfg!(windows) {
        return None;
    }
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if out.as_os_str().is_empty() {
        None
    } else {
        Some(out)
    }
}

enum WriteFailure {
    Refused(String),
    Damaged(io::Error),
}

fn write_file(
    entry: &mut dyn Read,
    into: &Path,
    destination: &Path,
    keep_bytes: bool,
) -> Result<(u64, String, Option<Vec<u8>>), WriteFailure> {
    if let Some(parent) = destination.parent() {
        // Refuse to pass through anything but real folders we created.
        let mut current = into.to_path_buf();
        if let Ok(relative) = parent.strip_prefix(into) {
            for part in relative.components() {
                current.push(part);
                match fs::symlink_metadata(&current) {
                    Ok(meta) if meta.is_dir() => {}
                    Ok(_) => {
                        return Err(WriteFailure::Refused(format!(
                            "`{}` is already a file",
                            current.display()
                        )))
                    }
                    Err(_) => fs::create_dir(&current)
                        .map_err(|e| WriteFailure::Refused(format!("cannot create folder: {e}")))?,
                }
            }
        }
    }
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .open(destination)
        .map_err(|e| WriteFailure::Refused(format!("cannot create: {e}")))?;
    let mut hasher = Sha256::new();
    let mut kept = keep_bytes.then(Vec::new);
    let mut size = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                drop(file);
                let _ = fs::remove_file(destination);
                return Err(WriteFailure::Damaged(e));
            }
        };
        hasher.update(&buf[..n]);
        if let Some(kept) = kept.as_mut() {
            if kept.len() < (1 << 30) {
                kept.extend_from_slice(&buf[..n]);
            }
        }
        if let Err(e) = file.write_all(&buf[..n]) {
            drop(file);
            let _ = fs::remove_file(destination);
            return Err(WriteFailure::Refused(format!("cannot write: {e}")));
        }
        size += n as u64;
    }
    Ok((size, crate::profile::hex(&hasher.finalize()), kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names_are_refused() {
        assert!(safe_relative(b"../etc/passwd").is_none());
        assert!(safe_relative(b"/etc/passwd").is_none());
        assert!(safe_relative(b"files/../../x").is_none());
        assert!(safe_relative(b"").is_none());
        assert_eq!(
            safe_relative(b"./files/etc/hosts"),
            Some(PathBuf::from("files/etc/hosts"))
        );
    }
}
