//! Writing converted definitions as TOML profiles, one file each.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Converted, ImportError, ImportReport};

/// What happened to one profile file.
#[derive(Debug)]
pub struct WriteOutcome {
    /// The profile name.
    pub name: String,
    /// The file written (or that could not be).
    pub path: PathBuf,
    /// `Err` with the reason when the file was not written or does not load back.
    pub result: Result<(), String>,
}

/// TOML basic string with escapes.
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn comment(out: &mut String, text: &str) {
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
    }
}

/// The TOML text of a converted definition; includes name sibling files
/// (`<name>.toml`), so the profiles of one import load from their folder.
pub fn render(c: &Converted) -> String {
    let mut out = String::new();
    comment(&mut out, &format!("Imported from {}", c.source));
    for line in &c.header {
        comment(&mut out, line);
    }
    if !c.notes.is_empty() {
        out.push_str("#\n# Not carried over or approximated:\n");
        for note in &c.notes {
            comment(&mut out, &format!("  - {note}"));
        }
    }
    out.push_str(&format!("name = {}\n", quote(&c.name)));
    out.push_str(&format!("description = {}\n", quote(&c.description)));
    out.push_str(&format!("os = {}\n", quote(c.os)));
    if !c.include.is_empty() {
        let files: Vec<String> = c
            .include
            .iter()
            .map(|n| quote(&format!("{n}.toml")))
            .collect();
        out.push_str(&format!("include = [{}]\n", files.join(", ")));
    }
    for t in &c.targets {
        out.push_str("\n[[target]]\n");
        out.push_str(&format!("name = {}\n", quote(&t.name)));
        if !t.description.is_empty() {
            out.push_str(&format!("description = {}\n", quote(&t.description)));
        }
        for line in &t.comments {
            comment(&mut out, line);
        }
        out.push_str("paths = [\n");
        for p in &t.paths {
            out.push_str(&format!("  {},\n", quote(p)));
        }
        out.push_str("]\n");
        if let Some(size) = t.max_file_size {
            out.push_str(&format!("max_file_size = \"{size}\"\n"));
        }
    }
    out
}

/// Writes every converted profile into `dir` (created if missing) as
/// `<name>.toml`, never overwriting a file, then loads each back with
/// [`crate::profile::Profile::load`] so a written profile is known to work.
pub fn write_profiles(report: &ImportReport, dir: &Path) -> Result<Vec<WriteOutcome>, ImportError> {
    std::fs::create_dir_all(dir).map_err(|e| ImportError::Output {
        path: dir.display().to_string(),
        source: e,
    })?;
    let mut outcomes = Vec::new();
    for c in &report.converted {
        let path = dir.join(format!("{}.toml", c.name));
        let result = write_new(&path, &render(c));
        outcomes.push(WriteOutcome {
            name: c.name.clone(),
            path,
            result,
        });
    }
    // Load back only once every file is there (includes name siblings).
    for outcome in &mut outcomes {
        if outcome.result.is_ok() {
            if let Err(e) = crate::profile::Profile::load(&outcome.path.display().to_string()) {
                outcome.result = Err(format!("written but does not load: {e}"));
            }
        }
    }
    Ok(outcomes)
}

fn write_new(path: &Path, text: &str) -> Result<(), String> {
    let mut file = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                format!(
                    "{} already exists; profiles are never overwritten\nhint: import into an empty folder",
                    path.display()
                )
            } else {
                format!("cannot create {}: {e}", path.display())
            }
        })?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_toml() {
        assert_eq!(quote("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
        let text = format!("k = {}\n", quote("x\"\\\t\u{7f}é"));
        let value: toml::Table = toml::from_str(&text).expect("valid toml");
        assert_eq!(value["k"].as_str(), Some("x\"\\\t\u{7f}é"));
    }
}
