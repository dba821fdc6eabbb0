//! [`SectorReader`]: makes any `Read + Seek` obey sector-aligned reads.
//!
//! A raw Windows volume handle (`\\.\C:`) refuses reads whose offset or
//! length is not a multiple of the sector size; parsers ask for 8 bytes at
//! odd offsets. This wrapper only ever reads whole, aligned pages from the
//! inner reader and serves any request from a small cache of them.

use std::io::{self, Read, Seek, SeekFrom};

/// How many pages are kept.
const CACHE_PAGES: usize = 16;

/// A reader that reads `inner` only in aligned pages of `page_size` bytes.
#[derive(Debug)]
pub struct SectorReader<R> {
    inner: R,
    page_size: u64,
    sector_size: usize,
    position: u64,
    len: Option<u64>,
    /// `(page number, bytes, last use)`; a short page is the end of the device.
    cache: Vec<(u64, Vec<u8>, u64)>,
    clock: u64,
}

impl<R: Read + Seek> SectorReader<R> {
    /// Wraps `inner`, whose sectors are `sector_size` bytes (a power of two,
    /// 512 to 64 KiB); reads go in pages of at least 64 KiB.
    pub fn new(inner: R, sector_size: u32) -> io::Result<Self> {
        if !sector_size.is_power_of_two() || !(512..=65536).contains(&sector_size) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("sector size {sector_size} is not a power of two from 512 to 65536"),
            ));
        }
        Ok(SectorReader {
            inner,
            page_size: u64::from(sector_size).max(64 * 1024),
            sector_size: sector_size as usize,
            position: 0,
            len: None,
            cache: Vec::new(),
            clock: 0,
        })
    }

    /// Tells the reader the device length, for `SeekFrom::End` on handles
    /// that cannot seek to their end (volume handles).
    pub fn with_len(mut self, len: u64) -> Self {
        self.len = Some(len);
        self
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn page(&mut self, number: u64) -> io::Result<&[u8]> {
        self.clock += 1;
        let clock = self.clock;
        if let Some(i) = self.cache.iter().position(|(n, _, _)| *n == number) {
            self.cache[i].2 = clock;
            return Ok(&self.cache[i].1);
        }
        let offset = number.checked_mul(self.page_size).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "offset beyond 2^64 bytes")
        })?;
        self.inner.seek(SeekFrom::Start(offset))?;
        let mut bytes = vec![0u8; self.page_size as usize];
        let mut filled = 0;
        while filled < bytes.len() {
            match self.inner.read(&mut bytes[filled..]) {
                Ok(0) => break,
                Ok(n) => {
                    filled += n;
                    // A short, unaligned read is the end of the device: asking
                    // again from an unaligned offset would be refused.
                    if filled % self.sector_size != 0 {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("reading the page at offset {offset:#x}: {e}"),
                    ))
                }
            }
        }
        bytes.truncate(filled);
        if self.cache.len() >= CACHE_PAGES {
            if let Some(oldest) = self
                .cache
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, _, used))| *used)
                .map(|(i, _)| i)
            {
                self.cache.swap_remove(oldest);
            }
        }
        self.cache.push((number, bytes, clock));
        let last = self.cache.len() - 1;
        Ok(&self.cache[last].1)
    }
}

impl<R: Read + Seek> Read for SectorReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let page_size = self.page_size;
        let number = self.position / page_size;
        let within = (self.position % page_size) as usize;
        let page = self.page(number)?;
        if within >= page.len() {
            return Ok(0);
        }
        let n = buf.len().min(page.len() - within);
        buf[..n].copy_from_slice(&page[within..within + n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for SectorReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
            SeekFrom::End(d) => {
                let len = match self.len {
                    Some(len) => len,
                    None => {
                        let len = self.inner.seek(SeekFrom::End(0))?;
                        self.len = Some(len);
                        len
                    }
                };
                len.checked_add_signed(d)
            }
        };
        let target = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start or past 2^64",
            )
        })?;
        self.position = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A device that fails every read not aligned on 512 bytes, like `\\.\C:`.
    struct Strict(Cursor<Vec<u8>>);

    impl Read for Strict {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if !self.0.position().is_multiple_of(512) || !buf.len().is_multiple_of(512) {
                return Err(io::Error::other("unaligned read refused"));
            }
            self.0.read(buf)
        }
    }

    impl Seek for Strict {
        fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
            self.0.seek(pos)
        }
    }

    #[test]
    fn unaligned_reads_through_strict_device() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut strict = Strict(Cursor::new(data.clone()));
        let mut probe = [0u8; 3];
        strict.seek(SeekFrom::Start(5)).expect("seek");
        assert!(strict.read(&mut probe).is_err(), "the double must refuse");

        let mut reader = SectorReader::new(Strict(Cursor::new(data.clone())), 512).expect("new");
        for (offset, len) in [
            (5u64, 3usize),
            (65_535, 2),
            (131_000, 70_000),
            (299_990, 10),
        ] {
            reader.seek(SeekFrom::Start(offset)).expect("seek");
            let mut got = vec![0u8; len];
            reader.read_exact(&mut got).expect("read");
            assert_eq!(got, &data[offset as usize..offset as usize + len]);
        }
        // Past the end: clean EOF, not an error.
        reader.seek(SeekFrom::End(-4)).expect("seek end");
        let mut tail = Vec::new();
        reader.read_to_end(&mut tail).expect("read to end");
        assert_eq!(tail, &data[data.len() - 4..]);
        assert!(SectorReader::new(Cursor::new(Vec::new()), 500).is_err());
    }
}
