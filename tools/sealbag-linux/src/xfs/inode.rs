//! The on-disk inode: the core (v1/v2 100 bytes, v3 176 bytes with CRC,
//! creation time and its own number) and the data fork that follows it.

use sealbag_common::source::Timestamp;

use super::superblock::Geometry;
use super::{be16, be32, be64, crc, XfsError};

/// "IN".
const MAGIC: u16 = 0x494E;
/// Offset of the inode CRC (v3).
const CRC_OFFSET: usize = 100;
/// `di_flags`: the file's blocks are on the realtime device.
const FLAG_REALTIME: u16 = 0x0001;
/// `di_flags2` bits.
const FLAG2_BIGTIME: u64 = 1 << 3;
const FLAG2_NREXT64: u64 = 1 << 4;
/// Seconds between the bigtime epoch (the most negative 32-bit time) and 1970.
const BIGTIME_EPOCH_OFFSET: i64 = 1 << 31;

/// How the data fork holds the file's contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A device number (character and block devices, FIFOs, sockets).
    Device,
    /// The bytes themselves, in the inode (short-form directory, short symlink).
    Local,
    /// An array of extent records.
    Extents,
    /// The root of a B+tree of extent records.
    Btree,
}

/// One parsed inode.
#[derive(Clone, Debug)]
pub struct Inode {
    /// Its number.
    pub ino: u64,
    /// `di_mode`: type and permission bits.
    pub mode: u16,
    /// Core version (1, 2 or 3).
    pub version: u8,
    /// Data fork format.
    pub format: Format,
    /// Hard links.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Blocks allocated (data and attribute forks, btree blocks included).
    pub nblocks: u64,
    /// Data fork extent count as the inode states it.
    pub nextents: u64,
    /// Last access.
    pub atime: Timestamp,
    /// Last content change.
    pub mtime: Timestamp,
    /// Last metadata change.
    pub ctime: Timestamp,
    /// Creation (v3 inodes only).
    pub crtime: Option<Timestamp>,
    /// Generation number.
    pub generation: u32,
    /// Whether the data lives on the realtime device.
    pub realtime: bool,
    /// The data fork's bytes in the inode.
    pub fork: Vec<u8>,
}

impl Inode {
    /// Parses the `inode_size` bytes of inode `ino`, checking magic, CRC and
    /// self-identification before trusting anything.
    pub fn parse(buf: &[u8], ino: u64, geo: &Geometry) -> Result<Inode, XfsError> {
        let corrupt = |detail: String| XfsError::Corrupt { ino, detail };
        if buf.len() as u64 != geo.inode_size || be16(buf, 0) != MAGIC {
            return Err(corrupt("no inode magic (free or overwritten inode)".into()));
        }
        let version = buf[4];
        let core = match (version, geo.crc) {
            (3, true) => 176,
            (1 | 2, false) => 100,
            _ => {
                return Err(corrupt(format!(
                    "inode version {version} on this filesystem"
                )))
            }
        };
        if version == 3 {
            if !crc::verify(buf, CRC_OFFSET) {
                return Err(XfsError::Checksum {
                    what: format!("inode {ino}"),
                    offset: geo.inode_offset(ino).unwrap_or(0),
                });
            }
            if be64(buf, 152) != ino {
                return Err(corrupt(format!(
                    "inode says it is inode {}",
                    be64(buf, 152)
                )));
            }
            if buf[160..176] != geo.meta_uuid {
                return Err(corrupt("inode belongs to another filesystem (UUID)".into()));
            }
        }
        let mode = be16(buf, 2);
        if mode == 0 {
            return Err(corrupt("inode is free (mode 0)".into()));
        }
        let format = match buf[5] {
            0 => Format::Device,
            1 => Format::Local,
            2 => Format::Extents,
            3 => Format::Btree,
            f => return Err(corrupt(format!("data fork format {f}"))),
        };
        let flags2 = if version == 3 { be64(buf, 120) } else { 0 };
        let nextents = if flags2 & FLAG2_NREXT64 != 0 {
            be64(buf, 24)
        } else {
            u64::from(be32(buf, 76))
        };
        let literal = buf.len() - core;
        let fork_off = usize::from(buf[82]) * 8;
        let fork_len = if fork_off == 0 { literal } else { fork_off };
        if fork_len > literal {
            return Err(corrupt(format!(
                "attribute fork offset {fork_off} beyond the inode"
            )));
        }
        let bigtime = flags2 & FLAG2_BIGTIME != 0;
        let time = |at: usize| -> Timestamp {
            if bigtime {
                let ns = be64(buf, at);
                Timestamp::new(
                    (ns / 1_000_000_000) as i64 - BIGTIME_EPOCH_OFFSET,
                    (ns % 1_000_000_000) as i64,
                )
            } else {
                Timestamp::new(
                    i64::from(be32(buf, at) as i32),
                    i64::from(be32(buf, at + 4)),
                )
            }
        };
        Ok(Inode {
            ino,
            mode,
            version,
            format,
            nlink: if version == 1 {
                u32::from(be16(buf, 6))
            } else {
                be32(buf, 16)
            },
            uid: be32(buf, 8),
            gid: be32(buf, 12),
            size: be64(buf, 56),
            nblocks: be64(buf, 64),
            nextents,
            atime: time(32),
            mtime: time(40),
            ctime: time(48),
            crtime: (version == 3).then(|| time(144)),
            generation: be32(buf, 92),
            realtime: be16(buf, 90) & FLAG_REALTIME != 0,
            fork: buf[core..core + fork_len].to_vec(),
        })
    }

    /// The file type bits of the mode.
    pub fn file_type(&self) -> u16 {
        self.mode & 0o170_000
    }

    /// Whether the inode is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == 0o040_000
    }
}
