//! Directory listings from the `$I30` index, read linearly.
//!
//! The index root's entries, then every in-use block of the index
//! allocation in order: no B-tree descent, so a hostile volume whose
//! sub-node pointers loop cannot make the listing loop; sizes are capped.

use super::record::{apply_fixups, u16_at, u32_at, u64_at};

/// Most entries taken from one directory.
pub const MAX_ENTRIES: usize = 1 << 20;

/// A `$FILE_NAME` value: in a record, or as an index key.
#[derive(Debug, Clone)]
pub struct FileName {
    /// Parent directory record number.
    pub parent: u64,
    /// Creation, modification, MFT change, access (NT time, 100 ns since 1601).
    pub times: [u64; 4],
    /// File attribute flags (0x10000000: directory).
    pub flags: u32,
    /// Namespace: 0 POSIX, 1 Win32, 2 DOS, 3 Win32 and DOS.
    pub namespace: u8,
    /// The name.
    pub name: Vec<u16>,
}

/// Parses a `$FILE_NAME` structure.
pub fn parse_file_name(b: &[u8]) -> Option<FileName> {
    let len = *b.get(64)? as usize;
    let name = b
        .get(66..66 + 2 * len)?
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Some(FileName {
        parent: u64_at(b, 0)? & 0xFFFF_FFFF_FFFF,
        times: [
            u64_at(b, 8)?,
            u64_at(b, 16)?,
            u64_at(b, 24)?,
            u64_at(b, 32)?,
        ],
        flags: u32_at(b, 56)?,
        namespace: *b.get(65)?,
        name,
    })
}

/// One name in a directory.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// Record number of the file.
    pub record: u64,
    /// The name and its times, as the index keeps them.
    pub file_name: FileName,
}

/// Parses the entries of one index node (`node` starts at the node header).
pub fn parse_node(node: &[u8], out: &mut Vec<IndexEntry>, what: &str) -> Result<(), String> {
    let first = u32_at(node, 0).ok_or_else(|| format!("{what}: truncated node header"))? as usize;
    let total = (u32_at(node, 4).ok_or_else(|| format!("{what}: truncated node header"))? as usize)
        .min(node.len());
    let mut at = first;
    while at + 16 <= total {
        let reference = u64_at(node, at).unwrap_or(0);
        let length = u16_at(node, at + 8).unwrap_or(0) as usize;
        let key_length = u16_at(node, at + 10).unwrap_or(0) as usize;
        let flags = u16_at(node, at + 12).unwrap_or(0);
        if flags & 2 != 0 {
            return Ok(());
        }
        if length < 16 || at + length > total {
            return Err(format!(
                "{what}: index entry at node offset {at:#x} has length {length}"
            ));
        }
        if out.len() >= MAX_ENTRIES {
            return Err(format!("{what}: more than {MAX_ENTRIES} entries"));
        }
        let key = node
            .get(at + 16..at + 16 + key_length)
            .filter(|_| 16 + key_length <= length)
            .ok_or_else(|| {
                format!("{what}: index key at node offset {at:#x} overflows its entry")
            })?;
        let file_name = parse_file_name(key).ok_or_else(|| {
            format!("{what}: index key at node offset {at:#x} is not a file name")
        })?;
        out.push(IndexEntry {
            record: reference & 0xFFFF_FFFF_FFFF,
            file_name,
        });
        at += length;
    }
    Ok(())
}

/// Parses the entries of one `INDX` block (fixups applied here).
pub fn parse_block(
    mut block: Vec<u8>,
    out: &mut Vec<IndexEntry>,
    what: &str,
) -> Result<(), String> {
    if block.get(0..4) != Some(b"INDX") {
        // A block the bitmap calls in use without the signature: damage, but
        // the other blocks still list their entries.
        return Err(format!("{what}: no INDX signature"));
    }
    apply_fixups(&mut block, what)?;
    parse_node(&block[24..], out, what)
}
