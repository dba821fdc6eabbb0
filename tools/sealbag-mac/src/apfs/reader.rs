//! A data stream (a file's or an extended attribute's) read through its extents.

use std::io::{self, Read, Seek, SeekFrom};

use super::btree::Device;
use super::records::Extent;

/// Reads `size` bytes laid out by `extents`, locking the device per read so
/// a walk and an open can share it. Holes and unmapped ranges read as zeros.
pub(crate) struct ExtentReader<'a, R> {
    dev: &'a Device<R>,
    extents: Vec<Extent>,
    size: u64,
    position: u64,
}

impl<'a, R> ExtentReader<'a, R> {
    /// `extents` in logical order.
    pub fn new(dev: &'a Device<R>, mut extents: Vec<Extent>, size: u64) -> Self {
        extents.sort_by_key(|e| e.logical);
        ExtentReader {
            dev,
            extents,
            size,
            position: 0,
        }
    }
}

impl<R: Read + Seek> Read for ExtentReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.size - self.position);
        let pos = self.position;
        // The last extent starting at or before `pos`.
        let i = self.extents.partition_point(|e| e.logical <= pos);
        let hit = i
            .checked_sub(1)
            .map(|i| self.extents[i])
            .filter(|e| pos < e.logical.saturating_add(e.length));
        let n = match hit {
            Some(e) => {
                let n = want.min(e.logical.saturating_add(e.length) - pos) as usize;
                if e.block == 0 {
                    buf[..n].fill(0);
                } else {
                    let offset = e
                        .block
                        .checked_mul(u64::from(self.dev.block_size))
                        .and_then(|o| o.checked_add(pos - e.logical))
                        .ok_or_else(|| io::Error::other("extent address overflows"))?;
                    self.dev.read_at(offset, &mut buf[..n]).map_err(|err| {
                        io::Error::new(
                            err.kind(),
                            format!("reading block {} (byte {offset}): {err}", e.block),
                        )
                    })?;
                }
                n
            }
            None => {
                // A hole up to the next extent.
                let next = self.extents.get(i).map_or(self.size, |e| e.logical);
                let n = want.min(next.saturating_sub(pos)).max(1) as usize;
                buf[..n].fill(0);
                n
            }
        };
        self.position += n as u64;
        Ok(n)
    }
}

impl<R> Seek for ExtentReader<'_, R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
        };
        self.position = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn reads_extents_holes_and_seeks() {
        // Block 1 holds 'a's, block 2 'b's (4096-byte blocks).
        let mut disk = vec![0u8; 3 * 4096];
        disk[4096..8192].fill(b'a');
        disk[8192..].fill(b'b');
        let dev = Device::new(Cursor::new(disk), 4096, 3 * 4096);
        let extents = vec![
            Extent {
                logical: 4096,
                length: 4096,
                block: 2,
            },
            Extent {
                logical: 0,
                length: 10,
                block: 1,
            },
            Extent {
                logical: 8192,
                length: 100,
                block: 0,
            },
        ];
        let mut r = ExtentReader::new(&dev, extents, 8192 + 200);
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("read");
        let mut want = vec![b'a'; 10];
        want.resize(4096, 0); // unmapped: a hole
        want.resize(8192, b'b');
        want.resize(8192 + 200, 0); // sparse extent, then past the last extent
        assert_eq!(out, want);
        r.seek(SeekFrom::Start(4095)).expect("seek");
        let mut two = [0u8; 2];
        r.read_exact(&mut two).expect("read");
        assert_eq!(two, [0, b'b']);
        assert!(r.seek(SeekFrom::Current(-10_000)).is_err());
    }

    #[test]
    fn extent_past_the_image_is_an_error_not_a_panic() {
        let dev = Device::new(Cursor::new(vec![0u8; 4096]), 4096, 4096);
        let extents = vec![Extent {
            logical: 0,
            length: u64::MAX,
            block: u64::MAX / 2,
        }];
        let mut r = ExtentReader::new(&dev, extents, 10);
        assert!(r.read(&mut [0u8; 10]).is_err());
    }
}
