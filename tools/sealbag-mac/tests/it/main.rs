//! Integration tests of `sealbag-mac`: one binary, one module per concern.

mod config;
mod e2e;
mod fixture;
mod full_disk_access;
mod persistence;
mod plist_corpus;
mod unifiedlog;

use std::path::PathBuf;

/// The shared corpus (`../shared/corpus/` beside the workspace, or
/// `$SEALBAG_CORPUS` for a checkout elsewhere), or `None` after a loud SKIP;
/// under `CI=true` its absence is a failure.
pub fn corpus(sub: &str) -> Option<PathBuf> {
    let base = std::env::var_os("SEALBAG_CORPUS").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/corpus"
            ))
        },
        PathBuf::from,
    );
    let path = base.join(sub);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "corpus {} is missing under CI=true",
        path.display()
    );
    eprintln!("SKIP: corpus {} not found; test not run", path.display());
    None
}

/// Every regular file under `dir`, sorted.
pub fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let entry = entry.expect("entry");
            let ft = entry.file_type().expect("file type");
            if ft.is_dir() {
                stack.push(entry.path());
            } else if ft.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    out
}
