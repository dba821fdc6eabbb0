//! Indicators of compromise: file hashes and names from threat intelligence,
//! loaded from the lists a response team is handed, and matched against the
//! files a run reads.
//!
//! Three list formats are read, told apart by their content:
//! - **plain lines**: an MD5, SHA-1 or SHA-256 (by its length) per line, an
//!   optional label after whitespace, `#` comments (so `sha256sum` output
//!   and `Get-FileHash` exports load as they are);
//! - **CSV** with a header naming the columns (`sha256`, `md5`, `sha1`,
//!   `hash`, `filename`, a label column; or MISP's `type`,`value`);
//! - **STIX 2.1 bundles**: indicators whose pattern compares
//!   `file:hashes.'SHA-256'`, `'SHA-1'`, `MD5` or `file:name`, joined by
//!   `AND`/`OR`; everything else is counted as not supported, by reason.
//!
//! A malformed line is an error naming the file and the line. Lookups are
//! hash-map probes of fixed-size arrays, so 100 000 indicators cost nothing
//! per file:
//!
//! ```
//! use sealbag_common::ioc::{FileFacts, IndicatorSet};
//! let mut set = IndicatorSet::default();
//! set.add_list_text(
//!     "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824  hello dropper\n",
//!     "iocs.txt",
//! ).expect("valid list");
//! let sha256 = sealbag_common::ioc::parse_hex::<32>(
//!     "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824").expect("hex");
//! let facts = FileFacts { name: b"hello.txt", sha256, md5: None, sha1: None };
//! let hits = set.matches(&facts, true);
//! assert_eq!(hits.len(), 1);
//! assert_eq!(set.indicator(hits[0]).label.as_deref(), Some("hello dropper"));
//! ```

mod csv;
mod pattern;
mod plain;
mod stix;
mod text;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

/// Largest indicator list read (a list of ten million SHA-256 lines is ~650 MiB;
/// anything beyond this is a mistake, not a list).
pub const MAX_LIST_BYTES: u64 = 1 << 30;

/// An error in an indicator list, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
#[non_exhaustive]
pub struct IocError {
    /// The list file.
    pub file: String,
    /// 1-based line, when the error is on one.
    pub line: Option<usize>,
    /// What is wrong and, where there is one, what to do.
    pub message: String,
}

impl IocError {
    pub(crate) fn at(file: &str, line: usize, message: impl Into<String>) -> Self {
        IocError {
            file: file.to_string(),
            line: Some(line),
            message: message.into(),
        }
    }

    pub(crate) fn whole(file: &str, message: impl Into<String>) -> Self {
        IocError {
            file: file.to_string(),
            line: None,
            message: message.into(),
        }
    }
}

/// One thing a file must have to match an indicator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// Its MD5.
    Md5([u8; 16]),
    /// Its SHA-1.
    Sha1([u8; 20]),
    /// Its SHA-256.
    Sha256([u8; 32]),
    /// Its base name (case-insensitive on case-insensitive sources).
    Name(String),
}

impl Term {
    /// The kind's name in `hits.jsonl`: `md5`, `sha1`, `sha256`, `name`.
    pub fn kind(&self) -> &'static str {
        match self {
            Term::Md5(_) => "md5",
            Term::Sha1(_) => "sha1",
            Term::Sha256(_) => "sha256",
            Term::Name(_) => "name",
        }
    }

    /// The value as written in `hits.jsonl` (lowercase hex, or the name).
    pub fn value(&self) -> String {
        match self {
            Term::Md5(h) => crate::profile::hex(h),
            Term::Sha1(h) => crate::profile::hex(h),
            Term::Sha256(h) => crate::profile::hex(h),
            Term::Name(n) => n.clone(),
        }
    }

    fn matches(&self, facts: &FileFacts<'_>, case_sensitive: bool) -> bool {
        match self {
            Term::Md5(h) => facts.md5.as_ref() == Some(h),
            Term::Sha1(h) => facts.sha1.as_ref() == Some(h),
            Term::Sha256(h) => &facts.sha256 == h,
            Term::Name(n) => {
                if case_sensitive {
                    n.as_bytes() == facts.name
                } else {
                    fold(n.as_bytes()) == fold(facts.name)
                }
            }
        }
    }
}

/// One indicator: a file matches when it has every term (usually one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicator {
    /// All must hold (a STIX `AND`); one term for hash and name lists.
    pub terms: Vec<Term>,
    /// What the list says it is (a malware name, a comment).
    pub label: Option<String>,
    /// Index of the list it came from, in [`IndicatorSet::lists`].
    pub list: u32,
    /// Line in the list where it is written.
    pub line: Option<usize>,
    /// The STIX indicator's `id`.
    pub id: Option<String>,
    /// The STIX pattern as written.
    pub pattern: Option<String>,
}

impl Indicator {
    /// `stix` for a multi-term (STIX) indicator, else its one term's kind.
    pub fn kind(&self) -> &'static str {
        match self.terms.as_slice() {
            [one] => one.kind(),
            _ => "stix",
        }
    }

    /// The value written in a hit: the hash or name, or the STIX pattern.
    pub fn value(&self) -> String {
        match (self.terms.as_slice(), &self.pattern) {
            ([one], _) => one.value(),
            (_, Some(pattern)) => pattern.clone(),
            (terms, None) => terms
                .iter()
                .map(|t| format!("{}={}", t.kind(), t.value()))
                .collect::<Vec<_>>()
                .join(" AND "),
        }
    }
}

/// What was learned from one list: for the custody record and the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ListSummary {
    /// The file as given.
    pub file: String,
    /// `plain`, `csv` or `stix`.
    pub format: String,
    /// SHA-256 of the list's bytes.
    pub sha256: String,
    /// Indicators loaded, by kind (`sha256`, `md5`, `sha1`, `name`, `stix`).
    pub loaded: BTreeMap<String, u64>,
    /// Entries not supported (other observable types, operators…), by reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unsupported: BTreeMap<String, u64>,
}

impl ListSummary {
    fn unsupported(&mut self, reason: impl Into<String>) {
        *self.unsupported.entry(reason.into()).or_default() += 1;
    }

    /// Total indicators loaded.
    pub fn total(&self) -> u64 {
        self.loaded.values().sum()
    }
}

/// The facts about one file that indicators are matched against.
#[derive(Debug, Clone, Copy)]
pub struct FileFacts<'a> {
    /// The base name, raw bytes.
    pub name: &'a [u8],
    /// SHA-256 of the bytes read.
    pub sha256: [u8; 32],
    /// MD5, when computed (only when some indicator needs it).
    pub md5: Option<[u8; 16]>,
    /// SHA-1, when computed.
    pub sha1: Option<[u8; 20]>,
}

/// No next indicator under the same key.
const END: u32 = u32::MAX;

/// Every indicator of every list, indexed for lookup.
///
/// Each indicator is indexed once, by its strongest term (SHA-256, SHA-1,
/// MD5, then name); the other terms of a STIX conjunction are checked on a
/// probe hit. Indicators under the same key are chained through `next`.
#[derive(Debug, Default)]
pub struct IndicatorSet {
    indicators: Vec<Indicator>,
    next: Vec<u32>,
    lists: Vec<ListSummary>,
    sha256: HashMap<[u8; 32], u32>,
    sha1: HashMap<[u8; 20], u32>,
    md5: HashMap<[u8; 16], u32>,
    /// Keyed by the folded name; the exact spelling is checked by the term.
    names: HashMap<Vec<u8>, u32>,
    needs_md5: bool,
    needs_sha1: bool,
}

impl IndicatorSet {
    /// Reads a list file (any of the three formats) and adds its indicators.
    pub fn add_list_file(&mut self, path: &Path) -> Result<&ListSummary, IocError> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path)
            .map_err(|e| IocError::whole(&name, format!("cannot read indicator list: {e}")))?;
        let mut bytes = Vec::new();
        file.take(MAX_LIST_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| IocError::whole(&name, format!("cannot read indicator list: {e}")))?;
        if bytes.len() as u64 > MAX_LIST_BYTES {
            return Err(IocError::whole(
                &name,
                format!("larger than {MAX_LIST_BYTES} bytes: not an indicator list"),
            ));
        }
        self.add_list_bytes(&bytes, &name)
    }

    /// Adds the indicators of a list given as text (tests, embedded lists).
    pub fn add_list_text(&mut self, text: &str, name: &str) -> Result<&ListSummary, IocError> {
        self.add_list_bytes(text.as_bytes(), name)
    }

    /// Adds the indicators of a list's bytes; `name` names it in errors and hits.
    pub fn add_list_bytes(&mut self, bytes: &[u8], name: &str) -> Result<&ListSummary, IocError> {
        let text = text::decode(bytes, name)?;
        let list = u32::try_from(self.lists.len())
            .map_err(|_| IocError::whole(name, "too many indicator lists"))?;
        let mut summary = ListSummary {
            file: name.to_string(),
            sha256: {
                use sha2::Digest;
                crate::profile::hex(&sha2::Sha256::digest(bytes))
            },
            ..ListSummary::default()
        };
        let mut found = Vec::new();
        let format = sniff(&text, name);
        summary.format = format.to_string();
        match format {
            "stix" => stix::parse(&text, name, list, &mut found, &mut summary)?,
            "csv" => csv::parse(&text, name, list, &mut found, &mut summary)?,
            _ => plain::parse(&text, name, list, &mut found)?,
        }
        for indicator in found {
            *summary
                .loaded
                .entry(indicator.kind().to_string())
                .or_default() += 1;
            self.insert(indicator)
                .map_err(|message| IocError::whole(name, message))?;
        }
        self.lists.push(summary);
        Ok(&self.lists[self.lists.len() - 1])
    }

    fn insert(&mut self, indicator: Indicator) -> Result<(), String> {
        let index = u32::try_from(self.indicators.len())
            .ok()
            .filter(|i| *i != END)
            .ok_or("more than 4 294 967 294 indicators")?;
        for term in &indicator.terms {
            match term {
                Term::Md5(_) => self.needs_md5 = true,
                Term::Sha1(_) => self.needs_sha1 = true,
                _ => {}
            }
        }
        let key = indicator
            .terms
            .iter()
            .min_by_key(|t| match t {
                Term::Sha256(_) => 0,
                Term::Sha1(_) => 1,
                Term::Md5(_) => 2,
                Term::Name(_) => 3,
            })
            .ok_or("an indicator without terms")?;
        let previous = match key {
            Term::Sha256(h) => self.sha256.insert(*h, index),
            Term::Sha1(h) => self.sha1.insert(*h, index),
            Term::Md5(h) => self.md5.insert(*h, index),
            Term::Name(n) => self.names.insert(fold(n.as_bytes()), index),
        };
        self.next.push(previous.unwrap_or(END));
        self.indicators.push(indicator);
        Ok(())
    }

    /// Whether any indicator needs the files' MD5 (then the run computes it).
    pub fn needs_md5(&self) -> bool {
        self.needs_md5
    }

    /// Whether any indicator needs the files' SHA-1.
    pub fn needs_sha1(&self) -> bool {
        self.needs_sha1
    }

    /// Whether there is no indicator at all.
    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    /// Number of indicators.
    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    /// The lists read, in order.
    pub fn lists(&self) -> &[ListSummary] {
        &self.lists
    }

    /// The indicator at `index` (from [`IndicatorSet::matches`]).
    pub fn indicator(&self, index: u32) -> &Indicator {
        &self.indicators[index as usize]
    }

    /// The list an indicator came from.
    pub fn list_of(&self, indicator: &Indicator) -> &ListSummary {
        &self.lists[indicator.list as usize]
    }

    /// Indexes of the indicators `facts` matches, in list order.
    pub fn matches(&self, facts: &FileFacts<'_>, case_sensitive: bool) -> Vec<u32> {
        let mut found = Vec::new();
        let chain = |head: Option<&u32>, found: &mut Vec<u32>| {
            let mut at = head.copied().unwrap_or(END);
            while at != END {
                let indicator = &self.indicators[at as usize];
                if indicator
                    .terms
                    .iter()
                    .all(|t| t.matches(facts, case_sensitive))
                {
                    found.push(at);
                }
                at = self.next[at as usize];
            }
        };
        chain(self.sha256.get(&facts.sha256), &mut found);
        if let Some(sha1) = &facts.sha1 {
            chain(self.sha1.get(sha1), &mut found);
        }
        if let Some(md5) = &facts.md5 {
            chain(self.md5.get(md5), &mut found);
        }
        if !self.names.is_empty() {
            chain(self.names.get(&fold(facts.name)), &mut found);
        }
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// Case-folds a name for case-insensitive sources (Unicode lowercase of the
/// UTF-8 text; names that are not UTF-8 fold their ASCII letters only).
fn fold(name: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(name) {
        Ok(text) => text.to_lowercase().into_bytes(),
        Err(_) => name.to_ascii_lowercase(),
    }
}

/// Tells the list's format from its content (and name, for an empty CSV).
fn sniff(text: &str, name: &str) -> &'static str {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        return "stix";
    }
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".json") {
        return "stix";
    }
    if lower.ends_with(".csv") || lower.ends_with(".tsv") {
        return "csv";
    }
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    match first {
        Some(line) if csv::looks_like_header(line) => "csv",
        _ => "plain",
    }
}

/// Parses `N` bytes of hex (either case); `None` when the text is not exactly that.
pub fn parse_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let high = (pair[0] as char).to_digit(16)?;
        let low = (pair[1] as char).to_digit(16)?;
        out[i] = (high * 16 + low) as u8;
    }
    Some(out)
}

/// A hash of any of the three kinds, told by its length (32, 40 or 64 hex digits).
pub(crate) fn hash_term(text: &str) -> Option<Term> {
    match text.len() {
        32 => parse_hex::<16>(text).map(Term::Md5),
        40 => parse_hex::<20>(text).map(Term::Sha1),
        64 => parse_hex::<32>(text).map(Term::Sha256),
        _ => None,
    }
}

/// A hash of the given kind (`md5`, `sha1`, `sha256`), or why not.
pub(crate) fn hash_of_kind(kind: &str, text: &str) -> Result<Term, String> {
    let (term, digits) = match kind {
        "md5" => (parse_hex::<16>(text).map(Term::Md5), 32),
        "sha1" => (parse_hex::<20>(text).map(Term::Sha1), 40),
        _ => (parse_hex::<32>(text).map(Term::Sha256), 64),
    };
    term.ok_or_else(|| {
        format!(
            "`{}` is not a {} ({digits} hex digits)",
            shorten(text),
            match kind {
                "md5" => "MD5",
                "sha1" => "SHA-1",
                _ => "SHA-256",
            }
        )
    })
}

/// A value cut for an error message.
pub(crate) fn shorten(text: &str) -> String {
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO_SHA256: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    const HELLO_MD5: &str = "5d41402abc4b2a76b9719d911017c592";
    const HELLO_SHA1: &str = "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d";

    fn facts(name: &'static [u8]) -> FileFacts<'static> {
        FileFacts {
            name,
            sha256: parse_hex(HELLO_SHA256).expect("hex"),
            md5: parse_hex(HELLO_MD5),
            sha1: parse_hex(HELLO_SHA1),
        }
    }

    #[test]
    fn each_hash_kind_and_name_matches_once() {
        let mut set = IndicatorSet::default();
        let list = format!(
            "# a comment\n{HELLO_SHA256} by sha256\n\n{} md5 upper\n{HELLO_SHA1}\n",
            HELLO_MD5.to_uppercase()
        );
        set.add_list_text(&list, "a.txt").expect("list");
        set.add_list_text("filename,label\nEvil.EXE,named\n", "b.csv")
            .expect("csv");
        assert!(set.needs_md5() && set.needs_sha1());
        let hits = set.matches(&facts(b"evil.exe"), false);
        let kinds: Vec<&str> = hits.iter().map(|i| set.indicator(*i).kind()).collect();
        assert_eq!(kinds, ["sha256", "md5", "sha1", "name"]);
        assert_eq!(set.indicator(hits[1]).label.as_deref(), Some("md5 upper"));
        assert_eq!(set.indicator(hits[1]).line, Some(4));
        // Case-sensitive sources need the exact name.
        let hits = set.matches(&facts(b"evil.exe"), true);
        assert_eq!(hits.len(), 3);
        assert_eq!(set.matches(&facts(b"Evil.EXE"), true).len(), 4);
        assert_eq!(set.lists()[0].loaded.get("md5"), Some(&1));
    }

    #[test]
    fn unrelated_file_matches_nothing() {
        let mut set = IndicatorSet::default();
        set.add_list_text(&format!("{HELLO_SHA256}\n"), "a.txt")
            .expect("list");
        let other = FileFacts {
            name: b"x",
            sha256: [0; 32],
            md5: None,
            sha1: None,
        };
        assert!(set.matches(&other, true).is_empty());
    }

    #[test]
    fn same_hash_in_two_lists_hits_twice() {
        let mut set = IndicatorSet::default();
        set.add_list_text(&format!("{HELLO_SHA256} one\n"), "a.txt")
            .expect("list");
        set.add_list_text(&format!("{HELLO_SHA256} two\n"), "b.txt")
            .expect("list");
        let hits = set.matches(&facts(b"x"), true);
        let sources: Vec<&str> = hits
            .iter()
            .map(|i| set.list_of(set.indicator(*i)).file.as_str())
            .collect();
        assert_eq!(sources, ["a.txt", "b.txt"]);
    }
}
