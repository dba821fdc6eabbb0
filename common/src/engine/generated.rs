//! Members the run writes itself (parsed logs, volatile state), built in
//! memory, compressed, before their size is known.
//!
//! A tar header needs the size before the data, and plaintext must never
//! touch the host's disk, so generated output is kept zstd-compressed
//! (JSON shrinks five- to twentyfold) and streamed into the archive once
//! complete: in memory, and past 4 MiB sealed in a spill file beside the
//! output (see `archive::SpillBuffer`) when the archive writer on this
//! thread has one. A cap keeps a hostile input from filling the disk.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

use crate::archive::SpillBuffer;

/// Default cap on the compressed size of one generated member.
pub const DEFAULT_GENERATED_CAP: usize = 48 << 20;

/// A writer that compresses into memory; see the module documentation.
pub struct GeneratedBuffer {
    encoder: zstd::stream::write::Encoder<'static, SpillBuffer>,
    raw_len: u64,
    hasher: Sha256,
    cap: usize,
}

/// A finished generated member.
pub struct Generated {
    /// Taken by [`reader`](Generated::reader): a spill is read once.
    compressed: std::sync::Mutex<Option<SpillBuffer>>,
    /// Uncompressed size: the member's size in the tar.
    pub len: u64,
    /// SHA-256 (hex) of the uncompressed bytes.
    pub sha256: String,
}

impl GeneratedBuffer {
    /// An empty buffer holding at most `cap` compressed bytes.
    pub fn new(cap: usize) -> io::Result<Self> {
        Ok(GeneratedBuffer {
            encoder: zstd::stream::write::Encoder::new(
                SpillBuffer::new(crate::archive::next_generated_spill()),
                3,
            )?,
            raw_len: 0,
            hasher: Sha256::new(),
            cap,
        })
    }

    /// Uncompressed bytes written so far.
    pub fn len(&self) -> u64 {
        self.raw_len
    }

    /// Compressed bytes held so far: a writer that must stay under the cap
    /// (a parse that splits its output into parts) watches this.
    pub fn compressed_len(&self) -> usize {
        usize::try_from(self.encoder.get_ref().len()).unwrap_or(usize::MAX)
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.raw_len == 0
    }

    /// Ends the buffer.
    pub fn finish(self) -> io::Result<Generated> {
        Ok(Generated {
            compressed: std::sync::Mutex::new(Some(self.encoder.finish()?)),
            len: self.raw_len,
            sha256: crate::profile::hex(&self.hasher.finalize()),
        })
    }
}

impl Write for GeneratedBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.compressed_len() > self.cap {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!(
                    "generated output larger than its {} MiB cap",
                    self.cap >> 20
                ),
            ));
        }
        let n = self.encoder.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.raw_len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Generated {
    /// The uncompressed bytes, streamed; once only (a spill is deleted as
    /// it is read), a second call is an error.
    pub fn reader(&self) -> io::Result<impl Read> {
        let compressed = self
            .compressed
            .lock()
            .ok()
            .and_then(|mut c| c.take())
            .ok_or_else(|| io::Error::other("generated member already read"))?;
        zstd::stream::read::Decoder::new(compressed.into_reader()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_caps() {
        let mut buffer = GeneratedBuffer::new(1 << 20).expect("buffer");
        buffer.write_all(b"{\"a\":1}\n").expect("write");
        let generated = buffer.finish().expect("finish");
        assert_eq!(generated.len, 8);
        let mut text = String::new();
        generated
            .reader()
            .expect("reader")
            .read_to_string(&mut text)
            .expect("read");
        assert_eq!(text, "{\"a\":1}\n");

        let mut small = GeneratedBuffer::new(16).expect("buffer");
        let noise: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761u32) >> 13) as u8)
            .collect();
        let result = (0..50).try_for_each(|_| small.write_all(&noise));
        assert!(result.is_err(), "the cap stops an unbounded writer");
    }
}
