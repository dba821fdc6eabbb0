//! One name pattern (`*.log`, `[Ss]ystem?`), matched against raw names.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    AnyOne,
    AnyRun,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A pattern for a single path component.
///
/// Names are matched as UTF-8 characters when they are valid UTF-8, and
/// byte by byte (each byte taken as one character) when they are not, so a
/// non-UTF-8 name can still match `*`. Matching runs in time linear in the
/// name for each `*`, never exponential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    tokens: Vec<Token>,
}

impl Segment {
    /// Parses one component; the message says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut tokens = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    if tokens.last() != Some(&Token::AnyRun) {
                        tokens.push(Token::AnyRun);
                    }
                }
                '?' => tokens.push(Token::AnyOne),
                '[' => {
                    let negated = matches!(chars.peek(), Some('!') | Some('^'));
                    if negated {
                        chars.next();
                    }
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let Some(c) = chars.next() else {
                            return Err(format!("`[` without a matching `]` in `{text}`"));
                        };
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        if chars.peek() == Some(&'-') {
                            chars.next();
                            match chars.next() {
                                Some(']') => {
                                    ranges.push((c, c));
                                    ranges.push(('-', '-'));
                                    break;
                                }
                                Some(end) if end >= c => ranges.push((c, end)),
                                Some(end) => {
                                    return Err(format!("empty range `{c}-{end}` in `{text}`"))
                                }
                                None => {
                                    return Err(format!("`[` without a matching `]` in `{text}`"))
                                }
                            }
                        } else {
                            ranges.push((c, c));
                        }
                    }
                    tokens.push(Token::Class { negated, ranges });
                }
                ']' => return Err(format!("`]` without a matching `[` in `{text}`")),
                c => tokens.push(Token::Char(c)),
            }
        }
        Ok(Segment { tokens })
    }

    /// The exact name if the pattern has no wildcard: such a component can be
    /// looked up directly instead of listing its directory.
    pub fn literal(&self) -> Option<String> {
        self.tokens
            .iter()
            .map(|t| match t {
                Token::Char(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &[u8], case_sensitive: bool) -> bool {
        let chars: Vec<char> = match std::str::from_utf8(name) {
            Ok(s) => s.chars().collect(),
            Err(_) => name.iter().map(|b| char::from(*b)).collect(),
        };
        self.matches_chars(&chars, case_sensitive)
    }

    fn matches_chars(&self, name: &[char], case_sensitive: bool) -> bool {
        let tokens = &self.tokens;
        let (mut t, mut n) = (0usize, 0usize);
        // Where to resume after the last `*`: (token after it, name position).
        let mut resume: Option<(usize, usize)> = None;
        while n < name.len() {
            if t < tokens.len() {
                match &tokens[t] {
                    Token::AnyRun => {
                        resume = Some((t + 1, n));
                        t += 1;
                        continue;
                    }
                    token if one_matches(token, name[n], case_sensitive) => {
                        t += 1;
                        n += 1;
                        continue;
                    }
                    _ => {}
                }
            }
            match resume {
                Some((rt, rn)) => {
                    resume = Some((rt, rn + 1));
                    t = rt;
                    n = rn + 1;
                }
                None => return false,
            }
        }
        tokens[t..].iter().all(|tok| *tok == Token::AnyRun)
    }
}

fn fold(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

fn one_matches(token: &Token, c: char, case_sensitive: bool) -> bool {
    match token {
        Token::AnyOne => true,
        Token::AnyRun => false,
        Token::Char(p) => *p == c || (!case_sensitive && fold(*p) == fold(c)),
        Token::Class { negated, ranges } => {
            let hit = |c: char| ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi);
            let found = hit(c) || (!case_sensitive && (hit(fold(c)) || hit(upper(c))));
            found != *negated
        }
    }
}

fn upper(c: char) -> char {
    c.to_uppercase().next().unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &[u8]) -> bool {
        Segment::parse(pattern).expect("valid").matches(name, true)
    }

    #[test]
    fn wildcards() {
        assert!(m("*.log", b"auth.log"));
        assert!(m("*.log", b".log"));
        assert!(!m("*.log", b"auth.log.1"));
        assert!(m("auth.log*", b"auth.log"));
        assert!(m("a*b*c", b"aXbYbZc"));
        assert!(!m("a*b*c", b"aXbYbZ"));
        assert!(m("?at", b"cat"));
        assert!(!m("?at", b"at"));
        assert!(m("[ch]at", b"hat"));
        assert!(!m("[!ch]at", b"hat"));
        assert!(m("[a-c]x", b"bx"));
        assert!(m("[]]", b"]"));
        assert!(m("*", b"\xff\xfe"));
        assert!(m("caf\u{e9}", "caf\u{e9}".as_bytes()));
    }

    #[test]
    fn many_stars_stay_linear() {
        let name = vec![b'a'; 10_000];
        assert!(!m("*a*a*a*a*a*a*a*a*b", &name));
    }

    #[test]
    fn case_insensitive() {
        let seg = Segment::parse("NTUSER.DAT").expect("valid");
        assert!(seg.matches(b"ntuser.dat", false));
        assert!(!seg.matches(b"ntuser.dat", true));
        assert!(Segment::parse("[A-Z]x")
            .expect("valid")
            .matches(b"qx", false));
        assert_eq!(seg.literal().as_deref(), Some("NTUSER.DAT"));
        assert_eq!(Segment::parse("*.DAT").expect("valid").literal(), None);
    }
}
