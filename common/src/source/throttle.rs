//! `--rate-limit`: a source whose reads are held to a byte rate, so a
//! collection does not starve the host's own disk and network storage.
//!
//! It wraps any [`Source`]; every reader it opens draws from one shared
//! budget (a token bucket refilled at the rate, starting empty and holding
//! at most a quarter second of it), so the limit holds across files and threads alike.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{
    DirEntry, Metadata, OpenedFile, ReadSeek, Source, SourceError, SourceInfo, SourcePath,
};

/// A shared read budget of `bytes_per_second`.
#[derive(Clone, Debug)]
pub struct RateLimit {
    bucket: Arc<Mutex<Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    /// A budget of `bytes_per_second` (at least 1).
    pub fn new(bytes_per_second: u64) -> Self {
        let rate = bytes_per_second.max(1) as f64;
        let burst = (rate / 4.0).max(64.0 * 1024.0);
        RateLimit {
            bucket: Arc::new(Mutex::new(Bucket {
                rate,
                burst,
                // Empty at the start: a burst up front would let a short
                // collection run over the limit.
                tokens: 0.0,
                last: Instant::now(),
            })),
        }
    }

    /// How many of `wanted` bytes may be read now, waiting as long as needed
    /// for at least one; never more than a quarter second's worth at once.
    fn take(&self, wanted: usize) -> usize {
        loop {
            let wait = {
                let mut bucket = match self.bucket.lock() {
                    Ok(bucket) => bucket,
                    Err(poisoned) => poisoned.into_inner(),
                };
                let now = Instant::now();
                let elapsed = now.duration_since(bucket.last).as_secs_f64();
                bucket.last = now;
                bucket.tokens = (bucket.tokens + elapsed * bucket.rate).min(bucket.burst);
                if bucket.tokens >= 1.0 {
                    let granted = (wanted as f64).min(bucket.tokens).floor();
                    bucket.tokens -= granted;
                    return (granted as usize).max(1);
                }
                Duration::from_secs_f64(((1.0 - bucket.tokens) / bucket.rate).min(0.25))
            };
            std::thread::sleep(wait);
        }
    }
}

/// A [`Source`] whose file reads draw from a [`RateLimit`].
pub struct ThrottledSource<'a> {
    inner: &'a dyn Source,
    limit: RateLimit,
}

impl<'a> ThrottledSource<'a> {
    /// Wraps `inner`; reads through it are held to `limit`.
    pub fn new(inner: &'a dyn Source, limit: RateLimit) -> Self {
        ThrottledSource { inner, limit }
    }
}

impl<'s> ThrottledSource<'s> {
    fn throttled<'a>(&self, opened: OpenedFile<'a>) -> OpenedFile<'a> {
        OpenedFile {
            reader: Box::new(ThrottledReader {
                inner: opened.reader,
                limit: self.limit.clone(),
            }),
            metadata: opened.metadata,
            method: opened.method,
        }
    }
}

impl Source for ThrottledSource<'_> {
    fn info(&self) -> SourceInfo {
        self.inner.info()
    }
    fn metadata(&self, path: &SourcePath) -> Result<Metadata, SourceError> {
        self.inner.metadata(path)
    }
    fn read_dir(&self, path: &SourcePath) -> Result<Vec<DirEntry>, SourceError> {
        self.inner.read_dir(path)
    }
    fn read_link(&self, path: &SourcePath) -> Result<Vec<u8>, SourceError> {
        self.inner.read_link(path)
    }
    fn open(&self, path: &SourcePath, stream: Option<&str>) -> Result<OpenedFile<'_>, SourceError> {
        let opened = self.inner.open(path, stream)?;
        Ok(self.throttled(opened))
    }
    fn open_listed(
        &self,
        path: &SourcePath,
        stream: Option<&str>,
        listed: &Metadata,
    ) -> Result<OpenedFile<'_>, SourceError> {
        let opened = self.inner.open_listed(path, stream, listed)?;
        Ok(self.throttled(opened))
    }
    fn streams(&self, path: &SourcePath) -> Result<Vec<String>, SourceError> {
        self.inner.streams(path)
    }
}

struct ThrottledReader<'a> {
    inner: Box<dyn ReadSeek + 'a>,
    limit: RateLimit,
}

impl Read for ThrottledReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let allowed = self.limit.take(buf.len());
        self.inner.read(&mut buf[..allowed])
    }
}

impl Seek for ThrottledReader<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemorySource;

    #[test]
    fn reads_through_the_limit_are_byte_exact() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let memory = MemorySource::new().file(b"/a/big.bin", &data);
        let source = ThrottledSource::new(&memory, RateLimit::new(64 << 20));
        let path = SourcePath::parse(b"/a/big.bin").expect("path");
        let mut reader = source.open(&path, None).expect("open").reader;
        let mut back = Vec::new();
        reader.read_to_end(&mut back).expect("read");
        assert_eq!(back, data);
    }

    #[test]
    fn the_budget_never_grants_more_than_asked_or_the_burst() {
        let limit = RateLimit::new(1 << 20);
        let first = limit.take(10);
        assert!((1..=10).contains(&first), "granted {first}");
        let granted = limit.take(10 << 20);
        assert!(granted <= 256 << 10, "granted {granted}");
    }
}
