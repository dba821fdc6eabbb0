//! Directories in every format. A short-form directory lives in the inode;
//! block, leaf, node and B+tree directories all keep their entries in data
//! blocks below the 32 GiB leaf offset, so listing reads exactly those (the
//! leaf, node and free-space blocks above only index them).

use super::bmap::{self, Extent};
use super::inode::{Format, Inode};
use super::superblock::Geometry;
use super::{be16, be32, be64, crc, XfsError};

/// Data block magics: single-block directory and multi-block data, v5 and v4.
const BLOCK_V5: u32 = 0x5844_4233; // XDB3
const DATA_V5: u32 = 0x5844_4433; // XDD3
const BLOCK_V4: u32 = 0x5844_3242; // XD2B
const DATA_V4: u32 = 0x5844_3244; // XD2D
/// Where the leaf section of the directory's address space begins.
const LEAF_OFFSET: u64 = 32 << 30;
/// Offset of the CRC in a v5 directory data block.
const CRC_OFFSET: usize = 4;
/// Most directory data read for one directory (a directory of four million
/// 40-byte names holds about 256 MiB).
const MAX_DIR_BYTES: u64 = 512 << 20;
/// Most entries kept for one directory.
pub const MAX_ENTRIES: usize = 4 << 20;

/// One name in a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The raw name (never empty, never containing `/` or NUL).
    pub name: Vec<u8>,
    /// The inode it names.
    pub ino: u64,
    /// The file type stored with the entry (ftype feature), 0 if none.
    pub ftype: u8,
}

/// A directory's entries without `.` and `..`, and its parent.
#[derive(Debug, Default)]
pub struct Listing {
    /// The `..` entry (the root names itself).
    pub parent: Option<u64>,
    /// The other entries, in on-disk order.
    pub entries: Vec<Entry>,
}

/// Lists directory `inode`; `read_block` reads one filesystem block.
pub fn list(
    inode: &Inode,
    geo: &Geometry,
    read_block: &mut dyn FnMut(u64) -> Result<Vec<u8>, XfsError>,
) -> Result<Listing, XfsError> {
    match inode.format {
        Format::Local => short_form(inode, geo),
        Format::Extents | Format::Btree => {
            let extents = bmap::data_extents(inode, geo, read_block)?;
            blocks(inode, geo, &extents, read_block)
        }
        Format::Device => Err(XfsError::Corrupt {
            ino: inode.ino,
            detail: "directory with a device fork".into(),
        }),
    }
}

fn short_form(inode: &Inode, geo: &Geometry) -> Result<Listing, XfsError> {
    let ino = inode.ino;
    let corrupt = |detail: String| XfsError::Corrupt { ino, detail };
    let size = usize::try_from(inode.size).unwrap_or(usize::MAX);
    let fork = inode.fork.get(..size).ok_or_else(|| {
        corrupt(format!(
            "short-form directory of {size} bytes overflows its fork"
        ))
    })?;
    let count = usize::from(*fork.first().unwrap_or(&0));
    let wide = *fork.get(1).unwrap_or(&0) != 0;
    let ino_len = if wide { 8 } else { 4 };
    let read_ino = |at: usize| -> Option<u64> {
        let bytes = fork.get(at..at + ino_len)?;
        Some(if wide {
            be64(bytes, 0)
        } else {
            u64::from(be32(bytes, 0))
        })
    };
    let parent = read_ino(2).ok_or_else(|| corrupt("short-form header cut short".into()))?;
    let mut listing = Listing {
        parent: Some(parent),
        entries: Vec::with_capacity(count),
    };
    let mut at = 2 + ino_len;
    for i in 0..count {
        let namelen = usize::from(*fork.get(at).unwrap_or(&0));
        let name_at = at + 3;
        let ftype_len = usize::from(geo.ftype);
        let end = name_at + namelen + ftype_len + ino_len;
        if namelen == 0 || end > fork.len() {
            return Err(corrupt(format!(
                "short-form entry {i} at byte {at} (name length {namelen}) overflows the directory"
            )));
        }
        let name = fork[name_at..name_at + namelen].to_vec();
        let ftype = if geo.ftype {
            fork[name_at + namelen]
        } else {
            0
        };
        let child = read_ino(name_at + namelen + ftype_len).unwrap_or(0);
        push(&mut listing, name, child, ftype, ino)?;
        at = end;
    }
    Ok(listing)
}

/// Reads every data block of a block/leaf/node/btree directory.
fn blocks(
    inode: &Inode,
    geo: &Geometry,
    extents: &[Extent],
    read_block: &mut dyn FnMut(u64) -> Result<Vec<u8>, XfsError>,
) -> Result<Listing, XfsError> {
    let ino = inode.ino;
    let per_dir_block = geo.dir_block_size / geo.block_size;
    let leaf_block = LEAF_OFFSET / geo.block_size;
    let mut listing = Listing::default();
    let mut dir_blocks = 0u64;
    let mut last: Option<u64> = None;
    for extent in extents {
        if extent.offset >= leaf_block {
            break;
        }
        let first = extent.offset / per_dir_block;
        let end = extent.end().min(leaf_block).div_ceil(per_dir_block);
        for db in first..end {
            if last.is_some_and(|l| db <= l) {
                continue; // a directory block split over two extents
            }
            last = Some(db);
            dir_blocks += 1;
            if dir_blocks.saturating_mul(geo.dir_block_size) > MAX_DIR_BYTES {
                return Err(XfsError::Corrupt {
                    ino,
                    detail: format!("more than {MAX_DIR_BYTES} bytes of directory data blocks"),
                });
            }
            let mut buf = Vec::with_capacity(geo.dir_block_size as usize);
            let mut daddr = 0;
            for i in 0..per_dir_block {
                let fb = db * per_dir_block + i;
                let e = extents
                    .get(bmap::find(extents, fb))
                    .filter(|e| e.offset <= fb && !e.unwritten)
                    .ok_or_else(|| XfsError::Corrupt {
                        ino,
                        detail: format!(
                            "directory block {db} is not fully mapped (file block {fb})"
                        ),
                    })?;
                let fsbno = e.block + (fb - e.offset);
                if i == 0 {
                    daddr = geo.block_offset(fsbno).unwrap_or(0) / 512;
                }
                buf.extend_from_slice(&read_block(fsbno)?);
            }
            data_block(&buf, geo, ino, db, daddr, &mut listing)?;
        }
    }
    Ok(listing)
}

/// Parses one directory data block (`XDB3`/`XDD3`, or v4 `XD2B`/`XD2D`).
fn data_block(
    buf: &[u8],
    geo: &Geometry,
    ino: u64,
    db: u64,
    daddr: u64,
    listing: &mut Listing,
) -> Result<(), XfsError> {
    let corrupt = |detail: String| XfsError::Corrupt {
        ino,
        detail: format!("directory block {db}: {detail}"),
    };
    let magic = be32(buf, 0);
    let (is_block, header) = match (magic, geo.crc) {
        (BLOCK_V5, true) => (true, 64),
        (DATA_V5, true) => (false, 64),
        (BLOCK_V4, false) => (true, 16),
        (DATA_V4, false) => (false, 16),
        _ => return Err(corrupt(format!("bad magic {magic:#010x}"))),
    };
    if geo.crc {
        if !crc::verify(buf, CRC_OFFSET) {
            return Err(XfsError::Checksum {
                what: format!("inode {ino} directory block {db}"),
                offset: daddr * 512,
            });
        }
        if be64(buf, 8) != daddr || be64(buf, 40) != ino || buf[24..40] != geo.meta_uuid {
            return Err(corrupt(
                "block number, owner or UUID differ (misdirected block)".into(),
            ));
        }
    }
    let mut end = buf.len();
    if is_block {
        // Tail: leaf entry count and stale count; the leaf array precedes it.
        let count = u64::from(be32(buf, buf.len() - 8));
        let leaf = count.saturating_mul(8).saturating_add(8);
        if leaf > (buf.len() - header) as u64 {
            return Err(corrupt(format!("{count} leaf entries do not fit")));
        }
        end = buf.len() - leaf as usize;
    }
    let mut at = header;
    while at + 8 <= end {
        if be16(buf, at) == 0xFFFF {
            let len = usize::from(be16(buf, at + 2));
            if len < 8 || len % 8 != 0 || at + len > end {
                return Err(corrupt(format!("free space at byte {at} of length {len}")));
            }
            at += len;
            continue;
        }
        let child = be64(buf, at);
        let namelen = usize::from(buf[at + 8]);
        let len = (8 + 1 + namelen + usize::from(geo.ftype) + 2).div_ceil(8) * 8;
        if namelen == 0 || at + len > end {
            return Err(corrupt(format!(
                "entry at byte {at} (name length {namelen}) overflows the block"
            )));
        }
        let name = buf[at + 9..at + 9 + namelen].to_vec();
        let ftype = if geo.ftype { buf[at + 9 + namelen] } else { 0 };
        if be16(buf, at + len - 2) as usize != at {
            return Err(corrupt(format!("entry at byte {at} has a wrong tag")));
        }
        match name.as_slice() {
            b"." => {}
            b".." => listing.parent = Some(child),
            _ => push(listing, name, child, ftype, ino)?,
        }
        at += len;
    }
    Ok(())
}

fn push(
    listing: &mut Listing,
    name: Vec<u8>,
    child: u64,
    ftype: u8,
    ino: u64,
) -> Result<(), XfsError> {
    if name.contains(&b'/') || name.contains(&0) || name == b"." || name == b".." {
        return Err(XfsError::Corrupt {
            ino,
            detail: format!(
                "invalid name {:?} in directory",
                String::from_utf8_lossy(&name)
            ),
        });
    }
    if listing.entries.len() >= MAX_ENTRIES {
        return Err(XfsError::Corrupt {
            ino,
            detail: format!("more than {MAX_ENTRIES} entries"),
        });
    }
    listing.entries.push(Entry {
        name,
        ino: child,
        ftype,
    });
    Ok(())
}
