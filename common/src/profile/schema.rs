//! The TOML form of a profile, exactly as written (before validation).

use serde::Deserialize;
use toml::Spanned;

/// A profile file as parsed; unknown keys are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProfile {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub os: Option<Spanned<String>>,
    #[serde(default)]
    pub include: Vec<Spanned<String>>,
    #[serde(default)]
    pub output: Option<RawOutput>,
    #[serde(default, rename = "target")]
    pub targets: Vec<RawTarget>,
}

/// `[output]`: defaults that flags override.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOutput {
    #[serde(default)]
    pub recipients: Vec<Spanned<String>>,
}

/// One `[[target]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTarget {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    pub paths: Vec<Spanned<String>>,
    #[serde(default)]
    pub exclude: Vec<Spanned<String>>,
    #[serde(default)]
    pub max_file_size: Option<Spanned<String>>,
}
