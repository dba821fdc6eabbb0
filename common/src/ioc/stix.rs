//! STIX 2.1 bundles: the `indicator` objects whose pattern matches files.
//!
//! Other objects (identities, malware, relationships…) are context and are
//! passed over; revoked indicators are counted and left out; patterns of
//! another language (`pattern_type` `yara`, `sigma`, `snort`…) and STIX
//! patterns that need more than one file's bytes are counted as not
//! supported, by reason (see [`super::pattern`]).

use serde::Deserialize;

use super::pattern::compile;
use super::{shorten, Indicator, IocError, ListSummary};

#[derive(Deserialize)]
struct Bundle {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    objects: Vec<Object>,
}

#[derive(Deserialize)]
struct Object {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    pattern_type: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    indicator_types: Vec<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    revoked: bool,
}

pub(crate) fn parse(
    text: &str,
    name: &str,
    list: u32,
    found: &mut Vec<Indicator>,
    summary: &mut ListSummary,
) -> Result<(), IocError> {
    let bundle: Bundle = serde_json::from_str(text).map_err(|e| IocError {
        file: name.to_string(),
        line: Some(e.line()),
        message: format!("not a STIX 2.1 bundle: {e}"),
    })?;
    if bundle.kind != "bundle" {
        return Err(IocError::whole(
            name,
            format!(
                "not a STIX 2.1 bundle: its `type` is `{}`\nhint: export the indicators as a bundle (`\"type\": \"bundle\"`)",
                shorten(&bundle.kind)
            ),
        ));
    }
    for object in bundle.objects {
        if object.kind != "indicator" {
            continue;
        }
        let line = object.id.as_deref().and_then(|id| line_of(text, id));
        let what = object.id.as_deref().unwrap_or("an indicator without `id`");
        if object.revoked {
            summary.unsupported("revoked indicator");
            continue;
        }
        let pattern_type = object.pattern_type.as_deref().unwrap_or("stix");
        if pattern_type != "stix" {
            summary.unsupported(format!("pattern_type `{}`", shorten(pattern_type)));
            continue;
        }
        let Some(pattern) = object.pattern else {
            return Err(IocError {
                file: name.to_string(),
                line,
                message: format!("{what}: no `pattern`"),
            });
        };
        let compiled = compile(&pattern).map_err(|e| IocError {
            file: name.to_string(),
            line,
            message: format!("{what}: pattern `{}`: {e}", shorten(&pattern)),
        })?;
        if compiled.alternatives.is_empty() {
            summary.unsupported(compiled.unsupported.unwrap_or_default());
            continue;
        }
        if let Some(reason) = compiled.unsupported {
            summary.unsupported(format!("partly supported: {reason}"));
        }
        let label = label(
            object.name,
            object.description,
            &object.indicator_types,
            &object.labels,
        );
        for terms in compiled.alternatives {
            found.push(Indicator {
                terms,
                label: label.clone(),
                list,
                line,
                id: object.id.clone(),
                pattern: Some(pattern.clone()),
            });
        }
    }
    Ok(())
}

fn label(
    name: Option<String>,
    description: Option<String>,
    types: &[String],
    labels: &[String],
) -> Option<String> {
    let first_line = |t: String| {
        let line = t.lines().next().unwrap_or("").trim().to_string();
        (!line.is_empty()).then(|| shorten(&line))
    };
    name.and_then(first_line)
        .or_else(|| description.and_then(first_line))
        .or_else(|| {
            let all: Vec<&str> = types.iter().chain(labels).map(String::as_str).collect();
            (!all.is_empty()).then(|| all.join(", "))
        })
}

/// The line where `id` is first written as a JSON string.
fn line_of(text: &str, id: &str) -> Option<usize> {
    let quoted = format!("\"{id}\"");
    let at = text.find(&quoted)?;
    Some(text[..at].bytes().filter(|b| *b == b'\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<(Vec<Indicator>, ListSummary), IocError> {
        let mut found = Vec::new();
        let mut summary = ListSummary::default();
        parse(text, "b.json", 0, &mut found, &mut summary)?;
        Ok((found, summary))
    }

    #[test]
    fn bad_json_and_bad_hash_name_the_line() {
        let err = load("{\"type\": \"bundle\",\n \"objects\": [\n}").expect_err("json");
        assert_eq!(err.line, Some(3));
        let text = "{\"type\":\"bundle\",\"id\":\"bundle--1\",\"objects\":[\n{\"type\":\"indicator\",\n\"id\":\"indicator--2\",\"pattern\":\"[file:hashes.MD5 = 'zz']\",\"pattern_type\":\"stix\"}]}";
        let err = load(text).expect_err("bad md5");
        assert_eq!(err.line, Some(3));
        assert!(err.message.starts_with("indicator--2: pattern"), "{err}");
        let err = load("{\"type\":\"indicator\"}").expect_err("not a bundle");
        assert!(err.message.contains("`indicator`"), "{err}");
    }
}
