//! File-system records of a volume's tree: inodes, directory entries,
//! extended attributes and file extents (Apple File System Reference,
//! "File-System Objects").

use super::btree::{le16, le32, le64};

/// `J_TYPE_INODE`.
pub(crate) const J_TYPE_INODE: u64 = 3;
/// `J_TYPE_XATTR`.
pub(crate) const J_TYPE_XATTR: u64 = 4;
/// `J_TYPE_FILE_EXTENT`.
pub(crate) const J_TYPE_FILE_EXTENT: u64 = 8;
/// `J_TYPE_DIR_REC`.
pub(crate) const J_TYPE_DIR_REC: u64 = 9;
/// Mask of the object id in a key header.
pub(crate) const OBJ_ID_MASK: u64 = 0x0FFF_FFFF_FFFF_FFFF;
/// `INO_EXT_TYPE_DSTREAM`.
const INO_EXT_TYPE_DSTREAM: u8 = 8;
/// `XATTR_DATA_STREAM`.
const XATTR_DATA_STREAM: u16 = 0x1;

/// `(object id, record type)` of a key.
pub(crate) fn key_header(key: &[u8]) -> Option<(u64, u64)> {
    let h = le64(key, 0)?;
    Some((h & OBJ_ID_MASK, h >> 60))
}

/// An inode record (`j_inode_val_t`).
#[derive(Clone, Debug)]
pub(crate) struct Inode {
    pub id: u64,
    pub parent_id: u64,
    pub private_id: u64,
    pub create_time: u64,
    pub modify_time: u64,
    pub change_time: u64,
    pub access_time: u64,
    pub nlink: i32,
    pub bsd_flags: u32,
    pub uid: u32,
    pub gid: u32,
    pub mode: u16,
    /// Size of the data stream (`j_dstream_t.size`), 0 without one.
    pub size: u64,
}

impl Inode {
    pub fn parse(id: u64, v: &[u8]) -> Option<Inode> {
        let mut inode = Inode {
            id,
            parent_id: le64(v, 0)?,
            private_id: le64(v, 8)?,
            create_time: le64(v, 16)?,
            modify_time: le64(v, 24)?,
            change_time: le64(v, 32)?,
            access_time: le64(v, 40)?,
            nlink: le32(v, 56)? as i32,
            bsd_flags: le32(v, 68)?,
            uid: le32(v, 72)?,
            gid: le32(v, 76)?,
            mode: le16(v, 80)?,
            size: 0,
        };
        // Extended fields: a count, a table of (type, flags, size), then
        // the data of each, 8-byte aligned.
        if let (Some(count), Some(_used)) = (le16(v, 92), le16(v, 94)) {
            let table = 96;
            let mut data = table + 4 * count as usize;
            for i in 0..count as usize {
                let at = table + 4 * i;
                let (Some(kind), Some(len)) = (v.get(at).copied(), le16(v, at + 2)) else {
                    break;
                };
                if kind == INO_EXT_TYPE_DSTREAM {
                    inode.size = le64(v, data).unwrap_or(0);
                }
                data += (len as usize).div_ceil(8) * 8;
            }
        }
        Some(inode)
    }

    /// `S_IFMT` bits.
    pub fn format(&self) -> u16 {
        self.mode & 0o170000
    }
}

/// A directory entry: name bytes, the inode it names and its `DT_` type.
#[derive(Clone, Debug)]
pub(crate) struct Drec {
    pub name: Vec<u8>,
    pub file_id: u64,
    pub dtype: u16,
}

/// Parses a directory record; `hashed` for volumes with hashed names
/// (`j_drec_hashed_key_t`), else `j_drec_key_t`.
pub(crate) fn parse_drec(key: &[u8], value: &[u8], hashed: bool) -> Option<Drec> {
    let (len, at) = if hashed {
        ((le32(key, 8)? & 0x3FF) as usize, 12)
    } else {
        (le16(key, 8)? as usize, 10)
    };
    let raw = key.get(at..at + len)?;
    let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
    Some(Drec {
        name: raw[..end].to_vec(),
        file_id: le64(value, 0)?,
        dtype: le16(value, 16)? & 0xF,
    })
}

/// Where an extended attribute's value is.
#[derive(Clone, Debug)]
pub(crate) enum XattrValue {
    /// In the record.
    Embedded(Vec<u8>),
    /// In a data stream of its own: its object id (extents key) and size.
    Stream { id: u64, size: u64 },
}

/// Parses an extended attribute record: its name and value.
pub(crate) fn parse_xattr(key: &[u8], value: &[u8]) -> Option<(Vec<u8>, XattrValue)> {
    let len = le16(key, 8)? as usize;
    let raw = key.get(10..10 + len)?;
    let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
    let flags = le16(value, 0)?;
    let data_len = le16(value, 2)? as usize;
    let v = if flags & XATTR_DATA_STREAM != 0 {
        XattrValue::Stream {
            id: le64(value, 4)?,
            size: le64(value, 12)?,
        }
    } else {
        XattrValue::Embedded(value.get(4..4 + data_len)?.to_vec())
    };
    Some((raw[..end].to_vec(), v))
}

/// One file extent: logical offset, length in bytes, first physical block
/// (0: a hole).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Extent {
    pub logical: u64,
    pub length: u64,
    pub block: u64,
}

/// Parses a file extent record of the volume tree.
pub(crate) fn parse_extent(key: &[u8], value: &[u8]) -> Option<Extent> {
    Some(Extent {
        logical: le64(key, 8)?,
        length: le64(value, 0)? & 0x00FF_FFFF_FFFF_FFFF,
        block: le64(value, 8)?,
    })
}

/// Parses a record of a sealed volume's fext tree.
pub(crate) fn parse_fext(key: &[u8], value: &[u8]) -> Option<Extent> {
    Some(Extent {
        logical: le64(key, 8)?,
        length: le64(value, 0)? & 0x00FF_FFFF_FFFF_FFFF,
        block: le64(value, 8)?,
    })
}
