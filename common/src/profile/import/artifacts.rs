//! ForensicArtifacts definitions → profiles, one per artifact.
//!
//! A definition file holds several YAML documents, one artifact each:
//! `name`, `doc`, `sources`, `supported_os`, `aliases`, `urls`… Conversion:
//!
//! - `FILE` and `PATH` sources: every entry of `attributes.paths` becomes a
//!   glob; `separator: '\'` paths turn `\` into `/` and drop a drive letter;
//!   knowledge-base variables expand as in [`KB_VARIABLES`] (a variable with
//!   several values gives several globs); `**N` (recursion limited to N
//!   levels) becomes `**` (no limit; noted); literal `{`, `}` are escaped.
//! - `ARTIFACT_GROUP`: `attributes.names` become includes (by artifact name
//!   or alias); names not among those imported are dropped with a note.
//! - `REGISTRY_KEY`, `REGISTRY_VALUE`, `WMI`, `COMMAND` and any other type:
//!   not convertible; counted in [`super::ImportReport::not_convertible`].
//! - `supported_os` (the source's own, else the artifact's): one value gives
//!   the profile's `os` (`Windows` → `windows`, `Linux` → `linux`, `Darwin` →
//!   `macos`); several values, none, or one sealbag does not know (`ESXi`)
//!   give `os = "any"`, the only value true for all of them, and the
//!   variables are expanded for each of the systems listed.
//!
//! An artifact with nothing convertible fails with the count of each source
//! type it has.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::yaml::{parse_documents, Node};
use super::{
    check_glob, collect_files, read_definition, resolve, slug, Converted, DraftTarget, Failure,
    ImportError, ImportReport, Pending,
};

/// Knowledge-base variables and their globs, per system: `(variable, windows, linux, macos)`.
/// Several values are separated by ` | ` and each gives its own glob.
pub const KB_VARIABLES: &[(&str, &str, &str, &str)] = &[
    (
        "users.homedir",
        "/Users/* | /Documents and Settings/*",
        "/home/* | /root",
        "/Users/* | /var/root",
    ),
    (
        "users.userprofile",
        "/Users/* | /Documents and Settings/*",
        "/home/* | /root",
        "/Users/* | /var/root",
    ),
    (
        "users.appdata",
        "/Users/*/AppData/Roaming | /Documents and Settings/*/Application Data",
        "",
        "",
    ),
    (
        "users.localappdata",
        "/Users/*/AppData/Local | /Documents and Settings/*/Local Settings/Application Data",
        "",
        "",
    ),
    (
        "users.localappdata_low",
        "/Users/*/AppData/LocalLow",
        "",
        "",
    ),
    (
        "users.temp",
        "/Users/*/AppData/Local/Temp | /Documents and Settings/*/Local Settings/Temp",
        "/tmp",
        "/private/var/folders/*/*/T",
    ),
    (
        "users.desktop",
        "/Users/*/Desktop",
        "/home/*/Desktop",
        "/Users/*/Desktop",
    ),
    ("users.username", "*", "*", "*"),
    ("users.sid", "*", "*", "*"),
    ("environ_systemdrive", "", "", ""),
    ("environ_systemroot", "/Windows", "", ""),
    ("environ_windir", "/Windows", "", ""),
    ("environ_programfiles", "/Program Files", "", ""),
    ("environ_programfilesx86", "/Program Files (x86)", "", ""),
    (
        "environ_programdata",
        "/ProgramData | /Documents and Settings/All Users/Application Data",
        "",
        "",
    ),
    (
        "environ_allusersappdata",
        "/ProgramData | /Documents and Settings/All Users/Application Data",
        "",
        "",
    ),
    (
        "environ_allusersprofile",
        "/ProgramData | /Documents and Settings/All Users",
        "",
        "",
    ),
    ("environ_temp", "/Windows/Temp", "/tmp", "/private/tmp"),
];

/// Most globs one path may expand to.
const MAX_EXPANSIONS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Os {
    Windows,
    Linux,
    Macos,
}

/// Reads every `.yaml`/`.yml` file given (files, or folders walked for them) and converts them.
pub fn import_artifacts(paths: &[PathBuf]) -> Result<ImportReport, ImportError> {
    let files = collect_files(paths, &[".yaml", ".yml"])?;
    let mut texts = Vec::new();
    let mut failed = Vec::new();
    for (file, base) in files {
        let rel = file
            .strip_prefix(&base)
            .unwrap_or(&file)
            .display()
            .to_string();
        match read_definition(&file) {
            Ok(text) => texts.push((rel, text)),
            Err(reason) => failed.push(Failure {
                name: rel.clone(),
                source: rel,
                reason,
            }),
        }
    }
    let mut report = artifacts_from_texts(&texts);
    report.failed.extend(failed);
    report
        .failed
        .sort_by(|a, b| a.source.cmp(&b.source).then(a.name.cmp(&b.name)));
    Ok(report)
}

/// Converts definition files given as `(file name shown, text)`.
pub fn artifacts_from_texts(texts: &[(String, String)]) -> ImportReport {
    let mut pending: Vec<Pending> = Vec::new();
    let mut group_names: Vec<Vec<String>> = Vec::new();
    let mut failed = Vec::new();
    let mut not_convertible: BTreeMap<String, usize> = BTreeMap::new();
    let mut taken: BTreeMap<String, String> = BTreeMap::new();
    for (file, text) in texts {
        let documents = match parse_documents(text) {
            Ok(d) => d,
            Err(e) => {
                failed.push(Failure {
                    name: file.clone(),
                    source: file.clone(),
                    reason: format!("not valid YAML: {file}:{e}"),
                });
                continue;
            }
        };
        for doc in documents.iter().filter(|d| !d.is_null()) {
            let source = format!("{file}:{}", doc.line);
            let artifact_name = doc
                .get("name")
                .and_then(Node::as_str)
                .map(str::to_string)
                .unwrap_or_default();
            let fail = |reason: String| Failure {
                name: if artifact_name.is_empty() {
                    format!("(unnamed, line {})", doc.line)
                } else {
                    artifact_name.clone()
                },
                source: source.clone(),
                reason,
            };
            if artifact_name.is_empty() {
                failed.push(fail("no `name`".into()));
                continue;
            }
            let Some(name) = slug(&artifact_name) else {
                failed.push(fail(format!(
                    "`{artifact_name}` has no letters or digits to name a profile with"
                )));
                continue;
            };
            if let Some(other) = taken.get(&name) {
                failed.push(fail(format!(
                    "its profile name `{name}` is already taken by {other}"
                )));
                continue;
            }
            match convert_artifact(doc, &artifact_name, &name, &source, &mut not_convertible) {
                Ok((converted, names)) => {
                    taken.insert(name, format!("`{artifact_name}` ({source})"));
                    pending.push(Pending {
                        converted,
                        includes: Vec::new(),
                    });
                    group_names.push(names);
                }
                Err(reason) => failed.push(fail(reason)),
            }
        }
    }
    // Includes by artifact name, then by alias.
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    for (i, p) in pending.iter().enumerate() {
        by_name.insert(p.converted.original.clone(), i);
    }
    let aliases: Vec<(String, usize)> = texts
        .iter()
        .filter_map(|(_, t)| parse_documents(t).ok())
        .flatten()
        .filter_map(|doc| {
            let name = doc.get("name")?.as_str()?.to_string();
            let index = *by_name.get(&name)?;
            let list: Vec<String> = doc
                .get("aliases")
                .and_then(Node::as_seq)
                .map(|s| {
                    s.iter()
                        .filter_map(|a| a.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            Some(list.into_iter().map(move |a| (a, index)))
        })
        .flatten()
        .collect();
    for (alias, index) in aliases {
        by_name.entry(alias).or_insert(index);
    }
    let failed_names: BTreeMap<String, String> = failed
        .iter()
        .map(|f: &Failure| (f.name.clone(), f.reason.clone()))
        .collect();
    for (i, names) in group_names.into_iter().enumerate() {
        for n in names {
            let resolved = by_name.get(&n).copied();
            match (resolved, failed_names.get(&n)) {
                (None, Some(reason)) => pending[i].converted.notes.push(format!(
                    "include of `{n}` dropped: it was not converted ({reason})"
                )),
                _ => pending[i].includes.push((n, resolved)),
            }
        }
    }
    resolve(pending, failed, not_convertible)
}

type ArtifactResult = (Converted, Vec<String>);

fn convert_artifact(
    doc: &Node,
    artifact_name: &str,
    name: &str,
    source: &str,
    not_convertible: &mut BTreeMap<String, usize>,
) -> Result<ArtifactResult, String> {
    let artifact_os = os_list(doc.get("supported_os"));
    let Some(sources) = doc.get("sources").and_then(Node::as_seq) else {
        return Err("no `sources` list".into());
    };
    let mut notes = Vec::new();
    let mut paths: Vec<String> = Vec::new();
    let mut includes: Vec<String> = Vec::new();
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut all_os: Vec<String> = Vec::new();
    for (index, src) in sources.iter().enumerate() {
        let kind = src
            .get("type")
            .and_then(Node::as_str)
            .unwrap_or("(no type)")
            .to_string();
        let label = format!("source {} ({kind}, line {})", index + 1, src.line);
        let os = match src.get("supported_os") {
            Some(n) => os_list(Some(n)),
            None => artifact_os.clone(),
        };
        match kind.as_str() {
            "FILE" | "PATH" => {
                for o in &os {
                    if !all_os.contains(o) {
                        all_os.push(o.clone());
                    }
                }
                let attributes = src.get("attributes");
                let separator = attributes
                    .and_then(|a| a.get("separator"))
                    .and_then(Node::as_str)
                    .unwrap_or("/");
                let list = attributes
                    .and_then(|a| a.get("paths"))
                    .and_then(Node::as_seq)
                    .unwrap_or(&[]);
                if list.is_empty() {
                    notes.push(format!("{label} dropped: no `attributes.paths`"));
                }
                for p in list {
                    let Some(p) = p.as_str() else {
                        notes.push(format!(
                            "{label}: a path (line {}) is not text; dropped",
                            p.line
                        ));
                        continue;
                    };
                    match convert_path(p, separator, &os, &mut notes, &label) {
                        Ok(globs) => {
                            for g in globs {
                                if !paths.contains(&g) {
                                    paths.push(g);
                                }
                            }
                        }
                        Err(reason) => notes.push(format!("{label}: `{p}` dropped: {reason}")),
                    }
                }
            }
            "ARTIFACT_GROUP" => {
                let names = src
                    .get("attributes")
                    .and_then(|a| a.get("names"))
                    .and_then(Node::as_seq)
                    .unwrap_or(&[]);
                for n in names {
                    if let Some(n) = n.as_str() {
                        if !includes.iter().any(|i| i == n) {
                            includes.push(n.to_string());
                        }
                    }
                }
                if names.is_empty() {
                    notes.push(format!("{label} dropped: no `attributes.names`"));
                }
            }
            other => {
                *skipped.entry(other.to_string()).or_default() += 1;
                *not_convertible.entry(other.to_string()).or_default() += 1;
            }
        }
    }
    if !skipped.is_empty() {
        let counts: Vec<String> = skipped.iter().map(|(k, v)| format!("{v} {k}")).collect();
        if paths.is_empty() && includes.is_empty() {
            return Err(format!(
                "no FILE, PATH or ARTIFACT_GROUP source; not convertible: {}",
                counts.join(", ")
            ));
        }
        notes.push(format!(
            "sources not collected as files: {}",
            counts.join(", ")
        ));
    }
    if paths.is_empty() && includes.is_empty() {
        return Err(format!(
            "nothing convertible: {}",
            if notes.is_empty() {
                "no sources".to_string()
            } else {
                notes.join("; ")
            }
        ));
    }
    if all_os.is_empty() {
        // A group: the artifact's own systems.
        all_os = artifact_os.clone();
    }
    let os = match all_os.as_slice() {
        [one] => match one.as_str() {
            "Windows" => "windows",
            "Linux" => "linux",
            "Darwin" => "macos",
            other => {
                notes.push(format!(
                    "supported_os `{other}` has no sealbag os; written as `any`"
                ));
                "any"
            }
        },
        _ => "any",
    };
    if all_os.len() > 1 {
        notes.push(format!(
            "supported_os {}: written as `any` (one os per profile; globs expanded for each)",
            all_os.join(", ")
        ));
    }
    let doc_text = doc
        .get("doc")
        .and_then(Node::as_str)
        .unwrap_or("")
        .trim()
        .to_string();
    let first_line = doc_text.lines().next().unwrap_or("").trim().to_string();
    let mut header = vec![format!("ForensicArtifacts artifact {artifact_name}")];
    if doc_text.lines().count() > 1 {
        header.push(doc_text.clone());
    }
    if let Some(urls) = doc.get("urls").and_then(Node::as_seq) {
        for u in urls.iter().filter_map(Node::as_str) {
            header.push(u.to_string());
        }
    }
    let targets = if paths.is_empty() {
        Vec::new()
    } else {
        vec![DraftTarget {
            name: artifact_name.to_string(),
            description: first_line.clone(),
            paths,
            max_file_size: None,
            comments: Vec::new(),
        }]
    };
    Ok((
        Converted {
            name: name.to_string(),
            original: artifact_name.to_string(),
            source: source.to_string(),
            description: if first_line.is_empty() {
                format!("ForensicArtifacts {artifact_name}")
            } else {
                first_line
            },
            os,
            include: Vec::new(),
            targets,
            header,
            notes,
        },
        includes,
    ))
}

fn os_list(node: Option<&Node>) -> Vec<String> {
    node.and_then(Node::as_seq)
        .map(|s| {
            s.iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// One artifact path → its globs (several when a variable has several values).
fn convert_path(
    path: &str,
    separator: &str,
    os: &[String],
    notes: &mut Vec<String>,
    label: &str,
) -> Result<Vec<String>, String> {
    let windows_style = separator == "\\";
    let mut systems: Vec<Os> = os
        .iter()
        .filter_map(|o| match o.as_str() {
            "Windows" => Some(Os::Windows),
            "Linux" | "ESXi" => Some(Os::Linux),
            "Darwin" => Some(Os::Macos),
            _ => None,
        })
        .collect();
    if windows_style {
        systems = vec![Os::Windows];
    } else {
        systems.retain(|s| *s != Os::Windows || !path.starts_with('/'));
        if systems.is_empty() {
            systems = vec![Os::Linux, Os::Macos];
        }
    }
    systems.sort();
    systems.dedup();
    let mut out: Vec<String> = Vec::new();
    for system in systems {
        for expanded in expand(path, system)? {
            let mut text = expanded;
            if windows_style {
                text = text.replace('\\', "/");
                let b = text.as_bytes();
                if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
                    text = text[2..].to_string();
                }
            }
            let glob = finish(&text, notes, label)?;
            if !out.contains(&glob) {
                out.push(glob);
            }
        }
    }
    Ok(out)
}

/// Expands `%%var%%` for one system; several values multiply.
fn expand(path: &str, system: Os) -> Result<Vec<String>, String> {
    let mut results = vec![String::new()];
    let mut rest = path;
    while let Some(start) = rest.find("%%") {
        let after = &rest[start + 2..];
        let Some(len) = after.find("%%") else {
            return Err("`%%` without a closing `%%`".into());
        };
        let var = &after[..len];
        let literal = &rest[..start];
        let values: Vec<&str> = match KB_VARIABLES.iter().find(|(n, ..)| *n == var) {
            None => return Err(format!("unknown knowledge-base variable `%%{var}%%`")),
            Some((_, w, l, m)) => {
                let v = match system {
                    Os::Windows => *w,
                    Os::Linux => *l,
                    Os::Macos => *m,
                };
                if v.is_empty() && !var.starts_with("environ_systemdrive") {
                    return Err(format!(
                        "`%%{var}%%` has no value on {}",
                        match system {
                            Os::Windows => "Windows",
                            Os::Linux => "Linux",
                            Os::Macos => "macOS",
                        }
                    ));
                }
                v.split(" | ").collect()
            }
        };
        let mut next = Vec::new();
        for r in &results {
            for v in &values {
                next.push(format!("{r}{literal}{v}"));
                if next.len() > MAX_EXPANSIONS {
                    return Err(format!("expands to more than {MAX_EXPANSIONS} globs"));
                }
            }
        }
        results = next;
        rest = &after[len + 2..];
    }
    Ok(results.into_iter().map(|r| format!("{r}{rest}")).collect())
}

/// Escapes literal braces, turns `**N` into `**`, and checks the glob.
fn finish(text: &str, notes: &mut Vec<String>, label: &str) -> Result<String, String> {
    if !text.starts_with('/') {
        return Err("not an absolute path".into());
    }
    let mut parts = Vec::new();
    for component in text.split('/') {
        let trimmed = component.trim_start_matches("**");
        if component.starts_with("**") && trimmed.chars().all(|c| c.is_ascii_digit()) {
            if !trimmed.is_empty() {
                let note = format!(
                    "{label}: `**{trimmed}` (at most {trimmed} levels) written as `**` (any depth)"
                );
                if !notes.contains(&note) {
                    notes.push(note);
                }
            }
            parts.push("**".to_string());
        } else {
            let escaped = component.replace('{', "[{]").replace('}', "[}]");
            parts.push(escaped);
        }
    }
    let glob = parts.join("/");
    check_glob(&glob)?;
    Ok(glob)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_paths_and_variables() {
        let mut notes = Vec::new();
        let globs = convert_path(
            "%%users.localappdata%%\\ConnectedDevicesPlatform\\L.%%users.username%%\\ActivitiesCache.db",
            "\\",
            &["Windows".into()],
            &mut notes,
            "s",
        )
        .expect("converts");
        assert_eq!(
            globs,
            [
                "/Users/*/AppData/Local/ConnectedDevicesPlatform/L.*/ActivitiesCache.db",
                "/Documents and Settings/*/Local Settings/Application Data/ConnectedDevicesPlatform/L.*/ActivitiesCache.db",
            ]
        );
        let globs = convert_path(
            "%%environ_systemroot%%\\System32\\WDI\\{86432a0b}\\*\\*.etl",
            "\\",
            &["Windows".into()],
            &mut notes,
            "s",
        )
        .expect("converts");
        assert_eq!(globs, ["/Windows/System32/WDI/[{]86432a0b[}]/*/*.etl"]);
    }

    #[test]
    fn unix_homes_and_depth() {
        let mut notes = Vec::new();
        let globs = convert_path(
            "%%users.homedir%%/.config/**5/x",
            "/",
            &["Linux".into(), "Darwin".into()],
            &mut notes,
            "s",
        )
        .expect("converts");
        assert_eq!(
            globs,
            [
                "/home/*/.config/**/x",
                "/root/.config/**/x",
                "/Users/*/.config/**/x",
                "/var/root/.config/**/x"
            ]
        );
        assert_eq!(notes.len(), 1);
        assert!(convert_path("%%nope%%/x", "/", &[], &mut notes, "s").is_err());
    }

    #[test]
    fn groups_and_registry() {
        let text = "name: G\ndoc: group\nsources:\n- type: ARTIFACT_GROUP\n  attributes:\n    names: [F, Missing]\nsupported_os: [Linux]\n---\nname: F\ndoc: f\nsources:\n- type: FILE\n  attributes: {paths: ['/etc/passwd']}\n- type: COMMAND\n  attributes: {cmd: /bin/true, args: []}\nsupported_os: [Linux]\n---\nname: R\ndoc: r\nsources:\n- type: REGISTRY_KEY\n  attributes: {keys: ['HKEY_LOCAL_MACHINE\\X']}\nsupported_os: [Windows]\n";
        let report = artifacts_from_texts(&[("x.yaml".into(), text.into())]);
        assert_eq!(report.converted.len(), 2);
        assert_eq!(report.converted[1].name, "g");
        assert_eq!(report.converted[1].include, ["f"]);
        assert_eq!(report.converted[1].os, "linux");
        assert_eq!(report.converted[0].os, "linux");
        assert_eq!(report.failed.len(), 1);
        assert_eq!(
            report.failed[0].reason,
            "no FILE, PATH or ARTIFACT_GROUP source; not convertible: 1 REGISTRY_KEY"
        );
        assert_eq!(report.not_convertible.get("COMMAND"), Some(&1));
        assert_eq!(report.not_convertible.get("REGISTRY_KEY"), Some(&1));
    }
}

#[cfg(test)]
mod robustness {
    use super::*;

    /// Every prefix and many one-byte manglings of a definition file convert
    /// or fail with a reason; none panics.
    #[test]
    fn truncated_and_mangled_definitions_never_panic() {
        let text = "name: A\ndoc: a\nsources:\n- type: FILE\n  attributes:\n    paths: ['%%users.homedir%%\\x\\**3\\{y}']\n    separator: '\\'\nsupported_os: [Windows, Linux]\n---\nname: G\nsources:\n- type: ARTIFACT_GROUP\n  attributes: {names: [A, G]}\n";
        for end in 0..=text.len() {
            let _ = artifacts_from_texts(&[("x.yaml".into(), text[..end].into())]);
        }
        for (i, _) in text.char_indices() {
            for replacement in [":", "-", "[", "{", "'", "%%", "*a", "&a", "---\n"] {
                let mangled = format!("{}{replacement}{}", &text[..i], &text[i + 1..]);
                let report = artifacts_from_texts(&[("x.yaml".into(), mangled)]);
                assert!(report.failed.iter().all(|f| !f.reason.is_empty()));
            }
        }
        // The unmangled text: G includes itself, a cycle.
        let report = artifacts_from_texts(&[("x.yaml".into(), text.into())]);
        assert_eq!(report.failed.len(), 1);
        assert_eq!(report.failed[0].reason, "include cycle: G -> G");
        assert_eq!(
            report.converted[0].targets[0].paths,
            [
                "/Users/*/x/**/[{]y[}]",
                "/Documents and Settings/*/x/**/[{]y[}]"
            ]
        );
    }
}
