//! `[[live]] kind = "users"`: local user accounts from the directory
//! service's plists, without password hashes.
//!
//! `/private/var/db/dslocal/nodes/Default/users/*.plist` hold each user's
//! attributes *and* their password hash (`ShadowHashData`, a nested plist of
//! salted PBKDF2 digests) and Kerberos keys. The profile never collects
//! these files raw; this collector reads them through the source and writes
//! `live/accounts.jsonl`, one line per user: every attribute except the
//! secret ones ([`SECRET_KEYS`]), which are listed by name under `removed`;
//! the hash *types* present (`SALTED-SHA512-PBKDF2`…) under
//! `shadow_hash_types`, so an examiner knows a password is set and how,
//! without the hash itself entering the evidence.

use std::io::Write;

use sealbag_common::engine::{walk, Facts, LiveCollector, LiveContext, WalkEvent};
use sealbag_common::glob::Glob;
use sealbag_common::profile::LiveTarget;
use sealbag_common::source::{EntryKind, SourceError};
use serde_json::{Map, Value};

/// Attributes never written: password hashes and keys derived from the password.
pub const SECRET_KEYS: &[&str] = &[
    "ShadowHashData",
    "KerberosKeys",
    "HeimdalSRPKey",
    "LinkedIdentity",
];

const USERS: &str = "/private/var/db/dslocal/nodes/Default/users/*.plist";

/// The `accounts` [`LiveCollector`].
#[derive(Debug, Default, Clone, Copy)]
pub struct AccountsCollector;

/// One user's line, from the parsed plist.
pub fn account_line(path: &str, value: &Value) -> Value {
    let mut line = Map::new();
    line.insert("path".into(), path.into());
    let mut record = Map::new();
    let mut removed = Vec::new();
    let mut hash_types = Vec::new();
    if let Some(map) = value.as_object() {
        for (key, v) in map {
            if SECRET_KEYS.contains(&key.as_str()) {
                removed.push(Value::from(key.clone()));
                if key == "ShadowHashData" {
                    hash_types.extend(shadow_types(v));
                }
                continue;
            }
            if key == "passwd" {
                // Old systems kept a crypt(3) hash here; only a mask is kept.
                let masked = v.as_array().is_some_and(|a| {
                    a.iter()
                        .all(|s| s.as_str().is_some_and(|s| s.chars().all(|c| c == '*')))
                });
                if !masked {
                    removed.push(Value::from(key.clone()));
                    continue;
                }
            }
            record.insert(key.clone(), v.clone());
        }
    }
    line.insert("record".into(), record.into());
    line.insert("removed".into(), removed.into());
    line.insert("shadow_hash_types".into(), hash_types.into());
    Value::Object(line)
}

/// The dictionary keys (hash types) of the nested plists in `ShadowHashData`.
fn shadow_types(value: &Value) -> Vec<Value> {
    use base64::Engine as _;
    let mut types = Vec::new();
    for item in value.as_array().into_iter().flatten() {
        let Some(bytes) = item
            .as_str()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        else {
            continue;
        };
        if let Ok(parsed) = crate::plist::parse_bytes(&bytes) {
            if let Some(map) = parsed.value.as_object() {
                types.extend(map.keys().cloned().map(Value::from));
            }
        }
    }
    types
}

impl LiveCollector for AccountsCollector {
    fn kinds(&self) -> &'static [&'static str] {
        &["users"]
    }

    fn collect(&self, _target: &LiveTarget, context: &mut LiveContext<'_>) -> Result<(), String> {
        let glob = Glob::parse(USERS).map_err(|e| e.to_string())?;
        let case_sensitive = context.source.info().case_sensitive;
        let mut paths = Vec::new();
        let mut errors = Vec::new();
        for pattern in glob.alternatives() {
            walk(
                context.source,
                pattern,
                case_sensitive,
                context.stop,
                &mut |event| match event {
                    WalkEvent::Match(path, meta) if meta.kind == EntryKind::File => {
                        paths.push(path)
                    }
                    WalkEvent::Match(..) | WalkEvent::Error(_, SourceError::NotFound { .. }) => {}
                    WalkEvent::Error(_, error) => errors.push(error.to_string()),
                },
            );
        }
        paths.sort();
        let mut out = context.buffer().map_err(|e| e.to_string())?;
        let mut users = 0u64;
        for path in &paths {
            let line = context
                .source
                .open(path, None)
                .map_err(|e| e.to_string())
                .and_then(|mut f| {
                    crate::plist::read_plist(&mut f.reader).map_err(|e| e.to_string())
                })
                .map(|parsed| account_line(&path.display(), &parsed.value))
                .unwrap_or_else(
                    |error| serde_json::json!({"path": path.display(), "error": error}),
                );
            serde_json::to_writer(&mut out, &line).map_err(|e| e.to_string())?;
            out.write_all(b"\n").map_err(|e| e.to_string())?;
            users += 1;
        }
        let generated = out.finish().map_err(|e| e.to_string())?;
        let mut facts = Facts::new();
        facts.insert("users".into(), users.into());
        facts.insert("removed_keys".into(), SECRET_KEYS.to_vec().into());
        if !errors.is_empty() {
            facts.insert("walk_errors".into(), errors.into());
        }
        context
            .add_member("live/accounts.jsonl", &generated, "source", facts)
            .map_err(|e| e.to_string())
    }
}
