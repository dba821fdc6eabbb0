//! Embeds every `profiles/*.toml` into the crate, so a copied binary needs
//! nothing beside it and a new profile needs no code change.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    embed_commit(&manifest_dir);
    let profiles = manifest_dir.join("../profiles");
    println!("cargo:rerun-if-changed={}", profiles.display());
    let mut names: Vec<PathBuf> = std::fs::read_dir(&profiles)
        .expect("profiles/ beside common/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    names.sort();
    let mut out = String::from("/// `(name, TOML text)` of every embedded profile, sorted by name.\npub const EMBEDDED: &[(&str, &str)] = &[\n");
    for path in names {
        println!("cargo:rerun-if-changed={}", path.display());
        let stem = path.file_stem().expect("a name").to_string_lossy();
        let absolute = path.canonicalize().expect("readable profile");
        writeln!(
            out,
            "    ({stem:?}, include_str!({:?})),",
            absolute.display().to_string()
        )
        .expect("string write");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"))
        .join("embedded_profiles.rs");
    std::fs::write(dest, out).expect("write OUT_DIR");
}

/// Sets `SEALBAG_GIT_COMMIT` for [`crate::VERSION`]: the variable itself if
/// the build sets it (release builds, a source tarball), else `git rev-parse`
/// of this checkout, else `unknown`. Rebuilds when HEAD moves.
fn embed_commit(dir: &Path) {
    println!("cargo:rerun-if-env-changed=SEALBAG_GIT_COMMIT");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !text.is_empty()).then_some(text)
    };
    let commit = std::env::var("SEALBAG_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty());
    let commit = commit.or_else(|| {
        let reference = git(&["symbolic-ref", "-q", "HEAD"]);
        for name in ["HEAD", "packed-refs"]
            .into_iter()
            .chain(reference.as_deref())
        {
            // Only files that exist: a missing one would rerun this every build.
            if let Some(path) = git(&["rev-parse", "--git-path", name]).map(|p| dir.join(p)) {
                if path.is_file() {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
        }
        git(&["rev-parse", "--short=12", "HEAD"])
    });
    let commit = commit.unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SEALBAG_GIT_COMMIT={commit}");
}
