//! Where the compressed manifest waits until the end of the run, in bounded
//! memory.
//!
//! The manifest is the archive's last data member, so its lines wait until
//! every file is stored. Compressed, a line costs about 54 bytes (the
//! SHA-256 alone is 32), so a run over a million files would hold some
//! 54 MiB: over the 64 MiB a collector may use. Past [`IN_MEMORY`] bytes,
//! full chunks go to one file beside the output, each sealed with
//! ChaCha20-Poly1305 under a random key that exists only in this process's
//! memory: the host's disk never holds a readable manifest, and a spill
//! left behind by a killed run is noise. The file is read back in order
//! (each chunk's tag checked) into the archive, and deleted.
//!
//! Where there is no spill directory (standard output, an upload without a
//! fallback folder), or the spill cannot be written (a full disk), the lines
//! stay in memory, and the log says so once.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use ring::rand::{SecureRandom, SystemRandom};

/// Compressed bytes kept in memory before spilling.
const IN_MEMORY: usize = 4 << 20;
/// Bytes in one sealed chunk of the spill file.
const CHUNK: usize = 1 << 20;
/// The tag after each sealed chunk.
const TAG: usize = 16;

thread_local! {
    /// The output of the archive being written on this thread: generated
    /// members spill beside it as `OUTPUT.generated-N.spill`.
    static SPILL_BASE: std::cell::RefCell<Option<PathBuf>> = const { std::cell::RefCell::new(None) };
    static SPILL_COUNT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Sets (or with `None` clears) where generated members made on this thread
/// spill: beside the archive `output`. The archive writer sets it.
pub fn set_spill_base(output: Option<PathBuf>) {
    SPILL_BASE.with(|base| *base.borrow_mut() = output);
}

/// A fresh spill path for a generated member, when this thread has a base.
pub fn next_generated_spill() -> Option<PathBuf> {
    let base = SPILL_BASE.with(|base| base.borrow().clone())?;
    let n = SPILL_COUNT.with(|count| {
        let n = count.get();
        count.set(n + 1);
        n
    });
    let mut name = base.into_os_string();
    name.push(format!(".generated-{n}.spill"));
    Some(PathBuf::from(name))
}

/// Bytes written in order, partly in memory, partly in a sealed spill file.
pub struct SpillBuffer {
    memory: Vec<u8>,
    /// Bytes written so far, wherever they are.
    total: u64,
    path: Option<PathBuf>,
    spill: Option<Spill>,
    /// The spill failed or was impossible: everything stays in memory.
    in_memory_only: bool,
    warned: bool,
}

struct Spill {
    file: File,
    key: LessSafeKey,
    chunks: u64,
}

impl SpillBuffer {
    /// A buffer that spills to `path` (created only when needed, never
    /// overwriting), or keeps everything in memory when `path` is `None`.
    pub fn new(path: Option<PathBuf>) -> Self {
        SpillBuffer {
            total: 0,
            // Reserved whole (untouched pages cost no memory) so that it
            // never doubles past the bound while growing.
            memory: Vec::with_capacity(IN_MEMORY + 2 * CHUNK),
            path,
            spill: None,
            in_memory_only: false,
            warned: false,
        }
    }

    /// Bytes written so far (in memory and spilled).
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The spill file's name for an output file at `output`.
    pub fn path_beside(output: &Path) -> PathBuf {
        let mut name = output.as_os_str().to_owned();
        name.push(".manifest-spill");
        PathBuf::from(name)
    }

    fn spill_chunks(&mut self) {
        let Some(path) = self.path.clone() else {
            return self.stay_in_memory("no folder to spill to (standard output or an upload)");
        };
        if self.spill.is_none() {
            match Spill::create(&path) {
                Ok(spill) => {
                    tracing::info!(spill = %path.display(), "a buffer outgrew memory: spilling it, sealed, beside the output");
                    self.spill = Some(spill);
                }
                Err(e) => {
                    return self.stay_in_memory(&format!("cannot create {}: {e}", path.display()))
                }
            }
        }
        let mut sealed_up_to = 0;
        let mut failure = None;
        if let Some(spill) = self.spill.as_mut() {
            while self.memory.len() - sealed_up_to >= CHUNK {
                if let Err(e) = spill.append(&self.memory[sealed_up_to..sealed_up_to + CHUNK]) {
                    failure = Some(e);
                    break;
                }
                sealed_up_to += CHUNK;
            }
        }
        self.memory.drain(..sealed_up_to);
        if let Some(e) = failure {
            // The chunks already sealed stay valid; the rest stays here.
            self.stay_in_memory(&format!("cannot write {}: {e}", path.display()));
        }
    }

    fn stay_in_memory(&mut self, why: &str) {
        self.in_memory_only = true;
        if !self.warned {
            self.warned = true;
            tracing::info!("a buffer past 4 MiB stays in memory ({why}): memory grows with it");
        }
    }

    /// Everything written, in order; the spill file is deleted once read.
    pub fn into_reader(mut self) -> io::Result<SpillReader> {
        let spill = match self.spill.take() {
            Some(mut spill) => {
                spill.file.flush()?;
                let path = self.path.take().unwrap_or_default();
                let file = File::open(&path)?;
                Some(SpillRead {
                    file,
                    key: spill.key,
                    chunks: spill.chunks,
                    next: 0,
                    path,
                })
            }
            None => None,
        };
        Ok(SpillReader {
            spill,
            current: Vec::new(),
            at: 0,
            tail: Some(std::mem::take(&mut self.memory)),
        })
    }
}

impl Drop for SpillBuffer {
    fn drop(&mut self) {
        if self.spill.is_some() {
            if let Some(path) = &self.path {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

impl Spill {
    fn create(path: &Path) -> io::Result<Self> {
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| io::Error::other("the system's random source failed"))?;
        let key = UnboundKey::new(&CHACHA20_POLY1305, &key)
            .map_err(|_| io::Error::other("cannot set up ChaCha20-Poly1305"))?;
        let file = File::options().write(true).create_new(true).open(path)?;
        Ok(Spill {
            file,
            key: LessSafeKey::new(key),
            chunks: 0,
        })
    }

    fn append(&mut self, plain: &[u8]) -> io::Result<()> {
        let mut sealed = plain.to_vec();
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce(self.chunks), Aad::empty(), &mut sealed)
            .map_err(|_| io::Error::other("ChaCha20-Poly1305 refused a chunk"))?;
        sealed.extend_from_slice(tag.as_ref());
        self.file.write_all(&sealed)?;
        self.chunks += 1;
        Ok(())
    }
}

fn nonce(index: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

impl Write for SpillBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.memory.extend_from_slice(buf);
        self.total += buf.len() as u64;
        if !self.in_memory_only && self.memory.len() >= IN_MEMORY {
            self.spill_chunks();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads a [`SpillBuffer`] back; see the module documentation.
pub struct SpillReader {
    spill: Option<SpillRead>,
    current: Vec<u8>,
    at: usize,
    tail: Option<Vec<u8>>,
}

struct SpillRead {
    file: File,
    key: LessSafeKey,
    chunks: u64,
    next: u64,
    path: PathBuf,
}

impl SpillRead {
    /// The next chunk, opened; `None` after the last.
    fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.next == self.chunks {
            return Ok(None);
        }
        let mut sealed = vec![0u8; CHUNK + TAG];
        self.file.read_exact(&mut sealed).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("manifest spill {} cut short: {e}", self.path.display()),
            )
        })?;
        let plain = self
            .key
            .open_in_place(nonce(self.next), Aad::empty(), &mut sealed)
            .map_err(|_| {
                io::Error::other(format!(
                    "manifest spill {} was altered on disk (chunk {})",
                    self.path.display(),
                    self.next
                ))
            })?
            .len();
        sealed.truncate(plain);
        self.next += 1;
        Ok(Some(sealed))
    }
}

impl Drop for SpillRead {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Read for SpillReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            let next = match self.spill.as_mut() {
                Some(spill) => spill.next_chunk()?,
                None => None,
            };
            match next {
                Some(chunk) => self.current = chunk,
                None => {
                    // Done with the file (deleted on drop): the tail in memory.
                    self.spill = None;
                    match self.tail.take() {
                        Some(tail) => self.current = tail,
                        None => return Ok(0),
                    }
                }
            }
            self.at = 0;
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 131 % 251) as u8).collect()
    }

    #[test]
    fn spilled_bytes_come_back_in_order_and_the_file_goes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.age.manifest-spill");
        let data = pattern(3 * IN_MEMORY + 12_345);
        let mut buffer = SpillBuffer::new(Some(path.clone()));
        for piece in data.chunks(70_001) {
            buffer.write_all(piece).expect("write");
        }
        assert!(
            buffer.memory.len() < IN_MEMORY + CHUNK,
            "memory stays bounded"
        );
        let on_disk = std::fs::read(&path).expect("spill exists");
        assert!(on_disk.len() >= 2 * IN_MEMORY);
        // Sealed: no run of the plaintext appears in the file.
        assert!(!on_disk.windows(64).any(|w| w == &data[..64]));
        let mut back = Vec::new();
        buffer
            .into_reader()
            .expect("reader")
            .read_to_end(&mut back)
            .expect("read");
        assert_eq!(back, data);
        assert!(!path.exists(), "spill deleted once read");
    }

    #[test]
    fn without_a_folder_everything_stays_in_memory() {
        let data = pattern(2 * IN_MEMORY + CHUNK + 1);
        let mut buffer = SpillBuffer::new(None);
        buffer.write_all(&data).expect("write");
        let mut back = Vec::new();
        buffer
            .into_reader()
            .expect("reader")
            .read_to_end(&mut back)
            .expect("read");
        assert_eq!(back, data);
    }

    #[test]
    fn an_existing_file_is_not_overwritten_and_memory_takes_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("taken");
        std::fs::write(&path, b"not ours").expect("write");
        let data = pattern(IN_MEMORY + 2 * CHUNK);
        let mut buffer = SpillBuffer::new(Some(path.clone()));
        buffer.write_all(&data).expect("write");
        let mut back = Vec::new();
        buffer
            .into_reader()
            .expect("reader")
            .read_to_end(&mut back)
            .expect("read");
        assert_eq!(back, data);
        assert_eq!(std::fs::read(&path).expect("read"), b"not ours");
    }

    #[test]
    fn an_altered_spill_is_an_error_not_wrong_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("spill");
        let data = pattern(IN_MEMORY + 3 * CHUNK);
        let mut buffer = SpillBuffer::new(Some(path.clone()));
        buffer.write_all(&data).expect("write");
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[100] ^= 1;
        std::fs::write(&path, &bytes).expect("write");
        let mut back = Vec::new();
        let error = buffer
            .into_reader()
            .expect("reader")
            .read_to_end(&mut back)
            .expect_err("refused");
        assert!(error.to_string().contains("altered"), "{error}");
    }

    #[test]
    fn dropping_a_buffer_deletes_its_spill() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("spill");
        let mut buffer = SpillBuffer::new(Some(path.clone()));
        buffer
            .write_all(&pattern(IN_MEMORY + 2 * CHUNK))
            .expect("write");
        assert!(path.exists());
        drop(buffer);
        assert!(!path.exists());
    }
}
