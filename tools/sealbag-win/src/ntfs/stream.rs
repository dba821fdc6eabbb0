//! The bytes of one attribute (a $DATA stream, an index allocation): its
//! extents gathered from every record, checked for coverage, read lazily.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Mutex;

use super::lznt1;
use super::record::{Attribute, Body};
use super::runs::Extent;

/// Largest compression unit handled (clusters << unit), to cap the buffer.
const MAX_UNIT_BYTES: u64 = 4 << 20;

/// Where an attribute's bytes are.
#[derive(Debug, Clone)]
pub enum Layout {
    /// In the record.
    Resident(Vec<u8>),
    /// In clusters.
    Clusters {
        /// Extents ordered by VCN (holes between them are missing clusters).
        extents: Vec<Extent>,
        /// Bytes of data.
        data_size: u64,
        /// Bytes written (beyond: zeros).
        initialized_size: u64,
        /// Clusters per compression unit, if compressed.
        compression_unit: Option<u64>,
    },
}

/// An attribute's value, ready to read.
#[derive(Debug, Clone)]
pub struct StreamLayout {
    /// The layout.
    pub layout: Layout,
    /// Whether it is LZNT1-compressed.
    pub compressed: bool,
    /// Whether it is EFS-encrypted (raw bytes are ciphertext).
    pub encrypted: bool,
    /// Whether it is sparse.
    pub sparse: bool,
    /// Problems found while gathering it (missing extents): the reader
    /// fails where the bytes are missing, so the copy is marked partial.
    pub gaps: Vec<String>,
    /// Bytes at the start of the stream that are not served: the sparse
    /// head skipped by [`StreamLayout::skip_sparse_head`]. The reader's byte 0
    /// is byte `skip` of the stream.
    pub skip: u64,
}

impl StreamLayout {
    /// Bytes served: the size of the data less the skipped head.
    pub fn size(&self) -> u64 {
        self.stream_size().saturating_sub(self.skip)
    }

    /// Size of the whole stream, skipped head included.
    pub fn stream_size(&self) -> u64 {
        match &self.layout {
            Layout::Resident(bytes) => bytes.len() as u64,
            Layout::Clusters { data_size, .. } => *data_size,
        }
    }

    /// Skips the leading sparse runs of an uncompressed stream, so that only
    /// the allocated tail is served (`$UsnJrnl:$J`, whose head Windows
    /// deallocates as the journal wraps: gigabytes of zeros that were never
    /// written). Returns how many bytes are skipped (0 if the stream does not
    /// start with a hole). Only clusters no run maps to the disk are skipped,
    /// so the skipped bytes are zeros by definition and nothing is lost.
    pub fn skip_sparse_head(&mut self, cluster: u64) -> u64 {
        let Layout::Clusters {
            extents,
            data_size,
            compression_unit: None,
            ..
        } = &self.layout
        else {
            return 0;
        };
        let mut first = 0u64;
        for extent in extents {
            if extent.lcn.is_some() {
                break;
            }
            // Extents are contiguous from VCN 0 once gathered; a gap (a
            // missing extension record) stops the skip so the reader reports it.
            if extent.vcn != first {
                break;
            }
            first = extent.vcn.saturating_add(extent.clusters);
        }
        self.skip = first.saturating_mul(cluster).min(*data_size);
        self.skip
    }

    /// Gathers the extents of one attribute (all pieces share a type and
    /// name) from base and extension records, ordered by VCN.
    pub fn gather(pieces: &[&Attribute], cluster: u64, what: &str) -> Result<Self, String> {
        let Some(first) = pieces.first() else {
            return Err(format!("{what}: no such attribute"));
        };
        let flags = first.flags;
        let mut out = StreamLayout {
            layout: Layout::Resident(Vec::new()),
            compressed: flags & 0x0001 != 0,
            encrypted: flags & 0x4000 != 0,
            sparse: flags & 0x8000 != 0,
            gaps: Vec::new(),
            skip: 0,
        };
        if let Body::Resident(bytes) = &first.body {
            if pieces.len() > 1 {
                return Err(format!(
                    "{what}: resident attribute repeated {} times",
                    pieces.len()
                ));
            }
            out.compressed = false;
            out.layout = Layout::Resident(bytes.clone());
            return Ok(out);
        }
        let mut headers: Vec<_> = pieces
            .iter()
            .filter_map(|a| match &a.body {
                Body::NonResident(n) => Some((a.record, n)),
                Body::Resident(_) => None,
            })
            .collect();
        if headers.len() != pieces.len() {
            return Err(format!("{what}: resident and non-resident pieces mixed"));
        }
        headers.sort_by_key(|(_, n)| n.lowest_vcn);
        let (_, head) = headers[0];
        if head.lowest_vcn != 0 {
            return Err(format!(
                "{what}: the piece with VCN 0 is missing (first piece starts at VCN {})",
                head.lowest_vcn
            ));
        }
        let mut extents: Vec<Extent> = Vec::new();
        let mut next_vcn = 0u64;
        for (record, piece) in &headers {
            if piece.lowest_vcn != next_vcn {
                out.gaps.push(format!(
                    "VCNs {next_vcn}..{} missing before the piece in record {record}",
                    piece.lowest_vcn
                ));
            }
            let mapped: u64 = piece.runs.iter().map(|r| r.clusters).sum();
            let expected = piece
                .highest_vcn
                .checked_add(1)
                .and_then(|e| e.checked_sub(piece.lowest_vcn));
            if piece.runs.is_empty() || Some(mapped) != expected {
                // mkntfs and Windows agree on this; a mismatch means damage.
                if !(piece.runs.is_empty() && expected == Some(0)) {
                    out.gaps.push(format!(
                        "piece in record {record} maps {mapped} clusters for VCNs {}..={}",
                        piece.lowest_vcn, piece.highest_vcn
                    ));
                }
            }
            for run in &piece.runs {
                if run.vcn < next_vcn {
                    return Err(format!(
                        "{what}: pieces overlap at VCN {} (record {record})",
                        run.vcn
                    ));
                }
                next_vcn = run.vcn + run.clusters;
                extents.push(*run);
            }
        }
        let covered = next_vcn.saturating_mul(cluster);
        if covered < head.data_size {
            out.gaps.push(format!(
                "extents cover {covered} of {} bytes (an extension record is missing)",
                head.data_size
            ));
        }
        let compression_unit = if out.compressed {
            if head.compression_unit == 0 || head.compression_unit > 16 {
                return Err(format!(
                    "{what}: compressed, but compression unit 2^{} clusters",
                    head.compression_unit
                ));
            }
            let clusters = 1u64 << head.compression_unit;
            if clusters.saturating_mul(cluster) > MAX_UNIT_BYTES {
                return Err(format!(
                    "{what}: compression unit of {} bytes is larger than supported",
                    clusters.saturating_mul(cluster)
                ));
            }
            Some(clusters)
        } else {
            None
        };
        out.layout = Layout::Clusters {
            extents,
            data_size: head.data_size,
            initialized_size: head.initialized_size.min(head.data_size),
            compression_unit,
        };
        Ok(out)
    }
}

/// Reads raw clusters for `[offset, offset + buf.len())` of a stream: sparse
/// holes read as zeros; clusters no extent maps are an error. Returns how
/// many bytes were filled (stops at the end of an extent).
pub fn read_mapped<R: Read + Seek>(
    dev: &mut R,
    extents: &[Extent],
    cluster: u64,
    offset: u64,
    buf: &mut [u8],
) -> io::Result<usize> {
    let vcn = offset / cluster;
    let index = extents.partition_point(|e| e.vcn + e.clusters <= vcn);
    let extent = extents.get(index).filter(|e| e.vcn <= vcn).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no extent maps VCN {vcn} (byte {offset}): missing extension record"),
        )
    })?;
    let extent_end = (extent.vcn + extent.clusters).saturating_mul(cluster);
    let n = (buf.len() as u64).min(extent_end - offset) as usize;
    match extent.lcn {
        None => buf[..n].fill(0),
        Some(lcn) => {
            let at = lcn
                .saturating_mul(cluster)
                .saturating_add(offset - extent.vcn * cluster);
            dev.seek(SeekFrom::Start(at))?;
            dev.read_exact(&mut buf[..n]).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("reading {n} bytes at volume offset {at:#x}: {e}"),
                )
            })?;
        }
    }
    Ok(n)
}

/// A reader over one stream, locking the volume only for each read.
pub struct StreamReader<'a, R> {
    dev: &'a Mutex<R>,
    layout: StreamLayout,
    cluster: u64,
    position: u64,
    /// The last decompressed unit: (unit number, bytes).
    unit: Option<(u64, Vec<u8>)>,
}

impl<'a, R: Read + Seek> StreamReader<'a, R> {
    /// A reader over `layout` on the volume `dev`.
    pub fn new(dev: &'a Mutex<R>, layout: StreamLayout, cluster: u64) -> Self {
        StreamReader {
            dev,
            cluster,
            // Byte `skip` of the stream is the reader's byte 0.
            position: layout.skip,
            layout,
            unit: None,
        }
    }

    fn read_unit(&mut self, extents: &[Extent], unit_clusters: u64, unit: u64) -> io::Result<()> {
        let unit_bytes = (unit_clusters * self.cluster) as usize;
        let first_vcn = unit * unit_clusters;
        // Allocated clusters of the unit, in order, until the first hole.
        let mut raw = vec![0u8; unit_bytes];
        let mut filled = 0usize;
        let mut sparse_seen = false;
        {
            let mut dev = self
                .dev
                .lock()
                .map_err(|_| io::Error::other("volume lock poisoned"))?;
            while filled < unit_bytes {
                let vcn = first_vcn + (filled as u64) / self.cluster;
                let index = extents.partition_point(|e| e.vcn + e.clusters <= vcn);
                match extents.get(index).filter(|e| e.vcn <= vcn) {
                    Some(e) if e.lcn.is_none() => {
                        sparse_seen = true;
                        break;
                    }
                    Some(_) => {
                        let offset = first_vcn * self.cluster + filled as u64;
                        filled += read_mapped(
                            &mut *dev,
                            extents,
                            self.cluster,
                            offset,
                            &mut raw[filled..],
                        )?;
                    }
                    None => break,
                }
            }
        }
        let mut out = vec![0u8; unit_bytes];
        if filled == unit_bytes && !sparse_seen {
            // Every cluster allocated: the unit is stored uncompressed.
            out = raw;
        } else if filled > 0 {
            lznt1::decompress(&raw[..filled], &mut out).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("compression unit {unit} (VCN {first_vcn}): LZNT1: {e}"),
                )
            })?;
        }
        self.unit = Some((unit, out));
        Ok(())
    }
}

impl<R: Read + Seek> Read for StreamReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // `position` is in stream bytes (the skipped head included).
        let size = self.layout.stream_size();
        if self.position >= size || buf.is_empty() {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(size - self.position) as usize;
        let buf = &mut buf[..want];
        let n = match &self.layout.layout {
            Layout::Resident(bytes) => {
                let start = self.position as usize;
                buf.copy_from_slice(&bytes[start..start + want]);
                want
            }
            Layout::Clusters {
                extents,
                initialized_size,
                compression_unit,
                ..
            } => {
                if let Some(unit_clusters) = *compression_unit {
                    let unit_bytes = unit_clusters * self.cluster;
                    let unit = self.position / unit_bytes;
                    if self.unit.as_ref().map(|(u, _)| *u) != Some(unit) {
                        let extents = extents.clone();
                        self.read_unit(&extents, unit_clusters, unit)?;
                    }
                    let within = (self.position % unit_bytes) as usize;
                    let bytes = self.unit.as_ref().map(|(_, b)| b.as_slice()).unwrap_or(&[]);
                    let n = want.min(bytes.len().saturating_sub(within));
                    buf[..n].copy_from_slice(&bytes[within..within + n]);
                    n
                } else if self.position >= *initialized_size {
                    let n = (want as u64).min(size - self.position) as usize;
                    buf[..n].fill(0);
                    n
                } else {
                    let n = (want as u64).min(*initialized_size - self.position) as usize;
                    let mut dev = self
                        .dev
                        .lock()
                        .map_err(|_| io::Error::other("volume lock poisoned"))?;
                    read_mapped(
                        &mut *dev,
                        extents,
                        self.cluster,
                        self.position,
                        &mut buf[..n],
                    )?
                }
            }
        };
        self.position += n as u64;
        Ok(n)
    }
}

impl<R> Seek for StreamReader<'_, R> {
    /// Positions are relative to the first byte served (after the skipped head).
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let size = self.layout.size();
        let current = self.position.saturating_sub(self.layout.skip);
        let target = match pos {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => current.checked_add_signed(d),
            SeekFrom::End(d) => size.checked_add_signed(d),
        };
        let target = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.position = target.saturating_add(self.layout.skip);
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntfs::record::NonResident;
    use std::io::Cursor;

    /// A piece of a non-resident $DATA found in `record`.
    fn piece(record: u64, lowest: u64, highest: u64, runs: Vec<Extent>, size: u64) -> Attribute {
        Attribute {
            ty: 0x80,
            name: Vec::new(),
            flags: 0,
            record,
            body: Body::NonResident(NonResident {
                lowest_vcn: lowest,
                highest_vcn: highest,
                compression_unit: 0,
                data_size: if lowest == 0 { size } else { 0 },
                initialized_size: if lowest == 0 { size } else { 0 },
                runs,
            }),
        }
    }

    /// A 64-cluster volume of 512-byte clusters; cluster n is filled with byte n.
    fn volume() -> Mutex<Cursor<Vec<u8>>> {
        Mutex::new(Cursor::new((0..64u8).flat_map(|n| vec![n; 512]).collect()))
    }

    #[test]
    fn extents_split_over_extension_records_are_ordered_by_vcn() {
        let dev = volume();
        // VCN 0-1 at LCN 10 (base record 40), VCN 2-3 at LCN 20 (extension 41),
        // VCN 4 sparse (extension 42); handed over out of order.
        let ext2 = piece(
            42,
            4,
            4,
            vec![Extent {
                vcn: 4,
                clusters: 1,
                lcn: None,
            }],
            0,
        );
        let base = piece(
            40,
            0,
            1,
            vec![Extent {
                vcn: 0,
                clusters: 2,
                lcn: Some(10),
            }],
            2400,
        );
        let ext1 = piece(
            41,
            2,
            3,
            vec![Extent {
                vcn: 2,
                clusters: 2,
                lcn: Some(20),
            }],
            0,
        );
        let layout = StreamLayout::gather(&[&ext2, &base, &ext1], 512, "test").expect("gather");
        assert!(layout.gaps.is_empty(), "{:?}", layout.gaps);
        let mut out = Vec::new();
        StreamReader::new(&dev, layout, 512)
            .read_to_end(&mut out)
            .expect("read");
        let mut expected = vec![10u8; 512];
        expected.extend(vec![11u8; 512]);
        expected.extend(vec![20u8; 512]);
        expected.extend(vec![21u8; 512]);
        expected.extend(vec![0u8; 352]);
        assert_eq!(out, expected);
    }

    #[test]
    fn sparse_head_is_skipped_and_tail_read_exactly() {
        let dev = volume();
        // VCN 0-9 sparse, 10-11 at LCN 10, 12 sparse; 6300 bytes of data.
        let mut journal = piece(
            40,
            0,
            12,
            vec![
                Extent {
                    vcn: 0,
                    clusters: 10,
                    lcn: None,
                },
                Extent {
                    vcn: 10,
                    clusters: 2,
                    lcn: Some(10),
                },
                Extent {
                    vcn: 12,
                    clusters: 1,
                    lcn: None,
                },
            ],
            6300,
        );
        journal.flags = 0x8000;
        let mut layout = StreamLayout::gather(&[&journal], 512, "test").expect("gather");
        assert_eq!(layout.skip_sparse_head(512), 5120);
        assert_eq!((layout.size(), layout.stream_size()), (1180, 6300));
        let mut reader = StreamReader::new(&dev, layout.clone(), 512);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).expect("read");
        let mut expected = vec![10u8; 512];
        expected.extend(vec![11u8; 512]);
        expected.extend(vec![0u8; 156]);
        assert_eq!(out, expected);
        // Seeks are relative to the first byte served.
        assert_eq!(reader.seek(SeekFrom::Start(512)).expect("seek"), 512);
        let mut one = [0u8; 1];
        reader.read_exact(&mut one).expect("read");
        assert_eq!(one, [11]);
        assert_eq!(reader.seek(SeekFrom::End(0)).expect("seek"), 1180);
        assert!(reader.seek(SeekFrom::Current(-1181)).is_err());
        // A stream that starts allocated is served whole.
        let mut whole = StreamLayout::gather(
            &[&piece(
                40,
                0,
                1,
                vec![Extent {
                    vcn: 0,
                    clusters: 2,
                    lcn: Some(3),
                }],
                1024,
            )],
            512,
            "t",
        )
        .expect("gather");
        assert_eq!(whole.skip_sparse_head(512), 0);
        assert_eq!(whole.size(), 1024);
        // Entirely sparse: nothing is served, nothing is lost.
        let mut empty = StreamLayout::gather(
            &[&piece(
                40,
                0,
                3,
                vec![Extent {
                    vcn: 0,
                    clusters: 4,
                    lcn: None,
                }],
                2000,
            )],
            512,
            "t",
        )
        .expect("gather");
        assert_eq!(empty.skip_sparse_head(512), 2000);
        assert_eq!(empty.size(), 0);
    }

    #[test]
    fn missing_extension_record_is_never_a_short_whole_file() {
        let dev = volume();
        let base = piece(
            40,
            0,
            1,
            vec![Extent {
                vcn: 0,
                clusters: 2,
                lcn: Some(10),
            }],
            2048,
        );
        // The piece for VCN 2-3 (extension record 41) is missing.
        let layout = StreamLayout::gather(&[&base], 512, "test").expect("gather");
        assert_eq!(layout.size(), 2048);
        assert!(
            layout.gaps[0].contains("cover 1024 of 2048"),
            "{:?}",
            layout.gaps
        );
        let mut out = Vec::new();
        let err = StreamReader::new(&dev, layout, 512)
            .read_to_end(&mut out)
            .expect_err("must fail at the gap");
        assert!(err.to_string().contains("VCN 2"), "{err}");
        assert_eq!(out.len(), 1024, "what precedes the gap is still read");
        // A hole in the middle is a gap too.
        let tail = piece(
            41,
            3,
            3,
            vec![Extent {
                vcn: 3,
                clusters: 1,
                lcn: Some(30),
            }],
            0,
        );
        let layout = StreamLayout::gather(&[&base, &tail], 512, "test").expect("gather");
        assert!(
            layout.gaps[0].contains("VCNs 2..3 missing"),
            "{:?}",
            layout.gaps
        );
        // No VCN-0 piece at all: refused.
        assert!(StreamLayout::gather(&[&tail], 512, "test").is_err());
    }

    #[test]
    fn compressed_unit_is_decompressed_and_full_unit_is_raw() {
        // Unit of 4 clusters (compression_unit = 2). Unit 0: cluster 5 holds
        // an LZNT1 stream, then 3 sparse clusters. Unit 1: 4 allocated clusters (raw).
        let mut disk: Vec<u8> = (0..64u8).flat_map(|n| vec![n; 512]).collect();
        let token: u16 = (2 << 12) | 6;
        let mut data = vec![0b0000_1000, b'a', b'b', b'c'];
        data.extend_from_slice(&token.to_le_bytes());
        let header: u16 = 0xb000 | (data.len() as u16 - 1);
        let mut unit = header.to_le_bytes().to_vec();
        unit.extend_from_slice(&data);
        disk[5 * 512..5 * 512 + unit.len()].copy_from_slice(&unit);
        let dev = Mutex::new(Cursor::new(disk));
        let mut attr = piece(
            40,
            0,
            7,
            vec![
                Extent {
                    vcn: 0,
                    clusters: 1,
                    lcn: Some(5),
                },
                Extent {
                    vcn: 1,
                    clusters: 3,
                    lcn: None,
                },
                Extent {
                    vcn: 4,
                    clusters: 4,
                    lcn: Some(40),
                },
            ],
            4096,
        );
        attr.flags = 0x0001;
        if let Body::NonResident(n) = &mut attr.body {
            n.compression_unit = 2;
        }
        let layout = StreamLayout::gather(&[&attr], 512, "test").expect("gather");
        let mut out = Vec::new();
        StreamReader::new(&dev, layout, 512)
            .read_to_end(&mut out)
            .expect("read");
        assert_eq!(&out[..12], b"abcabcabcabc");
        assert!(out[12..2048].iter().all(|b| *b == 0));
        assert_eq!(&out[2048..2560], &[40u8; 512][..]);
        assert_eq!(&out[3584..], &[43u8; 512][..]);
    }
}
