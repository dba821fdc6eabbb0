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
//!
//! The same set is written from a split ticket ([`open_ticket_split`],
//! `sealbag ticket --split SIZE`): each part object's multipart upload, and
//! the index's, was started and presigned by the responder.
//! The host can write exactly those objects: it aborts the part uploads the
//! archive did not need, but cannot delete a completed part when a later
//! one fails (the responder can).

use std::io::{self, Write};

use rusty_s3::{Credentials, S3Action};
use sha2::{Digest, Sha256};

use super::http::{self, Method};
use super::multipart::{MultipartUpload, UploadError, Uploaded};
use super::s3::{start_upload, S3Location, S3Options, SIGNED_FOR};
use super::ticket::{PartTicket, Ticket};
use crate::archive::{PartRecord, SplitIndex, SPLIT_FORMAT};

/// How each part object is uploaded.
enum Store {
    /// Signed on the spot with the host's credentials.
    Credentials {
        base: S3Location,
        credentials: Credentials,
    },
    /// From a split ticket: the presigned part uploads, taken in order
    /// (`None` once taken or aborted), and the index's upload.
    Ticket {
        uploads: Vec<Option<PartTicket>>,
        index: Option<PartTicket>,
    },
}

/// A split set being uploaded; see the module documentation.
pub struct SplitUpload {
    /// `s3://bucket/KEY`, for messages.
    object: String,
    /// The bucket's name, for messages.
    bucket_name: String,
    /// KEY.
    key: String,
    store: Store,
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
    let upload = SplitUpload {
        object: base.shown(),
        bucket_name: base.bucket.name().to_string(),
        key: base.key.clone(),
        store: Store::Credentials { base, credentials },
        first_part_size,
        part_size: part_size.max(1),
        current: None,
        written: 0,
        hasher: Sha256::new(),
        parts: Vec::new(),
        completed: Vec::new(),
        failed: false,
    };
    start_first(upload)
}

/// The first part is started at once: an unreachable store shows before
/// anything is collected.
fn start_first(mut upload: SplitUpload) -> Result<SplitUpload, String> {
    upload.start_part().map_err(|e| e.to_string())?;
    Ok(upload)
}

/// Opens the split upload a `s3-split` ticket presigns (see
/// [`make_split_ticket`](super::make_split_ticket)).
pub(crate) fn open_ticket_split(ticket: Ticket) -> Result<SplitUpload, String> {
    let Some((bucket_name, key)) = ticket
        .object
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
    else {
        return Err(format!(
            "a split ticket for `{}`: not an s3://BUCKET/KEY object",
            ticket.object
        ));
    };
    if ticket.split_size == 0 || ticket.split_parts.is_empty() || ticket.index.is_none() {
        return Err(format!(
            "the split ticket for {} lacks its split size, part uploads or index URL",
            ticket.object
        ));
    }
    tracing::info!(object = %ticket.object, part_size = ticket.split_size, objects = ticket.split_parts.len(), "starting a split upload from a ticket: parts `KEY.NNN` and `KEY.index.json`");
    let upload = SplitUpload {
        object: ticket.object.clone(),
        bucket_name: bucket_name.to_string(),
        key: key.to_string(),
        store: Store::Ticket {
            uploads: ticket.split_parts.into_iter().map(Some).collect(),
            index: ticket.index,
        },
        first_part_size: ticket.part_size.max(1),
        part_size: ticket.split_size,
        current: None,
        written: 0,
        hasher: Sha256::new(),
        parts: Vec::new(),
        completed: Vec::new(),
        failed: false,
    };
    start_first(upload)
}

impl SplitUpload {
    /// `s3://bucket/key`, for messages.
    fn shown(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket_name)
    }

    fn start_part(&mut self) -> io::Result<()> {
        let number = self.parts.len();
        let key = part_key(&self.key, number);
        let object = self.shown(&key);
        let first = self.first_part_size;
        let part_size = self.part_size;
        let started = match &mut self.store {
            Store::Credentials { base, credentials } => {
                let location = S3Location {
                    bucket: base.bucket.clone(),
                    key,
                };
                start_upload(location, credentials.clone(), first)
            }
            Store::Ticket { uploads, .. } => {
                let count = uploads.len();
                match uploads.get_mut(number).and_then(Option::take) {
                    Some(part) => super::ticket::open_part_ticket(part, first),
                    None => Err(format!(
                        "the split ticket holds {count} part objects of {part_size} bytes: the archive is larger than its --max-size\nhint: ask the responder for a ticket with a larger --max-size, or collect less (--max-total)"
                    )),
                }
            }
        };
        match started {
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
        let key = part_key(&self.key, self.parts.len());
        let hasher = std::mem::replace(&mut self.hasher, Sha256::new());
        self.parts.push(PartRecord {
            name: base_name(&key),
            bytes: self.written,
            sha256: crate::profile::hex(&hasher.finalize()),
        });
        tracing::info!(part = %self.shown(&key), bytes = self.written, "split part uploaded");
        self.completed.push(key);
        self.written = 0;
        Ok(())
    }

    /// A ticket's part uploads not taken: aborted (none left open in the
    /// bucket). Says which aborts failed, if any.
    fn abort_unused(&mut self) -> Option<String> {
        let Store::Ticket { uploads, index } = &mut self.store else {
            return None;
        };
        let unused: Vec<PartTicket> = uploads
            .iter_mut()
            .filter_map(Option::take)
            .chain(index.take())
            .collect();
        if unused.is_empty() {
            return None;
        }
        let failed = super::ticket::abort_all(&unused);
        (!failed.is_empty()).then(|| {
            format!(
                "aborting the unused part uploads failed for {}: the bucket's lifecycle rule or the responder must abort them",
                failed.join(", ")
            )
        })
    }

    /// Deletes the parts already completed; says what happened.
    fn delete_completed(&mut self) -> String {
        self.failed = true;
        let unused = self.abort_unused();
        let credentials = match &self.store {
            Store::Credentials { base, credentials } => {
                Some((base.bucket.clone(), credentials.clone()))
            }
            Store::Ticket { .. } => None,
        };
        let Some((bucket, credentials)) = credentials else {
            let completed: Vec<String> = std::mem::take(&mut self.completed)
                .iter()
                .map(|key| self.shown(key))
                .collect();
            let mut said = if completed.is_empty() {
                "no part object was completed".to_string()
            } else {
                format!(
                    "the part objects already completed stay in the bucket (a ticket cannot delete): {}; the responder can delete them",
                    completed.join(", ")
                )
            };
            said.push_str(match &unused {
                None => "; none of the ticket's unused uploads is left open (aborted)",
                Some(_) => "",
            });
            if let Some(unused) = unused {
                said.push_str("; ");
                said.push_str(&unused);
            }
            return said;
        };
        let agent = http::agent();
        let mut left = Vec::new();
        for key in std::mem::take(&mut self.completed) {
            let url = bucket
                .delete_object(Some(&credentials), &key)
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
            archive: base_name(&self.key),
            part_size: self.part_size,
            bytes,
            sha256: sha256.into(),
            parts: std::mem::take(&mut self.parts),
        };
        let mut json = serde_json::to_vec_pretty(&index).map_err(io::Error::other)?;
        json.push(b'\n');
        let index_key = format!("{}.index.json", self.key);
        let index_object = self.shown(&index_key);
        let ticket_index = match &mut self.store {
            Store::Ticket { index: upload, .. } => Some(upload.take()),
            Store::Credentials { .. } => None,
        };
        if let Some(upload) = ticket_index {
            // A ticket: the index is its own presigned multipart upload.
            let sent = upload
                .ok_or_else(|| io::Error::other("the split ticket holds no upload for the index"))
                .and_then(|upload| {
                    super::ticket::open_part_ticket(upload, self.first_part_size)
                        .map_err(io::Error::other)
                })
                .and_then(|mut upload| {
                    upload.write_all(&json)?;
                    upload.finish()
                });
            return match sent {
                Ok(done) => {
                    self.completed.clear();
                    if let Some(failed) = self.abort_unused() {
                        tracing::warn!(object = %index_object, "{failed}");
                    }
                    Ok(Uploaded {
                        object: index_object,
                        parts: u16::try_from(index.parts.len()).unwrap_or(u16::MAX),
                        etag: done.etag,
                    })
                }
                Err(e) => Err(self.fail_with(e)),
            };
        }
        let url = match &self.store {
            Store::Credentials { base, credentials } => base
                .bucket
                .put_object(Some(credentials), &index_key)
                .sign(SIGNED_FOR)
                .to_string(),
            Store::Ticket { .. } => {
                return Err(io::Error::other(
                    "the split ticket's index upload was already used",
                ))
            }
        };
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
                    object: index_object,
                    parts: u16::try_from(index.parts.len()).unwrap_or(u16::MAX),
                    etag: answer.etag,
                })
            }
            Err(source) => {
                let aborted = self.delete_completed();
                Err(io::Error::other(UploadError::Failed {
                    object: index_object,
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
            tracing::warn!(object = %self.object, "split upload not finished: {said}");
        } else if let Some(failed) = self.abort_unused() {
            tracing::warn!(object = %self.object, "{failed}");
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
