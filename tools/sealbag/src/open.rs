//! Opening an archive given on the command line.

use std::path::Path;

use sealbag_common::upload::{open_remote, open_remote_split, S3Options};

use sealbag_common::archive::{
    check_parts, find_split, open_plaintext, read_identities, OpenError, PartsReader, Plaintext,
    SplitSet,
};

/// Why an archive could not be opened: the caller's mistake, or damage.
pub enum OpenFailure {
    /// A bad key or path: exit 2.
    Usage(String),
    /// The file itself is damaged before the first tar block: exit 1.
    Damaged(String),
}

/// Opens `archive` (`-` for stdin) with the identities in `identity_files`.
pub fn open(
    archive: &Path,
    identity_files: &[std::path::PathBuf],
) -> Result<Plaintext, OpenFailure> {
    open_inner(archive, identity_files, &S3Options::default())
}

/// Like [`open`], and `archive` may be `s3://BUCKET/KEY` (reached as
/// `s3` says) or an `http(s)://` URL (a read SAS or presigned GET), streamed.
pub fn open_any(
    archive: &Path,
    identity_files: &[std::path::PathBuf],
    s3: &S3Options,
) -> Result<Plaintext, OpenFailure> {
    open_inner(archive, identity_files, s3)
}

fn open_inner(
    archive: &Path,
    identity_files: &[std::path::PathBuf],
    s3: &S3Options,
) -> Result<Plaintext, OpenFailure> {
    let mut identities = Vec::new();
    for file in identity_files {
        identities.extend(read_identities(file).map_err(OpenFailure::Usage)?);
    }
    if let Some(url) = archive
        .to_str()
        .filter(|a| sealbag_common::upload::is_remote(a))
    {
        let (input, shown) = match open_remote_split(url, s3).map_err(OpenFailure::Usage)? {
            Some(split) => {
                if !split.problems.is_empty() {
                    return Err(OpenFailure::Damaged(format!(
                        "split archive {} ({} parts): {}",
                        split.shown,
                        split.index.parts.len(),
                        split.problems.join("; ")
                    )));
                }
                eprintln!(
                    "{}: {} parts, each as the index says (SHA-256 of the whole: {})",
                    split.shown,
                    split.index.parts.len(),
                    split.index.sha256
                );
                let shown = split.shown.clone();
                (split.reader(), shown)
            }
            None => open_remote(url, s3).map_err(OpenFailure::Usage)?,
        };
        return open_plaintext(input, &identities).map_err(|e| match e {
            OpenError::Io(io) => OpenFailure::Damaged(format!(
                "damaged at its start: {io} (the first age chunk or zstd frame does not decode)"
            )),
            other => OpenFailure::Usage(format!("{shown}: {other}")),
        });
    }
    let split = if archive == Path::new("-") {
        None
    } else {
        find_split(archive).map_err(|e| OpenFailure::Usage(e.to_string()))?
    };
    let input: Box<dyn std::io::Read> =
        if let Some(set) = split {
            open_split(set)?
        } else if archive == Path::new("-") {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(archive).map_err(|e| {
                OpenFailure::Usage(format!("cannot open {}: {e}", archive.display()))
            })?)
        };
    open_plaintext(input, &identities).map_err(|e| match e {
        OpenError::Io(io) => OpenFailure::Damaged(format!(
            "damaged at its start: {io} (the first age chunk or zstd frame does not decode)"
        )),
        other => OpenFailure::Usage(format!("{}: {other}", archive.display())),
    })
}

/// A split archive: every part checked against the index first, so a
/// missing or altered part is named before decryption would stop on it.
fn open_split(set: SplitSet) -> Result<Box<dyn std::io::Read>, OpenFailure> {
    match &set.index {
        Some(index) => {
            let problems = check_parts(&set);
            if !problems.is_empty() {
                return Err(OpenFailure::Damaged(format!(
                    "split archive {} ({} parts): {}",
                    set.index_path.display(),
                    index.parts.len(),
                    problems.join("; ")
                )));
            }
            eprintln!(
                "{}: {} parts, each as the index says (SHA-256 of the whole: {})",
                set.index_path.display(),
                index.parts.len(),
                index.sha256
            );
        }
        None => eprintln!(
            "warning: no index {} beside the parts: {} parts read in order, not checked against their hashes",
            set.index_path.display(),
            set.parts.len()
        ),
    }
    Ok(Box::new(PartsReader::new(set.parts)))
}
