//! Extent maps: the 128-bit extent records of an `extents` data fork, and
//! the B+tree (BMBT) whose root sits in the fork of a `btree` inode.

use std::collections::HashSet;

use super::inode::{Format, Inode};
use super::superblock::Geometry;
use super::{be16, be32, be64, crc, XfsError};

/// "BMA3" (v5) and "BMAP" (v4) long-format btree block magics.
const MAGIC_V5: u32 = 0x424D_4133;
const MAGIC_V4: u32 = 0x424D_4150;
/// Header sizes of a long-format btree block.
const HEADER_V5: usize = 72;
const HEADER_V4: usize = 24;
/// Offset of the CRC in a v5 long-format btree block.
const CRC_OFFSET: usize = 64;
/// Deepest BMBT accepted (the format allows at most 9 levels on 64-bit offsets).
const MAX_LEVEL: u16 = 9;
/// Most extents one file may have here (32 bytes each in memory).
pub const MAX_EXTENTS: u64 = 1 << 22;
/// Largest file offset in blocks an extent may reach (54-bit field).
const MAX_FILE_BLOCK: u64 = 1 << 54;

/// One mapping of file blocks to filesystem blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// First file block (logical).
    pub offset: u64,
    /// First filesystem block (AG number in the high bits).
    pub block: u64,
    /// Number of blocks.
    pub count: u64,
    /// Allocated but never written: reads as zeros.
    pub unwritten: bool,
}

impl Extent {
    /// Decodes one packed 16-byte record.
    pub fn decode(rec: &[u8]) -> Extent {
        let l0 = be64(rec, 0);
        let l1 = be64(rec, 8);
        Extent {
            unwritten: l0 >> 63 != 0,
            offset: (l0 & ((1 << 63) - 1)) >> 9,
            block: ((l0 & 0x1FF) << 43) | (l1 >> 21),
            count: l1 & ((1 << 21) - 1),
        }
    }

    /// One past the last file block.
    pub fn end(&self) -> u64 {
        self.offset + self.count
    }
}

/// The data fork's extents, ordered and checked: non-overlapping, inside the
/// filesystem, at most [`MAX_EXTENTS`]. Errors name the inode.
pub fn data_extents(
    inode: &Inode,
    geo: &Geometry,
    read_block: &mut dyn FnMut(u64) -> Result<Vec<u8>, XfsError>,
) -> Result<Vec<Extent>, XfsError> {
    let ino = inode.ino;
    let corrupt = |detail: String| XfsError::Corrupt { ino, detail };
    if inode.realtime {
        return Err(XfsError::Unsupported {
            feature: format!("inode {ino}: data on the realtime device"),
        });
    }
    let mut extents = Vec::new();
    match inode.format {
        Format::Extents => {
            if inode.nextents > (inode.fork.len() / 16) as u64 {
                return Err(corrupt(format!(
                    "{} extents do not fit in a {}-byte fork",
                    inode.nextents,
                    inode.fork.len()
                )));
            }
            for rec in inode.fork.chunks_exact(16).take(inode.nextents as usize) {
                extents.push(Extent::decode(rec));
            }
        }
        Format::Btree => {
            let fork = &inode.fork;
            let level = be16(fork, 0);
            let numrecs = usize::from(be16(fork, 2));
            let maxrecs = fork.len().saturating_sub(4) / 16;
            if level == 0 || level > MAX_LEVEL || numrecs == 0 || numrecs > maxrecs {
                return Err(corrupt(format!(
                    "extent btree root: level {level}, {numrecs} of at most {maxrecs} pointers"
                )));
            }
            let mut walk = Walk {
                geo,
                ino,
                read_block,
                seen: HashSet::new(),
                out: &mut extents,
            };
            for i in 0..numrecs {
                let ptr = be64(fork, 4 + maxrecs * 8 + i * 8);
                walk.node(ptr, level - 1)?;
            }
        }
        Format::Local | Format::Device => return Ok(Vec::new()),
    }
    check(&extents, geo, ino)?;
    Ok(extents)
}

/// Checks ordering and bounds of a file's extent list.
pub fn check(extents: &[Extent], geo: &Geometry, ino: u64) -> Result<(), XfsError> {
    let mut next = 0u64;
    for (i, e) in extents.iter().enumerate() {
        let bad = |what: &str| XfsError::Corrupt {
            ino,
            detail: format!(
                "extent {i} (file block {}, fs block {}, {} blocks) {what}",
                e.offset, e.block, e.count
            ),
        };
        if e.count == 0 {
            return Err(bad("is empty"));
        }
        if e.offset < next {
            return Err(bad("overlaps or precedes the one before"));
        }
        if e.end() > MAX_FILE_BLOCK {
            return Err(bad("lies past the largest file offset"));
        }
        if !geo.run_in_bounds(e.block, e.count) {
            return Err(bad("points past the end of its AG or the filesystem"));
        }
        next = e.end();
    }
    Ok(())
}

/// A depth-first walk of the BMBT below the root in the inode.
struct Walk<'a> {
    geo: &'a Geometry,
    ino: u64,
    read_block: &'a mut dyn FnMut(u64) -> Result<Vec<u8>, XfsError>,
    seen: HashSet<u64>,
    out: &'a mut Vec<Extent>,
}

impl Walk<'_> {
    fn node(&mut self, fsbno: u64, level: u16) -> Result<(), XfsError> {
        let ino = self.ino;
        let corrupt = |detail: String| XfsError::Corrupt { ino, detail };
        if !self.seen.insert(fsbno) {
            return Err(corrupt(format!(
                "extent btree block {fsbno} is reached twice (loop)"
            )));
        }
        let offset = self.geo.block_offset(fsbno).ok_or_else(|| {
            corrupt(format!(
                "extent btree block {fsbno} is outside the filesystem"
            ))
        })?;
        let block = (self.read_block)(fsbno)?;
        let (magic, header) = if self.geo.crc {
            (MAGIC_V5, HEADER_V5)
        } else {
            (MAGIC_V4, HEADER_V4)
        };
        if be32(&block, 0) != magic {
            return Err(corrupt(format!("extent btree block {fsbno}: bad magic")));
        }
        if self.geo.crc {
            if !crc::verify(&block, CRC_OFFSET) {
                return Err(XfsError::Checksum {
                    what: format!("inode {ino} extent btree block {fsbno}"),
                    offset,
                });
            }
            if be64(&block, 24) != offset / 512
                || be64(&block, 56) != ino
                || block[40..56] != self.geo.meta_uuid
            {
                return Err(corrupt(format!(
                    "extent btree block {fsbno} belongs elsewhere (its block number, owner {} or UUID differ)",
                    be64(&block, 56)
                )));
            }
        }
        let block_level = be16(&block, 4);
        let numrecs = usize::from(be16(&block, 6));
        let maxrecs = (block.len() - header) / 16;
        if block_level != level || numrecs == 0 || numrecs > maxrecs {
            return Err(corrupt(format!(
                "extent btree block {fsbno}: level {block_level} (expected {level}), {numrecs} records of at most {maxrecs}"
            )));
        }
        if level == 0 {
            if (self.out.len() + numrecs) as u64 > MAX_EXTENTS {
                return Err(corrupt(format!("more than {MAX_EXTENTS} extents")));
            }
            for i in 0..numrecs {
                let at = header + i * 16;
                self.out.push(Extent::decode(&block[at..at + 16]));
            }
            return Ok(());
        }
        for i in 0..numrecs {
            let ptr = be64(&block, header + maxrecs * 8 + i * 8);
            self.node(ptr, level - 1)?;
        }
        Ok(())
    }
}

/// The index of the extent holding file block `block`, or of the first one
/// after it (`extents.len()` if none).
pub fn find(extents: &[Extent], block: u64) -> usize {
    extents.partition_point(|e| e.end() <= block)
}

/// Packs an extent record (for tests that build hostile images).
#[cfg(test)]
pub fn encode(e: Extent) -> [u8; 16] {
    let l0 = (u64::from(e.unwritten) << 63) | (e.offset << 9) | (e.block >> 43);
    let l1 = (e.block << 21) | e.count;
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&l0.to_be_bytes());
    out[8..].copy_from_slice(&l1.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        let e = Extent {
            offset: (1 << 54) - 5,
            block: (1 << 52) - 3,
            count: (1 << 21) - 1,
            unwritten: true,
        };
        assert_eq!(Extent::decode(&encode(e)), e);
        let e = Extent {
            offset: 7,
            block: 123_456,
            count: 9,
            unwritten: false,
        };
        assert_eq!(Extent::decode(&encode(e)), e);
    }

    #[test]
    fn find_locates_holes_and_extents() {
        let e = |offset, count| Extent {
            offset,
            block: 100,
            count,
            unwritten: false,
        };
        let list = [e(0, 2), e(10, 5)];
        assert_eq!(find(&list, 1), 0);
        assert_eq!(find(&list, 5), 1);
        assert_eq!(find(&list, 14), 1);
        assert_eq!(find(&list, 15), 2);
    }
}
