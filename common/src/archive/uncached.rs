//! The output file written around the page cache (`O_DIRECT`) on Linux.
//!
//! Writing the sealed archive through the page cache costs the writing
//! thread a page allocation and a copy per 4 KiB (on a VM, first-touch
//! faults too: up to 2 s of system time per GiB measured here), and it
//! evicts the host's own cached data, the working set of the machine we are
//! meant to be gentle with. The archive is never read back by us, and it is
//! synced before success is reported anyway, so the cache buys nothing.
//!
//! `O_DIRECT` wants every write aligned (buffer, length and file offset) to
//! the device's logical block: 4 KiB satisfies 512-byte and 4Kn disks
//! alike. Bytes are gathered in an aligned buffer and written 1 MiB at a
//! time; the unaligned tail goes through a second, ordinary handle to the
//! same file at the end. Where `O_DIRECT` is refused (tmpfs before 6.6,
//! some FUSE and network file systems, any other OS) or a direct write fails
//! for any reason but a full disk, the file falls back to ordinary writes
//! and nothing is lost.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::layers::is_disk_full;

/// Alignment of direct writes (buffer address, length, file offset).
const ALIGN: usize = 4096;
/// Bytes gathered before one direct write.
const BATCH: usize = 1 << 20;

/// A new output file; see the module documentation.
pub struct UncachedFile {
    file: File,
    path: PathBuf,
    /// Gathers bytes for direct writes; `None` once writes are ordinary.
    direct: Option<AlignedBuffer>,
    /// Gathered bytes that the switch to ordinary writes still owes the file.
    pending: Vec<u8>,
}

/// A heap buffer whose usable part starts on an [`ALIGN`] boundary.
struct AlignedBuffer {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuffer {
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn new() -> Self {
        let storage = vec![0u8; BATCH + ALIGN];
        let start = storage.as_ptr().align_offset(ALIGN).min(ALIGN);
        AlignedBuffer {
            storage,
            start,
            len: 0,
        }
    }

    fn filled(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    fn room(&self) -> usize {
        BATCH - self.len
    }

    fn push(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.room());
        let at = self.start + self.len;
        self.storage[at..at + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        n
    }

    /// Drops the first `n` bytes (a multiple of [`ALIGN`]), keeping the rest aligned.
    fn consume(&mut self, n: usize) {
        let (start, len) = (self.start, self.len);
        self.storage.copy_within(start + n..start + len, start);
        self.len -= n;
    }
}

impl UncachedFile {
    /// Creates `path`, refusing to overwrite; direct where the OS and file
    /// system allow it.
    pub fn create_new(path: &Path) -> io::Result<Self> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            match File::options()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)
            {
                Ok(file) => {
                    return Ok(UncachedFile {
                        file,
                        path: path.to_path_buf(),
                        direct: Some(AlignedBuffer::new()),
                        pending: Vec::new(),
                    })
                }
                // EINVAL: this file system has no O_DIRECT; open it plainly.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                Err(e) => return Err(e),
            }
        }
        let file = File::options().write(true).create_new(true).open(path)?;
        Ok(Self::ordinary(file, path))
    }

    /// An already open file, written the ordinary way (split parts).
    pub fn ordinary(file: File, path: &Path) -> Self {
        UncachedFile {
            file,
            path: path.to_path_buf(),
            direct: None,
            pending: Vec::new(),
        }
    }

    /// Whether writes still bypass the page cache (for the run log).
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Writes the aligned part of what is gathered (all of it when full).
    /// On an error the bytes stay gathered, so a retry loses nothing.
    fn write_aligned(&mut self) -> io::Result<()> {
        let Some(buffer) = self.direct.as_mut() else {
            return Ok(());
        };
        let aligned = buffer.len - buffer.len % ALIGN;
        if aligned == 0 {
            return Ok(());
        }
        let written = loop {
            match self.file.write(&buffer.filled()[..aligned]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match written {
            Ok(n) if n > 0 && n % ALIGN == 0 => {
                buffer.consume(n);
                Ok(())
            }
            Err(e) if is_disk_full(&e) => Err(e),
            // A short unaligned write, or a direct write refused (EINVAL):
            // carry on with ordinary writes from where the file ends.
            Ok(_) | Err(_) => self.become_ordinary(),
        }
    }

    /// Reopens the same file without `O_DIRECT` and writes what was gathered.
    fn become_ordinary(&mut self) -> io::Result<()> {
        if let Some(buffer) = self.direct.take() {
            let mut file = reopen_plain(&self.file, &self.path)?;
            file.seek(SeekFrom::End(0))?;
            self.file = file;
            self.pending = buffer.filled().to_vec();
        }
        self.write_pending()
    }

    /// Writes the bytes owed; on an error they stay owed, for a retry.
    fn write_pending(&mut self) -> io::Result<()> {
        while !self.pending.is_empty() {
            match self.file.write(&self.pending) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes everything gathered and syncs the file to the device.
    pub fn sync_all(&mut self) -> io::Result<()> {
        self.write_aligned()?;
        self.become_ordinary()?;
        self.file.flush()?;
        self.file.sync_all()
    }
}

/// Opens a second handle to `file` without `O_DIRECT`: through
/// `/proc/self/fd` (the very same inode), or by its path where /proc is absent.
fn reopen_plain(file: &File, path: &Path) -> io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let by_fd = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        if let Ok(reopened) = File::options().write(true).open(by_fd) {
            return Ok(reopened);
        }
    }
    let _ = file;
    File::options().write(true).open(path)
}

impl Write for UncachedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.direct.as_ref().is_some_and(|b| b.room() == 0) {
            self.write_aligned()?;
        }
        match self.direct.as_mut() {
            Some(buffer) => Ok(buffer.push(buf)),
            None => {
                self.write_pending()?;
                self.file.write(buf)
            }
        }
    }

    /// Direct bytes wait for a full batch or [`sync_all`](UncachedFile::sync_all):
    /// a partial block cannot be written directly.
    fn flush(&mut self) -> io::Result<()> {
        match self.direct {
            Some(_) => Ok(()),
            None => {
                self.write_pending()?;
                self.file.flush()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 253) as u8).collect()
    }

    #[test]
    fn every_byte_arrives_in_order_at_odd_sizes() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (i, len) in [
            0,
            1,
            4095,
            4096,
            4097,
            BATCH - 1,
            BATCH,
            BATCH + 4097,
            3 * BATCH + 5,
        ]
        .into_iter()
        .enumerate()
        {
            let path = dir.path().join(format!("out{i}"));
            let data = pattern(len);
            let mut file = UncachedFile::create_new(&path).expect("create");
            for piece in data.chunks(7777) {
                file.write_all(piece).expect("write");
            }
            file.sync_all().expect("sync");
            drop(file);
            assert_eq!(std::fs::read(&path).expect("read"), data, "length {len}");
        }
    }

    #[test]
    fn refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out");
        std::fs::write(&path, b"evidence").expect("write");
        let error = UncachedFile::create_new(&path).err().expect("refused");
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).expect("read"), b"evidence");
    }

    #[test]
    fn a_switch_to_ordinary_writes_mid_file_keeps_every_byte() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out");
        let data = pattern(2 * BATCH + 12_345);
        let mut file = UncachedFile::create_new(&path).expect("create");
        file.write_all(&data[..BATCH + 100]).expect("write");
        file.become_ordinary().expect("switch");
        assert!(!file.is_direct());
        file.write_all(&data[BATCH + 100..]).expect("write");
        file.sync_all().expect("sync");
        assert_eq!(std::fs::read(&path).expect("read"), data);
    }

    #[test]
    fn the_buffer_is_aligned() {
        let buffer = AlignedBuffer::new();
        assert_eq!(buffer.filled().as_ptr() as usize % ALIGN, 0);
    }
}
