//! `parse = "plist"`: binary, XML and ASCII property lists to JSON.
//!
//! The conversion is the one Python's `plistlib` would give, written as
//! JSON: dictionaries become objects, arrays arrays, integers exact JSON
//! integers (signed or unsigned 64-bit), reals JSON numbers (non-finite ones,
//! which JSON cannot hold, the strings `NaN`, `Infinity`, `-Infinity`),
//! dates RFC 3339 strings in UTC (`2001-01-01T00:00:00Z`, with microseconds
//! when not whole), data base64 strings (standard alphabet, padded), and
//! keyed-archiver UIDs `{"CF$UID": n}`.
//!
//! The event stream of the `plist` crate is folded into JSON with an explicit
//! stack, so a hostile file cannot recurse us out of stack; nesting deeper
//! than [`MAX_DEPTH`] and files larger than [`MAX_PLIST_SIZE`] are refused.

use std::io::{Read, Seek, SeekFrom, Write};

use base64::Engine as _;
use sealbag_common::engine::{Facts, FileParser};
use sealbag_common::profile::Target;
use sealbag_common::source::{ReadSeek, SourcePath, Timestamp};
use serde_json::{Map, Value};

/// Largest plist parsed (bigger ones are still collected, just not parsed).
pub const MAX_PLIST_SIZE: u64 = 64 << 20;

/// Deepest nesting of arrays and dictionaries accepted.
pub const MAX_DEPTH: usize = 256;

/// Most values one plist may expand to. A binary plist may reference one
/// object many times, so a small file can describe an enormous tree.
pub const MAX_OBJECTS: u64 = 4_000_000;

/// Most bytes of strings and data one plist may expand to (see [`MAX_OBJECTS`]).
pub const MAX_EXPANDED_BYTES: u64 = 256 << 20;

/// Why a plist could not be turned into JSON.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlistError {
    /// Reading the file failed.
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    /// The file is larger than [`MAX_PLIST_SIZE`].
    #[error("{size} bytes: larger than the {} MiB plist parse cap", MAX_PLIST_SIZE >> 20)]
    TooLarge {
        /// The file's size.
        size: u64,
    },
    /// The `plist` crate refused the bytes (the message carries the offset).
    #[error("not a valid property list: {0}")]
    Malformed(#[source] plist::Error),
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// More than [`MAX_OBJECTS`] values or [`MAX_EXPANDED_BYTES`] of text and data.
    #[error("expands to more than {MAX_OBJECTS} values or {} MiB", MAX_EXPANDED_BYTES >> 20)]
    TooBig,
    /// The event stream ended inside a collection, or had stray events.
    #[error("property list structure is inconsistent: {0}")]
    Structure(&'static str),
}

/// Which encoding a plist used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlistFormat {
    /// `bplist00`.
    Binary,
    /// XML (or the old ASCII/OpenStep form, which the same reader takes).
    Text,
}

impl PlistFormat {
    /// `binary` or `text`, as recorded in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            PlistFormat::Binary => "binary",
            PlistFormat::Text => "text",
        }
    }
}

/// A parsed plist: its JSON form and a few facts.
#[derive(Debug, Clone)]
pub struct ParsedPlist {
    /// The value, converted as the module documentation says.
    pub value: Value,
    /// Binary or text.
    pub format: PlistFormat,
    /// Number of values (scalars and collections) in the file.
    pub objects: u64,
}

/// Reads a whole plist (at most [`MAX_PLIST_SIZE`] bytes) from `reader`.
pub fn read_plist<R: Read + Seek + ?Sized>(reader: &mut R) -> Result<ParsedPlist, PlistError> {
    let size = reader.seek(SeekFrom::End(0))?;
    if size > MAX_PLIST_SIZE {
        return Err(PlistError::TooLarge { size });
    }
    reader.seek(SeekFrom::Start(0))?;
    let mut bytes = Vec::with_capacity(size as usize);
    reader.take(MAX_PLIST_SIZE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_PLIST_SIZE {
        return Err(PlistError::TooLarge {
            size: bytes.len() as u64,
        });
    }
    parse_bytes(&bytes)
}

/// Parses a plist held in memory.
pub fn parse_bytes(bytes: &[u8]) -> Result<ParsedPlist, PlistError> {
    let format = if bytes.starts_with(b"bplist") {
        PlistFormat::Binary
    } else {
        PlistFormat::Text
    };
    let events = plist::stream::Reader::new(std::io::Cursor::new(bytes));
    let (value, objects) = fold(events)?;
    Ok(ParsedPlist {
        value,
        format,
        objects,
    })
}

/// A collection being filled.
enum Open {
    Array(Vec<Value>),
    /// The dictionary and, when a key was read, the value it waits for.
    Dict(Map<String, Value>, Option<String>),
}

/// Folds an event stream into one JSON value without recursion.
/// Returns the value and the number of events read.
fn fold<I>(events: I) -> Result<(Value, u64), PlistError>
where
    I: Iterator<Item = Result<plist::stream::OwnedEvent, plist::Error>>,
{
    use plist::stream::Event;
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Value> = None;
    let (mut objects, mut expanded) = (0u64, 0u64);
    for event in events {
        let event = event.map_err(PlistError::Malformed)?;
        objects += 1;
        expanded += match &event {
            Event::Data(d) => d.len() as u64,
            Event::String(s) => s.len() as u64,
            _ => 8,
        };
        if objects > MAX_OBJECTS || expanded > MAX_EXPANDED_BYTES {
            return Err(PlistError::TooBig);
        }
        if root.is_some() {
            return Err(PlistError::Structure("values after the root value"));
        }
        let scalar = match event {
            Event::StartArray(_) | Event::StartDictionary(_) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(PlistError::TooDeep);
                }
                // A dictionary key must be a string: a collection in key
                // position is caught by `place` below when it closes.
                stack.push(match event {
                    Event::StartArray(_) => Open::Array(Vec::new()),
                    _ => Open::Dict(Map::new(), None),
                });
                continue;
            }
            Event::EndCollection => match stack.pop() {
                Some(Open::Array(items)) => Value::Array(items),
                Some(Open::Dict(map, None)) => Value::Object(map),
                Some(Open::Dict(_, Some(_))) => {
                    return Err(PlistError::Structure("dictionary key without a value"))
                }
                None => return Err(PlistError::Structure("end of a collection never opened")),
            },
            Event::Boolean(b) => Value::Bool(b),
            Event::Data(data) => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(data))
            }
            Event::Date(date) => Value::String(format_date(date)),
            Event::Integer(i) => match (i.as_signed(), i.as_unsigned()) {
                (Some(s), _) => Value::from(s),
                (None, Some(u)) => Value::from(u),
                (None, None) => return Err(PlistError::Structure("integer out of range")),
            },
            Event::Real(r) => real(r),
            Event::String(s) => {
                // A string in key position of a dictionary is its key.
                if let Some(Open::Dict(_, key @ None)) = stack.last_mut() {
                    *key = Some(s.into_owned());
                    continue;
                }
                Value::String(s.into_owned())
            }
            Event::Uid(uid) => {
                let mut map = Map::new();
                map.insert("CF$UID".into(), Value::from(uid.get()));
                Value::Object(map)
            }
            _ => return Err(PlistError::Structure("unknown event")),
        };
        match stack.last_mut() {
            None => root = Some(scalar),
            Some(Open::Array(items)) => items.push(scalar),
            Some(Open::Dict(map, key)) => match key.take() {
                Some(key) => {
                    map.insert(key, scalar);
                }
                None => return Err(PlistError::Structure("dictionary key is not a string")),
            },
        }
    }
    if !stack.is_empty() {
        return Err(PlistError::Structure("file ends inside a collection"));
    }
    root.map(|value| (value, objects))
        .ok_or(PlistError::Structure("no value"))
}

fn real(r: f64) -> Value {
    match serde_json::Number::from_f64(r) {
        Some(n) => Value::Number(n),
        None if r.is_nan() => Value::String("NaN".into()),
        None if r > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

/// RFC 3339 in UTC, microsecond precision as `plistlib` has, no fraction when whole.
pub fn format_date(date: plist::Date) -> String {
    let t = Timestamp::from_system(date.into());
    let mut micros = (u64::from(t.nanos) + 500) / 1000;
    let mut secs = t.secs;
    if micros >= 1_000_000 {
        micros -= 1_000_000;
        secs = secs.saturating_add(1);
    }
    let whole = Timestamp::new(secs, 0).to_string();
    // `Timestamp` prints `YYYY-MM-DDTHH:MM:SS.000000000Z`.
    let base = whole.split('.').next().unwrap_or(&whole);
    if micros == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{micros:06}Z")
    }
}

/// The `plist` [`FileParser`]: one JSON document per file, `.json`.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlistParser;

impl FileParser for PlistParser {
    fn name(&self) -> &'static str {
        "plist"
    }

    fn suffix(&self) -> &'static str {
        ".json"
    }

    fn parse(
        &self,
        _target: &Target,
        path: &SourcePath,
        data: &mut dyn ReadSeek,
        out: &mut dyn Write,
    ) -> Result<Facts, String> {
        let parsed = read_plist(data).map_err(|e| format!("{path}: {e}"))?;
        serde_json::to_writer_pretty(&mut *out, &parsed.value)
            .map_err(|e| format!("{path}: cannot write JSON: {e}"))?;
        out.write_all(b"\n")
            .map_err(|e| format!("{path}: cannot write JSON: {e}"))?;
        let mut facts = Facts::new();
        facts.insert("plist_format".into(), parsed.format.name().into());
        facts.insert("plist_objects".into(), parsed.objects.into());
        Ok(facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_every_type() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>a</key><integer>-5</integer>
<key>big</key><integer>18446744073709551615</integer>
<key>d</key><date>2020-02-29T12:34:56Z</date>
<key>old</key><date>1900-01-01T00:00:00Z</date>
<key>b</key><data>AAEC</data>
<key>r</key><real>1.5</real>
<key>t</key><true/>
<key>n</key><array><string>x</string><dict/></array>
</dict></plist>"#;
        let parsed = parse_bytes(xml).expect("parses");
        assert_eq!(parsed.format, PlistFormat::Text);
        assert_eq!(
            parsed.value,
            serde_json::json!({
                "a": -5, "big": 18446744073709551615u64, "d": "2020-02-29T12:34:56Z",
                "old": "1900-01-01T00:00:00Z", "b": "AAEC", "r": 1.5, "t": true,
                "n": ["x", {}]
            })
        );
    }

    #[test]
    fn refuses_deep_nesting_without_recursing() {
        let mut xml = b"<plist version=\"1.0\">".to_vec();
        for _ in 0..100_000 {
            xml.extend_from_slice(b"<array>");
        }
        let err = parse_bytes(&xml).expect_err("too deep");
        assert!(matches!(err, PlistError::TooDeep), "{err}");
    }

    /// A binary plist of `levels` arrays, each holding the next one twice
    /// (or once, for a plain chain), ending in a one-letter string.
    fn bplist_dag(levels: usize, fan_out: usize) -> Vec<u8> {
        assert!(levels < 200 && fan_out < 15);
        let mut out = b"bplist00".to_vec();
        let mut offsets = Vec::new();
        for i in 0..levels {
            offsets.push(out.len());
            out.push(0xA0 | fan_out as u8);
            out.extend(std::iter::repeat_n((i + 1) as u8, fan_out));
        }
        offsets.push(out.len());
        out.extend_from_slice(&[0x51, b'x']);
        let table = out.len();
        for o in &offsets {
            out.extend_from_slice(&(*o as u16).to_be_bytes());
        }
        out.extend_from_slice(&[0; 6]);
        out.extend_from_slice(&[2, 1]);
        out.extend_from_slice(&(offsets.len() as u64).to_be_bytes());
        out.extend_from_slice(&0u64.to_be_bytes());
        out.extend_from_slice(&(table as u64).to_be_bytes());
        out
    }

    #[test]
    fn binary_dags_cannot_expand_without_bound() {
        let small = parse_bytes(&bplist_dag(3, 2)).expect("small DAG parses");
        assert_eq!(
            small.value,
            serde_json::json!([[["x", "x"], ["x", "x"]], [["x", "x"], ["x", "x"]]])
        );
        assert_eq!(small.format, PlistFormat::Binary);
        // 2^60 leaves from a 200-byte file: refused after MAX_OBJECTS events.
        let err = parse_bytes(&bplist_dag(60, 2)).expect_err("bomb refused");
        assert!(matches!(err, PlistError::TooBig), "{err}");
        // A legal chain 150 deep (under MAX_DEPTH) parses: 150 arrays + their ends + the leaf.
        let chain = parse_bytes(&bplist_dag(150, 1)).expect("deep chain parses");
        assert_eq!(chain.objects, 301);
    }

    #[test]
    fn damaged_bytes_never_panic() {
        let base = bplist_dag(5, 2);
        for cut in 0..base.len() {
            let _ = parse_bytes(&base[..cut]);
        }
        for at in 0..base.len() {
            for value in [0x00, 0x0f, 0x5f, 0xa5, 0xd3, 0xff] {
                let mut bytes = base.clone();
                bytes[at] = value;
                let _ = parse_bytes(&bytes);
            }
        }
    }

    #[test]
    fn refuses_garbage_and_truncation() {
        assert!(parse_bytes(b"bplist00\x01\x02").is_err());
        assert!(parse_bytes(b"<plist><dict><key>a</key>").is_err());
        assert!(parse_bytes(b"").is_err());
    }
}
