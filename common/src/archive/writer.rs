//! The sealed archive writer: tar → zstd → age → output, manifest kept aside.

use std::io::{self, BufWriter, Read, Write};

use super::custody::CollectionInfo;
use super::layers::{Compress, Encrypt, Hashing, Output};
use super::manifest::ManifestRecord;
use super::offload::Offload;
use super::spill::SpillBuffer;
use super::tar_stream::{EntryType, TarStream};
use crate::engine::{Sink, SinkError, StoredEntry};
use crate::source::{EntryKind, Metadata, Timestamp};

/// Archive member names written by sealbag itself.
pub mod names {
    /// The profile text the run used.
    pub const PROFILE: &str = "sealbag/profile.toml";
    /// One JSON object per entry seen.
    pub const MANIFEST: &str = "sealbag/manifest.jsonl";
    /// The run's own log, JSON lines.
    pub const LOG: &str = "sealbag/log.jsonl";
    /// The chain-of-custody record; always the last member.
    pub const COLLECTION: &str = "sealbag/collection.json";
    /// Prefix of collected files.
    pub const FILES_PREFIX: &str = "files/";
}

/// How to seal.
pub struct ArchiveOptions {
    /// age recipients; `None` writes plaintext (lab use only).
    pub recipients: Option<Vec<age::x25519::Recipient>>,
    /// zstd level, or `None` for no compression.
    pub zstd_level: Option<i32>,
    /// zstd worker threads (1: compress on the calling thread).
    pub threads: u32,
}

/// What the finished archive is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sealed {
    /// SHA-256 of the bytes written to the output (the ciphertext).
    pub sha256: String,
    /// Size of the output.
    pub bytes: u64,
    /// With `--fallback-output`: whether the upload went through, or where
    /// the archive is kept instead.
    pub delivery: Option<crate::upload::Delivery>,
}

type Stack = TarStream<Compress<Offload<Encrypt<BufWriter<Hashing<Offload<Output>>>>>>>;

/// Manifest lines, zstd-compressed until the end of the run, in memory and
/// past 4 MiB in a sealed spill file beside the output (see [`SpillBuffer`]).
struct ManifestBuffer {
    encoder: zstd::stream::write::Encoder<'static, SpillBuffer>,
    raw_bytes: u64,
}

/// Writes the archive; implements the engine's [`Sink`].
pub struct ArchiveWriter {
    tar: Stack,
    manifest: ManifestBuffer,
}

impl ArchiveWriter {
    /// Starts an archive on `output`.
    pub fn new(output: Output, options: &ArchiveOptions) -> io::Result<Self> {
        let spill = SpillBuffer::new(output.spill_path());
        // Generated members (live state, parsed logs) made on this thread
        // spill beside the output too.
        super::spill::set_spill_base(output.spill_base());
        // The output's own I/O is a stage too: a direct write waits for the
        // device, an upload for the network, while encryption goes on.
        let io = Offload::named(output, "sealbag-io")?;
        let hashed = BufWriter::with_capacity(256 * 1024, Hashing::new(io));
        let encrypted = Encrypt::new(hashed, options.recipients.as_deref())?;
        // Encryption and output run on their own thread (a pipeline stage).
        let offloaded = Offload::new(encrypted)?;
        let compressed = Compress::new(offloaded, options.zstd_level, options.threads)?;
        Ok(ArchiveWriter {
            tar: TarStream::new(compressed),
            manifest: ManifestBuffer {
                // Level 1: the buffer is only memory, and on the collecting
                // thread; level 3 cost a sixth of a small-file run.
                encoder: zstd::stream::write::Encoder::new(spill, 1)?,
                raw_bytes: 0,
            },
        })
    }

    /// Adds a member with the given bytes (`sealbag/profile.toml`, `live/…`).
    pub fn add_bytes(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        append_bytes(&mut self.tar, name, data)
    }

    /// Writes the manifest, the log and the custody record, closes every
    /// layer in order, and returns the sealed file's hash and size.
    pub fn finish(self, log: &[u8], collection: &CollectionInfo) -> io::Result<Sealed> {
        let ArchiveWriter { mut tar, manifest } = self;
        let raw_bytes = manifest.raw_bytes;
        let compressed = manifest.encoder.finish()?.into_reader()?;
        let mut decoder = zstd::stream::read::Decoder::new(compressed)?;
        let mut meta = Metadata::new(EntryKind::File, raw_bytes);
        meta.times.modified = Some(Timestamp::now());
        tar.append(
            names::MANIFEST.as_bytes(),
            EntryType::File,
            raw_bytes,
            Some(&meta),
            None,
            &mut decoder,
        )?;
        append_bytes(&mut tar, names::LOG, log)?;
        let json = serde_json::to_vec_pretty(collection).map_err(io::Error::other)?;
        append_bytes(&mut tar, names::COLLECTION, &json)?;
        let compressed = tar.finish()?;
        let offloaded = compressed.finish()?;
        let encrypted = offloaded.finish()?;
        let buffered = encrypted.finish()?;
        let hashing = buffered.into_inner().map_err(|e| e.into_error())?;
        let (io, sha256, bytes) = hashing.finish();
        let delivery = io.finish()?.finish_sealed(&sha256, bytes)?;
        Ok(Sealed {
            sha256,
            bytes,
            delivery,
        })
    }
}

fn append_bytes(tar: &mut Stack, name: &str, data: &[u8]) -> io::Result<()> {
    {
        let mut meta = Metadata::new(EntryKind::File, data.len() as u64);
        meta.times.modified = Some(Timestamp::now());
        meta.mode = Some(0o644);
        let mut reader = data;
        tar.append(
            name.as_bytes(),
            EntryType::File,
            data.len() as u64,
            Some(&meta),
            None,
            &mut reader,
        )
    }
}

impl Sink for ArchiveWriter {
    fn add_file(&mut self, entry: &StoredEntry<'_>, data: &mut dyn Read) -> Result<(), SinkError> {
        self.tar.append(
            entry.archive_path,
            EntryType::File,
            entry.size,
            Some(entry.metadata),
            None,
            data,
        )?;
        Ok(())
    }

    fn add_symlink(&mut self, entry: &StoredEntry<'_>, target: &[u8]) -> Result<(), SinkError> {
        let mut empty: &[u8] = &[];
        self.tar.append(
            entry.archive_path,
            EntryType::Symlink,
            0,
            Some(entry.metadata),
            Some(target),
            &mut empty,
        )?;
        Ok(())
    }

    fn add_member(&mut self, name: &[u8], size: u64, data: &mut dyn Read) -> Result<(), SinkError> {
        let mut meta = Metadata::new(EntryKind::File, size);
        meta.times.modified = Some(Timestamp::now());
        meta.mode = Some(0o644);
        self.tar
            .append(name, EntryType::File, size, Some(&meta), None, data)?;
        Ok(())
    }

    fn add_record(&mut self, record: &ManifestRecord) -> Result<(), SinkError> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        self.manifest.encoder.write_all(&line)?;
        self.manifest.raw_bytes += line.len() as u64;
        Ok(())
    }
}
