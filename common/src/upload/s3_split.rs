//! `--split SIZE` with `--output s3://BUCKET/KEY`: the sealed stream cut
//! into objects `KEY.000`, `KEY.001`, … of at most SIZE bytes, each its own
//! multipart upload, then the index `KEY.index.json` (the same
//! [`SplitIndex`] a local split writes, part names relative to the index),
//! so the set can be fetched part by part through a channel that caps one
//! file's size, and `sealbag verify s3://BUCKET/KEY.index.json` checks it.
//!
//! One part is open at a time (memory as for one upload). When anything
//! fails for good, the part being sent is aborted and the parts already
//! completed are deleted: no partial set is left in the bucket.

use std::io::{self, Write};

use rusty_s3::{Credentials, S3Action};
use sha2::{Digest, Sha256};

use super::http::{self, Method};
use super::multipart::{MultipartUpload, UploadError, Uploaded};
use super::s3::{start_upload, S3Location, S3Options, SIGNED_FOR};
use crate::archive::{PartRecord, SplitIndex, SPLIT_FORMAT};

/// A split set being uploaded; see the module documentation.
pub struct SplitUpload {
    base: S3Location,
    credentials: Credentials,
    first_part_size: u64,
    part_size: u64,
    current: Option<MultipartUpload>,
    written: u64,
    hasher: Sha256,
    parts: Vec<PartRecord>,
    /// Keys of the parts completed, deleted if the set cannot be finished.
    completed: Vec<String>,
    failed: bool,
}

/// The key of part `number` of `key`: `key.000` (as a local split names its files).
pub(crate) fn part_key(key: &str, number: usize) -> String {
    format!("{key}.{number:03}")
}

fn base_name(key: &str) -> String {
    key.rsplit('/').next().unwrap_or(key).to_string()
}

/// Opens a split upload to `s3://BUCKET/KEY` with parts of at most
/// `part_size` bytes, each sent in multipart parts from `first_part_size`.
pub fn open_s3_split(
    url: &str,
    options: &S3Options,
    first_part_size: u64,
    part_size: u64,
) -> Result<SplitUpload, String> {
    let base = S3Location::parse(url, options)?;
    let (credentials, origin) = super::credentials::resolve()?;
    tracing::info!(object = %base.shown(), credentials = %origin, part_size, "starting a split upload: parts `KEY.NNN` and `KEY.index.json`");
    let mut upload = SplitUpload {
        base,
        credentials,
        first_part_size,
        part_size: part_size.max(1),
        current: None,
        written: 0,
        hasher: Sha256::new(),
        parts: Vec::new(),
        completed: Vec::new(),
        failed: false,
    };
    // The first part is started now: an unreachable store shows at once.
    upload.start_part().map_err(|e| e.to_string())?;
    Ok(upload)
}

impl SplitUpload {
    fn location(&self, key: String) -> S3Location {
        S3Location {
            bucket: self.base.bucket.clone(),
            key,
        }
    }

    fn start_part(&mut self) -> io::Result<()> {
        let key = part_key(&self.base.key, self.parts.len());
        let location = self.location(key);
        let object = location.shown();
        match start_upload(location, self.credentials.clone(), self.first_part_size) {
            Ok(upload) => {
                self.current = Some(upload);
                Ok(())
            }
            Err(reason) => Err(self.fail(object, reason)),
        }
    }

    /// Completes the open part and records it.
    fn close_part(&mut self) -> io::Result<()> {
        let Some(upload) = self.current.take() else {
            return Ok(());
        };
        if let Err(e) = upload.finish() {
            return Err(self.fail_with(e));
        }
        let key = part_key(&self.base.key, self.parts.len());
        let hasher = std::mem::replace(&mut self.hasher, Sha256::new());
        self.parts.push(PartRecord {
            name: base_name(&key),
            bytes: self.written,
            sha256: crate::profile::hex(&hasher.finalize()),
        });
        tracing::info!(part = %self.location(key.clone()).shown(), bytes = self.written, "split part uploaded");
        self.completed.push(key);
        self.written = 0;
        Ok(())
    }

    /// Deletes the parts already completed; says what happened.
    fn delete_completed(&mut self) -> String {
        self.failed = true;
        let agent = http::agent();
        let mut left = Vec::new();
        for key in std::mem::take(&mut self.completed) {
            let url = self
                .base
                .bucket
                .delete_object(Some(&self.credentials), &key)
                .sign(SIGNED_FOR)
                .to_string();
            let mut url_of = || url.clone();
            if http::send(&agent, Method::Delete, &mut url_of, &[], &[], "delete part").is_err() {
                left.push(key);
            }
        }
        if left.is_empty() {
            "the parts already completed were deleted: no partial split set is left in the bucket"
                .into()
        } else {
            format!(
                "deleting the parts already completed failed for {}: delete them by hand",
                left.join(", ")
            )
        }
    }

    fn fail(&mut self, object: String, reason: String) -> io::Error {
        let aborted = self.delete_completed();
        io::Error::other(UploadError::Other {
            object,
            reason,
            aborted,
        })
    }

    fn fail_with(&mut self, error: io::Error) -> io::Error {
        let deleted = self.delete_completed();
        io::Error::other(format!("{error}\n{deleted}"))
    }

    /// Completes the last part and puts the index; returns the index object.
    pub fn finish_sealed(mut self, sha256: &str, bytes: u64) -> io::Result<Uploaded> {
        if self.failed {
            return Err(io::Error::other("the split upload already failed"));
        }
        self.close_part()?;
        let index = SplitIndex {
            format: SPLIT_FORMAT.into(),
            archive: base_name(&self.base.key),
            part_size: self.part_size,
            bytes,
            sha256: sha256.into(),
            parts: std::mem::take(&mut self.parts),
        };
        let mut json = serde_json::to_vec_pretty(&index).map_err(io::Error::other)?;
        json.push(b'\n');
        let index_key = format!("{}.index.json", self.base.key);
        let location = self.location(index_key.clone());
        let url = self
            .base
            .bucket
            .put_object(Some(&self.credentials), &index_key)
            .sign(SIGNED_FOR)
            .to_string();
        let mut url_of = || url.clone();
        match http::send(
            &http::agent(),
            Method::Put,
            &mut url_of,
            &[],
            &json,
            "put index",
        ) {
            Ok(answer) => {
                self.completed.clear();
                Ok(Uploaded {
                    object: location.shown(),
                    parts: u16::try_from(index.parts.len()).unwrap_or(u16::MAX),
                    etag: answer.etag,
                })
            }
            Err(source) => {
                let aborted = self.delete_completed();
                Err(io::Error::other(UploadError::Failed {
                    object: location.shown(),
                    source,
                    aborted,
                }))
            }
        }
    }
}

impl Drop for SplitUpload {
    /// A set dropped unfinished (the collection failed elsewhere): its
    /// completed parts are deleted, best effort (the open part's multipart
    /// upload aborts itself).
    fn drop(&mut self) {
        if !self.completed.is_empty() || self.current.is_some() {
            self.current = None;
            let said = self.delete_completed();
            tracing::warn!(object = %self.base.shown(), "split upload not finished: {said}");
        }
    }
}

impl Write for SplitUpload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("the split upload already failed"));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        if self.written == self.part_size {
            self.close_part()?;
        }
        if self.current.is_none() {
            self.start_part()?;
        }
        let room = usize::try_from(self.part_size - self.written).unwrap_or(usize::MAX);
        let n = room.min(buf.len());
        let written = match self.current.as_mut() {
            Some(upload) => upload.write(&buf[..n]),
            None => return Err(io::Error::other("split part not open")),
        };
        match written {
            Ok(written) => {
                self.hasher.update(&buf[..written]);
                self.written += written as u64;
                Ok(written)
            }
            Err(e) => {
                self.current = None;
                Err(self.fail_with(e))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
