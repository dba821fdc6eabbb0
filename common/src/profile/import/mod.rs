//! Importers: KAPE `.tkape` targets and ForensicArtifacts YAML definitions
//! turned into sealbag TOML profiles (cargo feature `import`).
//!
//! Responders keep years of collection knowledge in those two formats. An
//! import reads every definition, converts what sealbag can express, and
//! says precisely what it could not: every definition ends up either in
//! [`ImportReport::converted`] (perhaps with notes about what was dropped or
//! approximated) or in [`ImportReport::failed`] with a reason, never silently
//! lost. [`write_profiles`] then writes one TOML file per converted
//! definition; each loads with [`crate::profile::Profile::load`].
//!
//! ```
//! use sealbag_common::profile::import::{kape_from_texts, render};
//! let report = kape_from_texts(&[(
//!     "SAM.tkape".into(),
//!     "Description: SAM\nTargets:\n  -\n    Name: SAM\n    Path: C:\\Windows\\System32\\config\\\n    FileMask: SAM\n".into(),
//! )]);
//! let toml = render(&report.converted[0]);
//! assert!(toml.contains("\"/Windows/System32/config/SAM\""));
//! ```
//!
//! The YAML parser is yaml-rust2 (pure safe Rust, maintained, YAML 1.2),
//! read through its event API so nesting is bounded and aliases refused.

mod artifacts;
mod kape;
mod write;
mod yaml;

use std::collections::{BTreeMap, HashMap};

pub use artifacts::{artifacts_from_texts, import_artifacts, KB_VARIABLES};
pub use kape::{import_kape, kape_from_texts, KAPE_VARIABLES};
pub use write::{render, write_profiles, WriteOutcome};

/// Largest definition file read (KAPE targets are a few KiB, the largest
/// ForensicArtifacts file about 200 KiB).
pub const MAX_DEFINITION_BYTES: u64 = 4 << 20;
/// Most files one import reads (a KapeFiles checkout has about 400).
pub const MAX_DEFINITION_FILES: usize = 100_000;

/// One `[[target]]` of a profile being written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftTarget {
    /// The target's name (unique in its profile).
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Globs, as they will be written.
    pub paths: Vec<String>,
    /// `max_file_size` in bytes.
    pub max_file_size: Option<u64>,
    /// Comment lines written above `paths` (provenance, kept KAPE attributes).
    pub comments: Vec<String>,
}

/// A converted definition: the profile to write and what could not be carried over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// Profile name (also the file stem): a lowercase slug.
    pub name: String,
    /// The definition's own name (target file stem, artifact name).
    pub original: String,
    /// Where it came from (file, and artifact name for ForensicArtifacts).
    pub source: String,
    /// Profile description.
    pub description: String,
    /// Profile `os`.
    pub os: &'static str,
    /// Names of other converted profiles this one includes.
    pub include: Vec<String>,
    /// The targets.
    pub targets: Vec<DraftTarget>,
    /// Comment lines for the top of the file (authors, documentation links).
    pub header: Vec<String>,
    /// What was dropped, approximated or changed, one precise sentence each.
    pub notes: Vec<String>,
}

/// A definition that could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The definition's name (file stem or artifact name; the file when unreadable).
    pub name: String,
    /// Where it came from.
    pub source: String,
    /// Why it was not converted.
    pub reason: String,
}

/// The outcome of one import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Definitions converted, sorted by profile name.
    pub converted: Vec<Converted>,
    /// Definitions not converted, each with its reason.
    pub failed: Vec<Failure>,
    /// Sources sealbag cannot collect as files (`REGISTRY_KEY`, `WMI`…), counted by type.
    pub not_convertible: BTreeMap<String, usize>,
}

impl ImportReport {
    /// A human summary: one line per failure and per converted definition
    /// with notes, then the totals.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for c in &self.converted {
            for note in &c.notes {
                out.push_str(&format!("note: {} ({}): {note}\n", c.original, c.name));
            }
        }
        for f in &self.failed {
            out.push_str(&format!(
                "FAILED: {} ({}): {}\n",
                f.name, f.source, f.reason
            ));
        }
        if !self.not_convertible.is_empty() {
            let counts: Vec<String> = self
                .not_convertible
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect();
            out.push_str(&format!(
                "sources sealbag does not collect as files: {}\n",
                counts.join(", ")
            ));
        }
        let with_notes = self
            .converted
            .iter()
            .filter(|c| !c.notes.is_empty())
            .count();
        out.push_str(&format!(
            "{} converted ({with_notes} with notes), {} failed, {} in all\n",
            self.converted.len(),
            self.failed.len(),
            self.converted.len() + self.failed.len()
        ));
        out
    }
}

/// Why an import could not run at all (as opposed to one definition failing).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// A path given on the command line could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Too many files under the paths given.
    #[error("more than {MAX_DEFINITION_FILES} definition files under the paths given")]
    TooManyFiles,
    /// The output folder could not be made.
    #[error("cannot create output folder {path}: {source}")]
    Output {
        /// The folder.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A lowercase slug for a profile name: ASCII letters and digits, words
/// joined by `-`; CamelCase is split (`RegistryHivesSystem` →
/// `registry-hives-system`, `$MFT` → `mft`, `NETCLRUsageLogs` →
/// `netclr-usage-logs`); `+`, `&` and `#` are spelt out (`Notepad++` →
/// `notepad-plus-plus`, so it does not collide with `Notepad`). `None` when
/// nothing is left.
pub fn slug(name: &str) -> Option<String> {
    let spelt = name
        .replace('+', "-plus-")
        .replace('&', "-and-")
        .replace('#', "-sharp-");
    let chars: Vec<char> = spelt.chars().collect();
    let mut out = String::new();
    let mut pending_dash = false;
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            pending_dash = true;
            continue;
        }
        if i > 0 && c.is_ascii_uppercase() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                pending_dash = true;
            }
        }
        if pending_dash && !out.is_empty() {
            out.push('-');
        }
        pending_dash = false;
        out.push(c.to_ascii_lowercase());
        if out.len() >= 120 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_string();
    (!out.is_empty()).then_some(out)
}

/// A definition read and converted on its own, before includes are checked
/// against the other definitions. References to definitions that failed on
/// their own are noted by the importer and left out of `includes`.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub converted: Converted,
    /// Includes: the reference as written, and the index of the pending
    /// definition it resolved to (`None`: not among those imported).
    pub includes: Vec<(String, Option<usize>)>,
}

/// Resolves includes between definitions: drops references to definitions
/// that are missing or failed (with a note), fails every definition on an
/// include cycle, and fails those left with nothing to collect.
pub(crate) fn resolve(
    pending: Vec<Pending>,
    mut failed: Vec<Failure>,
    not_convertible: BTreeMap<String, usize>,
) -> ImportReport {
    let n = pending.len();
    let mut dead: Vec<Option<String>> = vec![None; n];
    // Cycles: a definition that can reach itself through includes.
    for (start, slot) in dead.iter_mut().enumerate() {
        if let Some(path) = cycle_through(&pending, start) {
            let names: Vec<&str> = path
                .iter()
                .map(|&i| pending[i].converted.original.as_str())
                .collect();
            *slot = Some(format!("include cycle: {}", names.join(" -> ")));
        }
    }
    let mut items = pending;
    for item in &mut items {
        let mut kept = Vec::new();
        for (reference, target) in std::mem::take(&mut item.includes) {
            match target {
                Some(t) => kept.push((reference, Some(t))),
                None => item.converted.notes.push(format!(
                    "include of `{reference}` dropped: no such definition among those imported"
                )),
            }
        }
        item.includes = kept;
    }
    // Propagate failures until nothing changes.
    loop {
        let mut changed = false;
        for i in 0..n {
            if dead[i].is_some() {
                continue;
            }
            let mut kept = Vec::new();
            for (reference, target) in std::mem::take(&mut items[i].includes) {
                let t = target.unwrap_or(i);
                if dead[t].is_some() {
                    let other = items[t].converted.original.clone();
                    items[i].converted.notes.push(format!(
                        "include of `{reference}` dropped: `{other}` was not converted"
                    ));
                    changed = true;
                } else {
                    kept.push((reference, target));
                }
            }
            items[i].includes = kept;
            if items[i].converted.targets.is_empty() && items[i].includes.is_empty() {
                let mut reason = "nothing left to collect".to_string();
                let notes = &items[i].converted.notes;
                if !notes.is_empty() {
                    reason.push_str(": ");
                    reason.push_str(&notes[..notes.len().min(5)].join("; "));
                    if notes.len() > 5 {
                        reason.push_str(&format!("; and {} more", notes.len() - 5));
                    }
                }
                dead[i] = Some(reason);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let names: Vec<String> = items.iter().map(|p| p.converted.name.clone()).collect();
    let mut converted = Vec::new();
    for (i, mut item) in items.into_iter().enumerate() {
        match dead[i].take() {
            Some(reason) => failed.push(Failure {
                name: item.converted.original.clone(),
                source: item.converted.source.clone(),
                reason,
            }),
            None => {
                let mut include: Vec<String> = Vec::new();
                for (_, target) in &item.includes {
                    if let Some(t) = target {
                        if !include.contains(&names[*t]) {
                            include.push(names[*t].clone());
                        }
                    }
                }
                item.converted.include = include;
                converted.push(item.converted);
            }
        }
    }
    converted.sort_by(|a, b| a.name.cmp(&b.name));
    failed.sort_by(|a, b| a.source.cmp(&b.source).then(a.name.cmp(&b.name)));
    ImportReport {
        converted,
        failed,
        not_convertible,
    }
}

/// The shortest include path from `start` back to itself, if there is one.
fn cycle_through(pending: &[Pending], start: usize) -> Option<Vec<usize>> {
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = std::collections::VecDeque::new();
    for (_, t) in &pending[start].includes {
        if let Some(t) = *t {
            if t == start {
                return Some(vec![start, start]);
            }
            if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(t) {
                e.insert(start);
                queue.push_back(t);
            }
        }
    }
    while let Some(node) = queue.pop_front() {
        for (_, t) in &pending[node].includes {
            let Some(t) = *t else { continue };
            if t == start {
                let mut path = vec![start, node];
                let mut cur = node;
                while let Some(&p) = parent.get(&cur) {
                    if p == start {
                        break;
                    }
                    path.insert(1, p);
                    cur = p;
                }
                path.push(start);
                return Some(path);
            }
            if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(t) {
                e.insert(node);
                queue.push_back(t);
            }
        }
    }
    None
}

/// Reads one definition file, capped at [`MAX_DEFINITION_BYTES`], as UTF-8.
pub(crate) fn read_definition(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_DEFINITION_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_DEFINITION_BYTES {
        return Err(format!("larger than {MAX_DEFINITION_BYTES} bytes"));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Every file under `paths` (files as given, folders walked without
/// following links) whose name ends with one of `extensions`
/// (case-insensitive), sorted; with the folder each path was found under.
pub(crate) fn collect_files(
    paths: &[std::path::PathBuf],
    extensions: &[&str],
) -> Result<Vec<(std::path::PathBuf, std::path::PathBuf)>, ImportError> {
    let wanted = |p: &std::path::Path| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        extensions.iter().any(|e| name.ends_with(e))
    };
    let mut out = Vec::new();
    for root in paths {
        let meta = std::fs::metadata(root).map_err(|e| ImportError::Read {
            path: root.display().to_string(),
            source: e,
        })?;
        if !meta.is_dir() {
            let base = root
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default();
            out.push((root.clone(), base));
            continue;
        }
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| ImportError::Read {
                path: dir.display().to_string(),
                source: e,
            })?;
            for entry in entries {
                let entry = entry.map_err(|e| ImportError::Read {
                    path: dir.display().to_string(),
                    source: e,
                })?;
                let kind = entry.file_type().map_err(|e| ImportError::Read {
                    path: entry.path().display().to_string(),
                    source: e,
                })?;
                let path = entry.path();
                if kind.is_dir() {
                    stack.push(path);
                } else if kind.is_file() && wanted(&path) {
                    out.push((path, root.clone()));
                    if out.len() > MAX_DEFINITION_FILES {
                        return Err(ImportError::TooManyFiles);
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

/// Escapes glob metacharacters that are literal in the source format
/// (`[`, `]`, `{`, `}`) as one-character classes, keeping `*` and `?`.
pub(crate) fn escape_literal(component: &str) -> String {
    let mut out = String::with_capacity(component.len());
    for c in component.chars() {
        match c {
            '[' => out.push_str("[[]"),
            ']' => out.push_str("[]]"),
            '{' => out.push_str("[{]"),
            '}' => out.push_str("[}]"),
            c => out.push(c),
        }
    }
    out
}

/// Checks that `glob` is one sealbag accepts; the message says why not.
pub(crate) fn check_glob(glob: &str) -> Result<(), String> {
    crate::glob::Glob::parse(glob)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(
            slug("RegistryHivesSystem").as_deref(),
            Some("registry-hives-system")
        );
        assert_eq!(slug("$MFT").as_deref(), Some("mft"));
        assert_eq!(slug("$MFTMirr").as_deref(), Some("mft-mirr"));
        assert_eq!(
            slug("NETCLRUsageLogs").as_deref(),
            Some("netclr-usage-logs")
        );
        assert_eq!(slug("EventLogs-RDP").as_deref(), Some("event-logs-rdp"));
        assert_eq!(slug("!SANS_Triage").as_deref(), Some("sans-triage"));
        assert_eq!(
            slug("360SecureBrowser").as_deref(),
            Some("360-secure-browser")
        );
        assert_eq!(slug("$%!").as_deref(), None);
        assert_eq!(slug("Notepad++").as_deref(), Some("notepad-plus-plus"));
    }

    #[test]
    fn escapes_brackets_and_braces() {
        let e = escape_literal("{86432a0b}[x]*");
        assert_eq!(e, "[{]86432a0b[}][[]x[]]*");
        let glob = crate::glob::Glob::parse(&format!("/a/{e}")).expect("valid");
        assert!(glob.matches_path(b"/a/{86432a0b}[x]yz", true));
        assert!(!glob.matches_path(b"/a/86432a0b", true));
    }

    fn pending(name: &str, includes: Vec<Option<usize>>, targets: usize) -> Pending {
        Pending {
            converted: Converted {
                name: name.to_lowercase(),
                original: name.into(),
                source: format!("{name}.tkape"),
                description: String::new(),
                os: "windows",
                include: vec![],
                targets: (0..targets)
                    .map(|i| DraftTarget {
                        name: format!("t{i}"),
                        description: String::new(),
                        paths: vec!["/x".into()],
                        max_file_size: None,
                        comments: vec![],
                    })
                    .collect(),
                header: vec![],
                notes: vec![],
            },
            includes: includes
                .into_iter()
                .map(|t| (format!("{t:?}"), t))
                .collect(),
        }
    }

    #[test]
    fn cycles_fail_and_failures_propagate() {
        // A -> B -> A is a cycle; C includes A (dead) and has nothing else;
        // D includes C and a missing one but has its own target.
        let report = resolve(
            vec![
                pending("A", vec![Some(1)], 0),
                pending("B", vec![Some(0)], 1),
                pending("C", vec![Some(0)], 0),
                pending("D", vec![Some(2), None], 1),
            ],
            vec![],
            BTreeMap::new(),
        );
        let failed: Vec<(&str, &str)> = report
            .failed
            .iter()
            .map(|f| (f.name.as_str(), f.reason.as_str()))
            .collect();
        assert_eq!(failed.len(), 3, "{failed:?}");
        assert_eq!(failed[0], ("A", "include cycle: A -> B -> A"));
        assert_eq!(failed[1], ("B", "include cycle: B -> A -> B"));
        assert!(failed[2]
            .1
            .starts_with("nothing left to collect: include of"));
        assert_eq!(report.converted.len(), 1);
        assert_eq!(report.converted[0].notes.len(), 2);
        assert!(report.converted[0].include.is_empty());
    }
}
