//! The primary superblock (sector 0 of AG 0): the geometry every other
//! structure is found with, and the feature bits that change their layout.

use super::{be16, be32, be64, crc, XfsError};

/// "XFSB".
pub const MAGIC: u32 = 0x5846_5342;
/// Offset of the superblock CRC.
const CRC_OFFSET: usize = 224;

/// `sb_features_incompat` bits.
const INCOMPAT_FTYPE: u32 = 1 << 0;
const INCOMPAT_SPINODES: u32 = 1 << 1;
const INCOMPAT_META_UUID: u32 = 1 << 2;
const INCOMPAT_BIGTIME: u32 = 1 << 3;
const INCOMPAT_NEEDSREPAIR: u32 = 1 << 4;
const INCOMPAT_NREXT64: u32 = 1 << 5;
/// Incompatible features this reader understands (a log-only feature such
/// as exchange-range or parent pointers changes nothing read here, but is
/// refused all the same: the reader promises only what it was tested on).
const INCOMPAT_KNOWN: u32 = INCOMPAT_FTYPE
    | INCOMPAT_SPINODES
    | INCOMPAT_META_UUID
    | INCOMPAT_BIGTIME
    | INCOMPAT_NEEDSREPAIR
    | INCOMPAT_NREXT64;
/// `sb_versionnum` bits (v4).
const VERSION_DIRV2: u16 = 0x2000;
const VERSION_MOREBITS: u16 = 0x8000;
/// `sb_features2` bit for the file type in directory entries (v4).
const FEATURES2_FTYPE: u32 = 0x0200;

/// Geometry and features, validated so that every later computation stays
/// in range.
#[derive(Clone, Debug)]
pub struct Geometry {
    /// Filesystem block size in bytes.
    pub block_size: u64,
    /// Blocks in the data device.
    pub dblocks: u64,
    /// Blocks per allocation group.
    pub ag_blocks: u64,
    /// Allocation groups.
    pub ag_count: u64,
    /// log2 of the blocks per AG, rounded up (the AG field width in numbers).
    pub ag_blk_log: u32,
    /// Inode size in bytes.
    pub inode_size: u64,
    /// log2 of inodes per block.
    pub inopb_log: u32,
    /// Root directory inode.
    pub root_ino: u64,
    /// Directory block size in bytes.
    pub dir_block_size: u64,
    /// Whether this is a v5 (CRC) filesystem.
    pub crc: bool,
    /// Whether directory entries carry the file type.
    pub ftype: bool,
    /// The UUID written into v5 metadata blocks (`sb_meta_uuid` if set).
    pub meta_uuid: [u8; 16],
    /// The filesystem UUID.
    pub uuid: [u8; 16],
    /// The label (`sb_fname`), NULs trimmed.
    pub label: Vec<u8>,
    /// Whether the log was left dirty (`sb_inprogress` or needs-repair).
    pub needs_repair: bool,
}

impl Geometry {
    /// Parses and validates the superblock sector.
    pub fn parse(sector: &[u8]) -> Result<Geometry, XfsError> {
        let bad = |detail: String| XfsError::Superblock { detail };
        if sector.len() < 512 || be32(sector, 0) != MAGIC {
            return Err(XfsError::NotXfs);
        }
        let version = be16(sector, 100);
        let crc = match version & 0xF {
            5 => true,
            4 if version & VERSION_DIRV2 != 0 => false,
            4 => {
                return Err(XfsError::Unsupported {
                    feature: "v4 filesystem with version 1 directories".into(),
                })
            }
            v => {
                return Err(XfsError::Unsupported {
                    feature: format!("superblock version {v}"),
                })
            }
        };
        let block_size = u64::from(be32(sector, 4));
        let sect_size = u64::from(be16(sector, 102));
        let inode_size = u64::from(be16(sector, 104));
        let inopb = u64::from(be16(sector, 106));
        let (block_log, inode_log, inopb_log, ag_blk_log) = (
            u32::from(sector[120]),
            u32::from(sector[122]),
            u32::from(sector[123]),
            u32::from(sector[124]),
        );
        if !(512..=65_536).contains(&block_size) || block_size != 1 << block_log {
            return Err(bad(format!("block size {block_size} (log {block_log})")));
        }
        if !(512..=32_768).contains(&sect_size) || !sect_size.is_power_of_two() {
            return Err(bad(format!("sector size {sect_size}")));
        }
        if !(256..=2048).contains(&inode_size)
            || inode_size != 1 << inode_log
            || inode_size > block_size
            || inopb != block_size / inode_size
            || inopb != 1 << inopb_log
        {
            return Err(bad(format!(
                "inode size {inode_size}, {inopb} per block (log {inopb_log})"
            )));
        }
        if crc && inode_size < 512 {
            return Err(bad(format!("v5 filesystem with {inode_size}-byte inodes")));
        }
        if crc
            && sector.len() >= sect_size as usize
            && !crc::verify(&sector[..sect_size as usize], CRC_OFFSET)
        {
            return Err(XfsError::Checksum {
                what: "superblock".into(),
                offset: 0,
            });
        }
        let dblocks = be64(sector, 8);
        let ag_blocks = u64::from(be32(sector, 84));
        let ag_count = u64::from(be32(sector, 88));
        if ag_blocks < 16
            || ag_count == 0
            || ag_blk_log > 31
            || ag_blocks > 1 << ag_blk_log
            || ag_blocks <= (1 << ag_blk_log) / 2
        {
            return Err(bad(format!(
                "{ag_count} AGs of {ag_blocks} blocks (log {ag_blk_log})"
            )));
        }
        let max_blocks = ag_blocks.saturating_mul(ag_count);
        if dblocks == 0 || dblocks > max_blocks || ag_blk_log + inopb_log > 56 {
            return Err(bad(format!(
                "{dblocks} blocks in {ag_count} AGs of {ag_blocks} blocks"
            )));
        }
        let dir_blk_log = u32::from(sector[192]);
        let dir_block_size = block_size << dir_blk_log.min(16);
        if dir_block_size > 65_536 {
            return Err(bad(format!("directory block size 2^{dir_blk_log} blocks")));
        }
        let mut needs_repair = sector[126] != 0;
        let ftype = if crc {
            let incompat = be32(sector, 216);
            if incompat & !INCOMPAT_KNOWN != 0 {
                return Err(XfsError::Unsupported {
                    feature: format!(
                        "incompatible feature bits {:#x}",
                        incompat & !INCOMPAT_KNOWN
                    ),
                });
            }
            needs_repair |= incompat & INCOMPAT_NEEDSREPAIR != 0;
            incompat & INCOMPAT_FTYPE != 0
        } else {
            version & VERSION_MOREBITS != 0 && be32(sector, 200) & FEATURES2_FTYPE != 0
        };
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&sector[32..48]);
        let mut meta_uuid = uuid;
        if crc && be32(sector, 216) & INCOMPAT_META_UUID != 0 {
            meta_uuid.copy_from_slice(&sector[248..264]);
        }
        let label = sector[108..120]
            .iter()
            .copied()
            .take_while(|b| *b != 0)
            .collect();
        let geometry = Geometry {
            block_size,
            dblocks,
            ag_blocks,
            ag_count,
            ag_blk_log,
            inode_size,
            inopb_log,
            root_ino: be64(sector, 56),
            dir_block_size,
            crc,
            ftype,
            meta_uuid,
            uuid,
            label,
            needs_repair,
        };
        if geometry.inode_offset(geometry.root_ino).is_none() {
            return Err(bad(format!(
                "root inode {} is outside the filesystem",
                geometry.root_ino
            )));
        }
        Ok(geometry)
    }

    /// Bytes of the data device the filesystem claims.
    pub fn size(&self) -> u64 {
        self.dblocks.saturating_mul(self.block_size)
    }

    /// Byte offset of filesystem block `fsbno` (AG number in the high bits),
    /// or `None` if it lies outside the filesystem.
    pub fn block_offset(&self, fsbno: u64) -> Option<u64> {
        let ag = fsbno.checked_shr(self.ag_blk_log).unwrap_or(0);
        let agbno = fsbno & ((1u64 << self.ag_blk_log) - 1);
        if ag >= self.ag_count || agbno >= self.ag_blocks {
            return None;
        }
        let linear = ag * self.ag_blocks + agbno;
        if linear >= self.dblocks {
            return None;
        }
        linear.checked_mul(self.block_size)
    }

    /// Whether the `count` blocks from `fsbno` lie inside one AG and the
    /// filesystem (extents never cross an AG boundary).
    pub fn run_in_bounds(&self, fsbno: u64, count: u64) -> bool {
        let agbno = fsbno & ((1u64 << self.ag_blk_log) - 1);
        count > 0
            && self.block_offset(fsbno).is_some()
            && agbno
                .checked_add(count)
                .is_some_and(|end| end <= self.ag_blocks)
            && self.block_offset(fsbno + count - 1).is_some()
    }

    /// Byte offset of inode `ino`, or `None` if the number is impossible.
    pub fn inode_offset(&self, ino: u64) -> Option<u64> {
        let within = ino & ((1u64 << self.inopb_log) - 1);
        let fsbno = ino >> self.inopb_log;
        if ino >> (self.inopb_log + self.ag_blk_log) >= self.ag_count {
            return None;
        }
        Some(self.block_offset(fsbno)? + within * self.inode_size)
    }
}
