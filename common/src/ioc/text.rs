//! Bytes of a list to text: UTF-8 (with or without a BOM), or UTF-16 with a
//! BOM, as PowerShell's `Out-File` writes by default on Windows.

use std::borrow::Cow;

use super::IocError;

/// Decodes a list; invalid text is an error naming the line.
pub(crate) fn decode<'a>(bytes: &'a [u8], name: &str) -> Result<Cow<'a, str>, IocError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return utf8(rest, name).map(Cow::Borrowed);
    }
    let utf16 = |rest: &[u8], little: bool| -> Result<Cow<'a, str>, IocError> {
        if !rest.len().is_multiple_of(2) {
            return Err(IocError::whole(
                name,
                "UTF-16 text with an odd number of bytes (cut off?)",
            ));
        }
        let units = rest.chunks_exact(2).map(|p| {
            if little {
                u16::from_le_bytes([p[0], p[1]])
            } else {
                u16::from_be_bytes([p[0], p[1]])
            }
        });
        let mut text = String::with_capacity(rest.len() / 2);
        let mut line = 1;
        for unit in char::decode_utf16(units) {
            match unit {
                Ok(c) => {
                    if c == '\n' {
                        line += 1;
                    }
                    text.push(c);
                }
                Err(_) => {
                    return Err(IocError::at(
                        name,
                        line,
                        "invalid UTF-16 (a lone surrogate)",
                    ))
                }
            }
        }
        Ok(Cow::Owned(text))
    };
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return utf16(rest, true);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return utf16(rest, false);
    }
    utf8(bytes, name).map(Cow::Borrowed)
}

fn utf8<'a>(bytes: &'a [u8], name: &str) -> Result<&'a str, IocError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = good.iter().filter(|b| **b == b'\n').count() + 1;
        IocError::at(
            name,
            line,
            "not UTF-8 text\nhint: save the list as UTF-8 (or UTF-16 with a byte-order mark)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_with_bom_and_bad_utf8_line() {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "ab\ncd".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(decode(&bytes, "x").expect("utf16"), "ab\ncd");
        assert_eq!(
            decode(b"\xEF\xBB\xBFok", "x").expect("bom"),
            Cow::Borrowed("ok")
        );
        let err = decode(b"one\ntwo\n\xff\n", "x.txt").expect_err("bad");
        assert_eq!(err.line, Some(3));
        assert!(err.to_string().starts_with("x.txt:3: not UTF-8"), "{err}");
    }
}
