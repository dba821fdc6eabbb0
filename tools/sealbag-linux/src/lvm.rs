//! LVM2 physical volumes inside a partition: the label, the text metadata,
//! and linear logical volumes mapped back to byte ranges of the PV, so each
//! LV can be read as a volume of its own (on-premises RHEL puts `/` on LVM).
//!
//! Read from the on-disk format (LVM2's `lib/format_text`): sector 0–3 hold
//! the `LABELONE` label, whose PV header gives the PV UUID and its metadata
//! areas; a metadata area starts with an `mda_header` whose first raw
//! location points at the newest metadata text (a small key = value
//! language of sections, strings, numbers and lists). Only linear LVs
//! (`striped` segments with one stripe) on this one PV are mapped; anything
//! else (thin, RAID, mirrors, snapshots, several PVs, stripes) is refused
//! with the segment type named. Every size read is capped.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom};

/// Largest metadata text read (LVM's default metadata area is 1 MiB).
const MAX_METADATA: u64 = 4 << 20;
/// Deepest section nesting accepted.
const MAX_NESTING: usize = 16;
/// Most segments per LV.
const MAX_SEGMENTS: u64 = 4096;

/// Why a PV could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LvmError {
    /// Reading failed.
    #[error("LVM: reading at offset {offset}: {source}")]
    Io {
        /// Offset in the PV.
        offset: u64,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The label, header or metadata is damaged.
    #[error("LVM: {0}")]
    Corrupt(String),
}

fn le32(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 4).map_or(0, |s| {
        u64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    })
}

fn le64(b: &[u8], at: usize) -> u64 {
    le32(b, at) | (le32(b, at + 4) << 32)
}

/// A value of the metadata text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number.
    Int(i64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<Value>),
    /// A section.
    Section(BTreeMap<String, Value>),
}

impl Value {
    fn section(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Section(s) => Some(s),
            _ => None,
        }
    }
    fn int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }
    fn str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Parses LVM2 metadata text into its top-level section.
pub fn parse_metadata(text: &str) -> Result<BTreeMap<String, Value>, LvmError> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        at: 0,
    };
    parser.section_body(0, true)
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn skip(&mut self) {
        while let Some(&b) = self.bytes.get(self.at) {
            if b == b'#' {
                while self.bytes.get(self.at).is_some_and(|b| *b != b'\n') {
                    self.at += 1;
                }
            } else if b.is_ascii_whitespace() {
                self.at += 1;
            } else {
                break;
            }
        }
    }

    fn bad(&self, what: &str) -> LvmError {
        LvmError::Corrupt(format!("metadata text at byte {}: {what}", self.at))
    }

    fn section_body(
        &mut self,
        depth: usize,
        top: bool,
    ) -> Result<BTreeMap<String, Value>, LvmError> {
        if depth > MAX_NESTING {
            return Err(self.bad("sections nested too deep"));
        }
        let mut map = BTreeMap::new();
        loop {
            self.skip();
            match self.bytes.get(self.at) {
                None if top => return Ok(map),
                None => return Err(self.bad("unterminated section")),
                Some(b'}') if !top => {
                    self.at += 1;
                    return Ok(map);
                }
                _ => {}
            }
            let start = self.at;
            while self.bytes.get(self.at).is_some_and(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+')
            }) {
                self.at += 1;
            }
            if start == self.at {
                return Err(self.bad("expected a name"));
            }
            let name = String::from_utf8_lossy(&self.bytes[start..self.at]).into_owned();
            self.skip();
            match self.bytes.get(self.at) {
                Some(b'{') => {
                    self.at += 1;
                    let body = self.section_body(depth + 1, false)?;
                    map.insert(name, Value::Section(body));
                }
                Some(b'=') => {
                    self.at += 1;
                    self.skip();
                    let value = self.value(depth)?;
                    map.insert(name, value);
                }
                _ => return Err(self.bad("expected `{` or `=`")),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, LvmError> {
        if depth > MAX_NESTING {
            return Err(self.bad("lists nested too deep"));
        }
        match self.bytes.get(self.at) {
            Some(b'"') => {
                self.at += 1;
                let mut out = Vec::new();
                loop {
                    match self.bytes.get(self.at) {
                        None => return Err(self.bad("unterminated string")),
                        Some(b'"') => {
                            self.at += 1;
                            break;
                        }
                        Some(b'\\') => {
                            if let Some(&c) = self.bytes.get(self.at + 1) {
                                out.push(c);
                            }
                            self.at += 2;
                        }
                        Some(&c) => {
                            out.push(c);
                            self.at += 1;
                        }
                    }
                }
                Ok(Value::Str(String::from_utf8_lossy(&out).into_owned()))
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    self.skip();
                    match self.bytes.get(self.at) {
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Value::List(items));
                        }
                        Some(b',') => self.at += 1,
                        None => return Err(self.bad("unterminated list")),
                        _ => items.push(self.value(depth + 1)?),
                    }
                }
            }
            Some(c) if c.is_ascii_digit() || *c == b'-' => {
                let start = self.at;
                self.at += 1;
                while self
                    .bytes
                    .get(self.at)
                    .is_some_and(|b| b.is_ascii_digit() || *b == b'.')
                {
                    self.at += 1;
                }
                let text = String::from_utf8_lossy(&self.bytes[start..self.at]);
                text.parse::<i64>()
                    .map(Value::Int)
                    .or_else(|_| Ok(Value::Str(text.into_owned())))
            }
            _ => Err(self.bad("expected a value")),
        }
    }
}

/// One linear logical volume: where its bytes are inside the PV.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogicalVolume {
    /// `<vg>-<lv>`, the device-mapper name.
    pub name: String,
    /// Length in bytes.
    pub length: u64,
    /// `(offset in the LV, offset in the PV, length)`, in LV order.
    pub segments: Vec<(u64, u64, u64)>,
}

/// What a PV holds: its volume group's linear LVs, and the LVs refused.
#[derive(Debug, Clone, Default)]
pub struct PvLayout {
    /// The volume group.
    pub vg: String,
    /// LVs that can be read.
    pub volumes: Vec<LogicalVolume>,
    /// `(name, why not)` of LVs that cannot.
    pub refused: Vec<(String, String)>,
}

/// Reads the label and newest metadata of the PV in `pv` and maps its LVs.
pub fn read_pv<R: Read + Seek>(pv: &mut R) -> Result<PvLayout, LvmError> {
    let mut head = vec![0u8; 2048];
    read_at(pv, 0, &mut head)?;
    let label = (0..4)
        .map(|s| s * 512)
        .find(|&at| &head[at..at + 8] == b"LABELONE" && &head[at + 24..at + 32] == b"LVM2 001")
        .ok_or_else(|| LvmError::Corrupt("no LABELONE/LVM2 001 label in sectors 0-3".into()))?;
    let header = label + le32(&head, label + 20) as usize;
    if header + 32 + 8 > head.len() {
        return Err(LvmError::Corrupt(format!(
            "PV header offset {header} past the label sectors"
        )));
    }
    let pv_uuid = String::from_utf8_lossy(&head[header..header + 32]).into_owned();
    // Data areas, then metadata areas: (offset, size) lists ended by zeros.
    let mut at = header + 40;
    let mut lists = [Vec::new(), Vec::new()];
    for list in &mut lists {
        loop {
            if at + 16 > head.len() {
                return Err(LvmError::Corrupt(
                    "PV header area lists run past the label".into(),
                ));
            }
            let (offset, size) = (le64(&head, at), le64(&head, at + 8));
            at += 16;
            if offset == 0 {
                break;
            }
            list.push((offset, size));
        }
    }
    let [_, metadata_areas] = lists;
    let &(mda, _) = metadata_areas
        .first()
        .ok_or_else(|| LvmError::Corrupt("the PV has no metadata area".into()))?;
    let mut mda_header = vec![0u8; 512];
    read_at(pv, mda, &mut mda_header)?;
    if &mda_header[4..20] != b" LVM2 x[5A%r0N*>" {
        return Err(LvmError::Corrupt(format!(
            "metadata area at {mda}: no LVM2 magic"
        )));
    }
    let area_size = le64(&mda_header, 32);
    let (text_offset, text_size) = (le64(&mda_header, 40), le64(&mda_header, 48));
    if text_size == 0 || text_size > MAX_METADATA || text_offset > area_size {
        return Err(LvmError::Corrupt(format!(
            "metadata text of {text_size} bytes at {text_offset} in an area of {area_size}"
        )));
    }
    // The area is a ring after its 512-byte header: the text may wrap.
    let mut text = vec![0u8; text_size as usize];
    let first = text_size.min(area_size.saturating_sub(text_offset));
    read_at(pv, mda + text_offset, &mut text[..first as usize])?;
    if first < text_size {
        read_at(pv, mda + 512, &mut text[first as usize..])?;
    }
    let end = text.iter().position(|b| *b == 0).unwrap_or(text.len());
    let text = String::from_utf8_lossy(&text[..end]);
    let top = parse_metadata(&text)?;
    map_volumes(&top, &pv_uuid)
}

/// Maps the LVs of parsed metadata onto the PV whose UUID is `pv_uuid`
/// (32 characters, without dashes).
pub fn map_volumes(top: &BTreeMap<String, Value>, pv_uuid: &str) -> Result<PvLayout, LvmError> {
    let (vg_name, vg) = top
        .iter()
        .find_map(|(k, v)| v.section().map(|s| (k.clone(), s)))
        .ok_or_else(|| LvmError::Corrupt("metadata without a volume group section".into()))?;
    let extent_size = vg
        .get("extent_size")
        .and_then(Value::int)
        .filter(|n| *n > 0)
        .ok_or_else(|| LvmError::Corrupt(format!("volume group `{vg_name}` without extent_size")))?
        as u64
        * 512;
    let pvs = vg
        .get("physical_volumes")
        .and_then(Value::section)
        .ok_or_else(|| LvmError::Corrupt("no physical_volumes section".into()))?;
    // This PV's key (`pv0`) and its first extent.
    let mut this = None;
    for (key, pv) in pvs {
        let Some(pv) = pv.section() else { continue };
        let id: String = pv
            .get("id")
            .and_then(Value::str)
            .unwrap_or("")
            .chars()
            .filter(|c| *c != '-')
            .collect();
        if id == pv_uuid {
            let pe_start = pv.get("pe_start").and_then(Value::int).unwrap_or(0).max(0) as u64;
            this = Some((key.clone(), pe_start * 512));
        }
    }
    let (pv_key, pe_start) = this.ok_or_else(|| {
        LvmError::Corrupt(format!(
            "the metadata of `{vg_name}` does not list this PV ({pv_uuid})"
        ))
    })?;
    let mut layout = PvLayout {
        vg: vg_name.clone(),
        ..Default::default()
    };
    let Some(lvs) = vg.get("logical_volumes").and_then(Value::section) else {
        return Ok(layout);
    };
    for (lv_name, lv) in lvs {
        let name = format!("{vg_name}-{lv_name}");
        let Some(lv) = lv.section() else { continue };
        match map_lv(lv, &pv_key, pe_start, extent_size) {
            Ok((length, segments)) => layout.volumes.push(LogicalVolume {
                name,
                length,
                segments,
            }),
            Err(why) => layout.refused.push((name, why)),
        }
    }
    Ok(layout)
}

type Segments = Vec<(u64, u64, u64)>;

fn map_lv(
    lv: &BTreeMap<String, Value>,
    pv_key: &str,
    pe_start: u64,
    extent_size: u64,
) -> Result<(u64, Segments), String> {
    let count = lv.get("segment_count").and_then(Value::int).unwrap_or(0);
    if count <= 0 || count as u64 > MAX_SEGMENTS {
        return Err(format!("segment_count {count}"));
    }
    let mut segments = Vec::new();
    let mut length = 0u64;
    for i in 1..=count {
        let seg = lv
            .get(&format!("segment{i}"))
            .and_then(Value::section)
            .ok_or_else(|| format!("segment{i} missing"))?;
        let kind = seg.get("type").and_then(Value::str).unwrap_or("?");
        let stripes = seg.get("stripe_count").and_then(Value::int).unwrap_or(0);
        if kind != "striped" || stripes != 1 {
            return Err(format!(
                "segment{i} is of type `{kind}` with {stripes} stripes; only linear volumes are read"
            ));
        }
        let start = seg.get("start_extent").and_then(Value::int).unwrap_or(-1);
        let extents = seg.get("extent_count").and_then(Value::int).unwrap_or(-1);
        let Some(Value::List(list)) = seg.get("stripes") else {
            return Err(format!("segment{i} without stripes"));
        };
        let (Some(pv), Some(pv_extent)) = (
            list.first().and_then(Value::str),
            list.get(1).and_then(Value::int),
        ) else {
            return Err(format!("segment{i}: stripes list unreadable"));
        };
        if pv != pv_key {
            return Err(format!(
                "segment{i} lies on another PV (`{pv}`); volumes spanning PVs are not read"
            ));
        }
        if start < 0 || extents <= 0 || pv_extent < 0 {
            return Err(format!("segment{i}: negative extents"));
        }
        let lv_offset = (start as u64).checked_mul(extent_size);
        let pv_offset = (pv_extent as u64)
            .checked_mul(extent_size)
            .and_then(|o| o.checked_add(pe_start));
        let len = (extents as u64).checked_mul(extent_size);
        let (Some(lv_offset), Some(pv_offset), Some(len)) = (lv_offset, pv_offset, len) else {
            return Err(format!("segment{i}: offsets overflow"));
        };
        if lv_offset != length {
            return Err(format!("segment{i} does not follow the previous one"));
        }
        length = length.checked_add(len).ok_or("length overflows")?;
        segments.push((lv_offset, pv_offset, len));
    }
    Ok((length, segments))
}

fn read_at<R: Read + Seek>(r: &mut R, offset: u64, buf: &mut [u8]) -> Result<(), LvmError> {
    let io = |source| LvmError::Io { offset, source };
    r.seek(SeekFrom::Start(offset)).map_err(io)?;
    r.read_exact(buf).map_err(io)
}

/// An LV seen as a device: reads map through its segments onto the PV.
#[derive(Debug)]
pub struct LvReader<R> {
    pv: R,
    volume: LogicalVolume,
    position: u64,
}

impl<R> LvReader<R> {
    /// The LV `volume` of the PV read by `pv`.
    pub fn new(pv: R, volume: LogicalVolume) -> Self {
        LvReader {
            pv,
            volume,
            position: 0,
        }
    }
}

impl<R: Read + Seek> Read for LvReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let pos = self.position;
        let Some(&(lv_offset, pv_offset, len)) = self
            .volume
            .segments
            .iter()
            .find(|(o, _, l)| pos >= *o && pos < o + l)
        else {
            return Ok(0);
        };
        let within = pos - lv_offset;
        let n = (buf.len() as u64).min(len - within) as usize;
        self.pv.seek(SeekFrom::Start(pv_offset + within))?;
        let n = self.pv.read(&mut buf[..n])?;
        self.position += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for LvReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
            SeekFrom::End(d) => self.volume.length.checked_add_signed(d),
        };
        self.position = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the LV",
            )
        })?;
        Ok(self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# Generated by LVM2
vg0 {
id = "abc"
seqno = 3
extent_size = 8192	# 4 Megabytes
physical_volumes {
pv0 {
id = "AAAAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGGGG"
device = "/dev/loop0"
pe_start = 2048
pe_count = 10
}
}
logical_volumes {
root {
segment_count = 2
segment1 {
start_extent = 0
extent_count = 2
type = "striped"
stripe_count = 1
stripes = [
"pv0", 5
]
}
segment2 {
start_extent = 2
extent_count = 1
type = "striped"
stripe_count = 1
stripes = ["pv0", 0]
}
}
pool {
segment_count = 1
segment1 { start_extent = 0 extent_count = 1 type = "thin-pool" }
}
}
}
contents = "Text Format Volume Group"
"#;

    #[test]
    fn maps_linear_volumes_and_refuses_others() {
        let top = parse_metadata(TEXT).expect("parse");
        let layout = map_volumes(&top, "AAAAAABBBBCCCCDDDDEEEEFFFFGGGGGG").expect("map");
        assert_eq!(layout.vg, "vg0");
        let mib4 = 4 << 20;
        assert_eq!(
            layout.volumes,
            vec![LogicalVolume {
                name: "vg0-root".into(),
                length: 3 * mib4,
                segments: vec![
                    (0, (1 << 20) + 5 * mib4, 2 * mib4),
                    (2 * mib4, 1 << 20, mib4)
                ],
            }]
        );
        assert_eq!(layout.refused.len(), 1);
        assert!(
            layout.refused[0].1.contains("thin-pool"),
            "{:?}",
            layout.refused
        );
        // The reader follows the segments.
        let mut pv = vec![0u8; (1 << 20) + 10 * mib4 as usize];
        pv[(1 << 20) + 5 * mib4 as usize] = 7;
        pv[1 << 20] = 9;
        let mut lv = LvReader::new(std::io::Cursor::new(pv), layout.volumes[0].clone());
        let mut b = [0u8; 1];
        lv.read_exact(&mut b).expect("read");
        assert_eq!(b, [7]);
        lv.seek(SeekFrom::Start(2 * mib4)).expect("seek");
        lv.read_exact(&mut b).expect("read");
        assert_eq!(b, [9]);
    }

    #[test]
    fn hostile_text_is_an_error() {
        for text in [
            "a {",
            "a = [",
            "a = \"",
            "{",
            "a = [[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]",
        ] {
            assert!(parse_metadata(text).is_err(), "{text}");
        }
        let deep = "a {".repeat(100);
        assert!(parse_metadata(&deep).is_err());
    }
}
