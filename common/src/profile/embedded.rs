//! The profiles built into every binary, so a single copied file needs nothing beside it.
//!
//! Every `profiles/*.toml` is embedded by `build.rs`, named by its file stem.

include!(concat!(env!("OUT_DIR"), "/embedded_profiles.rs"));

/// The TOML text of the embedded profile `name`.
pub fn embedded(name: &str) -> Option<&'static str> {
    EMBEDDED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}
