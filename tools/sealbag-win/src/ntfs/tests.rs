//! A `$MFT` with its own attribute list, crafted from the ntfs-3g fixture
//! (ntfs-3g refuses to make one: it cannot move `$MFT`'s runs out of record 0).

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::Path;
use std::process::Command;

use sealbag_common::source::EntryKind;
use sealbag_common::{Source, SourcePath};
use sha2::{Digest, Sha256};

use super::record::{apply_fixups, parse_record, ty, Body};
use super::runs::Extent;
use super::NtfsSource;

fn fixture() -> Option<Vec<u8>> {
    let zst = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fixture1.raw.zst");
    match Command::new("zstd")
        .args(["-q", "-d", "-c"])
        .arg(&zst)
        .output()
    {
        Ok(out) if out.status.success() => Some(out.stdout),
        _ => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "zstd missing");
            eprintln!("SKIP: zstd not installed");
            None
        }
    }
}

/// Every file and stream of the volume: path → (record, SHA-256).
fn snapshot(source: &dyn Source) -> BTreeMap<Vec<u8>, (Option<u64>, String)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![SourcePath::root()];
    while let Some(dir) = stack.pop() {
        for entry in source.read_dir(&dir).expect("list") {
            let path = dir.join(&entry.name);
            let meta = source.metadata(&path).expect("metadata");
            match meta.kind {
                EntryKind::Directory => stack.push(path),
                EntryKind::File if path.as_bytes() != b"/$BadClus:$Bad" => {
                    let mut bytes = Vec::new();
                    let mut opened = source.open(&path, None).expect("open");
                    opened.reader.read_to_end(&mut bytes).expect("read");
                    assert_eq!(bytes.len() as u64, meta.size);
                    out.insert(
                        path.as_bytes().to_vec(),
                        (meta.inode, format!("{:x}", Sha256::digest(&bytes))),
                    );
                }
                _ => {}
            }
        }
    }
    out
}

/// Mapping pairs for `extents`, which start at the attribute's lowest VCN.
fn encode_runs(extents: &[Extent]) -> Vec<u8> {
    fn signed_bytes(v: i64) -> Vec<u8> {
        let mut n = 1;
        while n < 8 && !(-(1i64 << (8 * n - 1))..(1i64 << (8 * n - 1))).contains(&v) {
            n += 1;
        }
        v.to_le_bytes()[..n].to_vec()
    }
    let mut out = Vec::new();
    let mut previous = 0i64;
    for e in extents {
        let length = signed_bytes(e.clusters as i64);
        let offset = match e.lcn {
            Some(lcn) => {
                let delta = signed_bytes(lcn as i64 - previous);
                previous = lcn as i64;
                delta
            }
            None => Vec::new(),
        };
        out.push(((offset.len() as u8) << 4) | length.len() as u8);
        out.extend(length);
        out.extend(offset);
    }
    out.push(0);
    out
}

/// A non-resident unnamed $DATA piece for VCNs `lowest..=highest`.
fn data_piece(lowest: u64, highest: u64, extents: &[Extent], sizes: [u64; 3], id: u16) -> Vec<u8> {
    let runs = encode_runs(extents);
    let length = (64 + runs.len()).div_ceil(8) * 8;
    let mut a = vec![0u8; length];
    a[0..4].copy_from_slice(&ty::DATA.to_le_bytes());
    a[4..8].copy_from_slice(&(length as u32).to_le_bytes());
    a[8] = 1; // non-resident
    a[10..12].copy_from_slice(&64u16.to_le_bytes());
    a[14..16].copy_from_slice(&id.to_le_bytes());
    a[16..24].copy_from_slice(&lowest.to_le_bytes());
    a[24..32].copy_from_slice(&highest.to_le_bytes());
    a[32..34].copy_from_slice(&64u16.to_le_bytes());
    // allocated, data and initialized sizes: only the first piece has them.
    for (i, size) in sizes.iter().enumerate() {
        a[40 + 8 * i..48 + 8 * i].copy_from_slice(&size.to_le_bytes());
    }
    a[64..64 + runs.len()].copy_from_slice(&runs);
    a
}

/// A resident attribute.
fn resident(ty: u32, value: &[u8], id: u16) -> Vec<u8> {
    let length = (24 + value.len()).div_ceil(8) * 8;
    let mut a = vec![0u8; length];
    a[0..4].copy_from_slice(&ty.to_le_bytes());
    a[4..8].copy_from_slice(&(length as u32).to_le_bytes());
    a[10..12].copy_from_slice(&24u16.to_le_bytes());
    a[14..16].copy_from_slice(&id.to_le_bytes());
    a[16..20].copy_from_slice(&(value.len() as u32).to_le_bytes());
    a[20..22].copy_from_slice(&24u16.to_le_bytes());
    a[24..24 + value.len()].copy_from_slice(value);
    a
}

/// One attribute list entry (unnamed attribute).
fn list_entry(ty: u32, vcn: u64, record: u64, id: u16) -> Vec<u8> {
    let mut e = vec![0u8; 32];
    e[0..4].copy_from_slice(&ty.to_le_bytes());
    e[4..6].copy_from_slice(&32u16.to_le_bytes());
    e[7] = 26;
    e[8..16].copy_from_slice(&vcn.to_le_bytes());
    e[16..24].copy_from_slice(&(record | (1u64 << 48)).to_le_bytes());
    e[24..26].copy_from_slice(&id.to_le_bytes());
    e
}

/// A FILE record of `size` bytes holding `attributes`, fixups applied for disk.
fn file_record(size: usize, base: Option<u64>, flags: u16, attributes: &[Vec<u8>]) -> Vec<u8> {
    let mut r = vec![0u8; size];
    r[0..4].copy_from_slice(b"FILE");
    r[4..6].copy_from_slice(&0x30u16.to_le_bytes());
    let usa_count = size / 512 + 1;
    r[6..8].copy_from_slice(&(usa_count as u16).to_le_bytes());
    r[16..18].copy_from_slice(&1u16.to_le_bytes());
    r[18..20].copy_from_slice(&1u16.to_le_bytes());
    let first = (0x30 + 2 * usa_count).div_ceil(8) * 8;
    r[20..22].copy_from_slice(&(first as u16).to_le_bytes());
    r[22..24].copy_from_slice(&flags.to_le_bytes());
    r[28..32].copy_from_slice(&(size as u32).to_le_bytes());
    r[32..40].copy_from_slice(&base.map_or(0, |b| b | (1 << 48)).to_le_bytes());
    let mut at = first;
    for a in attributes {
        r[at..at + a.len()].copy_from_slice(a);
        at += a.len();
    }
    r[at..at + 4].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
    at += 8;
    assert!(at <= size - 2, "attributes do not fit");
    r[24..28].copy_from_slice(&(at as u32).to_le_bytes());
    // Update sequence: the check value at the end of each sector, the
    // original bytes in the array.
    let check = [0x07u8, 0x00];
    r[0x30..0x32].copy_from_slice(&check);
    for i in 1..usa_count {
        let end = i * 512 - 2;
        r[0x30 + 2 * i] = r[end];
        r[0x30 + 2 * i + 1] = r[end + 1];
        r[end..end + 2].copy_from_slice(&check);
    }
    r
}

#[test]
fn mft_with_its_own_attribute_list_is_read_whole() {
    let Some(clean) = fixture() else { return };
    let cluster = u64::from(u16::from_le_bytes([clean[11], clean[12]])) * u64::from(clean[13]);
    let mft_off = u64::from_le_bytes(clean[48..56].try_into().expect("8")) * cluster;
    let record_size = match clean[64] as i8 {
        n if n < 0 => 1usize << (-n),
        n => n as usize * cluster as usize,
    };
    let at = |n: u64| (mft_off as usize) + n as usize * record_size;

    // $MFT's record 0 as mkntfs wrote it: its raw attributes and $DATA runs.
    let mut zero = clean[at(0)..at(0) + record_size].to_vec();
    apply_fixups(&mut zero, "record 0").expect("fixups");
    let parsed = parse_record(clean[at(0)..at(0) + record_size].to_vec(), 0).expect("record 0");
    assert!(parsed.attributes.iter().all(|a| a.ty != ty::ATTRIBUTE_LIST));
    let data = parsed
        .attributes
        .iter()
        .find_map(|a| match &a.body {
            Body::NonResident(n) if a.ty == ty::DATA => Some(n.clone()),
            _ => None,
        })
        .expect("$MFT $DATA");
    let mut raw: Vec<Vec<u8>> = Vec::new();
    let mut offset = u16::from_le_bytes([zero[20], zero[21]]) as usize;
    while u32::from_le_bytes(zero[offset..offset + 4].try_into().expect("4")) != 0xFFFF_FFFF {
        let length =
            u32::from_le_bytes(zero[offset + 4..offset + 8].try_into().expect("4")) as usize;
        raw.push(zero[offset..offset + length].to_vec());
        offset += length;
    }
    let raw_ty = |a: &Vec<u8>| u32::from_le_bytes(a[0..4].try_into().expect("4"));

    // Split $DATA at the VCN of record 40: records 0..40 stay mapped by the
    // base record, the rest (the fixture's files are records 64 and up) only
    // by extension record 16, reached through the attribute list.
    let split = 40 * record_size as u64 / cluster;
    let extension = 16u64;
    assert!(
        data.runs[0].clusters > split,
        "first run of $MFT too short to craft"
    );
    let (mut head, mut tail) = (Vec::new(), Vec::new());
    for e in &data.runs {
        if e.vcn + e.clusters <= split {
            head.push(*e);
        } else if e.vcn >= split {
            tail.push(*e);
        } else {
            let first = split - e.vcn;
            head.push(Extent {
                clusters: first,
                ..*e
            });
            tail.push(Extent {
                vcn: split,
                clusters: e.clusters - first,
                lcn: e.lcn.map(|l| l + first),
            });
        }
    }
    let alloc = (data.highest_vcn + 1) * cluster;
    let sizes = [alloc, data.data_size, data.initialized_size];
    let head_attr = data_piece(0, split - 1, &head, sizes, 1);
    let tail_attr = data_piece(split, data.highest_vcn, &tail, [0; 3], 0);
    let mut list = Vec::new();
    let mut attrs = Vec::new();
    for a in &raw {
        let id = u16::from_le_bytes([a[14], a[15]]);
        if raw_ty(a) == ty::DATA {
            list.extend(list_entry(ty::DATA, 0, 0, 1));
            list.extend(list_entry(ty::DATA, split, extension, 0));
            attrs.push(head_attr.clone());
        } else {
            list.extend(list_entry(raw_ty(a), 0, 0, id));
            attrs.push(a.clone());
        }
    }
    attrs.push(resident(ty::ATTRIBUTE_LIST, &list, 9));
    attrs.sort_by_key(raw_ty);
    let mut crafted = clean.clone();
    crafted[at(0)..at(0) + record_size].copy_from_slice(&file_record(record_size, None, 1, &attrs));
    crafted[at(extension)..at(extension) + record_size].copy_from_slice(&file_record(
        record_size,
        Some(0),
        1,
        &[tail_attr],
    ));
    // The crafted record really has an attribute list, and its base $DATA
    // no longer maps the files' records.
    let check = parse_record(crafted[at(0)..at(0) + record_size].to_vec(), 0).expect("crafted");
    assert!(check.attributes.iter().any(|a| a.ty == ty::ATTRIBUTE_LIST));

    let before =
        snapshot(&NtfsSource::new(Cursor::new(clean.clone()), "t", "clean").expect("clean"));
    let source = NtfsSource::new(Cursor::new(crafted.clone()), "t", "crafted").expect("crafted");
    assert_eq!(source.mft_size, data.data_size);
    let after = snapshot(&source);
    assert!(
        before
            .values()
            .filter(|(r, _)| r.unwrap_or(0) >= 40)
            .count()
            >= 200,
        "the files must lie beyond the split"
    );
    // Every file and stream reads the same; $MFT itself reads as the crafted bytes.
    let mft_path = b"/$MFT".to_vec();
    let strip = |m: &BTreeMap<Vec<u8>, (Option<u64>, String)>| {
        let mut m = m.clone();
        m.remove(&mft_path);
        m
    };
    assert_eq!(strip(&before), strip(&after));
    let mut expected = Vec::new();
    for e in &data.runs {
        let lcn = e.lcn.expect("allocated") as usize * cluster as usize;
        expected.extend_from_slice(&crafted[lcn..lcn + (e.clusters * cluster) as usize]);
    }
    expected.truncate(data.data_size as usize);
    assert_eq!(
        after[&mft_path].1,
        format!("{:x}", Sha256::digest(&expected)),
        "$MFT differs from its clusters"
    );
}
