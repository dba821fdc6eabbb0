//! Partition tables of whole-disk images: MBR (with extended partitions) and GPT.
//!
//! Portable and generic over `Read + Seek`: a collector hands it an image
//! file or a disk handle and gets back where each partition starts and ends,
//! then reads one through a [`Window`]. Everything read is untrusted: entry
//! counts and sizes are capped, EBR chains are checked for loops, and every
//! error names the sector it came from.

use std::io::{self, Read, Seek, SeekFrom};

/// Most logical partitions followed in an extended partition chain.
const MAX_LOGICAL: usize = 128;
/// Most GPT entries read.
const MAX_GPT_ENTRIES: u32 = 1024;

/// Which table a partition came from, with its type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartitionType {
    /// An MBR entry's type byte (0x07 NTFS/exFAT, 0x83 Linux…).
    Mbr(u8),
    /// A GPT entry's type GUID, in its usual text form.
    Gpt(String),
}

/// One partition of a disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// 1-based number in table order (MBR: primaries 1-4, logicals from 5).
    pub number: u32,
    /// Offset of the first byte, from the start of the disk.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// The type.
    pub kind: PartitionType,
    /// The GPT name, if any.
    pub name: Option<String>,
}

/// Why a partition table could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PartitionError {
    /// Reading failed.
    #[error("reading sector {sector}: {source}")]
    Io {
        /// The sector read.
        sector: u64,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The table is damaged or hostile.
    #[error("sector {sector}: {detail}")]
    Corrupt {
        /// Where.
        sector: u64,
        /// What is wrong.
        detail: String,
    },
}

/// GPT partition type GUID of Microsoft basic data (NTFS, FAT, exFAT).
pub const GPT_MICROSOFT_BASIC_DATA: &str = "ebd0a0a2-b9e5-4433-87c0-68b6b9e94aee";

fn read_sector<R: Read + Seek>(
    disk: &mut R,
    sector: u64,
    sector_size: u64,
    buf: &mut [u8],
) -> Result<(), PartitionError> {
    let io = |source| PartitionError::Io { sector, source };
    let offset = sector.checked_mul(sector_size).ok_or_else(|| {
        io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "offset overflow",
        ))
    })?;
    disk.seek(SeekFrom::Start(offset)).map_err(io)?;
    disk.read_exact(buf).map_err(io)
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from(le32(b, at)) | (u64::from(le32(b, at + 4)) << 32)
}

fn is_extended(kind: u8) -> bool {
    matches!(kind, 0x05 | 0x0f | 0x85)
}

fn guid_text(b: &[u8]) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        le32(b, 0),
        u16::from_le_bytes([b[4], b[5]]),
        u16::from_le_bytes([b[6], b[7]]),
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

/// Reads the partition table of `disk` (512-byte sectors).
///
/// `Ok(None)`: sector 0 has no MBR signature (a bare volume, not a disk).
/// A protective MBR (type 0xEE) leads to the GPT.
pub fn read_partitions<R: Read + Seek>(
    disk: &mut R,
) -> Result<Option<Vec<Partition>>, PartitionError> {
    const SECTOR: u64 = 512;
    let mut mbr = [0u8; 512];
    read_sector(disk, 0, SECTOR, &mut mbr)?;
    if mbr[510..512] != [0x55, 0xaa] {
        return Ok(None);
    }
    // A volume boot sector also ends in 55 AA: an NTFS/FAT VBR is not a table.
    if &mbr[3..11] == b"NTFS    "
        || &mbr[3..11] == b"EXFAT   "
        || &mbr[54..59] == b"FAT12"
        || &mbr[54..59] == b"FAT16"
        || &mbr[82..87] == b"FAT32"
    {
        return Ok(None);
    }
    let entries: Vec<&[u8]> = (0..4).map(|i| &mbr[446 + 16 * i..462 + 16 * i]).collect();
    if entries.iter().any(|e| e[0] != 0 && e[0] != 0x80) {
        return Err(PartitionError::Corrupt {
            sector: 0,
            detail: "MBR entry with a boot flag other than 0x00/0x80".into(),
        });
    }
    if entries.iter().any(|e| e[4] == 0xee) {
        return read_gpt(disk, SECTOR).map(Some);
    }
    let mut partitions = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let kind = entry[4];
        let start = u64::from(le32(entry, 8));
        let count = u64::from(le32(entry, 12));
        if kind == 0 || count == 0 {
            continue;
        }
        if is_extended(kind) {
            read_extended(disk, start, &mut partitions)?;
            continue;
        }
        partitions.push(Partition {
            number: i as u32 + 1,
            offset: start * SECTOR,
            length: count * SECTOR,
            kind: PartitionType::Mbr(kind),
            name: None,
        });
    }
    partitions.sort_by_key(|p| p.number);
    Ok(Some(partitions))
}

fn read_extended<R: Read + Seek>(
    disk: &mut R,
    extended_start: u64,
    partitions: &mut Vec<Partition>,
) -> Result<(), PartitionError> {
    let mut ebr_sector = extended_start;
    let mut seen = std::collections::HashSet::new();
    let mut number = 5;
    loop {
        if !seen.insert(ebr_sector) || seen.len() > MAX_LOGICAL {
            return Err(PartitionError::Corrupt {
                sector: ebr_sector,
                detail: format!("extended partition chain loops or exceeds {MAX_LOGICAL} entries"),
            });
        }
        let mut ebr = [0u8; 512];
        read_sector(disk, ebr_sector, 512, &mut ebr)?;
        if ebr[510..512] != [0x55, 0xaa] {
            return Err(PartitionError::Corrupt {
                sector: ebr_sector,
                detail: "extended boot record without its 55 AA signature".into(),
            });
        }
        let first = &ebr[446..462];
        let next = &ebr[462..478];
        if first[4] != 0 && le32(first, 12) != 0 {
            partitions.push(Partition {
                number,
                offset: (ebr_sector + u64::from(le32(first, 8))) * 512,
                length: u64::from(le32(first, 12)) * 512,
                kind: PartitionType::Mbr(first[4]),
                name: None,
            });
            number += 1;
        }
        if next[4] == 0 || !is_extended(next[4]) {
            return Ok(());
        }
        // The next EBR is relative to the start of the whole extended partition.
        ebr_sector = extended_start + u64::from(le32(next, 8));
    }
}

fn read_gpt<R: Read + Seek>(disk: &mut R, sector: u64) -> Result<Vec<Partition>, PartitionError> {
    let mut header = [0u8; 512];
    read_sector(disk, 1, sector, &mut header)?;
    if &header[0..8] != b"EFI PART" {
        return Err(PartitionError::Corrupt {
            sector: 1,
            detail: "protective MBR but no `EFI PART` GPT header".into(),
        });
    }
    let entries_lba = le64(&header, 72);
    let count = le32(&header, 80);
    let entry_size = le32(&header, 84);
    if count > MAX_GPT_ENTRIES
        || !(128..=4096).contains(&entry_size)
        || !entry_size.is_multiple_of(8)
    {
        return Err(PartitionError::Corrupt {
            sector: 1,
            detail: format!("GPT header claims {count} entries of {entry_size} bytes"),
        });
    }
    let mut table = vec![0u8; count as usize * entry_size as usize];
    read_sector(disk, entries_lba, sector, &mut table)?;
    let mut partitions = Vec::new();
    for (i, entry) in table.chunks_exact(entry_size as usize).enumerate() {
        if entry[0..16].iter().all(|b| *b == 0) {
            continue;
        }
        let first = le64(entry, 32);
        let last = le64(entry, 40);
        if last < first {
            return Err(PartitionError::Corrupt {
                sector: entries_lba,
                detail: format!(
                    "GPT entry {} ends (LBA {last}) before it starts (LBA {first})",
                    i + 1
                ),
            });
        }
        let units: Vec<u16> = entry[56..128]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|u| *u != 0)
            .collect();
        partitions.push(Partition {
            number: i as u32 + 1,
            offset: first.saturating_mul(sector),
            length: (last - first + 1).saturating_mul(sector),
            kind: PartitionType::Gpt(guid_text(&entry[0..16])),
            name: Some(String::from_utf16_lossy(&units)).filter(|n| !n.is_empty()),
        });
    }
    Ok(partitions)
}

/// A window `[offset, offset + length)` of a reader, seen as a whole device:
/// one partition of a disk image.
#[derive(Debug)]
pub struct Window<R> {
    inner: R,
    offset: u64,
    length: u64,
    position: u64,
}

impl<R> Window<R> {
    /// The bytes of `inner` from `offset`, `length` long.
    pub fn new(inner: R, offset: u64, length: u64) -> Self {
        Window {
            inner,
            offset,
            length,
            position: 0,
        }
    }
}

impl<R: Read + Seek> Read for Window<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.length {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(self.length - self.position) as usize;
        self.inner
            .seek(SeekFrom::Start(self.offset.saturating_add(self.position)))?;
        let n = self.inner.read(&mut buf[..n])?;
        self.position += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for Window<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
            SeekFrom::End(d) => self.length.checked_add_signed(d),
        };
        self.position = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the partition",
            )
        })?;
        Ok(self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn mbr_entry(disk: &mut [u8], at: usize, kind: u8, start: u32, count: u32) {
        disk[at + 4] = kind;
        disk[at + 8..at + 12].copy_from_slice(&start.to_le_bytes());
        disk[at + 12..at + 16].copy_from_slice(&count.to_le_bytes());
    }

    #[test]
    fn mbr_with_extended_chain() {
        let mut disk = vec![0u8; 512 * 64];
        disk[510] = 0x55;
        disk[511] = 0xaa;
        mbr_entry(&mut disk, 446, 0x07, 2, 10);
        mbr_entry(&mut disk, 462, 0x0f, 20, 40);
        // EBR at 20: logical at 20+1, next EBR at 20+10.
        let ebr = 20 * 512;
        disk[ebr + 510] = 0x55;
        disk[ebr + 511] = 0xaa;
        mbr_entry(&mut disk, ebr + 446, 0x07, 1, 5);
        mbr_entry(&mut disk, ebr + 462, 0x05, 10, 20);
        let ebr2 = 30 * 512;
        disk[ebr2 + 510] = 0x55;
        disk[ebr2 + 511] = 0xaa;
        mbr_entry(&mut disk, ebr2 + 446, 0x83, 2, 3);
        let parts = read_partitions(&mut Cursor::new(disk.clone()))
            .expect("read")
            .expect("a table");
        let got: Vec<(u32, u64, u64)> = parts
            .iter()
            .map(|p| (p.number, p.offset, p.length))
            .collect();
        assert_eq!(
            got,
            vec![(1, 1024, 5120), (5, 21 * 512, 2560), (6, 32 * 512, 1536)]
        );
        assert_eq!(parts[2].kind, PartitionType::Mbr(0x83));

        // An EBR pointing back at itself is a loop, reported with its sector.
        mbr_entry(&mut disk, ebr2 + 462, 0x05, 0, 20);
        let err = read_partitions(&mut Cursor::new(disk)).expect_err("loop");
        assert!(err.to_string().contains("sector 20"), "{err}");
    }

    #[test]
    fn gpt_and_bare_volume() {
        let mut disk = vec![0u8; 512 * 40];
        disk[510] = 0x55;
        disk[511] = 0xaa;
        mbr_entry(&mut disk, 446, 0xee, 1, 39);
        disk[512..520].copy_from_slice(b"EFI PART");
        disk[512 + 72..512 + 80].copy_from_slice(&2u64.to_le_bytes());
        disk[512 + 80..512 + 84].copy_from_slice(&4u32.to_le_bytes());
        disk[512 + 84..512 + 88].copy_from_slice(&128u32.to_le_bytes());
        let e = 1024 + 128; // second entry
        let guid = [
            0xa2, 0xa0, 0xd0, 0xeb, 0xe5, 0xb9, 0x33, 0x44, 0x87, 0xc0, 0x68, 0xb6, 0xb9, 0xe9,
            0x4a, 0xee,
        ];
        disk[e..e + 16].copy_from_slice(&guid);
        disk[e + 32..e + 40].copy_from_slice(&34u64.to_le_bytes());
        disk[e + 40..e + 48].copy_from_slice(&39u64.to_le_bytes());
        for (i, c) in "Basic data".encode_utf16().enumerate() {
            disk[e + 56 + 2 * i..e + 58 + 2 * i].copy_from_slice(&c.to_le_bytes());
        }
        let parts = read_partitions(&mut Cursor::new(disk))
            .expect("read")
            .expect("table");
        assert_eq!(parts.len(), 1);
        assert_eq!(
            (parts[0].number, parts[0].offset, parts[0].length),
            (2, 34 * 512, 6 * 512)
        );
        assert_eq!(
            parts[0].kind,
            PartitionType::Gpt(GPT_MICROSOFT_BASIC_DATA.into())
        );
        assert_eq!(parts[0].name.as_deref(), Some("Basic data"));

        let mut vbr = vec![0u8; 1024];
        vbr[3..11].copy_from_slice(b"NTFS    ");
        vbr[510] = 0x55;
        vbr[511] = 0xaa;
        assert_eq!(read_partitions(&mut Cursor::new(vbr)).expect("read"), None);
    }

    #[test]
    fn window_reads_only_its_range() {
        let data: Vec<u8> = (0..100u8).collect();
        let mut w = Window::new(Cursor::new(data), 10, 20);
        let mut all = Vec::new();
        w.read_to_end(&mut all).expect("read");
        assert_eq!(all, (10..30u8).collect::<Vec<_>>());
        w.seek(SeekFrom::End(-2)).expect("seek");
        let mut two = [0u8; 5];
        assert_eq!(w.read(&mut two).expect("read"), 2);
        assert_eq!(&two[..2], &[28, 29]);
    }
}
