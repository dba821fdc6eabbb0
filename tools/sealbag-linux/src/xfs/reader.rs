//! A regular file's bytes as a `Read + Seek` stream: extents read from the
//! volume, holes and unwritten extents as zeros, never past the file size.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Mutex;

use super::bmap::Extent;

/// Where the bytes are.
#[derive(Debug)]
pub enum Data {
    /// In the inode (local format).
    Inline(Vec<u8>),
    /// In filesystem blocks: the checked extent list and each block's
    /// byte offset computed by the caller.
    Blocks(Vec<(Extent, u64)>),
}

/// A stream over one file, locking the volume only for each read.
pub struct FileReader<'a, R> {
    dev: &'a Mutex<R>,
    data: Data,
    block_size: u64,
    size: u64,
    position: u64,
    ino: u64,
}

impl<'a, R> FileReader<'a, R> {
    /// A reader over `data` of inode `ino`, `size` bytes long.
    pub fn new(dev: &'a Mutex<R>, data: Data, block_size: u64, size: u64, ino: u64) -> Self {
        FileReader {
            dev,
            data,
            block_size,
            size,
            position: 0,
            ino,
        }
    }
}

impl<R: Read + Seek> Read for FileReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.size - self.position);
        let n = match &self.data {
            Data::Inline(bytes) => {
                let start = usize::try_from(self.position).unwrap_or(usize::MAX);
                let n = (want as usize).min(bytes.len().saturating_sub(start));
                if n == 0 {
                    // Past the inline bytes: zeros up to the size.
                    buf[..want as usize].fill(0);
                    want as usize
                } else {
                    buf[..n].copy_from_slice(&bytes[start..start + n]);
                    n
                }
            }
            Data::Blocks(list) => {
                let block = self.position / self.block_size;
                let index = list.partition_point(|(e, _)| e.end() <= block);
                match list.get(index) {
                    Some((e, at)) if e.offset <= block => {
                        let within = self.position - e.offset * self.block_size;
                        let left = e.count * self.block_size - within;
                        let n = want.min(left) as usize;
                        if e.unwritten {
                            buf[..n].fill(0);
                        } else {
                            let from = at + within;
                            let mut dev = self
                                .dev
                                .lock()
                                .map_err(|_| io::Error::other("volume lock poisoned"))?;
                            dev.seek(SeekFrom::Start(from))?;
                            dev.read_exact(&mut buf[..n]).map_err(|err| {
                                io::Error::new(
                                    err.kind(),
                                    format!(
                                        "inode {}: reading {n} bytes at volume offset {from:#x}: {err}",
                                        self.ino
                                    ),
                                )
                            })?;
                        }
                        n
                    }
                    next => {
                        // A hole: zeros up to the next extent or the end.
                        let hole_end = next
                            .map_or(u64::MAX, |(e, _)| e.offset.saturating_mul(self.block_size));
                        let n = want.min(hole_end - self.position) as usize;
                        buf[..n].fill(0);
                        n
                    }
                }
            }
        };
        self.position += n as u64;
        Ok(n)
    }
}

impl<R> Seek for FileReader<'_, R> {
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

/// Pairs each extent with the byte offset of its first block.
pub fn locate(
    extents: Vec<Extent>,
    block_offset: impl Fn(u64) -> Option<u64>,
) -> Option<Vec<(Extent, u64)>> {
    extents
        .into_iter()
        .map(|e| Some((e, block_offset(e.block)?)))
        .collect()
}
