//! Embeds every `profiles/*.toml` into the crate, so a copied binary needs
//! nothing beside it and a new profile needs no code change.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
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
