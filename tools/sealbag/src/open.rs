//! Opening an archive given on the command line.

use std::path::Path;

use sealbag_common::archive::{open_plaintext, read_identities, OpenError, Plaintext};

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
    open_inner(archive, identity_files)
}

fn open_inner(
    archive: &Path,
    identity_files: &[std::path::PathBuf],
) -> Result<Plaintext, OpenFailure> {
    let mut identities = Vec::new();
    for file in identity_files {
        identities.extend(read_identities(file).map_err(OpenFailure::Usage)?);
    }
    let input: Box<dyn std::io::Read> =
        if archive == Path::new("-") {
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
