//! `[[live]] kind = "logarchive"`: the unified logs laid out as a
//! `.logarchive` bundle that `log show --archive` reads.
//!
//! The bundle is `logarchive/system_logs.logarchive/` in the archive: the
//! contents of `/private/var/db/diagnostics` and `/private/var/db/uuidtext`
//! merged at its root (`Persist/`, `Special/`, `timesync/`, `00/`…`FF/`,
//! `dsc/`…), as `log collect` lays them out, plus an `Info.plist` with the
//! `OSArchiveVersion` matching the collected system's macOS version.
//!
//! The bundle's files are symbolic links to the copies the profile's
//! targets store under `files/` (relative links, so they resolve wherever
//! the archive is extracted): the data, often gigabytes, is stored once,
//! and the hashes in the manifest are those of the one copy. A file that
//! the profile does not collect (or that fails) leaves a dangling link; the
//! macOS profiles collect both folders whole. See docs/macos-logarchive.md.

use sealbag_common::engine::{walk, Facts, LiveCollector, LiveContext, WalkEvent};
use sealbag_common::glob::Glob;
use sealbag_common::profile::LiveTarget;
use sealbag_common::source::{EntryKind, Source, SourceError, SourcePath};

/// Where the bundle goes in the archive.
pub const BUNDLE: &str = "logarchive/system_logs.logarchive";

/// Where the collected files are in the archive (the tool's archive prefix).
const FILES: &str = "files";

/// The folders merged into the bundle.
const FOLDERS: &[&str] = &["/private/var/db/diagnostics", "/private/var/db/uuidtext"];

/// `OSArchiveVersion` for a macOS `ProductVersion` (`14.2.1`): 2 for
/// 10.12–10.12.5, 3 for 10.12.6–10.13, 4 for 10.14–11, 5 from 12 on.
pub fn archive_version(product_version: &str) -> u32 {
    let mut parts = product_version
        .split('.')
        .map(|p| p.trim().parse::<u32>().unwrap_or(0));
    let (major, minor, patch) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    match (major, minor, patch) {
        (10, 12, p) if p < 6 => 2,
        (10, 12, _) | (10, 13, _) => 3,
        (10, _, _) | (11, _, _) => 4,
        (m, _, _) if m >= 12 => 5,
        _ => 5,
    }
}

/// The bundle's `Info.plist` (XML).
pub fn info_plist(version: u32) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
<plist version=\"1.0\">\n<dict>\n\t<key>OSArchiveVersion</key>\n\t<integer>{version}</integer>\n</dict>\n</plist>\n"
    )
}

/// The collected system's `ProductVersion`, read through the source.
fn product_version(source: &dyn Source) -> Option<String> {
    let path = SourcePath::parse(b"/System/Library/CoreServices/SystemVersion.plist")?;
    let mut opened = source.open(&path, None).ok()?;
    let parsed = crate::plist::read_plist(&mut opened.reader).ok()?;
    parsed
        .value
        .get("ProductVersion")?
        .as_str()
        .map(str::to_string)
}

/// The `logarchive` [`LiveCollector`].
#[derive(Debug, Default, Clone, Copy)]
pub struct LogarchiveCollector;

impl LiveCollector for LogarchiveCollector {
    fn kinds(&self) -> &'static [&'static str] {
        &["logarchive"]
    }

    fn collect(&self, _target: &LiveTarget, context: &mut LiveContext<'_>) -> Result<(), String> {
        let case_sensitive = context.source.info().case_sensitive;
        let mut linked = std::collections::BTreeSet::new();
        let mut files = Vec::new();
        for folder in FOLDERS {
            let glob = Glob::parse(&format!("{folder}/**")).map_err(|e| e.to_string())?;
            for pattern in glob.alternatives() {
                walk(
                    context.source,
                    pattern,
                    case_sensitive,
                    context.stop,
                    &mut |event| match event {
                        WalkEvent::Match(path, meta) if meta.kind == EntryKind::File => {
                            files.push((*folder, path));
                        }
                        WalkEvent::Match(..)
                        | WalkEvent::Error(_, SourceError::NotFound { .. }) => {}
                        WalkEvent::Error(path, error) => {
                            tracing::warn!(%path, %error, "logarchive: cannot list");
                        }
                    },
                );
            }
        }
        if files.is_empty() {
            return Err("no unified log files under /private/var/db/diagnostics or /private/var/db/uuidtext".into());
        }
        for (folder, path) in files {
            let full = path.as_bytes();
            let Some(relative) = full
                .strip_prefix(folder.as_bytes())
                .and_then(|r| r.strip_prefix(b"/"))
            else {
                continue;
            };
            let relative = String::from_utf8_lossy(relative).into_owned();
            if relative == "Info.plist" || !linked.insert(relative.clone()) {
                context.record_error(
                    &path.display(),
                    format!("logarchive: `{relative}` already taken in the bundle; not linked"),
                );
                continue;
            }
            let name = format!("{BUNDLE}/{relative}");
            let depth = name.matches('/').count();
            let mut target = "../".repeat(depth);
            target.push_str(FILES);
            target.push_str(&path.display());
            let mut facts = Facts::new();
            facts.insert("source_path".into(), path.display().into());
            context
                .add_link(&name, target.as_bytes(), facts)
                .map_err(|e| e.to_string())?;
        }
        let version = product_version(context.source);
        let archive_version = version.as_deref().map_or(5, archive_version);
        let mut buffer = context.buffer().map_err(|e| e.to_string())?;
        std::io::Write::write_all(&mut buffer, info_plist(archive_version).as_bytes())
            .map_err(|e| e.to_string())?;
        let generated = buffer.finish().map_err(|e| e.to_string())?;
        let mut facts = Facts::new();
        facts.insert("os_archive_version".into(), archive_version.into());
        facts.insert(
            "product_version".into(),
            version.map_or(serde_json::Value::Null, Into::into),
        );
        facts.insert("linked_files".into(), linked.len().into());
        context
            .add_member(
                &format!("{BUNDLE}/Info.plist"),
                &generated,
                "generated",
                facts,
            )
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_archive_version() {
        assert_eq!(archive_version("10.12.4"), 2);
        assert_eq!(archive_version("10.12.6"), 3);
        assert_eq!(archive_version("10.13"), 3);
        assert_eq!(archive_version("10.15.7"), 4);
        assert_eq!(archive_version("11.7.10"), 4);
        assert_eq!(archive_version("14.2.1"), 5);
        assert_eq!(archive_version("26.1"), 5);
        let parsed = crate::plist::parse_bytes(info_plist(4).as_bytes()).expect("valid plist");
        assert_eq!(parsed.value, serde_json::json!({"OSArchiveVersion": 4}));
    }
}
