//! LZNT1, the compression of NTFS compressed files (one compression unit at a time).

/// Uncompressed size of one LZNT1 chunk.
const CHUNK: usize = 4096;

/// Decompresses `input` (one compression unit's clusters) into `out`,
/// which is filled up to its length; what the stream does not cover is zero.
pub fn decompress(input: &[u8], out: &mut [u8]) -> Result<(), String> {
    out.fill(0);
    let mut at = 0;
    let mut chunk_start = 0;
    while at + 2 <= input.len() && chunk_start < out.len() {
        let header = u16::from_le_bytes([input[at], input[at + 1]]);
        if header == 0 {
            break;
        }
        let size = (header & 0x0fff) as usize + 1;
        let data = input
            .get(at + 2..at + 2 + size)
            .ok_or_else(|| format!("chunk at input offset {at} runs past the unit"))?;
        let end = (chunk_start + CHUNK).min(out.len());
        if header & 0x8000 == 0 {
            let n = data.len().min(end - chunk_start);
            out[chunk_start..chunk_start + n].copy_from_slice(&data[..n]);
        } else {
            decompress_chunk(data, &mut out[chunk_start..end])
                .map_err(|e| format!("chunk at input offset {at}: {e}"))?;
        }
        at += 2 + size;
        chunk_start += CHUNK;
    }
    Ok(())
}

fn decompress_chunk(data: &[u8], out: &mut [u8]) -> Result<usize, String> {
    let mut pos = 0;
    let mut at = 0;
    while at < data.len() {
        let flags = data[at];
        at += 1;
        for bit in 0..8 {
            if at >= data.len() {
                return Ok(pos);
            }
            if flags & (1 << bit) == 0 {
                if pos >= out.len() {
                    return Err("literal past 4096 bytes".into());
                }
                out[pos] = data[at];
                pos += 1;
                at += 1;
            } else {
                let token = u16::from_le_bytes([
                    data[at],
                    *data.get(at + 1).ok_or("truncated back-reference")?,
                ]) as usize;
                at += 2;
                if pos == 0 {
                    return Err("back-reference at the start of a chunk".into());
                }
                let mut shift = 12;
                let mut p = pos - 1;
                while p >= 0x10 {
                    shift -= 1;
                    p >>= 1;
                }
                let offset = (token >> shift) + 1;
                let length = (token & (0xfff >> (12 - shift))) + 3;
                if offset > pos {
                    return Err(format!("back-reference {offset} bytes before byte {pos}"));
                }
                if pos + length > out.len() {
                    return Err("back-reference past 4096 bytes".into());
                }
                for i in 0..length {
                    out[pos + i] = out[pos + i - offset];
                }
                pos += length;
            }
        }
    }
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_overlapping_back_reference() {
        // "abc" then a reference 3 back, 9 long -> "abcabcabcabc".
        // At pos 3: shift 12, offset field (3-1)=2 << 12, length field 9-3=6.
        let token: u16 = (2 << 12) | 6;
        let mut data = vec![0b0000_1000, b'a', b'b', b'c'];
        data.extend_from_slice(&token.to_le_bytes());
        let header: u16 = 0x8000 | 0x3000 | (data.len() as u16 - 1);
        let mut input = header.to_le_bytes().to_vec();
        input.extend_from_slice(&data);
        let mut out = vec![0xffu8; 8192];
        decompress(&input, &mut out).expect("decompress");
        assert_eq!(&out[..12], b"abcabcabcabc");
        assert!(out[12..].iter().all(|b| *b == 0));
        // A reference before the start is refused, not a panic.
        let bad = [0x03, 0xb0, 0b0000_0001, 0xff, 0xff];
        assert!(decompress(&bad, &mut out).is_err());
    }
}
