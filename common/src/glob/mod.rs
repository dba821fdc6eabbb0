//! Path globs of collection profiles, matched one path component at a time.
//!
//! Syntax: `*` (any run of characters within one name, dot-files included),
//! `?` (one character), `[abc]`, `[a-z]`, `[!x]` (one character from a set),
//! `{a,b}` (alternatives, expanded before matching) and `**` as a whole
//! component (any number of directories, zero included). A glob is absolute.
//! Matching works on components so the walker can prune a directory as soon
//! as no pattern can match below it, and can look literal names up directly.

mod segment;

pub use segment::Segment;

/// How many alternatives one glob may expand to through `{…}`.
pub const MAX_EXPANSIONS: usize = 256;

/// Why a glob was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad glob `{pattern}`: {message}")]
pub struct GlobError {
    /// The glob as written.
    pub pattern: String,
    /// What is wrong with it.
    pub message: String,
}

/// One component of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Component {
    /// `**`: zero or more directories.
    AnyDepth,
    /// A single name pattern.
    Name(Segment),
}

/// One absolute pattern (no braces left), as components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    components: Vec<Component>,
}

impl PathPattern {
    /// The components in order.
    pub fn components(&self) -> &[Component] {
        &self.components
    }
}

/// A glob as written in a profile, expanded into its alternatives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    alternatives: Vec<PathPattern>,
}

impl Glob {
    /// Parses an absolute glob; `\` is read as `/` so Windows-style profile
    /// paths work too.
    pub fn parse(text: &str) -> Result<Self, GlobError> {
        let error = |message: String| GlobError {
            pattern: text.to_string(),
            message,
        };
        let normalised = text.replace('\\', "/");
        if !normalised.starts_with('/') {
            return Err(error(
                "paths must be absolute inside the source (start with `/`)".into(),
            ));
        }
        let expanded = expand_braces(&normalised).map_err(error)?;
        let mut alternatives = Vec::with_capacity(expanded.len());
        for alternative in expanded {
            let mut components = Vec::new();
            for part in alternative.split('/').filter(|p| !p.is_empty()) {
                match part {
                    "." => continue,
                    ".." => return Err(error("`..` is not allowed in a path".into())),
                    "**" => {
                        // `**/**` means the same as `**`.
                        if components.last() != Some(&Component::AnyDepth) {
                            components.push(Component::AnyDepth);
                        }
                    }
                    _ if part.contains("**") => {
                        return Err(error(format!(
                            "`**` must be a whole path component, not part of `{part}`"
                        )))
                    }
                    _ => components.push(Component::Name(Segment::parse(part).map_err(error)?)),
                }
            }
            alternatives.push(PathPattern { components });
        }
        Ok(Glob {
            text: text.to_string(),
            alternatives,
        })
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The brace-free alternatives.
    pub fn alternatives(&self) -> &[PathPattern] {
        &self.alternatives
    }

    /// Whether a whole source path matches (for `exclude`).
    pub fn matches_path(&self, path: &[u8], case_sensitive: bool) -> bool {
        let names: Vec<&[u8]> = path
            .split(|b| *b == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        self.alternatives
            .iter()
            .any(|p| matches_components(&p.components, &names, case_sensitive))
    }
}

fn matches_components(pattern: &[Component], names: &[&[u8]], case_sensitive: bool) -> bool {
    // Positions reachable after consuming some names; `**` makes it a set.
    let mut states = vec![false; pattern.len() + 1];
    states[0] = true;
    close_any_depth(pattern, &mut states);
    for name in names {
        let mut next = vec![false; pattern.len() + 1];
        for (i, on) in states.iter().enumerate() {
            if !on || i == pattern.len() {
                continue;
            }
            match &pattern[i] {
                Component::AnyDepth => next[i] = true,
                Component::Name(segment) => {
                    if segment.matches(name, case_sensitive) {
                        next[i + 1] = true;
                    }
                }
            }
        }
        close_any_depth(pattern, &mut next);
        if !next.iter().any(|s| *s) {
            return false;
        }
        states = next;
    }
    states[pattern.len()]
}

/// Adds the positions reachable by letting each `**` match zero names.
pub(crate) fn close_any_depth(pattern: &[Component], states: &mut [bool]) {
    for i in 0..pattern.len() {
        if states[i] && pattern[i] == Component::AnyDepth {
            states[i + 1] = true;
        }
    }
}

/// Expands `{a,b}` groups (nested too) into every alternative.
fn expand_braces(text: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = text.chars().collect();
    let Some(open) = find_unescaped(&chars, '{', 0) else {
        // A `}` inside a class (`[}]`) is a literal, not an unmatched brace.
        if find_unescaped(&chars, '}', 0).is_some() {
            return Err("`}` without a matching `{`".into());
        }
        return Ok(vec![text.to_string()]);
    };
    // Find the matching close and the top-level commas.
    let mut depth = 0usize;
    let mut commas = Vec::new();
    let mut close = None;
    let mut in_class = false;
    for (i, c) in chars.iter().enumerate().skip(open) {
        match c {
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '{' if !in_class => depth += 1,
            '}' if !in_class => {
                depth -= 1;
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            ',' if !in_class && depth == 1 => commas.push(i),
            _ => {}
        }
    }
    let close = close.ok_or_else(|| "`{` without a matching `}`".to_string())?;
    let prefix: String = chars[..open].iter().collect();
    let suffix: String = chars[close + 1..].iter().collect();
    let mut bounds = vec![open];
    bounds.extend(&commas);
    bounds.push(close);
    let mut out = Vec::new();
    for pair in bounds.windows(2) {
        let middle: String = chars[pair[0] + 1..pair[1]].iter().collect();
        for expanded in expand_braces(&format!("{prefix}{middle}{suffix}"))? {
            out.push(expanded);
            if out.len() > MAX_EXPANSIONS {
                return Err(format!(
                    "`{{…}}` expands to more than {MAX_EXPANSIONS} alternatives"
                ));
            }
        }
    }
    Ok(out)
}

fn find_unescaped(chars: &[char], wanted: char, from: usize) -> Option<usize> {
    let mut in_class = false;
    for (i, c) in chars.iter().enumerate().skip(from) {
        match c {
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            c if *c == wanted && !in_class => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(glob: &str, path: &str) -> bool {
        Glob::parse(glob)
            .expect("valid glob")
            .matches_path(path.as_bytes(), true)
    }

    #[test]
    fn star_and_any_depth() {
        assert!(m("/var/log/auth.log*", "/var/log/auth.log.1"));
        assert!(!m("/var/log/auth.log*", "/var/log/x/auth.log"));
        assert!(m("/var/log/**/*.journal", "/var/log/a.journal"));
        assert!(m(
            "/var/log/**/*.journal",
            "/var/log/journal/abc/system.journal"
        ));
        assert!(!m("/var/log/**/*.journal", "/var/lib/a.journal"));
        assert!(m("/home/*/.bash_history", "/home/alice/.bash_history"));
        assert!(m("/**", "/anything/at/all"));
    }

    #[test]
    fn braces_expand() {
        let glob = Glob::parse("/etc/{passwd,group,ssh/{sshd,ssh}_config}").expect("valid");
        assert_eq!(glob.alternatives().len(), 4);
        assert!(m("/etc/{passwd,group}", "/etc/group"));
        assert!(m("/etc/ssh/{sshd,ssh}_config", "/etc/ssh/ssh_config"));
    }

    #[test]
    fn refuses_bad_globs() {
        for bad in [
            "var/log",
            "/a/{b",
            "/a/b}",
            "/a/[bc",
            "/a/x**",
            "/a/../b",
            "/{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}{o,p}{q,r}",
        ] {
            assert!(Glob::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn braces_inside_a_class_are_literal() {
        assert!(m("/a/[{]x[}]", "/a/{x}"));
        assert!(m("/a/x[}]", "/a/x}"));
        assert!(!m("/a/x[}]", "/a/x"));
    }

    #[test]
    fn windows_separators_and_case() {
        let glob = Glob::parse(r"\Windows\System32\config\SAM").expect("valid");
        assert!(glob.matches_path(b"/windows/system32/CONFIG/sam", false));
        assert!(!glob.matches_path(b"/windows/system32/CONFIG/sam", true));
    }
}
