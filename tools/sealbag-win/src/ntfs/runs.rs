//! Data runs: where each range of a non-resident attribute's clusters lies.

/// Most runs decoded from one attribute.
const MAX_RUNS: usize = 1 << 16;

/// A range of virtual clusters mapped to the volume (or sparse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// First virtual cluster number.
    pub vcn: u64,
    /// Number of clusters.
    pub clusters: u64,
    /// First logical cluster on the volume; `None` for a sparse hole.
    pub lcn: Option<u64>,
}

fn signed(bytes: &[u8]) -> i64 {
    let mut value: i64 = if bytes.last().is_some_and(|b| b & 0x80 != 0) {
        -1
    } else {
        0
    };
    for b in bytes.iter().rev() {
        value = (value << 8) | i64::from(*b);
    }
    value
}

/// Decodes the mapping pairs starting at VCN `first_vcn`.
pub fn decode_runs(bytes: &[u8], first_vcn: u64) -> Result<Vec<Extent>, String> {
    let mut runs = Vec::new();
    let mut at = 0;
    let mut vcn = first_vcn;
    let mut lcn: i64 = 0;
    while let Some(&header) = bytes.get(at) {
        if header == 0 {
            return Ok(runs);
        }
        let len_size = (header & 0x0f) as usize;
        let off_size = (header >> 4) as usize;
        if len_size == 0 || len_size > 8 || off_size > 8 {
            return Err(format!("data run header {header:#04x} at byte {at}"));
        }
        let len_bytes = bytes
            .get(at + 1..at + 1 + len_size)
            .ok_or_else(|| format!("data run at byte {at} is truncated"))?;
        let clusters = signed(len_bytes);
        if clusters <= 0 {
            return Err(format!("data run at byte {at} has length {clusters}"));
        }
        let clusters = clusters as u64;
        let off_bytes = bytes
            .get(at + 1 + len_size..at + 1 + len_size + off_size)
            .ok_or_else(|| format!("data run at byte {at} is truncated"))?;
        let start = if off_size == 0 {
            None
        } else {
            lcn = lcn
                .checked_add(signed(off_bytes))
                .filter(|l| *l >= 0)
                .ok_or_else(|| format!("data run at byte {at} points before the volume"))?;
            Some(lcn as u64)
        };
        runs.push(Extent {
            vcn,
            clusters,
            lcn: start,
        });
        if runs.len() > MAX_RUNS {
            return Err(format!("more than {MAX_RUNS} data runs"));
        }
        vcn = vcn
            .checked_add(clusters)
            .ok_or("data runs overflow the VCN space")?;
        at += 1 + len_size + off_size;
    }
    Err("data runs without their end marker".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_relative_and_sparse_runs() {
        // 0x18 clusters at LCN 0x5634; sparse 0x10; 0x20 at LCN 0x5634 - 0x34.
        let bytes = [
            0x21, 0x18, 0x34, 0x56, 0x01, 0x10, 0x21, 0x20, 0xcc, 0xff, 0x00,
        ];
        let runs = decode_runs(&bytes, 0).expect("runs");
        assert_eq!(
            runs,
            vec![
                Extent {
                    vcn: 0,
                    clusters: 0x18,
                    lcn: Some(0x5634)
                },
                Extent {
                    vcn: 0x18,
                    clusters: 0x10,
                    lcn: None
                },
                Extent {
                    vcn: 0x28,
                    clusters: 0x20,
                    lcn: Some(0x5600)
                },
            ]
        );
        assert!(decode_runs(&[0x21, 0x18], 0).is_err());
        assert!(
            decode_runs(&[0x11, 0x01, 0x80, 0x00], 0).is_err(),
            "negative LCN"
        );
        assert!(
            decode_runs(&[0x21, 0x01, 0x01, 0x00], 0).is_err(),
            "no end marker"
        );
    }
}
