//! `sealbag profile …`: check, show and list collection profiles.

use sealbag_common::profile::{format_size, Profile, TargetOs, EMBEDDED};

/// Loads and validates a profile; returns a one-paragraph summary and the
/// warnings of [`warnings`] (non-fatal).
pub fn check(spec: &str) -> Result<(String, Vec<String>), String> {
    let profile = Profile::load(spec).map_err(|e| e.to_string())?;
    let globs: usize = profile.targets.iter().map(|t| t.paths.len()).sum();
    let includes = profile.origins.len().saturating_sub(1);
    let mut summary = format!(
        "{spec}: ok: profile `{}` ({:?}), {} targets, {globs} globs, {includes} included profiles",
        profile.name,
        profile.os,
        profile.targets.len()
    );
    let mut warnings = warnings(&profile);
    // The indicator lists are read too: a malformed line is found here,
    // not on the suspect host.
    let mut indicators = sealbag_common::ioc::IndicatorSet::default();
    for file in &profile.ioc.files {
        let list = indicators
            .add_list_file(file)
            .map_err(|e| format!("bad indicator list: {e}"))?;
        for (reason, count) in &list.unsupported {
            warnings.push(format!(
                "{}: {count} indicators not supported: {reason}",
                list.file
            ));
        }
    }
    if !profile.ioc.files.is_empty() {
        summary.push_str(&format!(
            ", {} indicators in {} lists",
            indicators.len(),
            profile.ioc.files.len()
        ));
    }
    if !profile.sweep.paths.is_empty() {
        summary.push_str(&format!(", sweeps {} trees", profile.sweep.paths.len()));
    }
    Ok((summary, warnings))
}

/// Top-level folders that exist only on Windows volumes.
const WINDOWS_ONLY: &[&str] = &[
    "windows",
    "windows.old",
    "program files",
    "program files (x86)",
    "programdata",
    "$recycle.bin",
    "documents and settings",
    "system volume information",
    "$extend",
];
/// Top-level folders of a Linux root that a Windows volume never has
/// (not `/boot`: Windows system partitions have `/Boot/BCD`).
const UNIX_ONLY_ON_WINDOWS: &[&str] = &[
    "proc", "sys", "dev", "etc", "var", "usr", "home", "root", "run", "opt", "srv",
];
/// Kernel pseudo file systems that macOS does not have.
const LINUX_PSEUDO: &[&str] = &["proc", "sys"];
/// Top-level folders that exist only on macOS.
const MACOS_ONLY: &[&str] = &["library", "system", "private", "applications", "volumes"];

/// Why a glob can never match on `os` (`None` when it can).
fn impossible_on(os: TargetOs, glob: &str) -> Option<String> {
    let normalised = glob.replace('\\', "/");
    let first = normalised
        .split('/')
        .find(|c| !c.is_empty())
        .unwrap_or("")
        .to_ascii_lowercase();
    let drive =
        first.len() == 2 && first.ends_with(':') && first.as_bytes()[0].is_ascii_alphabetic();
    if drive {
        return Some(format!(
            "starts with the drive `{first}`: paths are inside the volume (`/Windows/…`, not `/C:/Windows/…`)"
        ));
    }
    let lower = normalised.to_ascii_lowercase();
    match os {
        TargetOs::Any => None,
        TargetOs::Linux | TargetOs::Macos => {
            if glob.contains('\\') && !glob.contains('/') {
                return Some("is written with `\\` only: a Windows path in a Unix profile".into());
            }
            if WINDOWS_ONLY.contains(&first.as_str()) || lower.contains("/appdata/") {
                return Some(format!("names `{first}`, a Windows folder"));
            }
            if os == TargetOs::Macos && LINUX_PSEUDO.contains(&first.as_str()) {
                return Some(format!("names `/{first}`, which macOS does not have"));
            }
            if os == TargetOs::Linux && MACOS_ONLY.contains(&first.as_str()) && first != "system" {
                return Some(format!("names `/{first}`, a macOS folder"));
            }
            None
        }
        TargetOs::Windows => {
            if UNIX_ONLY_ON_WINDOWS.contains(&first.as_str()) {
                return Some(format!(
                    "names `/{first}`, a Unix folder a Windows volume does not have"
                ));
            }
            if ["library", "private", "applications"].contains(&first.as_str()) {
                return Some(format!("names `/{first}`, a macOS folder"));
            }
            None
        }
    }
}

/// Non-fatal problems of a loaded profile:
///
/// - a glob that can never match on the profile's `os` (a drive letter in
///   any profile; Windows folders or `\\`-only paths in a Linux or macOS
///   profile; `/proc`, `/etc`, `/home`… in a Windows profile; `/proc`,
///   `/sys` in a macOS profile; `/Library`, `/private`… in a Linux or
///   Windows profile);
/// - the same glob in two targets (compared after `\\` → `/`, and without
///   case on Windows);
/// - targets that take nothing (every path also excluded), included
///   profiles that add nothing, and a profile that collects nothing at all.
pub fn warnings(profile: &Profile) -> Vec<String> {
    let mut out = Vec::new();
    for t in &profile.targets {
        for g in &t.paths {
            if let Some(why) = impossible_on(profile.os, g.as_str()) {
                out.push(format!(
                    "target `{}`: `{}` can never match on {:?}: it {why}",
                    t.name,
                    g.as_str(),
                    profile.os
                ));
            }
        }
    }
    let key = |g: &str| {
        let n = g.replace('\\', "/");
        if profile.os == TargetOs::Windows {
            n.to_lowercase()
        } else {
            n
        }
    };
    let mut seen: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for t in &profile.targets {
        for g in &t.paths {
            match seen.get(&key(g.as_str())) {
                Some(first) if *first != t.name => out.push(format!(
                    "`{}` is in target `{first}` and again in target `{}`",
                    g.as_str(),
                    t.name
                )),
                Some(_) => {}
                None => {
                    seen.insert(key(g.as_str()), t.name.clone());
                }
            }
        }
    }
    for t in &profile.targets {
        let all_excluded = t.paths.iter().all(|p| {
            t.exclude
                .iter()
                .any(|e| e.as_str() == p.as_str() || e.as_str() == "/**")
        });
        if all_excluded {
            out.push(format!(
                "target `{}` takes nothing: every path is also excluded",
                t.name
            ));
        }
    }
    for origin in profile.origins.iter().skip(1) {
        let spec = origin
            .origin
            .strip_prefix("embedded:")
            .unwrap_or(&origin.origin);
        if let Ok(included) = Profile::load(spec) {
            if included.targets.is_empty()
                && included.live.is_empty()
                && included.commands.is_empty()
            {
                out.push(format!(
                    "included profile `{}` ({}) collects nothing",
                    origin.name, origin.origin
                ));
            }
        }
    }
    if profile.targets.is_empty()
        && profile.live.is_empty()
        && profile.commands.is_empty()
        && profile.sweep.paths.is_empty()
    {
        out.push("the profile collects nothing: no target, live entry or command".into());
    }
    out
}

#[derive(serde::Serialize)]
struct ShownTarget {
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    from_profile: String,
    paths: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    exclude: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_file_size: Option<String>,
}

#[derive(serde::Serialize)]
struct Shown {
    name: String,
    description: String,
    os: String,
    target: Vec<ShownTarget>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ioc: Option<ShownIoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sweep: Option<ShownSweep>,
}

#[derive(serde::Serialize)]
struct ShownIoc {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    yara: Vec<String>,
}

#[derive(serde::Serialize)]
struct ShownSweep {
    paths: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_file_size: Option<String>,
}

/// The profile with its includes expanded, as TOML.
pub fn show(spec: &str) -> Result<String, String> {
    let profile = Profile::load(spec).map_err(|e| e.to_string())?;
    let shown = Shown {
        name: profile.name.clone(),
        description: profile.description.clone(),
        os: serde_json::to_value(profile.os)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        target: profile
            .targets
            .iter()
            .map(|t| ShownTarget {
                name: t.name.clone(),
                description: t.description.clone(),
                from_profile: if t.profile == profile.name {
                    String::new()
                } else {
                    t.profile.clone()
                },
                paths: t.paths.iter().map(|g| g.as_str().to_string()).collect(),
                exclude: t.exclude.iter().map(|g| g.as_str().to_string()).collect(),
                max_file_size: t.max_file_size.map(format_size),
            })
            .collect(),
        ioc: (!profile.ioc.files.is_empty() || !profile.ioc.yara.is_empty()).then(|| ShownIoc {
            files: profile
                .ioc
                .files
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            yara: profile
                .ioc
                .yara
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
        }),
        sweep: (!profile.sweep.paths.is_empty()).then(|| ShownSweep {
            paths: profile
                .sweep
                .paths
                .iter()
                .map(|g| g.as_str().to_string())
                .collect(),
            max_file_size: profile.sweep.max_file_size.map(format_size),
        }),
    };
    let mut text = format!(
        "# `{}` with every include expanded; built from:\n",
        profile.name
    );
    for origin in &profile.origins {
        text.push_str(&format!(
            "#   {} (sha256 {})\n",
            origin.origin, origin.sha256
        ));
    }
    text.push_str(&toml_text(&shown)?);
    Ok(text)
}

fn toml_text(shown: &Shown) -> Result<String, String> {
    // Written by hand: the toml crate's serializer is left out to keep the binary small.
    let mut out = String::new();
    out.push_str(&format!("name = {}\n", quote(&shown.name)));
    out.push_str(&format!("description = {}\n", quote(&shown.description)));
    out.push_str(&format!("os = {}\n", quote(&shown.os)));
    for t in &shown.target {
        out.push_str("\n[[target]]\n");
        out.push_str(&format!("name = {}\n", quote(&t.name)));
        if !t.description.is_empty() {
            out.push_str(&format!("description = {}\n", quote(&t.description)));
        }
        if !t.from_profile.is_empty() {
            out.push_str(&format!("# from profile `{}`\n", t.from_profile));
        }
        out.push_str(&format!("paths = {}\n", list(&t.paths)));
        if !t.exclude.is_empty() {
            out.push_str(&format!("exclude = {}\n", list(&t.exclude)));
        }
        if let Some(size) = &t.max_file_size {
            out.push_str(&format!(
                "max_file_size = {}\n",
                quote(&size.replace(' ', ""))
            ));
        }
    }
    Ok(out)
}

fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

fn list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|i| format!("  {},", quote(i))).collect();
    format!("[\n{}\n]", inner.join("\n"))
}

/// `name<TAB>description` of every embedded profile.
pub fn list_embedded() -> String {
    let mut out = String::new();
    for (name, _) in EMBEDDED {
        match Profile::load(name) {
            Ok(p) => out.push_str(&format!("{name}\t{:?}\t{}\n", p.os, p.description)),
            Err(e) => out.push_str(&format!("{name}\tINVALID\t{e}\n")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warn(text: &str) -> Vec<String> {
        warnings(&Profile::from_toml(text, "t.toml").expect("valid profile"))
    }

    #[test]
    fn impossible_globs_are_flagged_per_os() {
        let w = warn("name = \"t\"\nos = \"linux\"\n[[target]]\nname = \"a\"\npaths = [\"/C:/Windows/x\", \"\\\\Windows\\\\System32\", \"/etc/passwd\", \"/home/*/AppData/x\"]\n");
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].contains("drive `c:`"), "{w:?}");
        assert!(w[1].contains("written with `\\` only"), "{w:?}");
        assert!(w[2].contains("Windows folder"), "{w:?}");
        let w = warn("name = \"t\"\nos = \"windows\"\n[[target]]\nname = \"a\"\npaths = [\"/proc/*/maps\", \"/Windows/System32/config/SAM\", \"/Library/x\"]\n");
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("`/proc`"), "{w:?}");
        assert!(w[1].contains("macOS folder"), "{w:?}");
        let w = warn("name = \"t\"\nos = \"macos\"\n[[target]]\nname = \"a\"\npaths = [\"/sys/x\", \"/Library/x\"]\n");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(warn(
            "name = \"t\"\n[[target]]\nname = \"a\"\npaths = [\"/proc/x\", \"/Windows/x\"]\n"
        )
        .is_empty());
    }

    #[test]
    fn duplicates_and_empty_targets_are_flagged() {
        let w = warn("name = \"t\"\nos = \"windows\"\n[[target]]\nname = \"a\"\npaths = [\"/Windows/x\"]\n[[target]]\nname = \"b\"\npaths = [\"/windows/X\"]\n[[target]]\nname = \"c\"\npaths = [\"/y\"]\nexclude = [\"/**\"]\n");
        assert_eq!(
            w,
            [
                "`/windows/X` is in target `a` and again in target `b`",
                "target `c` takes nothing: every path is also excluded",
            ]
        );
        let w = warn("name = \"t\"\n");
        assert_eq!(
            w,
            ["the profile collects nothing: no target, live entry or command"]
        );
    }

    #[test]
    fn embedded_profiles_have_no_warnings() {
        for (name, _) in EMBEDDED {
            let profile = Profile::load(name).expect("embedded");
            assert_eq!(warnings(&profile), Vec::<String>::new(), "{name}");
        }
    }
}
