//! NTFS names: UTF-16 units to WTF-8 bytes and back, and case folding by `$UpCase`.

/// Encodes UTF-16 units as WTF-8: UTF-8, with an unpaired surrogate kept as
/// its 3-byte generalized form so no name is lost or merged with another.
pub fn to_wtf8(units: &[u16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(units.len());
    for decoded in char::decode_utf16(units.iter().copied()) {
        match decoded {
            Ok(c) => {
                let mut tmp = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
            Err(e) => {
                let u = e.unpaired_surrogate();
                out.push(0xE0 | (u >> 12) as u8);
                out.push(0x80 | ((u >> 6) & 0x3F) as u8);
                out.push(0x80 | (u & 0x3F) as u8);
            }
        }
    }
    out
}

/// Decodes WTF-8 bytes to UTF-16 units; `None` if they are not WTF-8.
pub fn from_wtf8(bytes: &[u8]) -> Option<Vec<u16>> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (cp, len) = if b < 0x80 {
            (u32::from(b), 1)
        } else if b & 0xE0 == 0xC0 {
            (u32::from(b & 0x1F), 2)
        } else if b & 0xF0 == 0xE0 {
            (u32::from(b & 0x0F), 3)
        } else if b & 0xF8 == 0xF0 {
            (u32::from(b & 0x07), 4)
        } else {
            return None;
        };
        let tail = bytes.get(i + 1..i + len)?;
        let mut cp = cp;
        for t in tail {
            if t & 0xC0 != 0x80 {
                return None;
            }
            cp = (cp << 6) | u32::from(t & 0x3F);
        }
        if cp >= 0x10000 {
            let v = cp - 0x10000;
            out.push(0xD800 | (v >> 10) as u16);
            out.push(0xDC00 | (v & 0x3FF) as u16);
        } else {
            out.push(cp as u16);
        }
        i += len;
    }
    Some(out)
}

/// Folds names for comparison with the volume's `$UpCase` table.
#[derive(Debug, Clone)]
pub struct UpCase(Vec<u16>);

impl UpCase {
    /// From the raw `$UpCase` data (65 536 little-endian units); a short or
    /// missing table falls back to ASCII folding for the rest.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut table: Vec<u16> = (0..=u16::MAX).map(ascii_upper).collect();
        for (i, c) in bytes.chunks_exact(2).take(65_536).enumerate() {
            table[i] = u16::from_le_bytes([c[0], c[1]]);
        }
        UpCase(table)
    }

    /// ASCII-only folding, for volumes whose table cannot be read.
    pub fn ascii() -> Self {
        UpCase((0..=u16::MAX).map(ascii_upper).collect())
    }

    /// The folded form of a name.
    pub fn fold(&self, units: &[u16]) -> Vec<u16> {
        units.iter().map(|u| self.0[*u as usize]).collect()
    }
}

fn ascii_upper(u: u16) -> u16 {
    if (u16::from(b'a')..=u16::from(b'z')).contains(&u) {
        u - 32
    } else {
        u
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpaired_surrogates_round_trip() {
        let units = [0x41, 0xD800, 0x42, 0xD83D, 0xDE00, 0xDC01];
        let bytes = to_wtf8(&units);
        assert_eq!(bytes, b"A\xED\xA0\x80B\xF0\x9F\x98\x80\xED\xB0\x81");
        assert_eq!(from_wtf8(&bytes).as_deref(), Some(&units[..]));
        assert_eq!(from_wtf8(b"\xff"), None);
        assert_eq!(UpCase::ascii().fold(&[0x61, 0xE9]), vec![0x41, 0xE9]);
    }
}
