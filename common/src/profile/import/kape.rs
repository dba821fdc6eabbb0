//! KAPE `.tkape` targets → profiles.
//!
//! A target file has `Description`, `Author`, `Version`, `Id`,
//! `RecreateDirectories` and a list `Targets` of entries. An entry either
//! names files (`Path`, `FileMask`, `Recursive`, `MinSize`, `MaxSize`,
//! `AlwaysAddToQueue`, `SaveAsFileName`, `Comment`, `Category`, `Name`) or,
//! when its `Path` ends in `.tkape`, another target to include (a compound
//! target). Conversion:
//!
//! - `Path` drops its drive letter and turns `\` into `/`
//!   (`C:\Windows\System32\config` → `/Windows/System32/config`);
//!   `[`, `]`, `{`, `}` are literal in KAPE and escaped; `**` collapses to
//!   `*` (KAPE has no any-depth wildcard in a path).
//! - `FileMask` is appended (`SAM` → `…/config/SAM`), `*` when absent;
//!   `Recursive: true` puts `**` before it (`…/**/MASK`);
//!   `regex:.*\.(a|b)` becomes `*.{a,b}`; other regular expressions fail the entry.
//! - Variables: see [`KAPE_VARIABLES`]; any other `%name%` fails the entry.
//! - `MaxSize` → `max_file_size`; `MinSize` has no equivalent (noted);
//!   `AlwaysAddToQueue` needs nothing (kept as a comment); `SaveAsFileName`
//!   is not applied (sealbag keeps original paths; noted); `Comment` → the
//!   target's description; `Category` → a comment.
//! - Entries with the same `Name` and size limit become one `[[target]]`.
//! - Targets under a folder whose name starts with `!` (KapeFiles'
//!   `!Disabled`, which KAPE does not load) get a `disabled-` name prefix
//!   and are never chosen for an include when an enabled target has the name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::yaml::{parse_documents, Node};
use super::{
    check_glob, collect_files, escape_literal, read_definition, resolve, slug, Converted,
    DraftTarget, Failure, ImportError, ImportReport, Pending,
};

/// KAPE path variables and what they become (case-insensitive). `%user%`
/// is KAPE's own; the others are Windows environment variables people write
/// in custom targets, accepted at the start of a `Path` only.
pub const KAPE_VARIABLES: &[(&str, &str)] = &[
    ("%user%", "*"),
    (
        "%users%",
        "* (a misspelling of %user% in KapeFiles; read as %user%)",
    ),
    ("%systemdrive%", "(nothing: the root of the volume)"),
    ("%systemroot%", "/Windows"),
    ("%windir%", "/Windows"),
    ("%programdata%", "/ProgramData"),
    ("%allusersprofile%", "/ProgramData"),
    ("%programfiles%", "/Program Files"),
    ("%programfiles(x86)%", "/Program Files (x86)"),
    ("%public%", "/Users/Public"),
    ("%userprofile%", "/Users/*"),
    ("%appdata%", "/Users/*/AppData/Roaming"),
    ("%localappdata%", "/Users/*/AppData/Local"),
    ("%temp%", "/Users/*/AppData/Local/Temp"),
];

/// Environment variables (lowercase, with `%`) accepted at the start of a path.
fn leading_variable(name: &str) -> Option<&'static str> {
    Some(match name {
        "%systemdrive%" => "",
        "%systemroot%" | "%windir%" => "\\Windows",
        "%programdata%" | "%allusersprofile%" => "\\ProgramData",
        "%programfiles%" => "\\Program Files",
        "%programfiles(x86)%" => "\\Program Files (x86)",
        "%public%" => "\\Users\\Public",
        "%userprofile%" => "\\Users\\%user%",
        "%appdata%" => "\\Users\\%user%\\AppData\\Roaming",
        "%localappdata%" => "\\Users\\%user%\\AppData\\Local",
        "%temp%" => "\\Users\\%user%\\AppData\\Local\\Temp",
        _ => return None,
    })
}

/// Reads every `.tkape` file given (files, or folders walked for them) and converts them.
pub fn import_kape(paths: &[PathBuf]) -> Result<ImportReport, ImportError> {
    let files = collect_files(paths, &[".tkape"])?;
    let mut texts = Vec::new();
    let mut failed = Vec::new();
    for (file, base) in files {
        let shown = display_relative(&file, &base);
        match read_definition(&file) {
            Ok(text) => texts.push((shown, text)),
            Err(reason) => failed.push(Failure {
                name: stem(&shown),
                source: shown,
                reason,
            }),
        }
    }
    let mut report = kape_from_texts(&texts);
    report.failed.extend(failed);
    report
        .failed
        .sort_by(|a, b| a.source.cmp(&b.source).then(a.name.cmp(&b.name)));
    Ok(report)
}

fn display_relative(file: &Path, base: &Path) -> String {
    let rel = file.strip_prefix(base).unwrap_or(file);
    let text = rel.display().to_string();
    if text.is_empty() {
        file.display().to_string()
    } else {
        text
    }
}

fn stem(shown: &str) -> String {
    let name = shown.rsplit(['/', '\\']).next().unwrap_or(shown);
    name.strip_suffix(".tkape")
        .or_else(|| name.strip_suffix(".TKAPE"))
        .unwrap_or(name)
        .to_string()
}

/// Whether a file shown as `shown` sits under a folder starting with `!`.
fn disabled(shown: &str) -> bool {
    let mut parts: Vec<&str> = shown.split(['/', '\\']).collect();
    parts.pop();
    parts.iter().any(|p| p.starts_with('!'))
}

/// Converts `.tkape` texts given as `(file name shown, text)`; includes are
/// resolved among them by target name (the file stem, case-insensitive).
pub fn kape_from_texts(texts: &[(String, String)]) -> ImportReport {
    let mut pending: Vec<Pending> = Vec::new();
    let mut include_names: Vec<Vec<(String, String)>> = Vec::new();
    let mut failed = Vec::new();
    let mut taken: BTreeMap<String, String> = BTreeMap::new();
    for (shown, text) in texts {
        let original = stem(shown);
        let is_disabled = disabled(shown);
        let fail = |reason: String| Failure {
            name: original.clone(),
            source: shown.clone(),
            reason,
        };
        let Some(base) = slug(&original) else {
            failed.push(fail(format!(
                "`{original}` has no letters or digits to name a profile with"
            )));
            continue;
        };
        let name = if is_disabled {
            format!("disabled-{base}")
        } else {
            base
        };
        if let Some(other) = taken.get(&name) {
            failed.push(fail(format!(
                "its profile name `{name}` is already taken by {other}"
            )));
            continue;
        }
        match convert_file(shown, &original, &name, text) {
            Ok((mut converted, includes)) => {
                if is_disabled {
                    converted.notes.push(
                        "in a `!` folder (KapeFiles' `!Disabled`): KAPE does not load it".into(),
                    );
                }
                taken.insert(name, shown.clone());
                pending.push(Pending {
                    converted,
                    includes: Vec::new(),
                });
                include_names.push(includes);
            }
            Err(reason) => failed.push(fail(reason)),
        }
    }
    // Resolve includes by target name, preferring enabled targets.
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    for (i, p) in pending.iter().enumerate() {
        let key = p.converted.original.to_lowercase();
        let enabled = !disabled(&p.converted.source);
        match by_name.get(&key) {
            Some(&j) if !disabled(&pending[j].converted.source) || !enabled => {}
            _ => {
                by_name.insert(key, i);
            }
        }
    }
    let failed_names: BTreeMap<String, String> = failed
        .iter()
        .map(|f: &Failure| (f.name.to_lowercase(), f.reason.clone()))
        .collect();
    for (i, includes) in include_names.into_iter().enumerate() {
        for (entry, target) in includes {
            let resolved = by_name.get(&target.to_lowercase()).copied();
            let reference = format!("{target}.tkape");
            if resolved.is_none() {
                if let Some(reason) = failed_names.get(&target.to_lowercase()) {
                    pending[i].converted.notes.push(format!(
                        "include of `{reference}` dropped: it was not converted ({reason})"
                    ));
                    continue;
                }
            }
            if resolved.is_some() {
                pending[i]
                    .converted
                    .header
                    .push(format!("includes {reference} (entry `{entry}`)"));
            }
            pending[i].includes.push((reference, resolved));
        }
    }
    for p in &mut pending {
        if p.includes.is_empty() {
            continue;
        }
        // Keep the include comments together after the other header lines.
        let (incl, other): (Vec<String>, Vec<String>) = std::mem::take(&mut p.converted.header)
            .into_iter()
            .partition(|l| l.starts_with("includes "));
        p.converted.header = other;
        p.converted.header.extend(incl);
    }
    resolve(pending, failed, BTreeMap::new())
}

/// An entry, converted.
enum Entry {
    Files {
        name: String,
        glob: String,
        description: String,
        category: Option<String>,
        max_size: Option<u64>,
        comments: Vec<String>,
    },
    /// Include the target with this name (file stem).
    Include { name: String, target: String },
}

const TOP_KEYS: &[&str] = &[
    "Description",
    "Author",
    "Version",
    "Id",
    "RecreateDirectories",
    "Targets",
];
const ENTRY_KEYS: &[&str] = &[
    "Name",
    "Category",
    "Path",
    "FileMask",
    "Recursive",
    "Comment",
    "AlwaysAddToQueue",
    "SaveAsFileName",
    "MinSize",
    "MaxSize",
];

type FileResult = (Converted, Vec<(String, String)>);

fn convert_file(shown: &str, original: &str, name: &str, text: &str) -> Result<FileResult, String> {
    let documents = parse_documents(text).map_err(|e| format!("not valid YAML: {shown}:{e}"))?;
    let doc = match documents.as_slice() {
        [doc] => doc,
        [] => return Err("the file is empty".into()),
        more => {
            return Err(format!(
                "{} YAML documents; a target file holds one",
                more.len()
            ))
        }
    };
    let Some(map) = doc.as_map() else {
        return Err(format!(
            "the file is {}, not a mapping with `Targets`",
            doc.kind()
        ));
    };
    let mut notes = Vec::new();
    for (key, node) in map {
        if !TOP_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            notes.push(format!("unknown key `{key}` (line {}) ignored", node.line));
        }
    }
    let text_of = |key: &str| -> Option<String> {
        doc.get(key)
            .and_then(Node::as_str)
            .map(|s| s.trim().to_string())
    };
    let description = text_of("Description").unwrap_or_default();
    let mut header = Vec::new();
    let provenance: Vec<String> = ["Author", "Version", "Id"]
        .iter()
        .filter_map(|k| text_of(k).map(|v| format!("{k}: {v}")))
        .collect();
    if !provenance.is_empty() {
        header.push(format!("KAPE target {original}: {}", provenance.join("; ")));
    }
    let documentation = comment_lines(text);
    if !documentation.is_empty() {
        header.push("From the target file:".into());
        header.extend(documentation);
    }
    let entries = match doc.get("Targets") {
        None => return Err("no `Targets` list".into()),
        Some(node) => match node.as_seq() {
            Some(items) if !items.is_empty() => items,
            Some(_) => return Err("`Targets` is empty".into()),
            None if node.is_null() => return Err("`Targets` is empty".into()),
            None => {
                return Err(format!(
                    "`Targets` (line {}) is {}, not a list",
                    node.line,
                    node.kind()
                ))
            }
        },
    };
    let mut groups: Vec<DraftTarget> = Vec::new();
    let mut group_keys: Vec<(String, Option<u64>)> = Vec::new();
    let mut includes = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let label = match entry.get("Name").and_then(Node::as_str) {
            Some(n) => format!("entry {} `{}` (line {})", index + 1, n.trim(), entry.line),
            None => format!("entry {} (line {})", index + 1, entry.line),
        };
        match convert_entry(entry, &mut notes, &label) {
            Err(reason) => notes.push(format!("{label} dropped: {reason}")),
            Ok(Entry::Include { name, target }) => includes.push((name, target)),
            Ok(Entry::Files {
                name,
                glob,
                description,
                category,
                max_size,
                comments,
            }) => {
                let key = (name.clone(), max_size);
                let position = group_keys.iter().position(|k| *k == key);
                let group = match position {
                    Some(p) => &mut groups[p],
                    None => {
                        // Same name, different size limit: a distinct target name.
                        let mut unique = name.clone();
                        let mut n = 2;
                        while groups.iter().any(|g| g.name == unique) {
                            unique = format!("{name} ({n})");
                            n += 1;
                        }
                        group_keys.push(key);
                        groups.push(DraftTarget {
                            name: unique,
                            description: String::new(),
                            paths: Vec::new(),
                            max_file_size: max_size,
                            comments: Vec::new(),
                        });
                        let last = groups.len() - 1;
                        &mut groups[last]
                    }
                };
                if !description.is_empty() && !group.description.contains(&description) {
                    if !group.description.is_empty() {
                        group.description.push(' ');
                    }
                    group.description.push_str(&description);
                }
                if let Some(category) = category {
                    let line = format!("KAPE category: {category}");
                    if !group.comments.contains(&line) {
                        group.comments.push(line);
                    }
                }
                for c in comments {
                    if !group.comments.contains(&c) {
                        group.comments.push(c);
                    }
                }
                if !group.paths.contains(&glob) {
                    group.paths.push(glob);
                }
            }
        }
    }
    if groups.is_empty() && includes.is_empty() {
        return Err(format!("no entry could be converted: {}", notes.join("; ")));
    }
    Ok((
        Converted {
            name: name.to_string(),
            original: original.to_string(),
            source: shown.to_string(),
            description: if description.is_empty() {
                format!("KAPE target {original}")
            } else {
                description
            },
            os: "windows",
            include: Vec::new(),
            targets: groups,
            header,
            notes,
        },
        includes,
    ))
}

/// `#` comment lines at the start of a line (KapeFiles' `# Documentation` block).
fn comment_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .take(50)
        .collect()
}

fn convert_entry(entry: &Node, notes: &mut Vec<String>, label: &str) -> Result<Entry, String> {
    let Some(map) = entry.as_map() else {
        return Err(format!("it is {}, not a mapping", entry.kind()));
    };
    for (key, node) in map {
        if !ENTRY_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            notes.push(format!(
                "{label}: unknown key `{key}` (line {}) ignored",
                node.line
            ));
        }
    }
    let text = |key: &str| -> Result<Option<String>, String> {
        match entry.get(key) {
            None => Ok(None),
            Some(n) if n.is_null() => Ok(None),
            Some(n) => n
                .as_str()
                .map(|s| Some(s.trim().to_string()))
                .ok_or_else(|| format!("`{key}` (line {}) is {}, not text", n.line, n.kind())),
        }
    };
    let flag = |key: &str| -> Result<bool, String> {
        match entry.get(key) {
            None => Ok(false),
            Some(n) if n.is_null() => Ok(false),
            Some(n) => n
                .as_bool()
                .ok_or_else(|| format!("`{key}` (line {}) is not `true` or `false`", n.line)),
        }
    };
    let size = |key: &str| -> Result<Option<u64>, String> {
        match text(key)? {
            None => Ok(None),
            Some(s) => s
                .parse::<u64>()
                .map(Some)
                .map_err(|_| format!("`{key}` `{s}` is not a whole number of bytes")),
        }
    };
    let name = text("Name")?.unwrap_or_default();
    let Some(path) = text("Path")? else {
        return Err("no `Path`".into());
    };
    if path.to_ascii_lowercase().ends_with(".tkape") {
        let target = path.rsplit(['\\', '/']).next().unwrap_or(&path);
        let target = target[..target.len() - ".tkape".len()].to_string();
        for key in [
            "FileMask",
            "Recursive",
            "MinSize",
            "MaxSize",
            "SaveAsFileName",
        ] {
            if entry.get(key).is_some_and(|n| !n.is_null()) {
                notes.push(format!(
                    "{label}: `{key}` has no meaning on an include of another target; ignored"
                ));
            }
        }
        return Ok(Entry::Include {
            name: if name.is_empty() {
                target.clone()
            } else {
                name
            },
            target,
        });
    }
    if name.is_empty() {
        return Err("no `Name`".into());
    }
    let base = convert_path(&path, label, notes)?;
    let mask = text("FileMask")?.unwrap_or_else(|| "*".to_string());
    let recursive = flag("Recursive")?;
    let mask_glob = convert_mask(&mask, label, notes)?;
    if mask == "*" && !recursive {
        notes.push(format!(
            "{label}: KAPE's `*` takes only the files of `{path}`; sealbag's `*` also takes its subfolders whole"
        ));
    }
    let glob = if recursive {
        format!("{base}/**/{mask_glob}")
    } else {
        format!("{base}/{mask_glob}")
    };
    let glob = glob.replace("//", "/");
    check_glob(&glob)?;
    let mut comments = Vec::new();
    if flag("AlwaysAddToQueue")? {
        comments.push(format!(
            "KAPE AlwaysAddToQueue (`{mask}`): sealbag has no de-duplication queue, every match is taken"
        ));
    }
    if let Some(save_as) = text("SaveAsFileName")? {
        comments.push(format!(
            "KAPE SaveAsFileName `{save_as}` for `{mask}`: sealbag keeps the original path"
        ));
        notes.push(format!(
            "{label}: `SaveAsFileName: {save_as}` not applied (sealbag stores files at their original path)"
        ));
    }
    if let Some(min) = size("MinSize")? {
        notes.push(format!(
            "{label}: `MinSize: {min}` dropped (sealbag has no minimum size; smaller files are taken too)"
        ));
    }
    let max_size = size("MaxSize")?;
    Ok(Entry::Files {
        name,
        glob,
        description: text("Comment")?.unwrap_or_default(),
        category: text("Category")?,
        max_size,
        comments,
    })
}

/// `C:\Users\%user%\AppData` → `/Users/*/AppData` (no trailing `/`).
fn convert_path(path: &str, label: &str, notes: &mut Vec<String>) -> Result<String, String> {
    let mut rest = path.trim().to_string();
    // A leading environment variable stands for an absolute path.
    if rest.starts_with('%') {
        if let Some(end) = rest[1..].find('%') {
            let var = rest[..end + 2].to_ascii_lowercase();
            if let Some(value) = leading_variable(&var) {
                rest = format!("{value}{}", &rest[end + 2..]);
            }
        }
    }
    let bytes = rest.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        rest = rest[2..].to_string();
    }
    let rest = rest.replace('\\', "/");
    if !rest.starts_with('/') && !rest.is_empty() {
        return Err(format!(
            "`Path: {path}` is not absolute (expected a drive letter such as `C:\\`)"
        ));
    }
    let mut out = String::new();
    for component in rest.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if component == ".." {
            return Err(format!("`Path: {path}` contains `..`"));
        }
        let expanded = expand_variables(component, path, label, notes)?;
        out.push('/');
        out.push_str(&expanded);
    }
    Ok(out)
}

/// Replaces `%user%` in one path component; other variables fail.
fn expand_variables(
    component: &str,
    path: &str,
    label: &str,
    notes: &mut Vec<String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = component;
    while let Some(start) = rest.find('%') {
        let after = &rest[start + 1..];
        let Some(len) = after.find('%') else { break };
        let name = &after[..len];
        let is_variable =
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        out.push_str(&escape_glob_name(&rest[..start]));
        if !is_variable {
            out.push('%');
            rest = after;
            continue;
        }
        match name.to_ascii_lowercase().as_str() {
            "user" => out.push('*'),
            "users" => {
                notes.push(format!(
                    "{label}: `%users%` in `{path}` read as KAPE's `%user%`"
                ));
                out.push('*');
            }
            other => {
                return Err(format!(
                    "unknown variable `%{name}%` in `Path: {path}` (KAPE expands `%user%`; `%{other}%` is only understood at the start of a path when it is one of sealbag's table)"
                ))
            }
        }
        rest = &after[len + 1..];
    }
    out.push_str(&escape_glob_name(rest));
    Ok(out)
}

/// KAPE name pattern → glob name: literal brackets and braces escaped, `**` → `*`.
fn escape_glob_name(text: &str) -> String {
    let mut escaped = escape_literal(text);
    while escaped.contains("**") {
        escaped = escaped.replace("**", "*");
    }
    escaped
}

fn convert_mask(mask: &str, label: &str, notes: &mut Vec<String>) -> Result<String, String> {
    if mask.len() >= 6 && mask[..6].eq_ignore_ascii_case("regex:") {
        return convert_regex(&mask[6..]).ok_or_else(|| {
            format!(
                "`FileMask: {mask}` is a regular expression sealbag globs cannot express (only `regex:.*\\.(ext|ext…)` is converted)"
            )
        });
    }
    if mask.contains('/') || mask.contains('\\') {
        return Err(format!("`FileMask: {mask}` contains a path separator"));
    }
    if let Some((file, stream)) = mask.split_once(':') {
        notes.push(format!(
            "{label}: `FileMask: {mask}` names the alternate data stream `{stream}` of `{file}`; kept as `{mask}`, which matches only on a source that lists streams as `file:stream`"
        ));
    }
    Ok(escape_glob_name(mask))
}

/// `*.+\.(pdf|xps)`, `.*\.(pdf|xps)$` → `*.{pdf,xps}`; anything else → `None`.
fn convert_regex(regex: &str) -> Option<String> {
    let mut r = regex.trim();
    r = r.strip_prefix('^').unwrap_or(r);
    r = r.strip_suffix('$').unwrap_or(r);
    r = r.strip_prefix('*').unwrap_or(r);
    r = r
        .strip_prefix(".*")
        .or_else(|| r.strip_prefix(".+"))
        .unwrap_or(r);
    let inner = r.strip_prefix("\\.(")?.strip_suffix(')')?;
    let alternatives: Vec<&str> = inner.split('|').collect();
    let plain = |a: &&str| {
        !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if alternatives.is_empty() || !alternatives.iter().all(plain) {
        return None;
    }
    if alternatives.len() > crate::glob::MAX_EXPANSIONS {
        return None;
    }
    Some(if alternatives.len() == 1 {
        format!("*.{}", alternatives[0])
    } else {
        format!("*.{{{}}}", alternatives.join(","))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> ImportReport {
        kape_from_texts(&[("Windows/T.tkape".into(), text.into())])
    }

    #[test]
    fn path_and_mask_become_globs() {
        let report = one("Description: d\nTargets:\n  -\n    Name: SAM\n    Path: C:\\Windows\\System32\\config\n    FileMask: SAM\n  -\n    Name: Users\n    Path: C:\\Users\\%user%\\\n    FileMask: NTUSER.DAT*\n  -\n    Name: Deep\n    Path: C:\\Logs\\\n    FileMask: '*.log'\n    Recursive: true\n    MaxSize: 1048576\n    MinSize: 10\n");
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        let c = &report.converted[0];
        assert_eq!(c.name, "t");
        let paths: Vec<&str> = c
            .targets
            .iter()
            .flat_map(|t| t.paths.iter().map(String::as_str))
            .collect();
        assert_eq!(
            paths,
            [
                "/Windows/System32/config/SAM",
                "/Users/*/NTUSER.DAT*",
                "/Logs/**/*.log"
            ]
        );
        assert_eq!(c.targets[2].max_file_size, Some(1_048_576));
        assert!(
            c.notes.iter().any(|n| n.contains("MinSize: 10")),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn regex_masks() {
        assert_eq!(
            convert_regex("*.+\\.(pdf|xps|oxps)").as_deref(),
            Some("*.{pdf,xps,oxps}")
        );
        assert_eq!(convert_regex(".*\\.(jpg)").as_deref(), Some("*.jpg"));
        assert_eq!(convert_regex("*.+\\.(db*|sqlite*|)"), None);
        assert_eq!(convert_regex("*.\\b[a-z]{8}\\b.compiled"), None);
    }

    #[test]
    fn unknown_variable_and_bad_yaml_are_reasons() {
        let report = one("Targets:\n  -\n    Name: X\n    Path: C:\\%foo%\\\n");
        assert_eq!(report.failed.len(), 1);
        assert!(
            report.failed[0].reason.contains("`%foo%`"),
            "{:?}",
            report.failed
        );
        let report = one("Targets: [\n");
        assert!(report.failed[0]
            .reason
            .starts_with("not valid YAML: Windows/T.tkape:"));
    }

    #[test]
    fn compound_targets_include_and_missing_ones_are_noted() {
        let report = kape_from_texts(&[
            (
                "Compound/Both.tkape".into(),
                "Targets:\n  -\n    Name: A\n    Path: A.tkape\n  -\n    Name: Gone\n    Path: Gone.tkape\n".into(),
            ),
            (
                "Windows/A.tkape".into(),
                "Targets:\n  -\n    Name: a\n    Path: C:\\a\n    FileMask: x\n".into(),
            ),
            (
                "!Disabled/A.tkape".into(),
                "Targets:\n  -\n    Name: a\n    Path: C:\\b\n    FileMask: x\n".into(),
            ),
        ]);
        let both = report
            .converted
            .iter()
            .find(|c| c.name == "both")
            .expect("both");
        assert_eq!(both.include, ["a"]);
        assert!(
            both.notes[0].contains("`Gone.tkape` dropped"),
            "{:?}",
            both.notes
        );
        assert!(report.converted.iter().any(|c| c.name == "disabled-a"));
    }
}

#[cfg(test)]
mod robustness {
    use super::*;

    /// Every prefix of a target file, and the file with each structural byte
    /// replaced: converting must return (a profile or a reason), never panic.
    #[test]
    fn truncated_and_mangled_targets_never_panic() {
        let text = "Description: d\nAuthor: a\nTargets:\n    -\n        Name: SAM\n        Category: Registry\n        Path: C:\\Windows\\System32\\config\\\n        FileMask: 'SAM*'\n        Recursive: true\n    -\n        Name: C\n        Path: Other.tkape\n# Documentation\n";
        let mut outcomes = 0;
        for end in 0..=text.len() {
            let report = kape_from_texts(&[("T.tkape".into(), text[..end].into())]);
            outcomes += report.converted.len() + report.failed.len();
        }
        for (i, _) in text.char_indices() {
            for replacement in [":", "-", "[", "{", "'", "\"", "&a", "*a", "!", "%", "\t"] {
                let mangled = format!("{}{replacement}{}", &text[..i], &text[i + 1..]);
                let report = kape_from_texts(&[("T.tkape".into(), mangled)]);
                outcomes += report.converted.len() + report.failed.len();
            }
        }
        // One outcome per input, whatever the input.
        assert_eq!(outcomes, text.len() + 1 + text.len() * 11);
    }
}
