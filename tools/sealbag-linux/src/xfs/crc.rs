//! CRC32c (Castagnoli) as XFS v5 uses it: over a whole structure with its
//! own 4-byte CRC field counted as zeros, stored little-endian.

/// The reflected Castagnoli polynomial.
const POLY: u32 = 0x82F6_3B78;

/// One byte-at-a-time table, built at compile time.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

fn update(mut crc: u32, data: &[u8]) -> u32 {
    for byte in data {
        crc = TABLE[((crc ^ u32::from(*byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc
}

/// The standard CRC32c of `data` (initial value and final XOR all ones).
pub fn crc32c(data: &[u8]) -> u32 {
    !update(!0, data)
}

/// Whether the CRC stored little-endian at `at` in `buf` matches the CRC of
/// `buf` with that field taken as zeros. False if the field is outside `buf`.
pub fn verify(buf: &[u8], at: usize) -> bool {
    let Some(stored) = buf.get(at..at + 4) else {
        return false;
    };
    let stored = u32::from_le_bytes([stored[0], stored[1], stored[2], stored[3]]);
    let mut crc = update(!0, &buf[..at]);
    crc = update(crc, &[0; 4]);
    crc = update(crc, &buf[at + 4..]);
    !crc == stored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // RFC 3720 (iSCSI) test vectors.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
    }

    #[test]
    fn verify_treats_the_field_as_zeros() {
        let mut buf = b"abcd\0\0\0\0efgh".to_vec();
        let crc = crc32c(&buf);
        buf[4..8].copy_from_slice(&crc.to_le_bytes());
        assert!(verify(&buf, 4));
        buf[9] ^= 1;
        assert!(!verify(&buf, 4));
        assert!(!verify(&buf, 11), "field outside the buffer");
    }
}
