//! The profiles built into every binary, so a single copied file needs nothing beside it.

/// `(name, TOML text)` of every embedded profile.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "linux-triage",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../profiles/linux-triage.toml"
        )),
    ),
    (
        "linux-minimal",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../profiles/linux-minimal.toml"
        )),
    ),
];

/// The TOML text of the embedded profile `name`.
pub fn embedded(name: &str) -> Option<&'static str> {
    EMBEDDED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}
