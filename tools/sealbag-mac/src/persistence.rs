//! `[[live]] kind = "persistence"`: one JSON line per thing that starts a
//! program on a Mac, read through the [`Source`] so it works the same on the
//! live system, a `--root` tree or an image.
//!
//! Covered: launchd jobs (`/Library/Launch{Agents,Daemons}`,
//! `/System/Library/Launch{Agents,Daemons}`, `/Users/*/Library/LaunchAgents`),
//! login items (`loginitems.UID.plist` of launchd, the legacy
//! `com.apple.loginitems.plist`, `*.sfl2`/`*.sfl3` shared file lists, the
//! `*.btm` Background Task Management stores), `StartupItems`, `emond`
//! rules, cron tables (`/usr/lib/cron/tabs`, `/var/at/tabs`, `/etc/crontab`)
//! and periodic scripts.
//!
//! Each line says what it is (`kind`), where (`path`, its `sha256`), and
//! for launchd jobs the label, program, arguments, `RunAtLoad`, `KeepAlive`,
//! `Disabled`, and the SHA-256 of the program the job points to (read
//! through the source, following links inside the source, at most
//! [`MAX_PROGRAM_HASH`] bytes). Keyed-archiver stores (`.btm`, `.sfl2`) are
//! not decoded; their `file://` URLs are listed (`urls`) as a lead.

use std::io::{Read, Write};

use sealbag_common::engine::{walk, Facts, LiveCollector, LiveContext, WalkEvent};
use sealbag_common::glob::Glob;
use sealbag_common::profile::LiveTarget;
use sealbag_common::source::{EntryKind, Source, SourceError, SourcePath};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Largest program hashed for a launchd job.
pub const MAX_PROGRAM_HASH: u64 = 256 << 20;

/// Largest cron table or periodic script read for its lines.
const MAX_TEXT: u64 = 1 << 20;

/// Most `file://` URLs listed from one keyed-archiver store.
const MAX_URLS: usize = 256;

/// Symbolic links followed when locating a program.
const MAX_LINK_HOPS: usize = 8;

/// What kind of file each glob finds.
const LOCATIONS: &[(&str, &str)] = &[
    ("launch_agent", "/Library/LaunchAgents/*"),
    ("launch_daemon", "/Library/LaunchDaemons/*"),
    ("system_launch_agent", "/System/Library/LaunchAgents/*"),
    ("system_launch_daemon", "/System/Library/LaunchDaemons/*"),
    ("user_launch_agent", "/Users/*/Library/LaunchAgents/*"),
    (
        "login_items_launchd",
        "/private/var/db/com.apple.xpc.launchd/loginitems.*.plist",
    ),
    (
        "login_items_legacy",
        "/Users/*/Library/Preferences/com.apple.loginitems.plist",
    ),
    (
        "login_items_sfl",
        "/Users/*/Library/Application Support/com.apple.sharedfilelist/*.{sfl,sfl2,sfl3}",
    ),
    (
        "background_items",
        "/Users/*/Library/Application Support/com.apple.backgroundtaskmanagementagent/backgrounditems.btm",
    ),
    (
        "background_items",
        "/private/var/db/com.apple.backgroundtaskmanagement/*.btm",
    ),
    ("startup_item", "/Library/StartupItems/*/StartupParameters.plist"),
    ("startup_item", "/System/Library/StartupItems/*/StartupParameters.plist"),
    ("emond_rule", "/private/etc/emond.d/rules/*.plist"),
    ("cron", "/usr/lib/cron/tabs/*"),
    ("cron", "/private/var/at/tabs/*"),
    ("cron", "/private/etc/crontab"),
    ("periodic", "/private/etc/periodic/{daily,weekly,monthly}/*"),
    ("periodic", "/usr/local/etc/periodic/{daily,weekly,monthly}/*"),
    ("periodic", "/private/etc/{periodic.conf,periodic.conf.local,defaults/periodic.conf}"),
];

/// The `persistence` [`LiveCollector`].
#[derive(Debug, Default, Clone, Copy)]
pub struct PersistenceCollector;

impl LiveCollector for PersistenceCollector {
    fn kinds(&self) -> &'static [&'static str] {
        &["persistence"]
    }

    fn collect(&self, _target: &LiveTarget, context: &mut LiveContext<'_>) -> Result<(), String> {
        let mut out = context.buffer().map_err(|e| e.to_string())?;
        let mut facts = Facts::new();
        let mut errors = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (kind, glob) in LOCATIONS {
            let entries = find(context, glob, &mut errors);
            for path in entries {
                if context.stop.is_set() {
                    break;
                }
                if !seen.insert(path.clone()) {
                    continue;
                }
                let lines = describe(context.source, kind, &path);
                for line in &lines {
                    serde_json::to_writer(&mut out, line).map_err(|e| e.to_string())?;
                    out.write_all(b"\n").map_err(|e| e.to_string())?;
                }
                let counter = facts
                    .entry((*kind).to_string())
                    .or_insert(Value::from(0u64));
                *counter = Value::from(counter.as_u64().unwrap_or(0) + lines.len() as u64);
            }
        }
        if !errors.is_empty() {
            facts.insert("walk_errors".into(), errors.into());
        }
        let generated = out.finish().map_err(|e| e.to_string())?;
        context
            .add_member("live/persistence.jsonl", &generated, "source", facts)
            .map_err(|e| e.to_string())
    }
}

/// Files (and links) a glob matches in the source; unreadable directories
/// other than missing ones are noted in `errors`.
fn find(context: &LiveContext<'_>, glob: &str, errors: &mut Vec<String>) -> Vec<SourcePath> {
    let Ok(glob) = Glob::parse(glob) else {
        errors.push(format!("{glob}: bad pattern"));
        return Vec::new();
    };
    let case_sensitive = context.source.info().case_sensitive;
    let mut found = Vec::new();
    for pattern in glob.alternatives() {
        walk(
            context.source,
            pattern,
            case_sensitive,
            context.stop,
            &mut |event| match event {
                WalkEvent::Match(path, meta) => {
                    if matches!(meta.kind, EntryKind::File | EntryKind::Symlink) {
                        found.push(path);
                    }
                }
                WalkEvent::Error(_, SourceError::NotFound { .. }) => {}
                WalkEvent::Error(_, error) => errors.push(error.to_string()),
            },
        );
    }
    found.sort();
    found
}

/// The JSON lines for one file.
fn describe(source: &dyn Source, kind: &str, path: &SourcePath) -> Vec<Value> {
    let mut base = Map::new();
    base.insert("kind".into(), kind.into());
    base.insert("path".into(), path.display().into());
    if let Ok(meta) = source.metadata(path) {
        if meta.kind == EntryKind::Symlink {
            // Never followed: where it points is the finding.
            match source.read_link(path) {
                Ok(target) => {
                    base.insert(
                        "link_target".into(),
                        String::from_utf8_lossy(&target).into_owned().into(),
                    );
                }
                Err(e) => {
                    base.insert("error".into(), e.to_string().into());
                }
            }
            return vec![Value::Object(base)];
        }
    }
    let bytes = match read_capped(source, path, crate::plist::MAX_PLIST_SIZE) {
        Ok((bytes, sha256, size)) => {
            base.insert("sha256".into(), sha256.into());
            base.insert("size".into(), size.into());
            bytes
        }
        Err(error) => {
            base.insert("error".into(), error.into());
            return vec![Value::Object(base)];
        }
    };
    let Some(bytes) = bytes else {
        base.insert("error".into(), "too large to read for a summary".into());
        return vec![Value::Object(base)];
    };
    match kind {
        "cron" => cron_lines(base, &bytes),
        "periodic" => vec![Value::Object(base)],
        _ => match crate::plist::parse_bytes(&bytes) {
            Err(e) => {
                base.insert("error".into(), format!("plist: {e}").into());
                vec![Value::Object(base)]
            }
            Ok(parsed) => plist_lines(source, kind, base, &parsed.value),
        },
    }
}

fn plist_lines(
    source: &dyn Source,
    kind: &str,
    mut base: Map<String, Value>,
    value: &Value,
) -> Vec<Value> {
    match kind {
        "login_items_launchd" => {
            // `{helper bundle id: app bundle id, "version.<helper>": n}`.
            let Some(map) = value.as_object() else {
                return vec![Value::Object(base)];
            };
            let mut lines = Vec::new();
            for (helper, app) in map.iter().filter(|(k, _)| !k.starts_with("version.")) {
                let mut line = base.clone();
                line.insert("label".into(), helper.clone().into());
                line.insert("app".into(), app.clone());
                if let Some(v) = map.get(&format!("version.{helper}")) {
                    line.insert("version".into(), v.clone());
                }
                lines.push(Value::Object(line));
            }
            if lines.is_empty() {
                lines.push(Value::Object(base));
            }
            lines
        }
        "login_items_legacy" | "login_items_sfl" | "background_items" => {
            let mut urls = Vec::new();
            collect_urls(value, &mut urls);
            if kind == "login_items_legacy" {
                let names: Vec<Value> = value
                    .pointer("/SessionItems/CustomListItems")
                    .and_then(Value::as_array)
                    .map(|items| {
                        items
                            .iter()
                            .filter_map(|i| i.get("Name").cloned())
                            .collect()
                    })
                    .unwrap_or_default();
                base.insert("names".into(), names.into());
            }
            base.insert("urls".into(), urls.into());
            vec![Value::Object(base)]
        }
        _ => {
            // launchd jobs, StartupItems, emond rules: the launchd keys where present.
            let get = |k: &str| value.get(k).cloned();
            for (key, field) in [
                ("Label", "label"),
                ("Program", "program"),
                ("ProgramArguments", "arguments"),
                ("RunAtLoad", "run_at_load"),
                ("KeepAlive", "keep_alive"),
                ("Disabled", "disabled"),
                ("UserName", "user"),
                ("StartInterval", "start_interval"),
                ("StartCalendarInterval", "start_calendar_interval"),
                ("WatchPaths", "watch_paths"),
                ("Description", "description"),
            ] {
                if let Some(v) = get(key) {
                    base.insert(field.into(), v);
                }
            }
            let program = value
                .get("Program")
                .and_then(Value::as_str)
                .or_else(|| value.pointer("/ProgramArguments/0").and_then(Value::as_str));
            if let Some(program) = program {
                base.insert("program_path".into(), program.into());
                match hash_program(source, program) {
                    Ok((sha256, size, resolved)) => {
                        base.insert("program_sha256".into(), sha256.into());
                        base.insert("program_size".into(), size.into());
                        if resolved.as_bytes() != program.as_bytes() {
                            base.insert("program_resolved".into(), resolved.display().into());
                        }
                    }
                    Err(error) => {
                        base.insert("program_error".into(), error.into());
                    }
                }
            }
            vec![Value::Object(base)]
        }
    }
}

fn cron_lines(base: Map<String, Value>, bytes: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_TEXT as usize)]);
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut entry = base.clone();
        entry.insert("line".into(), (n + 1).into());
        entry.insert("entry".into(), trimmed.into());
        lines.push(Value::Object(entry));
    }
    if lines.is_empty() {
        lines.push(Value::Object(base));
    }
    lines
}

/// Every `file://…` URL in the strings and (base64) data of a plist.
fn collect_urls(value: &Value, urls: &mut Vec<String>) {
    use base64::Engine as _;
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        if urls.len() >= MAX_URLS {
            return;
        }
        match v {
            Value::Array(items) => stack.extend(items.iter().rev()),
            Value::Object(map) => stack.extend(map.values().rev()),
            Value::String(s) => {
                scan_urls(s.as_bytes(), urls);
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(s) {
                    scan_urls(&bytes, urls);
                }
            }
            _ => {}
        }
    }
}

fn scan_urls(bytes: &[u8], urls: &mut Vec<String>) {
    let needle = b"file://";
    let mut start = 0;
    while let Some(at) = bytes[start..]
        .windows(needle.len())
        .position(|w| w == needle)
    {
        let from = start + at;
        let end = bytes[from..]
            .iter()
            .position(|b| !(0x21..0x7f).contains(b))
            .map_or(bytes.len(), |n| from + n);
        let url = String::from_utf8_lossy(&bytes[from..end]).into_owned();
        if !urls.contains(&url) && urls.len() < MAX_URLS {
            urls.push(url);
        }
        start = end.max(from + 1);
    }
}

/// Reads a file through the source: `(bytes if at most cap, sha256, size)`.
/// Larger files are hashed by streaming and their bytes not kept.
fn read_capped(
    source: &dyn Source,
    path: &SourcePath,
    cap: u64,
) -> Result<(Option<Vec<u8>>, String, u64), String> {
    let opened = source.open(path, None).map_err(|e| e.to_string())?;
    let mut reader = opened.reader;
    let mut hasher = Sha256::new();
    let mut kept = Vec::new();
    let mut size = 0u64;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("{path}: read at offset {size}: {e}")),
        };
        hasher.update(&chunk[..n]);
        size += n as u64;
        if size <= cap {
            kept.extend_from_slice(&chunk[..n]);
        }
    }
    let bytes = (size <= cap).then_some(kept);
    Ok((bytes, hex(&hasher.finalize()), size))
}

/// Hashes the program a job names, following links inside the source.
fn hash_program(source: &dyn Source, program: &str) -> Result<(String, u64, SourcePath), String> {
    if !program.starts_with('/') {
        return Err("not an absolute path; launchd would not find it either".into());
    }
    let mut path = normalize(program.as_bytes()).ok_or("path escapes the root")?;
    for _ in 0..=MAX_LINK_HOPS {
        let meta = source.metadata(&path).map_err(|e| e.to_string())?;
        match meta.kind {
            EntryKind::Symlink => {
                let target = source.read_link(&path).map_err(|e| e.to_string())?;
                let joined = if target.starts_with(b"/") {
                    target
                } else {
                    let parent_len = path.as_bytes().len() - path.file_name().len();
                    let mut joined = path.as_bytes()[..parent_len].to_vec();
                    joined.extend_from_slice(&target);
                    joined
                };
                path = normalize(&joined).ok_or("link escapes the root")?;
            }
            EntryKind::File => {
                if meta.size > MAX_PROGRAM_HASH {
                    return Err(format!(
                        "{path}: {} bytes, larger than the {} MiB hashing cap",
                        meta.size,
                        MAX_PROGRAM_HASH >> 20
                    ));
                }
                let (_, sha256, size) = read_capped(source, &path, 0)?;
                return Ok((sha256, size, path));
            }
            other => return Err(format!("{path}: is a {}", other.name())),
        }
    }
    Err(format!("more than {MAX_LINK_HOPS} symbolic links"))
}

/// `a/./b/../c` → `/a/c`; `None` when `..` climbs above the root.
fn normalize(bytes: &[u8]) -> Option<SourcePath> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in bytes.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop()?;
            }
            name => parts.push(name),
        }
    }
    Some(parts.iter().fold(SourcePath::root(), |p, n| p.join(n)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_refuses_escapes() {
        assert_eq!(
            normalize(b"/usr/./local/../bin/x").map(|p| p.display()),
            Some("/usr/bin/x".to_string())
        );
        assert!(normalize(b"/../x").is_none());
    }

    #[test]
    fn finds_file_urls_in_data() {
        let mut urls = Vec::new();
        scan_urls(
            b"\x00\x01file:///Applications/A.app/\x16\x00file:///x y",
            &mut urls,
        );
        assert_eq!(urls, vec!["file:///Applications/A.app/", "file:///x"]);
    }
}
