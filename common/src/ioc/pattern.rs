//! STIX 2.1 patterns, as far as a file can be matched by what a collector
//! reads: comparisons of `file:hashes.'SHA-256'`, `'SHA-1'`, `MD5` and
//! `file:name` with `=` (or `IN` a set), joined by `AND`/`OR` inside one
//! observation, and observations joined by `OR`.
//!
//! The whole grammar of the specification (section 9) is read, so that any
//! valid pattern is understood well enough to say why it is not supported:
//! other object types, other properties, other operators, `NOT`, several
//! observations joined by `AND` or `FOLLOWEDBY`, and qualifiers (`WITHIN`,
//! `REPEATS`, `START … STOP`) need more than one file's bytes.

use super::{hash_of_kind, Term};

/// Deepest nesting of brackets and parentheses read.
const MAX_DEPTH: usize = 64;
/// Most alternatives one pattern may expand to (AND over ORs multiplies).
const MAX_ALTERNATIVES: usize = 1024;

/// A pattern turned into alternatives, each a conjunction of terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Compiled {
    /// Any one of these matches; each needs all its terms.
    pub alternatives: Vec<Vec<Term>>,
    /// Why (some of) the pattern is not supported; with no alternatives
    /// the whole pattern is not.
    pub unsupported: Option<String>,
}

impl Compiled {
    fn none(reason: String) -> Self {
        Compiled {
            alternatives: Vec::new(),
            unsupported: Some(reason),
        }
    }

    fn or(mut self, other: Compiled) -> Compiled {
        self.alternatives.extend(other.alternatives);
        self.unsupported = self.unsupported.or(other.unsupported);
        self
    }

    fn and(self, other: Compiled) -> Compiled {
        if self.alternatives.is_empty() || other.alternatives.is_empty() {
            return Compiled::none(
                self.unsupported
                    .or(other.unsupported)
                    .unwrap_or_else(|| "nothing to match".into()),
            );
        }
        if self.alternatives.len() * other.alternatives.len() > MAX_ALTERNATIVES {
            return Compiled::none(format!(
                "expands to more than {MAX_ALTERNATIVES} alternatives"
            ));
        }
        let mut alternatives = Vec::new();
        for a in &self.alternatives {
            for b in &other.alternatives {
                let mut both = a.clone();
                both.extend(b.iter().cloned());
                alternatives.push(both);
            }
        }
        Compiled {
            alternatives,
            unsupported: self.unsupported.or(other.unsupported),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LBrack,
    RBrack,
    LParen,
    RParen,
    Comma,
    /// A keyword (`AND`, `OR`, `NOT`, `FOLLOWEDBY`, `WITHIN`, `IN`, `LIKE`…), uppercased.
    Word(String),
    /// `=`, `!=`, `<`, `<=`, `>`, `>=`.
    Op(&'static str),
    /// An object path (`file:hashes.'SHA-256'`).
    Path(String),
    /// A string literal, unescaped.
    Str(String),
    /// Any other literal (number, boolean, `t'…'`, `h'…'`, `b'…'`).
    Literal(String),
}

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    while i < chars.len() {
        let c = chars[i];
        match c {
            _ if c.is_whitespace() => i += 1,
            '[' => {
                tokens.push(Tok::LBrack);
                i += 1
            }
            ']' => {
                tokens.push(Tok::RBrack);
                i += 1
            }
            '(' => {
                tokens.push(Tok::LParen);
                i += 1
            }
            ')' => {
                tokens.push(Tok::RParen);
                i += 1
            }
            ',' => {
                tokens.push(Tok::Comma);
                i += 1
            }
            '=' => {
                i += if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
                tokens.push(Tok::Op("="));
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                tokens.push(Tok::Op("!="));
                i += 2
            }
            '<' | '>' => {
                let (op, len) = match (c, chars.get(i + 1)) {
                    ('<', Some('=')) => ("<=", 2),
                    ('<', Some('>')) => ("!=", 2),
                    ('>', Some('=')) => (">=", 2),
                    ('<', _) => ("<", 1),
                    _ => (">", 1),
                };
                tokens.push(Tok::Op(op));
                i += len
            }
            '\'' => {
                let (value, next) = quoted(&chars, i)?;
                tokens.push(Tok::Str(value));
                i = next
            }
            _ if (c == 't' || c == 'h' || c == 'b') && chars.get(i + 1) == Some(&'\'') => {
                let (value, next) = quoted(&chars, i + 1)?;
                tokens.push(Tok::Literal(format!("{c}'{value}'")));
                i = next
            }
            _ if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                tokens.push(Tok::Literal(chars[start..i].iter().collect()));
            }
            _ if ident(c) => {
                let start = i;
                while i < chars.len() && ident(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if chars.get(i) != Some(&':') {
                    tokens.push(Tok::Word(word.to_ascii_uppercase()));
                    continue;
                }
                // An object path: `type:prop(.prop|.'key'|[n]|[*])*`.
                i += 1;
                let mut path = format!("{word}:");
                loop {
                    match chars.get(i) {
                        Some(&c) if ident(c) || c == '.' => {
                            path.push(c);
                            i += 1
                        }
                        Some('\'') => {
                            let (key, next) = quoted(&chars, i)?;
                            path.push_str(&format!("'{key}'"));
                            i = next
                        }
                        Some('[') => {
                            let close = chars[i..]
                                .iter()
                                .position(|c| *c == ']')
                                .map(|p| i + p)
                                .ok_or("an unclosed `[` in an object path")?;
                            let index: String = chars[i + 1..close].iter().collect();
                            if index != "*" && index.parse::<u64>().is_err() {
                                return Err(format!(
                                    "bad list index `[{index}]` in an object path"
                                ));
                            }
                            path.push_str(&format!("[{index}]"));
                            i = close + 1
                        }
                        _ => break,
                    }
                }
                tokens.push(Tok::Path(path));
            }
            other => return Err(format!("unexpected `{other}`")),
        }
    }
    Ok(tokens)
}

/// A quoted string starting at `chars[at] == '\''`: its value and the index after it.
fn quoted(chars: &[char], at: usize) -> Result<(String, usize), String> {
    let mut value = String::new();
    let mut i = at + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                let escaped = chars.get(i + 1).ok_or("a string ends with `\\`")?;
                value.push(*escaped);
                i += 2;
            }
            '\'' => return Ok((value, i + 1)),
            c => {
                value.push(c);
                i += 1;
            }
        }
    }
    Err("a string is never closed".into())
}

struct Parser {
    tokens: Vec<Tok>,
    at: usize,
    depth: usize,
}

/// Compiles a pattern. `Err` is a syntax error or a malformed hash in a
/// supported comparison; anything valid but not supported is `unsupported`.
pub(crate) fn compile(text: &str) -> Result<Compiled, String> {
    let mut parser = Parser {
        tokens: lex(text)?,
        at: 0,
        depth: 0,
    };
    let compiled = parser.followed_by()?;
    if let Some(extra) = parser.tokens.get(parser.at) {
        return Err(format!("unexpected {extra:?} after the pattern"));
    }
    Ok(compiled)
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at)
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w == word)
    }

    fn next(&mut self) -> Result<Tok, String> {
        let token = self
            .tokens
            .get(self.at)
            .cloned()
            .ok_or("the pattern ends too early")?;
        self.at += 1;
        Ok(token)
    }

    fn expect(&mut self, want: Tok) -> Result<(), String> {
        let got = self.next()?;
        if got == want {
            Ok(())
        } else {
            Err(format!("expected {want:?}, found {got:?}"))
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("nested more than {MAX_DEPTH} deep"));
        }
        Ok(())
    }

    fn followed_by(&mut self) -> Result<Compiled, String> {
        let first = self.obs_or()?;
        if !self.is_word("FOLLOWEDBY") {
            return Ok(first);
        }
        while self.is_word("FOLLOWEDBY") {
            self.at += 1;
            self.obs_or()?;
        }
        Ok(Compiled::none("observations joined by FOLLOWEDBY".into()))
    }

    fn obs_or(&mut self) -> Result<Compiled, String> {
        let mut result = self.obs_and()?;
        while self.is_word("OR") {
            self.at += 1;
            result = result.or(self.obs_and()?);
        }
        Ok(result)
    }

    fn obs_and(&mut self) -> Result<Compiled, String> {
        let first = self.obs_qualified()?;
        if !self.is_word("AND") {
            return Ok(first);
        }
        while self.is_word("AND") {
            self.at += 1;
            self.obs_qualified()?;
        }
        Ok(Compiled::none("several observations joined by AND".into()))
    }

    fn obs_qualified(&mut self) -> Result<Compiled, String> {
        let mut result = self.obs_atom()?;
        loop {
            if self.is_word("WITHIN") {
                self.at += 1;
                self.next()?;
                self.expect(Tok::Word("SECONDS".into()))?;
            } else if self.is_word("REPEATS") {
                self.at += 1;
                self.next()?;
                self.expect(Tok::Word("TIMES".into()))?;
            } else if self.is_word("START") {
                self.at += 1;
                self.next()?;
                self.expect(Tok::Word("STOP".into()))?;
                self.next()?;
            } else {
                return Ok(result);
            }
            result = Compiled::none("a qualifier (WITHIN, REPEATS, START/STOP)".into());
        }
    }

    fn obs_atom(&mut self) -> Result<Compiled, String> {
        self.enter()?;
        let result = match self.next()? {
            Tok::LBrack => {
                let inner = self.comp_or()?;
                self.expect(Tok::RBrack)?;
                inner
            }
            Tok::LParen => {
                let inner = self.followed_by()?;
                self.expect(Tok::RParen)?;
                inner
            }
            other => return Err(format!("expected `[` or `(`, found {other:?}")),
        };
        self.depth -= 1;
        Ok(result)
    }

    fn comp_or(&mut self) -> Result<Compiled, String> {
        let mut result = self.comp_and()?;
        while self.is_word("OR") {
            self.at += 1;
            result = result.or(self.comp_and()?);
        }
        Ok(result)
    }

    fn comp_and(&mut self) -> Result<Compiled, String> {
        let mut result = self.comp_atom()?;
        while self.is_word("AND") {
            self.at += 1;
            result = result.and(self.comp_atom()?);
        }
        Ok(result)
    }

    fn comp_atom(&mut self) -> Result<Compiled, String> {
        if self.peek() == Some(&Tok::LParen) {
            self.at += 1;
            self.enter()?;
            let inner = self.comp_or()?;
            self.expect(Tok::RParen)?;
            self.depth -= 1;
            return Ok(inner);
        }
        if self.is_word("EXISTS") {
            self.at += 1;
            self.next()?;
            return Ok(Compiled::none("EXISTS".into()));
        }
        let path = match self.next()? {
            Tok::Path(path) => path,
            other => return Err(format!("expected an object path, found {other:?}")),
        };
        let negated = self.is_word("NOT");
        if negated {
            self.at += 1;
        }
        let operator = match self.next()? {
            Tok::Op(op) => op.to_string(),
            Tok::Word(w)
                if matches!(
                    w.as_str(),
                    "IN" | "LIKE" | "MATCHES" | "ISSUBSET" | "ISSUPERSET"
                ) =>
            {
                w
            }
            other => {
                return Err(format!(
                    "expected an operator after {path}, found {other:?}"
                ))
            }
        };
        let values = if operator == "IN" {
            self.set()?
        } else {
            vec![self.next()?]
        };
        for value in &values {
            if !matches!(value, Tok::Str(_) | Tok::Literal(_)) {
                return Err(format!(
                    "expected a literal after {path} {operator}, found {value:?}"
                ));
            }
        }
        let Some((object, property)) = path.split_once(':') else {
            return Err(format!("`{path}` is not an object path"));
        };
        if object != "file" {
            return Ok(Compiled::none(format!("`{object}` objects")));
        }
        let kind = if property == "name" {
            "name"
        } else if let Some(key) = property.strip_prefix("hashes.") {
            let key = key.trim_matches('\'').replace('-', "").to_ascii_uppercase();
            match key.as_str() {
                "MD5" => "md5",
                "SHA1" => "sha1",
                "SHA256" => "sha256",
                _ => return Ok(Compiled::none(format!("`{path}`"))),
            }
        } else {
            return Ok(Compiled::none(format!("`file:{property}`")));
        };
        if negated || !(operator == "=" || operator == "IN") {
            let not = if negated { "NOT " } else { "" };
            return Ok(Compiled::none(format!("`{not}{operator}` on `{path}`")));
        }
        let mut alternatives = Vec::new();
        for value in values {
            let Tok::Str(value) = value else {
                return Err(format!("{path} compared with a non-string literal"));
            };
            let term = if kind == "name" {
                Term::Name(value)
            } else {
                hash_of_kind(kind, &value).map_err(|e| format!("{path}: {e}"))?
            };
            alternatives.push(vec![term]);
        }
        Ok(Compiled {
            alternatives,
            unsupported: None,
        })
    }

    fn set(&mut self) -> Result<Vec<Tok>, String> {
        self.expect(Tok::LParen)?;
        let mut values = Vec::new();
        loop {
            values.push(self.next()?);
            match self.next()? {
                Tok::Comma => continue,
                Tok::RParen => return Ok(values),
                other => return Err(format!("expected `,` or `)` in a set, found {other:?}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA256: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    const MD5: &str = "5d41402abc4b2a76b9719d911017c592";

    #[test]
    fn hashes_names_and_boolean_structure() {
        let c = compile(&format!("[file:hashes.'SHA-256' = '{SHA256}']")).expect("ok");
        assert_eq!(c.alternatives.len(), 1);
        assert_eq!(c.unsupported, None);

        let c = compile(&format!(
            "[file:name = 'a\\'b.exe' AND (file:hashes.MD5 = '{MD5}' OR file:hashes.'SHA-256' = '{SHA256}')]"
        ))
        .expect("ok");
        assert_eq!(c.alternatives.len(), 2);
        assert_eq!(c.alternatives[0][0], Term::Name("a'b.exe".into()));
        assert_eq!(c.alternatives[0][1].kind(), "md5");
        assert_eq!(c.alternatives[1][1].kind(), "sha256");

        let c = compile(&format!(
            "[file:hashes.MD5 = '{MD5}'] OR [file:name IN ('x.dll', 'y.dll')]"
        ))
        .expect("ok");
        assert_eq!(c.alternatives.len(), 3);
    }

    #[test]
    fn unsupported_parts_are_named() {
        let reason = |p: &str| compile(p).expect("valid").unsupported;
        let none = |p: &str| compile(p).expect("valid").alternatives.is_empty();
        assert!(none("[ipv4-addr:value = '198.51.100.1/32']"));
        assert_eq!(
            reason("[ipv4-addr:value = '198.51.100.1/32']").as_deref(),
            Some("`ipv4-addr` objects")
        );
        assert!(none("[file:name MATCHES '^evil.*\\\\.exe$']"));
        assert!(none("[file:size > 1000]"));
        assert!(none("[file:hashes.'SHA-512' = 'aa']"));
        assert!(none("[file:name = 'a'] AND [file:name = 'b']"));
        assert!(none(
            "[file:name = 'a'] FOLLOWEDBY [file:name = 'b'] WITHIN 60 SECONDS"
        ));
        assert!(none("[file:name = 'a'] REPEATS 5 TIMES"));
        assert!(none(
            "[file:name = 'a'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'"
        ));
        assert!(none("[file:name NOT = 'a']"));
        assert!(none(
            "[windows-registry-key:values[*].name = 'x' AND windows-registry-key:key = 'k']"
        ));
        // One unsupported branch of an OR leaves the rest.
        let c = compile("[file:name = 'a.exe' OR file:size = 3]").expect("valid");
        assert_eq!(c.alternatives.len(), 1);
        assert!(c.unsupported.is_some());
        // One unsupported side of an AND removes the conjunction.
        assert!(none("[file:name = 'a.exe' AND file:size = 3]"));
    }

    #[test]
    fn syntax_and_hash_errors() {
        assert!(compile("[file:name = 'a'").is_err());
        assert!(compile("[file:name = 'a]").is_err());
        assert!(compile("file:name = 'a'").is_err());
        assert!(compile("[file:hashes.MD5 = 'abc']").is_err());
        let deep = format!("{}[file:name = 'a']{}", "(".repeat(500), ")".repeat(500));
        assert!(compile(&deep).expect_err("deep").contains("nested"));
    }
}
