//! Opening an archive given on the command line.

use std::path::Path;

use sealbag_common::archive::{open_plaintext, read_identities, Plaintext};

/// Opens `archive` (`-` for stdin) with the identities in `identity_files`.
pub fn open(archive: &Path, identity_files: &[std::path::PathBuf]) -> Result<Plaintext, String> {
    let mut identities = Vec::new();
    for file in identity_files {
        identities.extend(read_identities(file)?);
    }
    let input: Box<dyn std::io::Read> = if archive == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(archive)
                .map_err(|e| format!("cannot open {}: {e}", archive.display()))?,
        )
    };
    open_plaintext(input, &identities).map_err(|e| format!("{}: {e}", archive.display()))
}
