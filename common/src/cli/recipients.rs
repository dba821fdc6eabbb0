//! age recipients from flags, files and the profile, with errors a person can act on.

use std::path::PathBuf;
use std::str::FromStr;

/// Parses one `age1…` public key; `origin` says where it came from.
pub fn parse_recipient(text: &str, origin: &str) -> Result<age::x25519::Recipient, String> {
    let text = text.trim();
    age::x25519::Recipient::from_str(text).map_err(|e| {
        let hint = if text.starts_with("AGE-SECRET-KEY-") {
            "that is a secret key: give its public key (`sealbag keygen -y KEY`), and keep the secret off the host"
        } else {
            "a recipient is an age X25519 public key, `age1` and 58 more characters, as `sealbag keygen` prints"
        };
        format!("invalid age recipient `{}` ({origin}): {e}\nhint: {hint}", shorten(text))
    })
}

fn shorten(text: &str) -> String {
    if text.starts_with("AGE-SECRET-KEY-") {
        return "AGE-SECRET-KEY-…".into();
    }
    let mut short: String = text.chars().take(70).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

/// All recipients: `--recipient`s, then each `--recipients-file`, then the profile's.
pub fn resolve_recipients(
    flags: &[String],
    files: &[PathBuf],
    profile: &[String],
    profile_name: &str,
) -> Result<Vec<age::x25519::Recipient>, String> {
    let mut out = Vec::new();
    for text in flags {
        out.push(parse_recipient(text, "from --recipient")?);
    }
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read recipients file {}: {e}", file.display()))?;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            out.push(parse_recipient(
                line,
                &format!("{}:{}", file.display(), number + 1),
            )?);
        }
    }
    for text in profile {
        out.push(parse_recipient(
            text,
            &format!("from [output] recipients of profile `{profile_name}`"),
        )?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_keys_say_what_to_do() {
        let err = parse_recipient("age1nope", "from --recipient").expect_err("invalid");
        assert!(err.contains("from --recipient"), "{err}");
        assert!(err.contains("hint:"), "{err}");
        let err = parse_recipient("AGE-SECRET-KEY-1QQQ", "x").expect_err("secret");
        assert!(err.contains("secret key"), "{err}");
        assert!(!err.contains("1QQQ"), "never echo a secret: {err}");
    }
}
