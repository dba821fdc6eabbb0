//! The writer layers under the tar stream: zstd, age, a hash of the
//! ciphertext, and the output (a file with a space reserve, or stdout).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::tar_stream::StoreIncompressible;

use crate::engine::{StopReason, StopSignal};

/// zstd's multithreaded job size: 2 MiB keeps both cores busy while
/// bounding the uncompressed data in flight to a few MiB.
const MT_JOB_SIZE: u32 = 2 << 20;

/// Compression of the tar stream.
///
/// zstd spends about 0.5 s of CPU per GiB finding nothing to compress in
/// random, encrypted or already compressed data: a third of what a whole
/// collection costs. Such files (judged on their first 64 KiB) are stored
/// instead: the zstd frame is ended, the file's bytes follow in a frame of
/// raw blocks, and a new zstd frame starts after it. Concatenated frames are
/// one stream to every zstd decoder (`zstd -d`, the `zstd` crate).
pub struct Compress<W: Write> {
    state: State<W>,
    level: Option<i32>,
    threads: u32,
}

enum State<W: Write> {
    /// zstd frames (the field's choice: fast, and `zstd -d` is everywhere).
    Zstd(zstd::stream::write::Encoder<'static, W>),
    /// Inside a frame of raw (stored) blocks.
    Stored(W),
    /// No compression.
    Plain(W),
    /// Only while switching; never seen by a caller after an error.
    Broken,
}

/// Magic number of a zstd frame, little-endian.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// Frame header descriptor: no content size, no checksum, no dictionary.
const RAW_FRAME_DESCRIPTOR: u8 = 0x00;
/// Window descriptor of 128 KiB (2^(10+7)): blocks may be that large.
const RAW_FRAME_WINDOW: u8 = 7 << 3;
/// Largest block: min(window, 128 KiB).
const RAW_BLOCK_MAX: usize = 128 * 1024;
/// A sample that zstd level 1 shrinks by less than this is incompressible.
const STORE_IF_SAVING_BELOW: f64 = 0.03;

impl<W: Write> Compress<W> {
    /// Wraps `out`; `level` of `None` means no compression.
    pub fn new(out: W, level: Option<i32>, threads: u32) -> io::Result<Self> {
        let state = match level {
            None => State::Plain(out),
            Some(level) => State::Zstd(Self::encoder(out, level, threads)?),
        };
        Ok(Compress {
            state,
            level,
            threads,
        })
    }

    fn encoder(
        out: W,
        level: i32,
        threads: u32,
    ) -> io::Result<zstd::stream::write::Encoder<'static, W>> {
        let mut encoder = zstd::stream::write::Encoder::new(out, level)?;
        if threads > 1 {
            encoder.multithread(threads)?;
            // Small jobs bound what zstd holds in flight (threads + 1
            // jobs), so the space reserve can always absorb it.
            encoder.set_parameter(zstd::stream::raw::CParameter::JobSize(MT_JOB_SIZE))?;
        }
        Ok(encoder)
    }

    /// Ends the zstd frame and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.end_stored()?;
        match std::mem::replace(&mut self.state, State::Broken) {
            State::Zstd(encoder) => encoder.finish(),
            State::Plain(out) | State::Stored(out) => Ok(out),
            State::Broken => Err(broken()),
        }
    }
}

fn broken() -> io::Error {
    io::Error::other("the compression layer failed earlier")
}

/// Whether zstd would gain next to nothing on data like `sample`.
fn incompressible(sample: &[u8]) -> bool {
    if sample.len() < 4096 {
        return false;
    }
    match zstd::bulk::compress(sample, 1) {
        Ok(packed) => (packed.len() as f64) > sample.len() as f64 * (1.0 - STORE_IF_SAVING_BELOW),
        Err(_) => false,
    }
}

impl<W: Write> StoreIncompressible for Compress<W> {
    fn begin_file_data(&mut self, sample: &[u8]) -> io::Result<bool> {
        if !matches!(self.state, State::Zstd(_)) || !incompressible(sample) {
            return Ok(false);
        }
        let State::Zstd(encoder) = std::mem::replace(&mut self.state, State::Broken) else {
            return Err(broken());
        };
        let mut out = encoder.finish()?;
        out.write_all(&ZSTD_MAGIC)?;
        out.write_all(&[RAW_FRAME_DESCRIPTOR, RAW_FRAME_WINDOW])?;
        self.state = State::Stored(out);
        Ok(true)
    }

    fn end_stored(&mut self) -> io::Result<()> {
        if !matches!(self.state, State::Stored(_)) {
            return Ok(());
        }
        let State::Stored(mut out) = std::mem::replace(&mut self.state, State::Broken) else {
            return Err(broken());
        };
        // The last block: raw, empty, flagged last.
        out.write_all(&[0x01, 0x00, 0x00])?;
        let level = self.level.unwrap_or(zstd::DEFAULT_COMPRESSION_LEVEL);
        self.state = State::Zstd(Self::encoder(out, level, self.threads)?);
        Ok(())
    }
}

impl<W: Write> Write for Compress<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.state {
            State::Zstd(e) => e.write(buf),
            State::Plain(w) => w.write(buf),
            State::Stored(w) => {
                let n = buf.len().min(RAW_BLOCK_MAX);
                if n == 0 {
                    return Ok(0);
                }
                // Block header: size << 3 | type raw (0) << 1 | not last.
                let header = (n as u32) << 3;
                w.write_all(&header.to_le_bytes()[..3])?;
                w.write_all(&buf[..n])?;
                Ok(n)
            }
            State::Broken => Err(broken()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.state {
            State::Zstd(e) => e.flush(),
            State::Plain(w) | State::Stored(w) => w.flush(),
            State::Broken => Err(broken()),
        }
    }
}

/// Encryption of the compressed stream.
pub enum Encrypt<W: Write> {
    /// An age v1 stream to the responders' X25519 recipients.
    Age(Box<super::age_stream::AgeWriter<W>>),
    /// Lab use only (`--no-encrypt`).
    Plain(W),
}

impl<W: Write> Encrypt<W> {
    /// Wraps `out`: age to `recipients`, or plaintext when the list is `None`.
    pub fn new(out: W, recipients: Option<&[age::x25519::Recipient]>) -> io::Result<Self> {
        match recipients {
            None => Ok(Encrypt::Plain(out)),
            Some(list) => Ok(Encrypt::Age(Box::new(super::age_stream::AgeWriter::new(
                out, list,
            )?))),
        }
    }

    /// Writes the last age chunk and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encrypt::Age(w) => w.finish(),
            Encrypt::Plain(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for Encrypt<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encrypt::Age(w) => w.write(buf),
            Encrypt::Plain(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encrypt::Age(w) => w.flush(),
            Encrypt::Plain(w) => w.flush(),
        }
    }
}

/// Hashes and counts what passes through: the SHA-256 of the sealed file,
/// printed at the end for the chain of custody.
pub struct Hashing<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The inner writer, the hex SHA-256 and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        (
            self.inner,
            crate::profile::hex(&self.hasher.finalize()),
            self.bytes,
        )
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Where the sealed bytes go.
pub enum Output {
    /// A new file (never overwriting), with a space reserve beside it.
    File(OutputFile),
    /// Standard output (for piping to a collector or `ssh`).
    Stdout(io::Stdout),
    /// An object store: streamed in parts, or one presigned PUT (nothing on disk).
    Upload(Box<crate::upload::Upload>),
    /// An upload teed into a local copy (`--fallback-output`), kept if the upload fails.
    Fallback(Box<crate::upload::Fallback>),
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::File(f) => f.write(buf),
            Output::Stdout(s) => s.write(buf),
            Output::Upload(u) => u.write(buf),
            Output::Fallback(f) => f.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::File(f) => f.flush(),
            Output::Stdout(s) => s.flush(),
            Output::Upload(u) => u.flush(),
            Output::Fallback(f) => f.flush(),
        }
    }
}

impl Output {
    /// The local file that spills are named after (the output or its
    /// fallback copy); `None` for standard output and bare uploads.
    pub fn spill_base(&self) -> Option<PathBuf> {
        match self {
            Output::File(f) => Some(f.path().to_path_buf()),
            Output::Fallback(f) => Some(f.local_path().to_path_buf()),
            Output::Stdout(_) | Output::Upload(_) => None,
        }
    }

    /// Where the manifest may spill (beside a local output or its
    /// fallback copy); `None` for standard output and bare uploads.
    pub fn spill_path(&self) -> Option<PathBuf> {
        match self {
            Output::File(f) => Some(super::spill::SpillBuffer::path_beside(f.path())),
            Output::Fallback(f) => Some(super::spill::SpillBuffer::path_beside(f.local_path())),
            Output::Stdout(_) | Output::Upload(_) => None,
        }
    }

    /// Flushes and syncs the output, and removes the reserve.
    pub fn finish(self) -> io::Result<()> {
        self.finish_sealed("", 0).map(|_| ())
    }

    /// Like [`finish`](Self::finish), given what the whole ciphertext is
    /// (its hex SHA-256 and size), which a split index records. Returns
    /// what became of an upload with a local fallback.
    pub fn finish_sealed(
        self,
        sha256: &str,
        bytes: u64,
    ) -> io::Result<Option<crate::upload::Delivery>> {
        match self {
            Output::File(f) => f.finish_sealed(sha256, bytes).map(|()| None),
            Output::Stdout(mut s) => s.flush().map(|()| None),
            Output::Fallback(f) => f.finish_sealed(sha256, bytes).map(Some),
            Output::Upload(u) => {
                let uploaded = u.finish_sealed(sha256, bytes)?;
                tracing::info!(
                    object = %uploaded.object,
                    parts = uploaded.parts,
                    etag = uploaded.etag.as_deref().unwrap_or(""),
                    bytes,
                    sha256,
                    "upload complete"
                );
                Ok(None)
            }
        }
    }
}

/// The output file, and a reserve file of zeros beside it.
///
/// When the disk fills up, the reserve is deleted, the write retried, and
/// the stop signal set: the run takes no more files and the archive is
/// finished (manifest, log, custody record) in the space the reserve freed.
pub struct OutputFile {
    file: super::uncached::UncachedFile,
    path: PathBuf,
    reserve: Option<PathBuf>,
    stop: StopSignal,
    /// `--split`: the parts written so far and the current one.
    split: Option<Box<super::split::PartWriter>>,
}

impl OutputFile {
    /// Creates `path` (refusing to overwrite) and a reserve of `reserve_bytes`.
    pub fn create(path: &Path, reserve_bytes: u64, stop: StopSignal) -> io::Result<Self> {
        Self::create_inner(path, None, reserve_bytes, stop)
    }

    /// Like [`create`](Self::create), but cuts the output into numbered parts
    /// of at most `part_size` bytes (`PATH.000`, `PATH.001`, …), and writes
    /// the index `PATH.index.json` when finished (see [`SplitIndex`](super::SplitIndex)).
    /// For transports that cap the size of one file (EDR live response).
    pub fn create_split(
        path: &Path,
        part_size: u64,
        reserve_bytes: u64,
        stop: StopSignal,
    ) -> io::Result<Self> {
        Self::create_inner(path, Some(part_size.max(1)), reserve_bytes, stop)
    }

    fn create_inner(
        path: &Path,
        part_size: Option<u64>,
        reserve_bytes: u64,
        stop: StopSignal,
    ) -> io::Result<Self> {
        let split = part_size.map(|size| Box::new(super::split::PartWriter::new(path, size)));
        // The index is written last: refuse now, not after the collection, if it exists.
        if let Some(parts) = &split {
            if parts.index_path().exists() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} already exists", parts.index_path().display()),
                ));
            }
        }
        let first = match &split {
            Some(parts) => parts.part_path(0),
            None => path.to_path_buf(),
        };
        let file = if split.is_some() {
            // Parts are short-lived files of arbitrary sizes: written the
            // ordinary way.
            super::uncached::UncachedFile::ordinary(
                File::options().write(true).create_new(true).open(&first)?,
                &first,
            )
        } else {
            super::uncached::UncachedFile::create_new(&first)?
        };
        tracing::debug!(
            output = %first.display(),
            page_cache_bypassed = file.is_direct(),
            "output opened"
        );
        let reserve = if reserve_bytes > 0 {
            let mut name = path.as_os_str().to_owned();
            name.push(".reserve");
            let reserve_path = PathBuf::from(name);
            match write_reserve(&reserve_path, reserve_bytes) {
                Ok(()) => Some(reserve_path),
                Err(e) => {
                    let _ = std::fs::remove_file(&reserve_path);
                    let _ = std::fs::remove_file(&first);
                    return Err(io::Error::new(
                        e.kind(),
                        format!(
                            "not enough free space for the {reserve_bytes}-byte reserve beside the output: {e}"
                        ),
                    ));
                }
            }
        } else {
            None
        };
        Ok(OutputFile {
            file,
            path: path.to_path_buf(),
            reserve,
            stop,
            split,
        })
    }

    /// The output's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn release_reserve(&mut self) -> bool {
        match self.reserve.take() {
            Some(reserve) => {
                let _ = std::fs::remove_file(&reserve);
                tracing::error!(
                    output = %self.path.display(),
                    "output disk is full: released the reserve, finishing the archive with what was collected"
                );
                self.stop.request(StopReason::DiskFull);
                true
            }
            None => false,
        }
    }

    /// The split index that [`finish_sealed`](Self::finish_sealed) writes, when splitting.
    pub fn index_path(&self) -> Option<PathBuf> {
        self.split.as_ref().map(|s| s.index_path())
    }

    /// Syncs the file and removes the reserve.
    pub fn finish(self) -> io::Result<()> {
        self.finish_sealed("", 0)
    }

    /// Syncs the file, writes the split index (with the whole ciphertext's
    /// `sha256` and size `bytes`) when splitting, and removes the reserve.
    pub fn finish_sealed(mut self, sha256: &str, bytes: u64) -> io::Result<()> {
        let mut result = match self.file.sync_all() {
            Err(e) if is_disk_full(&e) && self.release_reserve() => self.file.sync_all(),
            other => other,
        };
        if let Some(split) = self.split.take() {
            // The reserve goes first: the index needs the room on a full disk.
            if let Some(reserve) = self.reserve.take() {
                let _ = std::fs::remove_file(reserve);
            }
            result = result.and_then(|()| split.finish(sha256, bytes));
        }
        if let Some(reserve) = self.reserve.take() {
            let _ = std::fs::remove_file(reserve);
        }
        result
    }

    fn write_file(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.file.write(buf) {
            Err(e) if is_disk_full(&e) && self.release_reserve() => self.file.write(buf),
            other => other,
        }
    }
}

fn write_reserve(path: &Path, bytes: u64) -> io::Result<()> {
    let mut file = File::options().write(true).create_new(true).open(path)?;
    if crate::live::allocate(&file, bytes)? {
        return file.sync_all();
    }
    let zeros = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        let n = zeros.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    file.sync_all()
}

/// Whether `e` says the disk (or the user's quota) is full.
pub(super) fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.kind() == io::ErrorKind::QuotaExceeded
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(room) = self.split.as_ref().map(|s| s.room()) else {
            return self.write_file(buf);
        };
        if room == 0 && !buf.is_empty() {
            // The part is full: close it, and start the next one.
            self.file.sync_all()?;
            let next = match self.split.as_mut() {
                Some(split) => split.next_part()?,
                None => return Err(io::Error::other("split state lost")),
            };
            let path = self
                .split
                .as_ref()
                .map(|s| s.current_path())
                .unwrap_or_default();
            self.file = super::uncached::UncachedFile::ordinary(next, &path);
            return self.write(buf);
        }
        let n = usize::try_from(room).unwrap_or(usize::MAX).min(buf.len());
        let written = self.write_file(&buf[..n])?;
        if let Some(split) = self.split.as_mut() {
            split.record(&buf[..written]);
        }
        Ok(written)
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.file.flush() {
            Err(e) if is_disk_full(&e) && self.release_reserve() => self.file.flush(),
            other => other,
        }
    }
}
