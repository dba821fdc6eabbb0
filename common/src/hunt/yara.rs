//! YARA rules, compiled once with `yara-x` (cargo feature `yara`).
//!
//! `yara-x` brings a WebAssembly runtime and is large, so collectors carry
//! it only when built with `--features yara`; without it, `--yara` is
//! refused with [`HuntError::NoYara`] before anything is collected.
//!
//! Each rules file is compiled in its own namespace (the file's stem), so
//! two files may define rules of the same name.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::HuntError;

/// Whether this build can scan with YARA rules.
pub const YARA_AVAILABLE: bool = cfg!(feature = "yara");

/// Largest rules file read.
const MAX_RULES_BYTES: u64 = 64 << 20;
/// How deep a rules folder is walked.
const MAX_RULES_DEPTH: usize = 16;

/// One matching string of a rule, with its first offsets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct YaraString {
    /// The string's identifier (`$a`).
    pub identifier: String,
    /// Offsets of its first matches in the file.
    pub offsets: Vec<u64>,
}

/// One rule that matched a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YaraMatch {
    /// The rule's name.
    pub rule: String,
    /// Its namespace (the rules file's stem).
    pub namespace: String,
    /// The rules file.
    pub source: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its matching strings.
    pub strings: Vec<YaraString>,
}

/// The rule files loaded, for `sealbag/hunt.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RulesSummary {
    /// Each file with its SHA-256.
    pub files: Vec<RulesFile>,
    /// Rules compiled.
    pub rules: usize,
}

/// One rules file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RulesFile {
    /// The path as found.
    pub file: String,
    /// Its namespace.
    pub namespace: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
}

/// Compiled rules.
///
/// The rules are shared (`yara_x::Rules` is `Send + Sync`); a
/// `yara_x::Scanner` is not `Send`, so each thread that scans keeps its own,
/// made on first use (see [`YaraRules::scan`]).
pub struct YaraRules {
    summary: RulesSummary,
    #[cfg(feature = "yara")]
    rules: &'static yara_x::Rules,
    /// Tells this set's scanners from those of another set in the same thread.
    #[cfg(feature = "yara")]
    id: u64,
}

#[cfg(feature = "yara")]
thread_local! {
    /// This thread's scanner, and the [`YaraRules::id`] of its rules.
    static SCANNER: std::cell::RefCell<Option<(u64, yara_x::Scanner<'static>)>> =
        const { std::cell::RefCell::new(None) };
}

impl YaraRules {
    /// Reads and compiles every rules file under `paths` (files, or folders
    /// walked for `.yar` and `.yara`).
    pub fn compile(paths: &[PathBuf]) -> Result<Self, HuntError> {
        if !YARA_AVAILABLE {
            return Err(HuntError::NoYara);
        }
        let mut files = Vec::new();
        for path in paths {
            collect_files(path, 0, &mut files)?;
        }
        if files.is_empty() {
            return Err(HuntError::Yara {
                path: paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                message: "no `.yar` or `.yara` file found".into(),
            });
        }
        files.sort();
        let mut sources = Vec::new();
        let mut summary = RulesSummary {
            files: Vec::new(),
            rules: 0,
        };
        for file in &files {
            let shown = file.display().to_string();
            let text = read_rules(file)?;
            let namespace = namespace_of(file, &summary.files);
            summary.files.push(RulesFile {
                file: shown.clone(),
                namespace: namespace.clone(),
                sha256: {
                    use sha2::Digest;
                    crate::profile::hex(&sha2::Sha256::digest(text.as_bytes()))
                },
            });
            sources.push((shown, namespace, text));
        }
        build(sources, summary)
    }

    /// Number of rules compiled.
    pub fn rule_count(&self) -> usize {
        self.summary.rules
    }

    /// The files loaded.
    pub fn summary(&self) -> RulesSummary {
        self.summary.clone()
    }

    /// The rules matching `data`, giving up after `timeout`.
    #[cfg(feature = "yara")]
    pub fn scan(&self, data: &[u8], timeout: Duration) -> Result<Vec<YaraMatch>, String> {
        SCANNER.with_borrow_mut(|slot| {
            let scanner = match slot {
                Some((id, scanner)) if *id == self.id => scanner,
                _ => &mut slot.insert((self.id, yara_x::Scanner::new(self.rules))).1,
            };
            scanner.set_timeout(timeout);
            let results = scanner.scan(data).map_err(|e| match e {
                yara_x::ScanError::Timeout => format!(
                    "timeout after {} (--yara-timeout)",
                    humantime::format_duration(timeout)
                ),
                other => other.to_string(),
            })?;
            Ok(results
                .matching_rules()
                .map(|rule| YaraMatch {
                    rule: rule.identifier().to_string(),
                    namespace: rule.namespace().to_string(),
                    source: self
                        .summary
                        .files
                        .iter()
                        .find(|f| f.namespace == rule.namespace())
                        .map_or_else(String::new, |f| f.file.clone()),
                    tags: rule.tags().map(|t| t.identifier().to_string()).collect(),
                    strings: rule
                        .patterns()
                        .filter(|p| p.matches().len() > 0)
                        .map(|p| YaraString {
                            identifier: p.identifier().to_string(),
                            offsets: super::first_offsets(
                                p.matches().map(|m| m.range().start as u64),
                            ),
                        })
                        .collect(),
                })
                .collect())
        })
    }

    /// Never called: [`YaraRules::compile`] refuses without the feature.
    #[cfg(not(feature = "yara"))]
    pub fn scan(&self, _data: &[u8], _timeout: Duration) -> Result<Vec<YaraMatch>, String> {
        Err("built without the `yara` feature".into())
    }
}

#[cfg(feature = "yara")]
fn build(
    sources: Vec<(String, String, String)>,
    mut summary: RulesSummary,
) -> Result<YaraRules, HuntError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);

    let mut compiler = yara_x::Compiler::new();
    for (file, namespace, text) in &sources {
        compiler.new_namespace(namespace);
        let source = yara_x::SourceCode::from(text.as_str()).with_origin(file.as_str());
        if let Err(e) = compiler.add_source(source) {
            // `file:line:column: title`, then yara-x's own report with the
            // offending line underlined.
            let at = e
                .labels()
                .next()
                .map(|label| line_column(text, label.span().start()));
            return Err(HuntError::Yara {
                path: match at {
                    Some((line, column)) => format!("{file}:{line}:{column}"),
                    None => file.clone(),
                },
                message: format!("{}\n{e}", e.title()),
            });
        }
    }
    let rules = compiler.build();
    summary.rules = rules.iter().len();
    // The rules live as long as the process (one run); scanners borrow them.
    let rules: &'static yara_x::Rules = Box::leak(Box::new(rules));
    Ok(YaraRules {
        summary,
        rules,
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
    })
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
#[cfg(feature = "yara")]
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

#[cfg(not(feature = "yara"))]
fn build(
    _sources: Vec<(String, String, String)>,
    _summary: RulesSummary,
) -> Result<YaraRules, HuntError> {
    Err(HuntError::NoYara)
}

fn collect_files(path: &Path, depth: usize, files: &mut Vec<PathBuf>) -> Result<(), HuntError> {
    let error = |e: std::io::Error| HuntError::Yara {
        path: path.display().to_string(),
        message: format!("cannot read: {e}"),
    };
    let meta = std::fs::symlink_metadata(path).map_err(error)?;
    if meta.is_file() || (depth == 0 && !meta.is_dir()) {
        files.push(path.to_path_buf());
        return Ok(());
    }
    if !meta.is_dir() || depth > MAX_RULES_DEPTH {
        return Ok(());
    }
    for entry in std::fs::read_dir(path).map_err(error)? {
        let entry = entry.map_err(error)?;
        let child = entry.path();
        let is_rules = child
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("yar") || e.eq_ignore_ascii_case("yara"));
        let kind = entry.file_type().map_err(error)?;
        if kind.is_dir() {
            collect_files(&child, depth + 1, files)?;
        } else if kind.is_file() && is_rules {
            files.push(child);
        }
    }
    Ok(())
}

fn read_rules(path: &Path) -> Result<String, HuntError> {
    use std::io::Read;
    let error = |message: String| HuntError::Yara {
        path: path.display().to_string(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| error(format!("cannot read: {e}")))?;
    let mut text = String::new();
    file.take(MAX_RULES_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| error(format!("cannot read as UTF-8 text: {e}")))?;
    if text.len() as u64 > MAX_RULES_BYTES {
        return Err(error(format!("larger than {MAX_RULES_BYTES} bytes")));
    }
    Ok(text)
}

/// The file's stem, made unique among those already taken.
fn namespace_of(path: &Path, taken: &[RulesFile]) -> String {
    let stem: String = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "rules".into())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut name = stem.clone();
    let mut n = 1;
    while taken.iter().any(|f| f.namespace == name) {
        n += 1;
        name = format!("{stem}_{n}");
    }
    name
}

#[cfg(all(test, not(feature = "yara")))]
mod tests {
    use super::*;

    #[test]
    fn without_the_feature_yara_is_refused_clearly() {
        let err = YaraRules::compile(&[PathBuf::from("rules.yar")])
            .err()
            .expect("refused");
        assert!(matches!(err, HuntError::NoYara));
        assert!(err.to_string().contains("built without the `yara` feature"));
    }
}

#[cfg(all(test, feature = "yara"))]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters_not_bytes() {
        let text = "rule a {\n  // é\n  condition: é and\n}";
        let offset = text.find(" and").expect("and") + 1;
        assert_eq!(line_column(text, offset), (3, 16));
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, text.len() + 5), (4, 2));
    }
}
