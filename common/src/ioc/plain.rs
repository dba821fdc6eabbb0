//! Plain hash lists: one MD5, SHA-1 or SHA-256 per line (told by its
//! length), an optional label after whitespace, `#` comments.
//!
//! `sha256sum`/`md5sum` output loads as it is: the file name becomes the
//! label (a leading `*`, binary mode, is dropped).

use super::{hash_term, shorten, Indicator, IocError};

pub(crate) fn parse(
    text: &str,
    name: &str,
    list: u32,
    found: &mut Vec<Indicator>,
) -> Result<(), IocError> {
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (token, rest) = match line.find(char::is_whitespace) {
            Some(at) => (&line[..at], line[at..].trim()),
            None => (line, ""),
        };
        let term = hash_term(token).ok_or_else(|| {
            IocError::at(
                name,
                number + 1,
                format!(
                    "`{}` is not an MD5, SHA-1 or SHA-256 (32, 40 or 64 hex digits)\nhint: a list with columns needs a CSV header line (`sha256,filename,label`)",
                    shorten(token)
                ),
            )
        })?;
        let label = rest
            .strip_prefix('#')
            .or_else(|| rest.strip_prefix('*'))
            .unwrap_or(rest)
            .trim();
        found.push(Indicator {
            terms: vec![term],
            label: (!label.is_empty()).then(|| label.to_string()),
            list,
            line: Some(number + 1),
            id: None,
            pattern: None,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Term;
    use super::*;

    #[test]
    fn sha256sum_output_and_comments() {
        let text = "# from the IR ticket\r\n\
            2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 *hello.bin\r\n\
            \t5d41402abc4b2a76b9719d911017c592   # md5 of hello\n";
        let mut found = Vec::new();
        parse(text, "l.txt", 0, &mut found).expect("parse");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].label.as_deref(), Some("hello.bin"));
        assert_eq!(found[0].line, Some(2));
        assert_eq!(found[1].label.as_deref(), Some("md5 of hello"));
        assert!(matches!(found[1].terms[0], Term::Md5(_)));
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let text = "5d41402abc4b2a76b9719d911017c592\n\n# ok\nevil.exe dropper\n";
        let err = parse(text, "iocs.txt", 0, &mut Vec::new()).expect_err("bad line");
        assert_eq!(err.line, Some(4));
        assert!(
            err.to_string()
                .starts_with("iocs.txt:4: `evil.exe` is not an MD5, SHA-1 or SHA-256"),
            "{err}"
        );
        // 63 hex digits: a truncated SHA-256.
        let err = parse(&"a".repeat(63), "t.txt", 0, &mut Vec::new()).expect_err("short");
        assert_eq!(err.line, Some(1));
    }
}
