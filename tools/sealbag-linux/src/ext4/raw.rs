//! What `ext4-view` keeps to itself, read straight from the on-disk format:
//! inode numbers (directory entries), the raw inode (ctime, link count,
//! flags, the 32-bit owner), extended attributes, and symlink targets.
//!
//! Only structures needed for metadata are read here; file contents go
//! through `ext4-view`. Everything is capped: directory and symlink sizes,
//! extent-tree depth and fan-out, xattr counts; every error names the inode.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom};

/// Largest directory read (bytes of directory blocks): 256 MiB holds
/// millions of entries.
pub const MAX_DIR_BYTES: u64 = 256 << 20;
/// Largest symlink target read.
pub const MAX_LINK: u64 = 4096;
/// Deepest extent tree the kernel makes is 5 levels.
const MAX_EXTENT_DEPTH: u16 = 5;
/// Most xattrs reported per inode.
const MAX_XATTRS: usize = 256;

/// `s_feature_incompat` bits.
pub const INCOMPAT_RECOVER: u32 = 0x4;
const INCOMPAT_64BIT: u32 = 0x80;
const RO_COMPAT_METADATA_CSUM: u32 = 0x400;

/// Inode flags.
const EXT4_EXTENTS_FL: u32 = 0x0008_0000;
const EXT4_INLINE_DATA_FL: u32 = 0x1000_0000;

/// An error of the raw reader, naming the inode or offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RawError {
    /// Reading the image failed.
    #[error("reading {len} bytes at offset {offset}: {source}")]
    Io {
        /// Byte offset in the file system.
        offset: u64,
        /// How much was asked for.
        len: usize,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A structure is damaged or hostile.
    #[error("inode {inode}: {detail}")]
    Corrupt {
        /// The inode concerned (0: the superblock or a group descriptor).
        inode: u32,
        /// What is wrong.
        detail: String,
    },
    /// A feature this reader does not handle.
    #[error("inode {inode}: {detail}")]
    Unsupported {
        /// The inode concerned.
        inode: u32,
        /// What is not supported.
        detail: String,
    },
}

fn le16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// The superblock fields the raw reader needs.
#[derive(Debug, Clone)]
pub struct Geometry {
    /// Block size in bytes (1 KiB to 64 KiB).
    pub block_size: u64,
    /// Inodes per block group.
    pub inodes_per_group: u32,
    /// Total inodes.
    pub inodes_count: u32,
    /// Size of one on-disk inode.
    pub inode_size: u64,
    /// Size of one group descriptor.
    pub desc_size: u64,
    /// Block of the first group descriptor table.
    pub gdt_block: u64,
    /// Total blocks.
    pub blocks_count: u64,
    /// `s_feature_incompat`.
    pub incompat: u32,
    /// `s_feature_ro_compat`.
    pub ro_compat: u32,
    /// The volume label (`s_volume_name`), if set.
    pub label: Option<String>,
    /// The file system UUID, as text.
    pub uuid: String,
}

/// Superblock magic and offset.
const SB_OFFSET: u64 = 1024;
const EXT4_MAGIC: u16 = 0xef53;

/// Whether a superblock (the 1024 bytes at offset 1024) is ext2/3/4.
pub fn looks_like_ext(superblock: &[u8]) -> bool {
    le16(superblock, 0x38) == EXT4_MAGIC
}

impl Geometry {
    /// Parses and checks the superblock (`sb`: the 1024 bytes at offset 1024).
    pub fn parse(sb: &[u8]) -> Result<Geometry, RawError> {
        let bad = |detail: String| RawError::Corrupt { inode: 0, detail };
        if sb.len() < 1024 || !looks_like_ext(sb) {
            return Err(bad(
                "superblock: no ext2/3/4 magic 0xEF53 at offset 1080".into()
            ));
        }
        let log = le32(sb, 0x18);
        if log > 6 {
            return Err(bad(format!("superblock: block size 1024 << {log}")));
        }
        let block_size = 1024u64 << log;
        let incompat = le32(sb, 0x60);
        let inode_size = if le32(sb, 0x4c) == 0 {
            128
        } else {
            u64::from(le16(sb, 0x58))
        };
        if inode_size < 128 || inode_size > block_size || !inode_size.is_power_of_two() {
            return Err(bad(format!("superblock: inode size {inode_size}")));
        }
        let desc_size = if incompat & INCOMPAT_64BIT != 0 {
            u64::from(le16(sb, 0xfe))
        } else {
            32
        };
        if !(32..=1024).contains(&desc_size) || !desc_size.is_power_of_two() {
            return Err(bad(format!(
                "superblock: group descriptor size {desc_size}"
            )));
        }
        let inodes_per_group = le32(sb, 0x28);
        if inodes_per_group == 0 {
            return Err(bad("superblock: 0 inodes per group".into()));
        }
        let mut blocks_count = u64::from(le32(sb, 0x4));
        if incompat & INCOMPAT_64BIT != 0 {
            blocks_count |= u64::from(le32(sb, 0x150)) << 32;
        }
        let first_data_block = u64::from(le32(sb, 0x14));
        let label_bytes = &sb[0x78..0x88];
        let end = label_bytes.iter().position(|b| *b == 0).unwrap_or(16);
        let label = Some(String::from_utf8_lossy(&label_bytes[..end]).into_owned())
            .filter(|l| !l.is_empty());
        let u = &sb[0x68..0x78];
        let uuid = format!(
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]
        );
        Ok(Geometry {
            block_size,
            inodes_per_group,
            inodes_count: le32(sb, 0x0),
            inode_size,
            desc_size,
            gdt_block: first_data_block + 1,
            blocks_count,
            incompat,
            ro_compat: le32(sb, 0x64),
            label,
            uuid,
        })
    }

    /// Whether the journal holds transactions the kernel would replay.
    pub fn needs_recovery(&self) -> bool {
        self.incompat & INCOMPAT_RECOVER != 0
    }
}

/// The superblock with `needs_recovery` cleared (and its checksum
/// recomputed when the file system has metadata checksums): what
/// `ext4-view` is shown, so it never replays the journal, not even in
/// memory. The kernel's `noload` reads the same way.
pub fn superblock_without_recovery(sb: &[u8]) -> Vec<u8> {
    let mut patched = sb.to_vec();
    if patched.len() < 1024 {
        return patched;
    }
    let incompat = le32(&patched, 0x60);
    if incompat & INCOMPAT_RECOVER == 0 {
        return patched;
    }
    patched[0x60..0x64].copy_from_slice(&(incompat & !INCOMPAT_RECOVER).to_le_bytes());
    if le32(&patched, 0x64) & RO_COMPAT_METADATA_CSUM != 0 {
        let crc = crc32c(&patched[..0x3fc]);
        patched[0x3fc..0x400].copy_from_slice(&crc.to_le_bytes());
    }
    patched
}

/// The superblock checksum as `ext4-view` verifies it: CRC-32C of the
/// first 1020 bytes (checked against real images by the fixture tests).
fn crc32c(data: &[u8]) -> u32 {
    const CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    CASTAGNOLI.checksum(data)
}

/// A raw inode with the fields the manifest needs.
#[derive(Debug, Clone)]
pub struct RawInode {
    /// Its number.
    pub number: u32,
    /// `i_mode`: type and permission bits.
    pub mode: u16,
    /// Owner (32 bits).
    pub uid: u32,
    /// Group (32 bits).
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Hard links.
    pub links: u16,
    /// `i_flags`.
    pub flags: u32,
    /// atime, ctime, mtime, crtime as (seconds, nanoseconds).
    pub atime: (i64, u32),
    /// Inode change time.
    pub ctime: (i64, u32),
    /// Modification time.
    pub mtime: (i64, u32),
    /// Birth time, when the inode is large enough to hold it.
    pub crtime: Option<(i64, u32)>,
    /// Deletion time (non-zero: the inode was freed).
    pub dtime: u32,
    /// The raw bytes (for the block map and in-inode xattrs).
    pub bytes: Vec<u8>,
    /// The external xattr block, if any.
    pub xattr_block: u64,
}

impl RawInode {
    /// The file type bits of the mode (`S_IFMT`).
    pub fn file_type(&self) -> u16 {
        self.mode & 0o170000
    }

    fn i_block(&self) -> &[u8] {
        &self.bytes[0x28..0x64]
    }
}

/// Decodes a timestamp and its `_extra` word (epoch bits and nanoseconds).
fn time(seconds: u32, extra: Option<u32>) -> (i64, u32) {
    let mut secs = i64::from(seconds as i32);
    let mut nanos = 0;
    if let Some(extra) = extra {
        secs += i64::from(extra & 3) << 32;
        nanos = (extra >> 2).min(999_999_999);
    }
    (secs, nanos)
}

/// The raw reader over a file system image.
pub struct RawFs<R> {
    reader: R,
    /// The superblock facts.
    pub geometry: Geometry,
}

impl<R: Read + Seek> RawFs<R> {
    /// Reads the superblock of `reader`.
    pub fn open(mut reader: R) -> Result<RawFs<R>, RawError> {
        let mut sb = vec![0u8; 1024];
        read_exact_at(&mut reader, SB_OFFSET, &mut sb)?;
        let geometry = Geometry::parse(&sb)?;
        Ok(RawFs { reader, geometry })
    }

    /// Reads `buf.len()` bytes at byte `offset` of the file system.
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), RawError> {
        read_exact_at(&mut self.reader, offset, buf)
    }

    fn block_offset(&self, block: u64, inode: u32) -> Result<u64, RawError> {
        if block >= self.geometry.blocks_count {
            return Err(RawError::Corrupt {
                inode,
                detail: format!(
                    "block {block} is past the end of the file system ({} blocks)",
                    self.geometry.blocks_count
                ),
            });
        }
        block
            .checked_mul(self.geometry.block_size)
            .ok_or_else(|| RawError::Corrupt {
                inode,
                detail: format!("block {block} is past 2^64 bytes"),
            })
    }

    fn read_block(&mut self, block: u64, inode: u32) -> Result<Vec<u8>, RawError> {
        let offset = self.block_offset(block, inode)?;
        let mut buf = vec![0u8; self.geometry.block_size as usize];
        self.read_at(offset, &mut buf)?;
        Ok(buf)
    }

    /// Reads inode `number`.
    pub fn inode(&mut self, number: u32) -> Result<RawInode, RawError> {
        let g = self.geometry.clone();
        if number == 0 || number > g.inodes_count {
            return Err(RawError::Corrupt {
                inode: number,
                detail: format!("inode number out of range (1..={})", g.inodes_count),
            });
        }
        let group = u64::from((number - 1) / g.inodes_per_group);
        let index = u64::from((number - 1) % g.inodes_per_group);
        let desc_offset = g.gdt_block * g.block_size + group * g.desc_size;
        let mut desc = vec![0u8; g.desc_size as usize];
        self.read_at(desc_offset, &mut desc)?;
        let mut table = u64::from(le32(&desc, 0x8));
        if g.desc_size >= 64 {
            table |= u64::from(le32(&desc, 0x28)) << 32;
        }
        let offset = self
            .block_offset(table, number)?
            .checked_add(index * g.inode_size)
            .ok_or_else(|| RawError::Corrupt {
                inode: number,
                detail: "inode table offset overflows".into(),
            })?;
        let mut bytes = vec![0u8; g.inode_size as usize];
        self.read_at(offset, &mut bytes)?;
        let extra_isize = if g.inode_size > 128 {
            u64::from(le16(&bytes, 0x80))
        } else {
            0
        };
        // A field at `at` of the large inode exists when 128 + i_extra_isize covers it.
        let has =
            |at: u64| g.inode_size > 128 && 128 + extra_isize >= at + 4 && at + 4 <= g.inode_size;
        let extra = |at: u64| has(at).then(|| le32(&bytes, at as usize));
        let mut size = u64::from(le32(&bytes, 0x4));
        size |= u64::from(le32(&bytes, 0x6c)) << 32;
        let xattr_block = u64::from(le32(&bytes, 0x68)) | (u64::from(le16(&bytes, 0x76)) << 32);
        Ok(RawInode {
            number,
            mode: le16(&bytes, 0x0),
            uid: u32::from(le16(&bytes, 0x2)) | (u32::from(le16(&bytes, 0x78)) << 16),
            gid: u32::from(le16(&bytes, 0x18)) | (u32::from(le16(&bytes, 0x7a)) << 16),
            size,
            links: le16(&bytes, 0x1a),
            flags: le32(&bytes, 0x20),
            atime: time(le32(&bytes, 0x8), extra(0x8c)),
            ctime: time(le32(&bytes, 0xc), extra(0x84)),
            mtime: time(le32(&bytes, 0x10), extra(0x88)),
            crtime: has(0x90).then(|| time(le32(&bytes, 0x90), extra(0x94))),
            dtime: le32(&bytes, 0x14),
            xattr_block,
            bytes,
        })
    }

    /// The physical blocks of an inode's data, in logical order, up to
    /// `max_blocks`: `(logical, physical, count)` runs; holes are absent.
    fn runs(
        &mut self,
        inode: &RawInode,
        max_blocks: u64,
    ) -> Result<Vec<(u64, u64, u64)>, RawError> {
        if inode.flags & EXT4_INLINE_DATA_FL != 0 {
            return Err(RawError::Unsupported {
                inode: inode.number,
                detail: "data stored inline in the inode (inline_data) is not read".into(),
            });
        }
        let mut runs = Vec::new();
        if inode.flags & EXT4_EXTENTS_FL != 0 {
            let root = inode.i_block().to_vec();
            self.extent_node(
                inode.number,
                &root,
                MAX_EXTENT_DEPTH + 1,
                max_blocks,
                &mut runs,
            )?;
            runs.sort_by_key(|r| r.0);
        } else {
            self.block_map(inode, max_blocks, &mut runs)?;
        }
        Ok(runs)
    }

    fn extent_node(
        &mut self,
        number: u32,
        node: &[u8],
        depth_left: u16,
        max_blocks: u64,
        runs: &mut Vec<(u64, u64, u64)>,
    ) -> Result<(), RawError> {
        let bad = |detail: String| RawError::Corrupt {
            inode: number,
            detail,
        };
        if le16(node, 0) != 0xf30a {
            return Err(bad("extent header without its magic 0xF30A".into()));
        }
        let entries = usize::from(le16(node, 2));
        let depth = le16(node, 6);
        if depth >= depth_left || depth > MAX_EXTENT_DEPTH {
            return Err(bad(format!("extent tree depth {depth} (loop or corrupt)")));
        }
        if 12 + entries * 12 > node.len() {
            return Err(bad(format!(
                "extent node claims {entries} entries, more than fit"
            )));
        }
        for i in 0..entries {
            let e = &node[12 + i * 12..24 + i * 12];
            let logical = u64::from(le32(e, 0));
            if logical >= max_blocks {
                continue;
            }
            if depth == 0 {
                let mut len = u64::from(le16(e, 4));
                let uninit = len > 32768;
                if uninit {
                    len -= 32768;
                }
                let start = (u64::from(le16(e, 6)) << 32) | u64::from(le32(e, 8));
                if uninit {
                    // Preallocated, never written: reads as zeros.
                    continue;
                }
                runs.push((logical, start, len.min(max_blocks - logical)));
                if runs.len() > 1_000_000 {
                    return Err(bad("more than a million extents".into()));
                }
            } else {
                let child = u64::from(le32(e, 4)) | (u64::from(le16(e, 8)) << 32);
                let block = self.read_block(child, number)?;
                self.extent_node(number, &block, depth, max_blocks, runs)?;
            }
        }
        Ok(())
    }

    fn block_map(
        &mut self,
        inode: &RawInode,
        max_blocks: u64,
        runs: &mut Vec<(u64, u64, u64)>,
    ) -> Result<(), RawError> {
        let per = self.geometry.block_size / 4;
        let i_block = inode.i_block().to_vec();
        let mut logical = 0u64;
        for i in 0..12 {
            let b = u64::from(le32(&i_block, i * 4));
            if logical >= max_blocks {
                return Ok(());
            }
            if b != 0 {
                runs.push((logical, b, 1));
            }
            logical += 1;
        }
        for (level, slot) in [(1u32, 12usize), (2, 13), (3, 14)] {
            let span = per.pow(level);
            let b = u64::from(le32(&i_block, slot * 4));
            if logical >= max_blocks {
                return Ok(());
            }
            if b != 0 {
                self.indirect(inode.number, b, level, logical, max_blocks, runs)?;
            }
            logical += span;
        }
        Ok(())
    }

    fn indirect(
        &mut self,
        number: u32,
        block: u64,
        level: u32,
        first: u64,
        max_blocks: u64,
        runs: &mut Vec<(u64, u64, u64)>,
    ) -> Result<(), RawError> {
        let per = self.geometry.block_size / 4;
        let data = self.read_block(block, number)?;
        let span = per.pow(level - 1);
        for i in 0..per {
            let logical = first + i * span;
            if logical >= max_blocks {
                break;
            }
            let b = u64::from(le32(&data, (i * 4) as usize));
            if b == 0 {
                continue;
            }
            if level == 1 {
                runs.push((logical, b, 1));
            } else {
                self.indirect(number, b, level - 1, logical, max_blocks, runs)?;
            }
        }
        Ok(())
    }

    /// Where every block of a file's data is: `(logical, physical, count)`
    /// runs in logical order; holes and unwritten extents are absent (zeros).
    pub fn file_runs(&mut self, inode: &RawInode) -> Result<Vec<(u64, u64, u64)>, RawError> {
        let max_blocks = inode.size.div_ceil(self.geometry.block_size);
        let runs = self.runs(inode, max_blocks)?;
        for (_, physical, count) in &runs {
            let end = physical
                .checked_add(*count)
                .ok_or_else(|| RawError::Corrupt {
                    inode: inode.number,
                    detail: format!("extent at block {physical} of {count} blocks overflows"),
                })?;
            if end > self.geometry.blocks_count {
                return Err(RawError::Corrupt {
                    inode: inode.number,
                    detail: format!(
                        "extent at block {physical} of {count} blocks ends past the file system ({} blocks)",
                        self.geometry.blocks_count
                    ),
                });
            }
        }
        Ok(runs)
    }

    /// The first `min(size, cap)` bytes of an inode's data (holes as zeros).
    pub fn read_data(&mut self, inode: &RawInode, cap: u64) -> Result<Vec<u8>, RawError> {
        if inode.size > cap {
            return Err(RawError::Corrupt {
                inode: inode.number,
                detail: format!(
                    "size {} is over the {} bytes read for its kind",
                    inode.size, cap
                ),
            });
        }
        let bs = self.geometry.block_size;
        let max_blocks = inode.size.div_ceil(bs);
        let runs = self.runs(inode, max_blocks)?;
        let mut data = vec![0u8; inode.size as usize];
        for (logical, physical, count) in runs {
            for k in 0..count {
                let at = ((logical + k) * bs) as usize;
                if at >= data.len() {
                    break;
                }
                let end = (at + bs as usize).min(data.len());
                let offset = self.block_offset(physical + k, inode.number)?;
                let mut buf = vec![0u8; end - at];
                self.read_at(offset, &mut buf)?;
                data[at..end].copy_from_slice(&buf);
            }
        }
        Ok(data)
    }

    /// The entries of directory `inode`: `(name, inode number, type byte)`,
    /// without `.` and `..`.
    pub fn read_dir(&mut self, inode: &RawInode) -> Result<Vec<(Vec<u8>, u32, u8)>, RawError> {
        let data = self.read_data(inode, MAX_DIR_BYTES)?;
        let bs = self.geometry.block_size as usize;
        let mut entries = Vec::new();
        for (index, block) in data.chunks(bs).enumerate() {
            let mut at = 0usize;
            while at + 8 <= block.len() {
                let ino = le32(block, at);
                let rec_len = usize::from(le16(block, at + 4));
                let name_len = usize::from(block[at + 6]);
                let kind = block[at + 7];
                // 65536-byte blocks store a rec_len of 65536 as 0 (or 65535).
                let rec_len = if rec_len == 0 || rec_len == 65535 {
                    65536
                } else {
                    rec_len
                };
                if rec_len < 8 || at + rec_len > block.len() || rec_len % 4 != 0 {
                    return Err(RawError::Corrupt {
                        inode: inode.number,
                        detail: format!(
                            "directory block {index}, offset {at}: entry length {rec_len}"
                        ),
                    });
                }
                if ino != 0 && 8 + name_len <= rec_len {
                    let name = &block[at + 8..at + 8 + name_len];
                    if name != b"." && name != b".." && !name.is_empty() {
                        if name.contains(&b'/') || name.contains(&0) {
                            return Err(RawError::Corrupt {
                                inode: inode.number,
                                detail: format!(
                                    "directory block {index}, offset {at}: name with `/` or NUL"
                                ),
                            });
                        }
                        entries.push((name.to_vec(), ino, kind));
                    }
                }
                at += rec_len;
            }
        }
        Ok(entries)
    }

    /// The target of symlink `inode`: in the inode itself when short, else in its data.
    pub fn read_link(&mut self, inode: &RawInode) -> Result<Vec<u8>, RawError> {
        if inode.size > MAX_LINK {
            return Err(RawError::Corrupt {
                inode: inode.number,
                detail: format!("symlink target of {} bytes", inode.size),
            });
        }
        let fast = inode.flags & (EXT4_EXTENTS_FL | EXT4_INLINE_DATA_FL) == 0 && inode.size < 60;
        if fast {
            return Ok(inode.i_block()[..inode.size as usize].to_vec());
        }
        self.read_data(inode, MAX_LINK)
    }

    /// Extended attributes: those in the inode's spare space, then those of
    /// its xattr block. Values of xattrs kept in their own inode (`ea_inode`)
    /// are not read (reported as such).
    pub fn xattrs(&mut self, inode: &RawInode) -> Result<BTreeMap<String, XattrValue>, RawError> {
        let mut found = BTreeMap::new();
        let isize = self.geometry.inode_size as usize;
        if isize > 128 {
            let extra = usize::from(le16(&inode.bytes, 0x80));
            let start = 128 + extra;
            if start + 4 <= isize && le32(&inode.bytes, start) == 0xea02_0000 {
                let region = &inode.bytes[start + 4..];
                parse_xattrs(inode.number, region, region, &mut found)?;
            }
        }
        if inode.xattr_block != 0 {
            let block = self.read_block(inode.xattr_block, inode.number)?;
            if le32(&block, 0) != 0xea02_0000 {
                return Err(RawError::Corrupt {
                    inode: inode.number,
                    detail: format!("xattr block {} without its magic", inode.xattr_block),
                });
            }
            parse_xattrs(inode.number, &block[32..], &block, &mut found)?;
        }
        Ok(found)
    }
}

/// An xattr value: bytes, or why they are not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XattrValue {
    /// The value's bytes.
    Bytes(Vec<u8>),
    /// Kept in inode `n` (`ea_inode`), not read.
    InInode(u32),
}

fn parse_xattrs(
    number: u32,
    entries: &[u8],
    values: &[u8],
    found: &mut BTreeMap<String, XattrValue>,
) -> Result<(), RawError> {
    let mut at = 0usize;
    while at + 16 <= entries.len() && le32(entries, at) != 0 {
        if found.len() >= MAX_XATTRS {
            break;
        }
        let name_len = usize::from(entries[at]);
        let index = entries[at + 1];
        let value_offset = usize::from(le16(entries, at + 2));
        let value_inode = le32(entries, at + 4);
        let value_size = le32(entries, at + 8) as usize;
        let name = entries
            .get(at + 16..at + 16 + name_len)
            .ok_or_else(|| RawError::Corrupt {
                inode: number,
                detail: format!("xattr entry at {at}: name past the end"),
            })?;
        let prefix = match index {
            1 => "user.",
            2 => "system.posix_acl_access",
            3 => "system.posix_acl_default",
            4 => "trusted.",
            6 => "security.",
            7 => "system.",
            8 => "system.richacl",
            _ => "unknown.",
        };
        let full = format!("{prefix}{}", String::from_utf8_lossy(name));
        let value = if value_inode != 0 {
            XattrValue::InInode(value_inode)
        } else {
            let bytes = values
                .get(value_offset..value_offset.saturating_add(value_size))
                .ok_or_else(|| RawError::Corrupt {
                    inode: number,
                    detail: format!("xattr `{full}`: value of {value_size} bytes at {value_offset} past the end"),
                })?;
            XattrValue::Bytes(bytes.to_vec())
        };
        found.insert(full, value);
        at += (16 + name_len + 3) & !3;
    }
    Ok(())
}

fn read_exact_at<R: Read + Seek>(
    reader: &mut R,
    offset: u64,
    buf: &mut [u8],
) -> Result<(), RawError> {
    let io = |source| RawError::Io {
        offset,
        len: buf.len(),
        source,
    };
    reader.seek(SeekFrom::Start(offset)).map_err(io)?;
    let len = buf.len();
    reader.read_exact(buf).map_err(|source| RawError::Io {
        offset,
        len,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_decode_epoch_bits_and_nanos() {
        assert_eq!(time(0x7fff_ffff, None), (0x7fff_ffff, 0));
        assert_eq!(time(0xffff_ffff, Some(0)), (-1, 0));
        // Epoch bit 1 moves a negative 32-bit value past 2038.
        assert_eq!(time(0x8000_0000, Some(1)), (0x8000_0000, 0));
        assert_eq!(time(5, Some(123 << 2)), (5, 123));
    }

    #[test]
    fn superblock_patch_clears_recover_and_fixes_checksum() {
        let mut sb = vec![0u8; 1024];
        sb[0x38..0x3a].copy_from_slice(&EXT4_MAGIC.to_le_bytes());
        sb[0x60..0x64].copy_from_slice(&(INCOMPAT_RECOVER | 0x2).to_le_bytes());
        sb[0x64..0x68].copy_from_slice(&RO_COMPAT_METADATA_CSUM.to_le_bytes());
        let patched = superblock_without_recovery(&sb);
        assert_eq!(le32(&patched, 0x60), 0x2);
        assert_eq!(le32(&patched, 0x3fc), crc32c(&patched[..0x3fc]));
        assert_eq!(patched[..0x60], sb[..0x60]);
    }
}
