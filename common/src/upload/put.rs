//! A plain presigned PUT URL (`--output https://…` that is not Azure): the
//! whole sealed archive in one PUT.
//!
//! A presigned PUT needs the body's length up front (S3 refuses chunked
//! transfer on presigned PUTs, and its signatures cover no streamed
//! payload), and the length of a sealed stream is known only at its end.
//! The collector writes nothing to the host's disk, so the archive is held
//! in memory, up to a cap (`--upload-buffer`, default 1 GiB, at most 5 GiB,
//! S3's limit for one PUT), and sent when it is finished. When the archive
//! nears the cap, the collection is stopped the way a full disk stops it
//! (the current file finished, the manifest and custody record written in
//! the room left): what was collected is delivered, marked incomplete.
//! For larger collections use a ticket (multipart) or Azure blocks, which
//! stream.

use std::io::{self, Write};

use super::http::{self, Method};
use super::multipart::{UploadError, Uploaded};
use crate::engine::{StopReason, StopSignal};

/// S3's largest single PUT.
pub const MAX_PUT_SIZE: u64 = 5 << 30;
/// The default memory held for a single PUT.
pub const DEFAULT_PUT_BUFFER: u64 = 1 << 30;

/// The archive held in memory, then sent in one PUT by [`finish`](Self::finish).
pub struct PutUpload {
    agent: ureq::Agent,
    url: String,
    object: String,
    buffer: Vec<u8>,
    cap: u64,
    stop_at: u64,
    stop: StopSignal,
}

impl PutUpload {
    /// An upload to a presigned PUT `url` holding at most `cap` bytes; the
    /// collection is asked to stop (`SizeLimit`) `margin` bytes before it,
    /// so the archive can still be finished.
    pub fn new(url: &str, cap: u64, margin: u64, stop: StopSignal) -> Result<Self, String> {
        let object = super::strip_query(url);
        if cap > MAX_PUT_SIZE {
            return Err("`--upload-buffer` above 5GiB: S3 takes at most 5 GiB in one PUT\nhint: for larger archives use `--upload-ticket` (multipart) or an Azure SAS URL".into());
        }
        if margin >= cap {
            return Err(format!(
                "`--upload-buffer` {cap} bytes leaves no room to finish the archive (the reserve is {margin} bytes)"
            ));
        }
        tracing::info!(object = %object, cap, "the archive is held in memory and sent in one PUT when finished");
        Ok(PutUpload {
            agent: http::agent(),
            url: url.to_string(),
            object,
            buffer: Vec::new(),
            cap,
            stop_at: cap - margin,
            stop,
        })
    }

    /// Sends the whole archive in one PUT (retried like every request).
    pub fn finish(self) -> io::Result<Uploaded> {
        let mut url_of = || self.url.clone();
        let what = format!("PUT ({} bytes)", self.buffer.len());
        match http::send(
            &self.agent,
            Method::Put,
            &mut url_of,
            &[],
            &self.buffer,
            &what,
        ) {
            Ok(answer) => Ok(Uploaded {
                object: self.object,
                parts: 1,
                etag: answer.etag,
            }),
            Err(source) => Err(io::Error::other(UploadError::Failed {
                object: self.object,
                source,
                aborted: "nothing was stored (a single PUT is all or nothing)".into(),
            })),
        }
    }
}

impl Write for PutUpload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let held = self.buffer.len() as u64;
        if held + buf.len() as u64 > self.cap {
            return Err(io::Error::other(UploadError::Other {
                object: self.object.clone(),
                reason: format!(
                    "the archive outgrew the {} bytes a single PUT may hold in memory (`--upload-buffer`)\nhint: raise `--upload-buffer` (at most 5GiB), cap the collection with `--max-total`, or use `--upload-ticket` or an Azure SAS, which stream",
                    self.cap
                ),
                aborted: "nothing was sent".into(),
            }));
        }
        if self.buffer.capacity() - self.buffer.len() < buf.len() {
            // Grow by doubling, never past the cap; a refused allocation is
            // an error, not an abort.
            let want = (self.buffer.len() + buf.len())
                .max(self.buffer.capacity().saturating_mul(2))
                .max(1 << 20)
                .min(usize::try_from(self.cap).unwrap_or(usize::MAX));
            self.buffer
                .try_reserve_exact(want - self.buffer.len())
                .map_err(|e| {
                    io::Error::other(UploadError::Other {
                        object: self.object.clone(),
                        reason: format!("cannot hold the archive in memory for a single PUT: {e}"),
                        aborted: "nothing was sent".into(),
                    })
                })?;
        }
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() as u64 >= self.stop_at && !self.stop.is_set() {
            tracing::warn!(
                held = self.buffer.len(),
                cap = self.cap,
                "the archive nears what a single PUT holds in memory: the collection stops here and the archive is finished"
            );
            self.stop.request(StopReason::SizeLimit);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
