//! Collection profiles: what to take, written in TOML, checked before a run.
//!
//! A profile names targets (globs of paths inside the source), may include
//! other profiles (embedded names or files), and may carry output defaults.
//! Every mistake is reported with the file, line and column, so a responder
//! can fix a profile on the spot:
//!
//! ```
//! let profile = sealbag_common::profile::Profile::from_toml(
//!     "name = \"demo\"\n[[target]]\nname = \"logs\"\npaths = [\"/var/log/*.log\"]\n",
//!     "demo.toml",
//! ).expect("valid profile");
//! assert_eq!(profile.targets[0].paths[0].as_str(), "/var/log/*.log");
//! ```

mod embedded;
mod hunt;
mod schema;
mod size;

#[cfg(feature = "import")]
pub mod import;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use embedded::{embedded, EMBEDDED};
pub use hunt::{IocSection, SweepSection};
pub use size::{format_size, parse_size};

use crate::glob::Glob;
use schema::{RawCommand, RawLive, RawProfile, RawTarget};

/// The `parse = "…"` values a target may carry; each tool registers the
/// parsers it has (see [`crate::engine::FileParser`]).
pub const KNOWN_PARSERS: &[&str] = &["evtx", "plist", "unifiedlog"];

/// The `[[live]] kind = "…"` values; each tool implements those of its OS
/// (see [`crate::engine::LiveCollector`]) and records the others as not available.
pub const KNOWN_LIVE_KINDS: &[&str] = &[
    "processes",
    "network",
    "sessions",
    "logins",
    "mounts",
    "modules",
    "system",
    "packages",
    "users",
    "persistence",
    "bodyfile",
    "routes",
    "arp",
    "logarchive",
];

/// Largest profile file read (a profile is a few KiB; anything bigger is a mistake).
const MAX_PROFILE_BYTES: u64 = 4 << 20;
/// How deep includes may nest.
const MAX_INCLUDE_DEPTH: usize = 32;

/// A profile error, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}{}: {message}", location(*.line, *.column))]
pub struct ProfileError {
    /// The file or embedded profile (`embedded:linux-triage`).
    pub origin: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong and, where there is one, what to do.
    pub message: String,
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

/// The operating system a profile is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetOs {
    /// Linux hosts and images.
    Linux,
    /// Windows hosts and NTFS images.
    Windows,
    /// macOS hosts and APFS images.
    Macos,
    /// Any source.
    Any,
}

/// One thing to collect: a set of globs with limits.
#[derive(Debug, Clone)]
pub struct Target {
    /// The target's name, shown in the manifest.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// The profile the target was written in (differs from the top profile for includes).
    pub profile: String,
    /// What to take.
    pub paths: Vec<Glob>,
    /// What to leave out of what `paths` matched.
    pub exclude: Vec<Glob>,
    /// Files larger than this are recorded as skipped, not read.
    pub max_file_size: Option<u64>,
    /// A parser to run over each collected file (`evtx`, `plist`…).
    pub parse: Option<String>,
    /// For `parse = "evtx"`: keep only these event ids (empty: all).
    pub event_ids: Vec<u32>,
    /// For parsers of timed records: keep only records newer than this.
    pub since: Option<std::time::Duration>,
}

/// One `[[live]]` entry: volatile state the tool reads itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTarget {
    /// What to read (`processes`, `network`…; see [`KNOWN_LIVE_KINDS`]).
    pub kind: String,
    /// A name for the manifest (defaults to the kind).
    pub name: String,
    /// Trees to describe, for kinds that walk (`bodyfile`).
    pub paths: Vec<Glob>,
}

/// One `[[command]]` entry: a program to run with its output captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTarget {
    /// A name for the manifest and the output file (`live/<name>.stdout`).
    pub name: String,
    /// Program (absolute path) and arguments; no shell.
    pub argv: Vec<String>,
    /// Killed after this long.
    pub timeout: std::time::Duration,
    /// Only run on this OS (`None`: any).
    pub os: Option<TargetOs>,
}

/// A file (or embedded text) a profile was read from, with its hash for the chain of custody.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProfileOrigin {
    /// The profile's `name`.
    pub name: String,
    /// `embedded:NAME` or the file path.
    pub origin: String,
    /// SHA-256 of the exact text read.
    pub sha256: String,
}

/// A validated profile with its includes resolved.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The top profile's name.
    pub name: String,
    /// The top profile's description.
    pub description: String,
    /// The operating system it is written for.
    pub os: TargetOs,
    /// All targets, included profiles' first, in order, each once.
    pub targets: Vec<Target>,
    /// Default age recipients from `[output]`.
    pub recipients: Vec<String>,
    /// Volatile-state entries, included profiles' first.
    pub live: Vec<LiveTarget>,
    /// Commands to run, included profiles' first.
    pub commands: Vec<CommandTarget>,
    /// Every text read to build this profile, the top one first.
    pub origins: Vec<ProfileOrigin>,
    /// The top profile's text, stored in the archive as `sealbag/profile.toml`.
    pub text: String,
    /// `[ioc]`: indicator lists and YARA rules, includes' added.
    pub ioc: IocSection,
    /// `[sweep]`: trees to sweep, includes' added.
    pub sweep: SweepSection,
}

impl Profile {
    /// Loads `spec`: an embedded profile's name, or a path to a TOML file.
    pub fn load(spec: &str) -> Result<Self, ProfileError> {
        let mut stack = Vec::new();
        load_spec(spec, None, &mut stack)
    }

    /// Parses a profile from text; includes are resolved against embedded
    /// profiles and the current directory.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ProfileError> {
        let mut stack = vec![origin.to_string()];
        build(text, origin, None, &mut stack)
    }
}

fn load_spec(
    spec: &str,
    base_dir: Option<&Path>,
    stack: &mut Vec<String>,
) -> Result<Profile, ProfileError> {
    let (text, origin, dir) = read_spec(spec, base_dir)?;
    if stack.contains(&origin) {
        let mut cycle = stack.clone();
        cycle.push(origin.clone());
        return Err(plain(
            &origin,
            format!(
                "profiles include each other in a cycle: {}",
                cycle.join(" -> ")
            ),
        ));
    }
    if stack.len() >= MAX_INCLUDE_DEPTH {
        return Err(plain(
            &origin,
            format!("includes nest more than {MAX_INCLUDE_DEPTH} deep"),
        ));
    }
    stack.push(origin.clone());
    let result = build(&text, &origin, dir.as_deref(), stack);
    stack.pop();
    result
}

/// Finds the text for `spec`: embedded name first, then a file.
fn read_spec(
    spec: &str,
    base_dir: Option<&Path>,
) -> Result<(String, String, Option<PathBuf>), ProfileError> {
    if let Some(text) = embedded(spec) {
        return Ok((text.to_string(), format!("embedded:{spec}"), None));
    }
    let path = match base_dir {
        Some(dir) if Path::new(spec).is_relative() => dir.join(spec),
        _ => PathBuf::from(spec),
    };
    let origin = path.display().to_string();
    let names: Vec<&str> = EMBEDDED.iter().map(|(n, _)| *n).collect();
    let file = std::fs::File::open(&path).map_err(|e| {
        plain(
            &origin,
            format!(
                "cannot read profile: {e}\nhint: give an embedded profile ({}) or the path of a TOML file",
                names.join(", ")
            ),
        )
    })?;
    let mut text = String::new();
    use std::io::Read;
    file.take(MAX_PROFILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| plain(&origin, format!("cannot read profile as UTF-8 text: {e}")))?;
    if text.len() as u64 > MAX_PROFILE_BYTES {
        return Err(plain(
            &origin,
            format!("profile is larger than {MAX_PROFILE_BYTES} bytes"),
        ));
    }
    let dir = path.parent().map(Path::to_path_buf);
    Ok((text, origin, dir))
}

fn plain(origin: &str, message: String) -> ProfileError {
    ProfileError {
        origin: origin.to_string(),
        line: None,
        column: None,
        message,
    }
}

/// Converts a byte offset in `text` to 1-based line and column.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

fn at(text: &str, origin: &str, span: std::ops::Range<usize>, message: String) -> ProfileError {
    let (line, column) = line_column(text, span.start);
    ProfileError {
        origin: origin.to_string(),
        line: Some(line),
        column: Some(column),
        message,
    }
}

fn build(
    text: &str,
    origin: &str,
    dir: Option<&Path>,
    stack: &mut Vec<String>,
) -> Result<Profile, ProfileError> {
    let raw: RawProfile = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_string();
        match e.span() {
            Some(span) => at(text, origin, span, message),
            None => plain(origin, message),
        }
    })?;
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() {
        return Err(at(text, origin, raw.name.span(), "`name` is empty".into()));
    }
    let os = match &raw.os {
        None => TargetOs::Any,
        Some(os) => parse_os(text, origin, os)?,
    };

    let mut targets: Vec<Target> = Vec::new();
    let mut origins = vec![ProfileOrigin {
        name: name.clone(),
        origin: origin.to_string(),
        sha256: hex(&Sha256::digest(text.as_bytes())),
    }];
    let mut recipients = Vec::new();
    let mut live: Vec<LiveTarget> = Vec::new();
    let mut commands: Vec<CommandTarget> = Vec::new();
    let mut ioc = hunt::build_ioc(dir, raw.ioc.as_ref());
    let mut sweep = hunt::build_sweep(text, origin, raw.sweep.as_ref())?;
    for include in &raw.include {
        let included = load_spec(include.get_ref(), dir, stack).map_err(|mut e| {
            if e.line.is_none() {
                let (line, column) = line_column(text, include.span().start);
                e.message = format!("{} (included from {origin}:{line}:{column})", e.message);
            }
            e
        })?;
        for target in included.targets {
            if !targets
                .iter()
                .any(|t| t.name == target.name && t.profile == target.profile)
            {
                targets.push(target);
            }
        }
        for o in included.origins {
            if !origins.iter().any(|known| known.origin == o.origin) {
                origins.push(o);
            }
        }
        recipients.extend(included.recipients);
        for entry in included.live {
            if !live.contains(&entry) {
                live.push(entry);
            }
        }
        for entry in included.commands {
            if !commands.iter().any(|c| c.name == entry.name) {
                commands.push(entry);
            }
        }
        hunt::merge(&mut ioc, &mut sweep, included.ioc, included.sweep);
    }
    if let Some(output) = &raw.output {
        for recipient in &output.recipients {
            recipients.push(recipient.get_ref().trim().to_string());
        }
    }
    for raw_target in &raw.targets {
        let target = build_target(text, origin, &name, raw_target)?;
        if targets
            .iter()
            .any(|t| t.name == target.name && t.profile == name)
        {
            return Err(at(
                text,
                origin,
                raw_target.name.span(),
                format!("two targets are named `{}`", target.name),
            ));
        }
        targets.push(target);
    }
    for raw_live in &raw.live {
        let entry = build_live(text, origin, raw_live)?;
        if !live.contains(&entry) {
            live.push(entry);
        }
    }
    for raw_command in &raw.command {
        let entry = build_command(text, origin, raw_command)?;
        if commands.iter().any(|c| c.name == entry.name) {
            return Err(at(
                text,
                origin,
                raw_command.name.span(),
                format!("two commands are named `{}`", entry.name),
            ));
        }
        commands.push(entry);
    }
    Ok(Profile {
        name,
        description: raw.description.trim().to_string(),
        os,
        targets,
        recipients,
        live,
        commands,
        origins,
        text: text.to_string(),
        ioc,
        sweep,
    })
}

fn build_target(
    text: &str,
    origin: &str,
    profile: &str,
    raw: &RawTarget,
) -> Result<Target, ProfileError> {
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() {
        return Err(at(
            text,
            origin,
            raw.name.span(),
            "target `name` is empty".into(),
        ));
    }
    if raw.paths.is_empty() {
        return Err(at(
            text,
            origin,
            raw.name.span(),
            format!("target `{name}` has no `paths`"),
        ));
    }
    let globs = |list: &[toml::Spanned<String>]| -> Result<Vec<Glob>, ProfileError> {
        list.iter()
            .map(|p| {
                Glob::parse(p.get_ref()).map_err(|e| at(text, origin, p.span(), e.to_string()))
            })
            .collect()
    };
    let max_file_size = match &raw.max_file_size {
        None => None,
        Some(size) => {
            Some(parse_size(size.get_ref()).map_err(|e| at(text, origin, size.span(), e))?)
        }
    };
    let parse = match &raw.parse {
        None => None,
        Some(parser) => {
            if !KNOWN_PARSERS.contains(&parser.get_ref().as_str()) {
                return Err(at(
                    text,
                    origin,
                    parser.span(),
                    format!(
                        "unknown parser `{}`: use one of {}",
                        parser.get_ref(),
                        KNOWN_PARSERS.join(", ")
                    ),
                ));
            }
            Some(parser.get_ref().clone())
        }
    };
    let since = match &raw.since {
        None => None,
        Some(since) => Some(parse_duration(text, origin, since)?),
    };
    Ok(Target {
        name,
        description: raw.description.trim().to_string(),
        profile: profile.to_string(),
        paths: globs(&raw.paths)?,
        exclude: globs(&raw.exclude)?,
        max_file_size,
        parse,
        event_ids: raw.event_ids.clone(),
        since,
    })
}

fn parse_os(
    text: &str,
    origin: &str,
    os: &toml::Spanned<String>,
) -> Result<TargetOs, ProfileError> {
    match os.get_ref().as_str() {
        "linux" => Ok(TargetOs::Linux),
        "windows" => Ok(TargetOs::Windows),
        "macos" => Ok(TargetOs::Macos),
        "any" => Ok(TargetOs::Any),
        other => Err(at(
            text,
            origin,
            os.span(),
            format!("unknown os `{other}`: use linux, windows, macos or any"),
        )),
    }
}

fn parse_duration(
    text: &str,
    origin: &str,
    value: &toml::Spanned<String>,
) -> Result<std::time::Duration, ProfileError> {
    humantime::parse_duration(value.get_ref()).map_err(|e| {
        at(
            text,
            origin,
            value.span(),
            format!(
                "`{}` is not a duration ({e}): write e.g. `30s`, `10m`, `30d`",
                value.get_ref()
            ),
        )
    })
}

fn build_live(text: &str, origin: &str, raw: &RawLive) -> Result<LiveTarget, ProfileError> {
    let kind = raw.kind.get_ref().trim().to_string();
    if !KNOWN_LIVE_KINDS.contains(&kind.as_str()) {
        return Err(at(
            text,
            origin,
            raw.kind.span(),
            format!(
                "unknown live kind `{kind}`: use one of {}",
                KNOWN_LIVE_KINDS.join(", ")
            ),
        ));
    }
    let paths = raw
        .paths
        .iter()
        .map(|p| Glob::parse(p.get_ref()).map_err(|e| at(text, origin, p.span(), e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LiveTarget {
        name: raw.name.clone().unwrap_or_else(|| kind.clone()),
        kind,
        paths,
    })
}

fn build_command(
    text: &str,
    origin: &str,
    raw: &RawCommand,
) -> Result<CommandTarget, ProfileError> {
    let name = raw.name.get_ref().trim().to_string();
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err(at(
            text,
            origin,
            raw.name.span(),
            "command `name` must be letters, digits, `-`, `_` or `.` (it names the output file)"
                .into(),
        ));
    }
    let argv = raw.argv.get_ref().clone();
    match argv.first() {
        Some(program) if program.starts_with('/') => {}
        _ => {
            return Err(at(
                text,
                origin,
                raw.argv.span(),
                "`argv` must start with the program's absolute path (no shell, no PATH lookup)"
                    .into(),
            ))
        }
    }
    let timeout = match &raw.timeout {
        None => std::time::Duration::from_secs(60),
        Some(t) => parse_duration(text, origin, t)?,
    };
    let os = match &raw.os {
        None => None,
        Some(os) => Some(parse_os(text, origin, os)?),
    };
    Ok(CommandTarget {
        name,
        argv,
        timeout,
        os,
    })
}

/// Lowercase hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    // By table, not `write!` per byte: two hashes per collected file.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_profile_parses() {
        for (name, _) in EMBEDDED {
            let profile = Profile::load(name).expect("embedded profile is valid");
            assert_eq!(profile.name, *name);
            assert!(!profile.targets.is_empty(), "{name} has targets");
        }
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let text = "name = \"x\"\n[[target]]\nname = \"a\"\npathz = [\"/a\"]\n";
        let err = Profile::from_toml(text, "x.toml").expect_err("unknown key");
        assert_eq!((err.line, err.column), (Some(4), Some(1)));
        assert!(err.message.contains("pathz"), "{err}");
        assert!(err.to_string().starts_with("x.toml:4:1: "), "{err}");
    }

    #[test]
    fn bad_glob_and_size_are_located() {
        let text = "name = \"x\"\n[[target]]\nname = \"a\"\npaths = [\"/ok\", \"relative/x\"]\n";
        let err = Profile::from_toml(text, "x.toml").expect_err("bad glob");
        assert_eq!((err.line, err.column), (Some(4), Some(17)));
        assert!(err.message.contains("absolute"), "{err}");

        let text = "name = \"x\"\n[[target]]\nname = \"a\"\npaths = [\"/a\"]\nmax_file_size = \"5 parsecs\"\n";
        let err = Profile::from_toml(text, "x.toml").expect_err("bad size");
        assert_eq!(err.line, Some(5));
        assert!(err.message.contains("parsecs"), "{err}");
    }

    #[test]
    fn include_cycle_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("a.toml"),
            "name = \"a\"\ninclude = [\"b.toml\"]\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("b.toml"),
            "name = \"b\"\ninclude = [\"a.toml\"]\n",
        )
        .expect("write");
        let path = dir.path().join("a.toml");
        let err = Profile::load(&path.display().to_string()).expect_err("cycle");
        assert!(err.message.contains("cycle"), "{err}");
    }

    #[test]
    fn includes_merge_targets_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("top.toml"),
            "name = \"top\"\ninclude = [\"linux-minimal\", \"linux-minimal\"]\n[[target]]\nname = \"x\"\npaths = [\"/x\"]\n",
        )
        .expect("write");
        let profile =
            Profile::load(&dir.path().join("top.toml").display().to_string()).expect("load");
        let minimal = Profile::load("linux-minimal").expect("embedded");
        assert_eq!(profile.targets.len(), minimal.targets.len() + 1);
        assert_eq!(profile.origins.len(), 2);
    }
}
