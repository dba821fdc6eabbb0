//! `sealbag profile …`: check, show and list collection profiles.

use sealbag_common::profile::{format_size, Profile, EMBEDDED};

/// Loads and validates a profile; returns a one-paragraph summary.
pub fn check(spec: &str) -> Result<String, String> {
    let profile = Profile::load(spec).map_err(|e| e.to_string())?;
    let globs: usize = profile.targets.iter().map(|t| t.paths.len()).sum();
    let includes = profile.origins.len().saturating_sub(1);
    Ok(format!(
        "{spec}: ok: profile `{}` ({:?}), {} targets, {globs} globs, {includes} included profiles",
        profile.name,
        profile.os,
        profile.targets.len()
    ))
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
