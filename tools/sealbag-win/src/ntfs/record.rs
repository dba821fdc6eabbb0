//! One MFT FILE record: update-sequence fixups, then its attributes.
//!
//! Parsed here rather than through `ntfs` 0.4 because the data readers need
//! what that crate keeps private (an extent's lowest VCN, the compression
//! unit, the raw data runs). Every offset and length is checked against the
//! record before use.

use super::runs::{decode_runs, Extent};

/// Attribute types the source uses.
pub mod ty {
    /// $STANDARD_INFORMATION
    pub const STANDARD_INFORMATION: u32 = 0x10;
    /// $ATTRIBUTE_LIST
    pub const ATTRIBUTE_LIST: u32 = 0x20;
    /// $FILE_NAME
    pub const FILE_NAME: u32 = 0x30;
    /// $DATA
    pub const DATA: u32 = 0x80;
    /// $INDEX_ROOT
    pub const INDEX_ROOT: u32 = 0x90;
    /// $INDEX_ALLOCATION
    pub const INDEX_ALLOCATION: u32 = 0xA0;
    /// $BITMAP
    pub const BITMAP: u32 = 0xB0;
    /// $REPARSE_POINT
    pub const REPARSE_POINT: u32 = 0xC0;
}

/// Most attributes taken from one record.
const MAX_ATTRIBUTES: usize = 1024;

/// A non-resident attribute's header and runs.
#[derive(Debug, Clone)]
pub struct NonResident {
    /// First VCN this extent maps.
    pub lowest_vcn: u64,
    /// Last VCN this extent maps.
    pub highest_vcn: u64,
    /// log2 of clusters per compression unit (0: not compressed).
    pub compression_unit: u8,
    /// Data size (valid in the first extent only).
    pub data_size: u64,
    /// Initialized size (valid in the first extent only).
    pub initialized_size: u64,
    /// The runs.
    pub runs: Vec<Extent>,
}

/// An attribute's value: in the record, or in clusters.
#[derive(Debug, Clone)]
pub enum Body {
    /// Resident bytes.
    Resident(Vec<u8>),
    /// Clusters elsewhere.
    NonResident(NonResident),
}

/// One attribute.
#[derive(Debug, Clone)]
pub struct Attribute {
    /// Type code.
    pub ty: u32,
    /// Name (UTF-16 units), empty for the unnamed one.
    pub name: Vec<u16>,
    /// Flags (0x0001 compressed, 0x4000 encrypted, 0x8000 sparse).
    pub flags: u16,
    /// The value.
    pub body: Body,
    /// Record it was found in.
    pub record: u64,
}

/// A parsed FILE record.
#[derive(Debug, Clone)]
pub struct Record {
    /// Sequence number.
    pub sequence: u16,
    /// Flags: 0x1 in use, 0x2 directory.
    pub flags: u16,
    /// Hard link count.
    pub links: u16,
    /// Base record number (0 for a base record, and for extensions of
    /// record 0 itself: see `is_extension`).
    pub base: u64,
    /// Whether this is an extension record: the base file reference is set
    /// (its sequence number makes it non-zero even when the base is `$MFT`).
    pub is_extension: bool,
    /// The attributes, in record order.
    pub attributes: Vec<Attribute>,
}

pub(crate) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Applies the update-sequence fixups of a multi-sector structure in place
/// (FILE records and INDX blocks: one 2-byte check value per 512 bytes).
pub fn apply_fixups(buf: &mut [u8], what: &str) -> Result<(), String> {
    let usa_offset = u16_at(buf, 4).ok_or("truncated header")? as usize;
    let usa_count = u16_at(buf, 6).ok_or("truncated header")? as usize;
    if usa_count == 0 || (usa_count - 1) * 512 > buf.len() || usa_offset + usa_count * 2 > buf.len()
    {
        return Err(format!(
            "{what}: update sequence array ({usa_count} entries at {usa_offset:#x}) does not fit"
        ));
    }
    let check = [buf[usa_offset], buf[usa_offset + 1]];
    for i in 1..usa_count {
        let end = i * 512 - 2;
        if buf[end..end + 2] != check {
            return Err(format!(
                "{what}: fixup mismatch at offset {end:#x} (torn write or not a record)"
            ));
        }
        buf[end] = buf[usa_offset + 2 * i];
        buf[end + 1] = buf[usa_offset + 2 * i + 1];
    }
    Ok(())
}

/// Parses the record `number` from its raw bytes (fixups applied here).
pub fn parse_record(mut buf: Vec<u8>, number: u64) -> Result<Record, String> {
    let what = format!("MFT record {number}");
    match buf.get(0..4) {
        Some(b"FILE") => {}
        Some(b"BAAD") => return Err(format!("{what}: marked BAAD by chkdsk")),
        _ => return Err(format!("{what}: no FILE signature")),
    }
    apply_fixups(&mut buf, &what)?;
    let bad = |field: &str| format!("{what}: bad {field}");
    let sequence = u16_at(&buf, 16).ok_or_else(|| bad("header"))?;
    let links = u16_at(&buf, 18).ok_or_else(|| bad("header"))?;
    let first = u16_at(&buf, 20).ok_or_else(|| bad("header"))? as usize;
    let flags = u16_at(&buf, 22).ok_or_else(|| bad("header"))?;
    let used = (u32_at(&buf, 24).ok_or_else(|| bad("header"))? as usize).min(buf.len());
    let base_reference = u64_at(&buf, 32).ok_or_else(|| bad("header"))?;
    let base = base_reference & 0xFFFF_FFFF_FFFF;
    let mut attributes = Vec::new();
    let mut offset = first;
    while offset + 8 <= used {
        let ty = u32_at(&buf, offset).ok_or_else(|| bad("attribute"))?;
        if ty == 0xFFFF_FFFF {
            break;
        }
        let length = u32_at(&buf, offset + 4).ok_or_else(|| bad("attribute"))? as usize;
        if length < 16 || offset + length > used || !length.is_multiple_of(8) {
            return Err(format!(
                "{what}: attribute at offset {offset:#x} has length {length} (record uses {used})"
            ));
        }
        if attributes.len() >= MAX_ATTRIBUTES {
            return Err(format!("{what}: more than {MAX_ATTRIBUTES} attributes"));
        }
        let a = &buf[offset..offset + length];
        let non_resident = a[8] != 0;
        let name_len = a[9] as usize;
        let name_off = u16_at(a, 10).unwrap_or(0) as usize;
        let attr_flags = u16_at(a, 12).unwrap_or(0);
        let name_bytes = a.get(name_off..name_off + 2 * name_len).ok_or_else(|| {
            format!("{what}: attribute at offset {offset:#x}: name outside the attribute")
        })?;
        let name: Vec<u16> = name_bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let body = if !non_resident {
            let value_len = u32_at(a, 16).ok_or_else(|| bad("resident header"))? as usize;
            let value_off = u16_at(a, 20).ok_or_else(|| bad("resident header"))? as usize;
            let value = a.get(value_off..value_off.saturating_add(value_len)).ok_or_else(|| {
                format!("{what}: attribute at offset {offset:#x}: resident value outside the attribute")
            })?;
            Body::Resident(value.to_vec())
        } else {
            let field = |at| u64_at(a, at).ok_or_else(|| bad("non-resident header"));
            let lowest_vcn = field(16)?;
            let highest_vcn = field(24)?;
            let runs_off = u16_at(a, 32).ok_or_else(|| bad("non-resident header"))? as usize;
            let compression_unit = u16_at(a, 34).unwrap_or(0).min(255) as u8;
            let runs_bytes = a.get(runs_off..).ok_or_else(|| {
                format!("{what}: attribute at offset {offset:#x}: runs outside the attribute")
            })?;
            let runs = decode_runs(runs_bytes, lowest_vcn)
                .map_err(|e| format!("{what}: attribute at offset {offset:#x}: {e}"))?;
            Body::NonResident(NonResident {
                lowest_vcn,
                highest_vcn,
                compression_unit,
                data_size: field(48)?,
                initialized_size: field(56)?,
                runs,
            })
        };
        attributes.push(Attribute {
            ty,
            name,
            flags: attr_flags,
            body,
            record: number,
        });
        offset += length;
    }
    Ok(Record {
        sequence,
        flags,
        links,
        base,
        is_extension: base_reference != 0,
        attributes,
    })
}
