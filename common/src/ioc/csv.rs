//! CSV lists with a header naming the columns.
//!
//! Recognised columns (case, `-`, `_` and spaces ignored; first of each
//! role wins): `sha256`, `md5`, `sha1` (also with a `_hash` suffix, as
//! MalwareBazaar writes them), `hash` (kind by length, as `Get-FileHash |
//! Export-Csv` writes it), `filename`/`file_name`/`name`, a label
//! (`label`, `description`, `comment`, `signature`, `threat`, `malware`),
//! and MISP's `type` + `value` pair. A file-name cell is an indicator only
//! in a row with no hash; beside a hash it only describes it (the label).
//! `#` lines are comments; fields may be quoted (`""` inside quotes is a quote).

use super::{hash_of_kind, hash_term, shorten, Indicator, IocError, ListSummary, Term};

/// What a column means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Sha256,
    Md5,
    Sha1,
    AnyHash,
    Name,
    Label,
    Context,
    MispType,
    MispValue,
}

fn role(header: &str) -> Option<Role> {
    let key: String = header
        .trim()
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | ' ' | '"'))
        .collect::<String>()
        .to_ascii_lowercase();
    let by_key = |key: &str| {
        Some(match key {
            "sha256" | "sha256sum" => Role::Sha256,
            "md5" | "md5sum" => Role::Md5,
            "sha1" | "sha1sum" => Role::Sha1,
            "hash" | "filehash" | "hashvalue" | "digest" => Role::AnyHash,
            "filename" | "name" | "fname" | "file" => Role::Name,
            "label" | "description" | "comment" | "signature" | "threat" | "malware"
            | "malwarefamily" | "info" => Role::Label,
            "path" | "filepath" | "fullpath" => Role::Context,
            "type" => Role::MispType,
            "value" => Role::MispValue,
            _ => return None,
        })
    };
    // `sha256_hash` (MalwareBazaar) is `sha256`; only hash kinds take the suffix.
    by_key(&key).or_else(|| {
        key.strip_suffix("hash")
            .and_then(by_key)
            .filter(|r| matches!(r, Role::Sha256 | Role::Md5 | Role::Sha1))
    })
}

/// Whether a line looks like a CSV header of an indicator list.
pub(crate) fn looks_like_header(line: &str) -> bool {
    let Some(delimiter) = delimiter_of(line) else {
        return false;
    };
    let roles: Vec<Option<Role>> = split_line(line, delimiter)
        .iter()
        .map(|c| role(c))
        .collect();
    is_indicator_header(&roles)
}

fn is_indicator_header(roles: &[Option<Role>]) -> bool {
    let has = |r: Role| roles.contains(&Some(r));
    has(Role::Sha256)
        || has(Role::Md5)
        || has(Role::Sha1)
        || has(Role::AnyHash)
        || has(Role::Name)
        || (has(Role::MispType) && has(Role::MispValue))
}

fn delimiter_of(line: &str) -> Option<u8> {
    [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| line.bytes().filter(|b| b == d).count())
        .filter(|d| line.as_bytes().contains(d))
}

/// Splits one line (for the header sniff; quotes respected, no newlines).
fn split_line(line: &str, delimiter: u8) -> Vec<String> {
    let mut reader = Records::new(line, delimiter);
    match reader.next_record() {
        Some(Ok((_, fields))) => fields,
        _ => Vec::new(),
    }
}

/// A record and the line it starts on, or an error and its line.
type Record = Result<(usize, Vec<String>), (usize, String)>;

/// A minimal RFC 4180 reader that tracks line numbers.
struct Records<'a> {
    text: &'a [u8],
    at: usize,
    line: usize,
    delimiter: u8,
}

impl<'a> Records<'a> {
    fn new(text: &'a str, delimiter: u8) -> Self {
        Records {
            text: text.as_bytes(),
            at: 0,
            line: 1,
            delimiter,
        }
    }

    /// The next record and the line it starts on; `#` lines and blank lines are skipped.
    fn next_record(&mut self) -> Option<Record> {
        loop {
            if self.at >= self.text.len() {
                return None;
            }
            let rest = &self.text[self.at..];
            let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
            let line = &rest[..end];
            let blank = line.iter().all(|b| b.is_ascii_whitespace());
            if blank || line.first() == Some(&b'#') {
                self.at += end + 1;
                self.line += 1;
                continue;
            }
            break;
        }
        let start_line = self.line;
        let mut fields = Vec::new();
        let mut field = Vec::new();
        let mut quoted = false;
        let mut was_quoted = false;
        while self.at < self.text.len() {
            let b = self.text[self.at];
            self.at += 1;
            if quoted {
                match b {
                    b'"' if self.text.get(self.at) == Some(&b'"') => {
                        field.push(b'"');
                        self.at += 1;
                    }
                    b'"' => quoted = false,
                    b'\n' => {
                        self.line += 1;
                        field.push(b);
                    }
                    _ => field.push(b),
                }
                continue;
            }
            match b {
                b'"' if field.iter().all(|c: &u8| c.is_ascii_whitespace()) && !was_quoted => {
                    field.clear();
                    quoted = true;
                    was_quoted = true;
                }
                b'\n' => {
                    self.line += 1;
                    break;
                }
                b'\r' => {}
                _ if b == self.delimiter => {
                    fields.push(finish(&mut field));
                    was_quoted = false;
                }
                _ => field.push(b),
            }
        }
        if quoted {
            return Some(Err((start_line, "a quoted field is never closed".into())));
        }
        fields.push(finish(&mut field));
        Some(Ok((start_line, fields)))
    }
}

fn finish(field: &mut Vec<u8>) -> String {
    // The text was valid UTF-8 and fields split at ASCII bytes only.
    let text = String::from_utf8_lossy(field).trim().to_string();
    field.clear();
    text
}

pub(crate) fn parse(
    text: &str,
    name: &str,
    list: u32,
    found: &mut Vec<Indicator>,
    summary: &mut ListSummary,
) -> Result<(), IocError> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let delimiter = delimiter_of(first).unwrap_or(b',');
    let mut records = Records::new(text, delimiter);
    let Some(header) = records.next_record() else {
        return Ok(());
    };
    let (header_line, header) = header.map_err(|(l, m)| IocError::at(name, l, m))?;
    let roles: Vec<Option<Role>> = header.iter().map(|c| role(c)).collect();
    if !is_indicator_header(&roles) {
        return Err(IocError::at(
            name,
            header_line,
            format!(
                "the CSV header `{}` names no indicator column\nhint: name the columns `sha256`, `md5`, `sha1`, `hash` or `filename` (and `label`), or use MISP's `type`,`value`",
                shorten(&header.join(","))
            ),
        ));
    }
    let column = |role: Role| roles.iter().position(|r| *r == Some(role));
    let hash_columns: Vec<(usize, &str)> = roles
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r {
            Some(Role::Sha256) => Some((i, "sha256")),
            Some(Role::Md5) => Some((i, "md5")),
            Some(Role::Sha1) => Some((i, "sha1")),
            Some(Role::AnyHash) => Some((i, "any")),
            _ => None,
        })
        .collect();
    let name_column = column(Role::Name);
    let label_column = column(Role::Label);
    let context_column = column(Role::Context);
    let misp = column(Role::MispType).zip(column(Role::MispValue));

    while let Some(record) = records.next_record() {
        let (line, fields) = record.map_err(|(l, m)| IocError::at(name, l, m))?;
        let cell = |i: Option<usize>| {
            i.and_then(|i| fields.get(i))
                .map(String::as_str)
                .filter(|s| !s.is_empty())
        };
        let file_name = cell(name_column);
        let label = cell(label_column)
            .or(file_name)
            .or(cell(context_column))
            .map(str::to_string);
        let mut terms = Vec::new();
        for (i, kind) in &hash_columns {
            let Some(value) = cell(Some(*i)) else {
                continue;
            };
            let term = if *kind == "any" {
                hash_term(value).ok_or_else(|| {
                    format!(
                        "`{}` is not an MD5, SHA-1 or SHA-256 (32, 40 or 64 hex digits)",
                        shorten(value)
                    )
                })
            } else {
                hash_of_kind(kind, value)
            }
            .map_err(|m| IocError::at(name, line, format!("column `{}`: {m}", header[*i])))?;
            terms.push(term);
        }
        if let Some((type_column, value_column)) = misp {
            if let (Some(kind), Some(value)) = (cell(Some(type_column)), cell(Some(value_column))) {
                match misp_terms(kind, value) {
                    Some(Ok((misp, misp_name))) => {
                        let label = label.clone().or(misp_name);
                        for term in misp {
                            push(found, term, label.clone(), list, line);
                        }
                    }
                    Some(Err(message)) => return Err(IocError::at(name, line, message)),
                    None => summary.unsupported(format!("MISP type `{kind}`")),
                }
            }
        }
        if terms.is_empty() {
            if let Some(file_name) = file_name {
                let label = cell(label_column).map(str::to_string);
                push(found, Term::Name(file_name.to_string()), label, list, line);
            }
        }
        for term in terms {
            push(found, term, label.clone(), list, line);
        }
    }
    Ok(())
}

type MispTerms = (Vec<Term>, Option<String>);

/// MISP attribute types: `md5`, `sha1`, `sha256`, `filename`, and
/// `filename|<hash>` (the name describes the hash, it is kept as the label).
fn misp_terms(kind: &str, value: &str) -> Option<Result<MispTerms, String>> {
    let kind = kind.to_ascii_lowercase();
    match kind.as_str() {
        "md5" | "sha1" | "sha256" => Some(hash_of_kind(&kind, value).map(|t| (vec![t], None))),
        "filename" => Some(Ok((vec![Term::Name(value.to_string())], None))),
        "filename|md5" | "filename|sha1" | "filename|sha256" => {
            let (file, hash) = value.rsplit_once('|')?;
            let hash_kind = &kind["filename|".len()..];
            Some(hash_of_kind(hash_kind, hash).map(|t| (vec![t], Some(file.to_string()))))
        }
        _ => None,
    }
}

fn push(found: &mut Vec<Indicator>, term: Term, label: Option<String>, list: u32, line: usize) {
    found.push(Indicator {
        terms: vec![term],
        label,
        list,
        line: Some(line),
        id: None,
        pattern: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<(Vec<Indicator>, ListSummary), IocError> {
        let mut found = Vec::new();
        let mut summary = ListSummary::default();
        parse(text, "l.csv", 0, &mut found, &mut summary)?;
        Ok((found, summary))
    }

    #[test]
    fn header_columns_quotes_and_name_rows() {
        let text = "#TYPE export\n\"SHA-256\";\"File Name\";\"Comment\"\n\
            \"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\";\"hello.txt\";\"say \"\"hi\"\"\"\n\
            ;evil.exe;\"dropper;\nsecond line\"\n\
            ;;\n";
        let (found, _) = load(text).expect("csv");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].terms[0].kind(), "sha256");
        assert_eq!(found[0].label.as_deref(), Some("say \"hi\""));
        assert_eq!(found[0].line, Some(3));
        assert_eq!(found[1].terms, [Term::Name("evil.exe".into())]);
        assert_eq!(found[1].label.as_deref(), Some("dropper;\nsecond line"));
        assert_eq!(found[1].line, Some(4));
    }

    #[test]
    fn get_filehash_export_and_misp() {
        let text = "\"Algorithm\",\"Hash\",\"Path\"\n\"MD5\",\"5D41402ABC4B2A76B9719D911017C592\",\"C:\\t\\hello.txt\"\n";
        let (found, _) = load(text).expect("csv");
        assert_eq!(found[0].terms[0].kind(), "md5");
        assert_eq!(found[0].label.as_deref(), Some("C:\\t\\hello.txt"));

        let text = "uuid,event_id,category,type,value,comment\n\
            a,1,Payload delivery,filename|md5,inv.exe|5d41402abc4b2a76b9719d911017c592,\n\
            b,1,Network activity,ip-dst,10.0.0.1,c2\n\
            c,1,Artifacts dropped,filename,evil.dll,\n";
        let (found, summary) = load(text).expect("misp");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].label.as_deref(), Some("inv.exe"));
        assert_eq!(found[1].terms, [Term::Name("evil.dll".into())]);
        assert_eq!(summary.unsupported.get("MISP type `ip-dst`"), Some(&1));
    }

    #[test]
    fn bad_cells_and_headers_name_the_line() {
        let text = "md5,label\n5d41402abc4b2a76b9719d911017c592,ok\n\n2cf24dba,short\n";
        let err = load(text).expect_err("short md5");
        assert_eq!(err.line, Some(4));
        assert!(err.message.contains("column `md5`"), "{err}");
        let err = load("ip,port\n1.2.3.4,80\n").expect_err("no indicator column");
        assert_eq!(err.line, Some(1));
        let err = load("sha256,label\n\"abc,x\n").expect_err("unclosed");
        assert_eq!(err.line, Some(2));
    }
}
