//! Walks a source for one glob, pruning every directory no pattern can match below.
//!
//! The walk never follows a symbolic link (a link is a match, not a
//! directory), so it cannot loop; it keeps its own stack, so a 10 000-level
//! tree cannot overflow the thread's stack; and it looks literal names up
//! directly instead of listing their directories.

use crate::glob::{Component, PathPattern};
use crate::source::{EntryKind, Metadata, Source, SourceError, SourcePath};

use super::stop::StopSignal;

/// What the walk reports.
#[derive(Debug)]
pub enum WalkEvent {
    /// An entry the pattern matches (any kind but a directory).
    Match(SourcePath, Metadata),
    /// A directory or entry that could not be read.
    Error(SourcePath, SourceError),
}

/// Top-level directories of a live Unix system that a wildcard never enters:
/// they hold no files, only kernel views, devices and endless pseudo-files.
const PSEUDO_ROOTS: &[&[u8]] = &[b"proc", b"sys", b"dev"];

struct Frame {
    dir: SourcePath,
    /// Positions in the pattern still alive in this directory.
    states: Vec<bool>,
    /// Everything below is wanted (a pattern matched this directory whole).
    whole: bool,
}

/// Walks `source` for `pattern`, calling `visit` for each match and error,
/// until done or `stop` is set.
pub fn walk(
    source: &dyn Source,
    pattern: &PathPattern,
    case_sensitive: bool,
    stop: &StopSignal,
    visit: &mut dyn FnMut(WalkEvent),
) {
    let components = pattern.components();
    let mut states = vec![false; components.len() + 1];
    states[0] = true;
    crate::glob::close_any_depth(components, &mut states);
    if states[components.len()] {
        // The pattern is `/` or `/**`: everything.
        states.iter_mut().for_each(|s| *s = false);
    }
    let mut stack = vec![Frame {
        dir: SourcePath::root(),
        whole: states.iter().all(|s| !s),
        states,
    }];

    while let Some(frame) = stack.pop() {
        if stop.is_set() {
            return;
        }
        let children = match children_of(source, &frame, components, case_sensitive) {
            Ok(children) => children,
            // Only the root is looked for without being known to exist; any
            // other folder was seen a moment ago: deleted during the walk.
            Err(SourceError::NotFound { .. }) if frame.dir.is_root() => continue,
            Err(e) => {
                visit(WalkEvent::Error(frame.dir.clone(), e));
                continue;
            }
        };
        let mut subdirs = Vec::new();
        for (name, by_wildcard) in children.iter() {
            if stop.is_set() {
                return;
            }
            let next = advance(components, &frame.states, name, case_sensitive);
            let matched = frame.whole || next[components.len()];
            let alive = next[..components.len()].iter().any(|s| *s);
            if !matched && !alive {
                continue;
            }
            let path = frame.dir.join(name);
            let metadata = match source.metadata(&path) {
                Ok(m) => m,
                // A literal name the profile asks for may simply not exist;
                // a name a listing gave vanished since: that is recorded.
                Err(SourceError::NotFound { .. }) if !(by_wildcard || frame.whole) => continue,
                Err(e) => {
                    visit(WalkEvent::Error(path, e));
                    continue;
                }
            };
            if metadata.kind == EntryKind::Directory {
                if (by_wildcard || frame.whole)
                    && frame.dir.is_root()
                    && PSEUDO_ROOTS.contains(&name)
                {
                    continue;
                }
                subdirs.push(Frame {
                    dir: path,
                    whole: matched,
                    states: if matched {
                        vec![false; components.len() + 1]
                    } else {
                        next
                    },
                });
            } else if matched {
                visit(WalkEvent::Match(path, metadata));
            }
        }
        // Depth first, in name order: push in reverse.
        stack.extend(subdirs.into_iter().rev());
    }
}

/// The names to consider in a directory, each with whether a wildcard (not a
/// literal name) brought it in.
fn children_of(
    source: &dyn Source,
    frame: &Frame,
    components: &[Component],
    case_sensitive: bool,
) -> Result<Children, SourceError> {
    // On a case-insensitive source a direct lookup would record the name as
    // the profile spells it, not as the disk does: list the directory instead.
    if !frame.whole && case_sensitive {
        // If every live position is a literal name, look them up directly.
        let mut literals = Vec::new();
        let mut all_literal = true;
        for (i, on) in frame.states.iter().enumerate() {
            if !on || i == components.len() {
                continue;
            }
            match &components[i] {
                Component::Name(segment) => match segment.literal() {
                    Some(name) => literals.push(name.into_bytes()),
                    None => all_literal = false,
                },
                Component::AnyDepth => all_literal = false,
            }
        }
        if all_literal {
            return Ok(Children::sorted(literals, false));
        }
    }
    let names: Vec<Vec<u8>> = source
        .read_dir(&frame.dir)?
        .into_iter()
        .map(|e| e.name)
        .collect();
    Ok(Children::sorted(names, true))
}

/// A directory's names to consider, sorted and packed into one buffer:
/// a folder of 200 000 entries costs about 12 bytes a name while its
/// entries are collected, not a heap allocation each.
struct Children {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// Whether a wildcard (not a literal name) brought the names in.
    by_wildcard: bool,
}

impl Children {
    fn sorted(mut names: Vec<Vec<u8>>, by_wildcard: bool) -> Self {
        names.sort_unstable();
        names.dedup();
        let mut bytes = Vec::with_capacity(names.iter().map(Vec::len).sum());
        let mut ends = Vec::with_capacity(names.len());
        for name in names {
            bytes.extend_from_slice(&name);
            ends.push(bytes.len());
        }
        Children {
            bytes,
            ends,
            by_wildcard,
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], bool)> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(move |(start, end)| (&self.bytes[start..end], self.by_wildcard))
    }
}

/// The positions alive after matching one more name.
fn advance(
    components: &[Component],
    states: &[bool],
    name: &[u8],
    case_sensitive: bool,
) -> Vec<bool> {
    let mut next = vec![false; components.len() + 1];
    for (i, on) in states.iter().enumerate() {
        if !on || i == components.len() {
            continue;
        }
        match &components[i] {
            Component::AnyDepth => next[i] = true,
            Component::Name(segment) => {
                if segment.matches(name, case_sensitive) {
                    next[i + 1] = true;
                }
            }
        }
    }
    crate::glob::close_any_depth(components, &mut next);
    next
}

#[cfg(test)]
mod memory_tests {
    use super::*;
    use crate::glob::Glob;
    use crate::source::MemorySource;

    #[test]
    fn case_insensitive_source_keeps_the_names_on_disk() {
        let source = MemorySource::new()
            .case_insensitive()
            .file(b"/Windows/System32/config/SAM", b"hive")
            .file(b"/Users/Alice/NTUSER.DAT", b"user hive");
        let mut found = Vec::new();
        for glob in ["/windows/system32/CONFIG/sam", "/users/*/ntuser.dat"] {
            let glob = Glob::parse(glob).expect("glob");
            walk(
                &source,
                &glob.alternatives()[0],
                false,
                &StopSignal::new(),
                &mut |e| {
                    if let WalkEvent::Match(path, _) = e {
                        found.push(path.display());
                    }
                },
            );
        }
        assert_eq!(
            found,
            ["/Windows/System32/config/SAM", "/Users/Alice/NTUSER.DAT"]
        );
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::glob::Glob;
    use crate::source::FsSource;

    fn matches(root: &std::path::Path, glob: &str) -> Vec<String> {
        let source = FsSource::tree(root);
        let glob = Glob::parse(glob).expect("glob");
        let mut found = Vec::new();
        for pattern in glob.alternatives() {
            walk(&source, pattern, true, &StopSignal::new(), &mut |event| {
                if let WalkEvent::Match(path, _) = event {
                    found.push(path.display());
                }
            });
        }
        found
    }

    #[test]
    fn walks_prunes_and_never_follows_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("var/log/journal/x")).expect("mkdir");
        std::fs::write(root.join("var/log/auth.log"), b"a").expect("write");
        std::fs::write(root.join("var/log/auth.log.1"), b"a").expect("write");
        std::fs::write(root.join("var/log/journal/x/s.journal"), b"j").expect("write");
        std::os::unix::fs::symlink("..", root.join("var/log/journal/x/loop")).expect("link");
        std::fs::create_dir_all(root.join("proc/1")).expect("mkdir");
        std::fs::write(root.join("proc/1/status"), b"p").expect("write");

        assert_eq!(
            matches(root, "/var/log/auth.log*"),
            ["/var/log/auth.log", "/var/log/auth.log.1"]
        );
        assert_eq!(
            matches(root, "/var/log/**/*.journal"),
            ["/var/log/journal/x/s.journal"]
        );
        // A matched directory is taken whole; the link is a match, not followed.
        assert_eq!(
            matches(root, "/var/log/journal"),
            ["/var/log/journal/x/loop", "/var/log/journal/x/s.journal"]
        );
        // Wildcards stay out of /proc; a literal path may name it.
        assert!(!matches(root, "/**").iter().any(|p| p.starts_with("/proc")));
        assert_eq!(matches(root, "/proc/1/status"), ["/proc/1/status"]);
    }
}
