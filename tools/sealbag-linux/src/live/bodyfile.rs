//! `bodyfile`: a Sleuth Kit `mactime` body file of the profile's trees
//! (`MD5|name|inode|mode_as_string|UID|GID|size|atime|mtime|ctime|crtime`,
//! MD5 `0`, times in whole seconds, `0` when unknown), as `live/bodyfile.txt`.
//!
//! The walk goes through the [`Source`] (for the live system, the
//! `FsSource` over `/`, which uses `symlink_metadata` and never follows
//! links), so one bounded, non-recursive walker serves the live host and
//! `--root` trees alike and `std::fs` walking stays in the source layer. It
//! stays on the file system of each root (like `find -xdev`), stops at a
//! depth and an entry count, and never recurses on disk-controlled depth.

use sealbag_common::engine::{Facts, LiveCollector, LiveContext, StopSignal};
use sealbag_common::profile::LiveTarget;
use sealbag_common::source::{EntryKind, Metadata, Source, SourcePath};

use super::Jsonl;

/// Trees described when the profile names none.
pub const DEFAULT_ROOTS: &[&str] = &[
    "/etc", "/tmp", "/var/tmp", "/dev/shm", "/home", "/root", "/usr/bin",
];
/// Deepest level walked below a root.
pub const MAX_DEPTH: usize = 32;
/// Most entries described per root.
pub const MAX_ENTRIES: u64 = 2_000_000;

/// What a walk saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WalkStats {
    /// Entries visited.
    pub entries: u64,
    /// Directories that could not be listed or entries not statted.
    pub errors: u64,
    /// Whether the depth or entry cap cut the walk short.
    pub truncated: bool,
    /// Directories not entered because they are another file system.
    pub other_fs: u64,
}

/// Walks `root` through `source` without following links or leaving its
/// file system, depth-first with an explicit stack, calling `visit` on
/// every entry (the root included). An error only if the root itself is
/// unreadable.
pub fn walk_source(
    source: &dyn Source,
    root: &SourcePath,
    max_depth: usize,
    max_entries: u64,
    stop: &StopSignal,
    visit: &mut dyn FnMut(&SourcePath, &Metadata),
) -> Result<WalkStats, sealbag_common::source::SourceError> {
    let device = source.metadata(root)?.device;
    let mut stats = WalkStats::default();
    // Children are stacked as names only and statted when popped, so a huge
    // directory costs a path per entry, not a path and its metadata.
    let mut stack = vec![(root.clone(), 0usize)];
    while let Some((path, depth)) = stack.pop() {
        if stop.is_set() || stats.entries >= max_entries {
            stats.truncated |= stats.entries >= max_entries;
            break;
        }
        let Ok(meta) = source.metadata(&path) else {
            stats.errors += 1;
            continue;
        };
        stats.entries += 1;
        visit(&path, &meta);
        if meta.kind != EntryKind::Directory {
            continue;
        }
        if depth >= max_depth {
            stats.truncated |= max_depth > 0;
            continue;
        }
        if device.is_some() && meta.device != device {
            stats.other_fs += 1;
            continue;
        }
        let Ok(mut entries) = source.read_dir(&path) else {
            stats.errors += 1;
            continue;
        };
        // Reverse order on the stack so entries come out sorted.
        entries.sort_by(|a, b| b.name.cmp(&a.name));
        stack.extend(entries.into_iter().map(|e| (path.join(&e.name), depth + 1)));
    }
    Ok(stats)
}

/// The mode as TSK writes it: name type, `/`, meta type and permissions
/// (`r/rrw-r--r--`, `d/drwxr-xr-x`, `l/lrwxrwxrwx`), set-id and sticky bits
/// as `s`/`S`/`t`/`T`.
pub fn mode_string(kind: EntryKind, mode: Option<u32>) -> String {
    let t = match kind {
        EntryKind::File => 'r',
        EntryKind::Directory => 'd',
        EntryKind::Symlink => 'l',
        EntryKind::Fifo => 'p',
        EntryKind::Socket => 's',
        EntryKind::BlockDevice => 'b',
        EntryKind::CharDevice => 'c',
        _ => '-',
    };
    let m = mode.unwrap_or(0);
    let bit = |mask: u32, c: char| if m & mask != 0 { c } else { '-' };
    let exec = |x: u32, special: u32, on: char, off: char| match (m & x != 0, m & special != 0) {
        (true, true) => on,
        (false, true) => off,
        (true, false) => 'x',
        (false, false) => '-',
    };
    let perms: String = [
        bit(0o400, 'r'),
        bit(0o200, 'w'),
        exec(0o100, 0o4000, 's', 'S'),
        bit(0o040, 'r'),
        bit(0o020, 'w'),
        exec(0o010, 0o2000, 's', 'S'),
        bit(0o004, 'r'),
        bit(0o002, 'w'),
        exec(0o001, 0o1000, 't', 'T'),
    ]
    .iter()
    .collect();
    format!("{t}/{t}{perms}")
}

/// A name safe for the `|`-separated format: `|`, CR, LF and backslash as
/// `\x7c`, `\x0d`, `\x0a`, `\x5c`; bytes that are not UTF-8 as `\xNN`.
fn escape_name(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, &[][..]),
            Err(e) => {
                let (v, b) = rest.split_at(e.valid_up_to());
                (std::str::from_utf8(v).unwrap_or(""), b)
            }
        };
        for c in valid.chars() {
            match c {
                '|' | '\n' | '\r' | '\\' => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        match bad.first() {
            Some(b) => {
                out.push_str(&format!("\\x{b:02x}"));
                rest = &bad[1..];
            }
            None => rest = &[],
        }
    }
    out
}

/// One body file line (with its newline); `link` is a symlink's target.
pub fn bodyfile_line(path: &[u8], link: Option<&[u8]>, meta: &Metadata) -> String {
    let secs = |t: Option<sealbag_common::source::Timestamp>| t.map_or(0, |t| t.secs);
    let mut name = escape_name(path);
    if let Some(link) = link {
        name.push_str(" -> ");
        name.push_str(&escape_name(link));
    }
    format!(
        "0|{name}|{}|{}|{}|{}|{}|{}|{}|{}|{}\n",
        meta.inode.unwrap_or(0),
        mode_string(meta.kind, meta.mode),
        meta.uid.unwrap_or(0),
        meta.gid.unwrap_or(0),
        meta.size,
        secs(meta.times.accessed),
        secs(meta.times.modified),
        secs(meta.times.changed),
        secs(meta.times.created),
    )
}

/// The literal directory a `[[live]] paths` entry names (up to its first wildcard).
fn literal_root(pattern: &str) -> String {
    let cut = pattern.find(['*', '?', '[', '{']).unwrap_or(pattern.len());
    let head = &pattern[..cut];
    let dir = if cut < pattern.len() {
        head.rsplit_once('/')
            .map_or("/", |(d, _)| if d.is_empty() { "/" } else { d })
    } else {
        head
    };
    dir.to_string()
}

/// A member-name-safe form of a `[[live]] name` (a profile may hold several
/// body files: `bodyfile (root file system)` → `bodyfile-root-file-system`).
fn member_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().take(64) {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    let trimmed = trimmed.strip_prefix("bodyfile-").unwrap_or(trimmed);
    if trimmed.is_empty() {
        "unnamed".into()
    } else {
        trimmed.to_string()
    }
}

/// `bodyfile`: see the module documentation.
#[derive(Debug)]
pub struct BodyfileCollector;

impl LiveCollector for BodyfileCollector {
    fn kinds(&self) -> &'static [&'static str] {
        &["bodyfile"]
    }

    fn collect(&self, target: &LiveTarget, context: &mut LiveContext<'_>) -> Result<(), String> {
        let roots: Vec<String> = if target.paths.is_empty() {
            DEFAULT_ROOTS.iter().map(|r| r.to_string()).collect()
        } else {
            target
                .paths
                .iter()
                .map(|g| literal_root(g.as_str()))
                .collect()
        };
        let mut out = Jsonl::new(context)?;
        let mut facts = Facts::new();
        let source = context.source;
        let stop = context.stop;
        for root in roots {
            let Some(sp) = SourcePath::parse(root.as_bytes()) else {
                facts.insert(root.clone(), "not an absolute path".into());
                continue;
            };
            let mut write_error = None;
            let result = walk_source(source, &sp, MAX_DEPTH, MAX_ENTRIES, stop, &mut |p, m| {
                if write_error.is_some() {
                    return;
                }
                let link = (m.kind == EntryKind::Symlink)
                    .then(|| source.read_link(p).ok())
                    .flatten()
                    .map(|mut l| {
                        l.truncate(4096);
                        l
                    });
                let line = bodyfile_line(p.as_bytes(), link.as_deref(), m);
                if let Err(e) = out.write_raw(line.as_bytes()) {
                    write_error = Some(e);
                }
            });
            if let Some(e) = write_error {
                return Err(e);
            }
            match result {
                Ok(stats) => {
                    facts.insert(
                        root,
                        serde_json::json!({
                            "entries": stats.entries, "errors": stats.errors,
                            "truncated": stats.truncated, "other_fs_not_entered": stats.other_fs,
                        }),
                    );
                }
                Err(e) => {
                    facts.insert(root, e.to_string().into());
                }
            }
        }
        facts.insert("read_at".into(), super::read_at().into());
        let member = if target.name == "bodyfile" {
            "live/bodyfile.txt".to_string()
        } else {
            format!("live/bodyfile-{}.txt", member_name(&target.name))
        };
        out.finish(context, &member, "walk", facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealbag_common::source::Timestamp;
    use sealbag_common::FsSource;

    #[test]
    fn mode_strings() {
        assert_eq!(mode_string(EntryKind::File, Some(0o100644)), "r/rrw-r--r--");
        assert_eq!(
            mode_string(EntryKind::Directory, Some(0o41777)),
            "d/drwxrwxrwt"
        );
        assert_eq!(mode_string(EntryKind::File, Some(0o104755)), "r/rrwsr-xr-x");
        assert_eq!(mode_string(EntryKind::File, Some(0o2644)), "r/rrw-r-Sr--");
        assert_eq!(mode_string(EntryKind::Symlink, None), "l/l---------");
    }

    #[test]
    fn lines_escape_hostile_names() {
        let mut meta = Metadata::new(EntryKind::File, 42);
        meta.inode = Some(7);
        meta.mode = Some(0o100600);
        meta.uid = Some(1000);
        meta.gid = Some(100);
        meta.times.accessed = Some(Timestamp::new(1, 5));
        meta.times.modified = Some(Timestamp::new(2, 0));
        meta.times.changed = Some(Timestamp::new(3, 0));
        assert_eq!(
            bodyfile_line(b"/tmp/a|b\n\xff", None, &meta),
            "0|/tmp/a\\x7cb\\x0a\\xff|7|r/rrw-------|1000|100|42|1|2|3|0\n"
        );
        let link = Metadata::new(EntryKind::Symlink, 3);
        assert_eq!(
            bodyfile_line(b"/x", Some(b"/y"), &link),
            "0|/x -> /y|0|l/l---------|0|0|3|0|0|0|0\n"
        );
    }

    #[test]
    fn literal_roots() {
        assert_eq!(literal_root("/etc"), "/etc");
        assert_eq!(literal_root("/home/*/.ssh"), "/home");
        assert_eq!(literal_root("/*"), "/");
        assert_eq!(
            member_name("bodyfile (root file system)"),
            "root-file-system"
        );
        assert_eq!(member_name("../../x"), "x");
        assert_eq!(member_name("///"), "unnamed");
    }

    #[test]
    fn walks_a_tree_bounded_without_following_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path();
        std::fs::create_dir_all(base.join("a/b/c/d")).expect("dirs");
        std::fs::write(base.join("a/f"), b"hello").expect("file");
        std::os::unix::fs::symlink("/", base.join("a/loop")).expect("link");
        let source = FsSource::tree(base);
        let stop = StopSignal::new();
        let mut seen = Vec::new();
        let root = SourcePath::parse(b"/a").expect("path");
        let stats = walk_source(&source, &root, 2, 1000, &stop, &mut |p, _| {
            seen.push(p.display())
        })
        .expect("walk");
        assert_eq!(seen, vec!["/a", "/a/b", "/a/b/c", "/a/f", "/a/loop"]);
        assert!(stats.truncated);
        let stats = walk_source(&source, &root, 32, 3, &stop, &mut |_, _| {}).expect("walk");
        assert_eq!(stats.entries, 3);
        assert!(stats.truncated);
        assert!(walk_source(
            &source,
            &SourcePath::parse(b"/nope").expect("p"),
            3,
            3,
            &stop,
            &mut |_, _| {}
        )
        .is_err());
    }
}
