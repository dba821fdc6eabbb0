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
    #[serde(default)]
    pub live: Vec<RawLive>,
    #[serde(default)]
    pub command: Vec<RawCommand>,
    #[serde(default)]
    pub ioc: Option<RawIoc>,
    #[serde(default)]
    pub sweep: Option<RawSweep>,
}

/// `[ioc]`: indicator lists and YARA rules to check every file read against.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIoc {
    #[serde(default)]
    pub files: Vec<Spanned<String>>,
    #[serde(default)]
    pub yara: Vec<Spanned<String>>,
}

/// `[sweep]`: trees walked for files that hit, collected alone.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSweep {
    #[serde(default)]
    pub paths: Vec<Spanned<String>>,
    #[serde(default)]
    pub max_file_size: Option<Spanned<String>>,
}

/// One `[[live]]`: volatile state the tool reads itself.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLive {
    pub kind: Spanned<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// Trees to describe, for kinds that walk (`bodyfile`).
    #[serde(default)]
    pub paths: Vec<Spanned<String>>,
}

/// One `[[command]]`: a program to run, output captured.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCommand {
    pub name: Spanned<String>,
    pub argv: Spanned<Vec<String>>,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub os: Option<Spanned<String>>,
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
    #[serde(default)]
    pub parse: Option<Spanned<String>>,
    #[serde(default)]
    pub event_ids: Vec<u32>,
    #[serde(default)]
    pub since: Option<Spanned<String>>,
}
