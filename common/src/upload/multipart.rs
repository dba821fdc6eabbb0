//! The streaming multipart upload: a `Write` that cuts the sealed stream
//! into parts and sends each from its own thread while the next fills.
//!
//! Memory stays bounded: one part filling and one on the wire (a rendezvous
//! channel between them). Parts start at 8 MiB and double every 1 000
//! parts, so 10 000 parts (S3's limit) hold about 8 TiB while a small
//! collection never buffers more than 16 MiB. A part is retried with
//! backoff; when one fails for good the upload is aborted, so no half
//! object stays in the bucket (and none is billed).

use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::http::{self, HttpError, Method};

/// The default first part size.
pub const DEFAULT_PART_SIZE: u64 = 8 << 20;
/// S3's limits: 10 000 parts, each at most 5 GiB.
const MAX_PARTS: u16 = 10_000;
const MAX_PART_SIZE: u64 = 5 << 30;

/// The requests of one upload in parts: an S3 multipart upload (URLs
/// signed on the spot with the collector's credentials, or taken from a
/// presigned ticket), or Azure blocks under a SAS.
pub(crate) trait Signer: Send + Sync {
    /// The URL to PUT part `number` (1-based) to.
    fn part(&self, number: u16) -> Result<String, String>;
    /// Headers sent with every request (Azure's `x-ms-version`); each is one
    /// a SAS or presigned URL does not cover, so it cannot break a signature.
    fn headers(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// The request that joins the parts into the object, given each part's ETag.
    fn complete(&self, etags: &[String]) -> Completion;
    /// Headers of that request.
    fn complete_headers(&self) -> &'static [(&'static str, &'static str)] {
        self.headers()
    }
    /// The URL to DELETE to abort, when the signer can abort.
    fn abort(&self) -> Option<String>;
    /// What becomes of the parts sent when the upload cannot be aborted.
    fn unaborted(&self) -> &'static str {
        "the parts already sent stay in the store until the upload expires (a ticket cannot abort); the responder can abort it"
    }
    /// The largest number of parts it can sign.
    fn max_parts(&self) -> u16 {
        MAX_PARTS
    }
    /// The largest part the store takes.
    fn max_part_size(&self) -> u64 {
        MAX_PART_SIZE
    }
    /// Parts sent before the part size doubles: the store's part limit
    /// times the first size must reach a 5 TB archive.
    fn parts_per_size(&self) -> u16 {
        1000
    }
}

/// The request completing an upload in parts.
pub(crate) struct Completion {
    /// POST (S3) or PUT (Azure).
    pub method: Method,
    /// Where to send it.
    pub url: String,
    /// Its XML body.
    pub body: String,
}

/// Why an upload failed for good.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// A request failed after its retries.
    #[error("upload to {object} failed: {source}\n{aborted}")]
    Failed {
        /// The object (`s3://bucket/key`).
        object: String,
        /// The failed request.
        #[source]
        source: HttpError,
        /// What became of the partial upload.
        aborted: String,
    },
    /// Anything else (a ticket too small, a bad answer).
    #[error("upload to {object} failed: {reason}\n{aborted}")]
    Other {
        /// The object.
        object: String,
        /// What went wrong.
        reason: String,
        /// What became of the partial upload.
        aborted: String,
    },
}

/// What a finished upload is.
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// The object (`s3://bucket/key`, or the URL without its query).
    pub object: String,
    /// Parts sent.
    pub parts: u16,
    /// The store's ETag of the whole object.
    pub etag: Option<String>,
}

type Part = (u16, Vec<u8>);

/// A multipart upload as a `Write`; see the module documentation.
pub struct MultipartUpload {
    agent: ureq::Agent,
    signer: Arc<dyn Signer>,
    object: String,
    first_part_size: u64,
    buffer: Vec<u8>,
    next_part: u16,
    sender: Option<SyncSender<Part>>,
    handle: Option<JoinHandle<Result<Vec<String>, HttpError>>>,
    done: bool,
}

impl MultipartUpload {
    /// Starts the sending thread for an upload whose requests `signer` signs.
    pub(crate) fn new(
        signer: Arc<dyn Signer>,
        object: String,
        first_part_size: u64,
    ) -> io::Result<Self> {
        let agent = http::agent();
        let (sender, receiver) = sync_channel::<Part>(0);
        let thread_agent = agent.clone();
        let thread_signer = Arc::clone(&signer);
        let handle = std::thread::Builder::new()
            .name("sealbag-upload".into())
            .spawn(move || {
                let mut etags = Vec::new();
                for (number, data) in receiver {
                    let what = format!("part {number} ({} bytes)", data.len());
                    let mut signing_error = None;
                    let mut url = || match thread_signer.part(number) {
                        Ok(url) => url,
                        Err(e) => {
                            signing_error = Some(e);
                            String::from("http://invalid.invalid/")
                        }
                    };
                    let answer = http::send(
                        &thread_agent,
                        Method::Put,
                        &mut url,
                        thread_signer.headers(),
                        &data,
                        &what,
                    );
                    if let Some(e) = signing_error {
                        return Err(HttpError::Network {
                            what,
                            tries: 0,
                            last: e,
                        });
                    }
                    let answer = answer?;
                    tracing::debug!(part = number, bytes = data.len(), "part sent");
                    etags.push(answer.etag.unwrap_or_default());
                }
                Ok(etags)
            })?;
        Ok(MultipartUpload {
            agent,
            signer,
            object,
            first_part_size: first_part_size.max(1),
            buffer: Vec::new(),
            next_part: 1,
            sender: Some(sender),
            handle: Some(handle),
            done: false,
        })
    }

    fn part_size(&self) -> usize {
        let size = part_size(
            self.first_part_size,
            self.next_part,
            self.signer.parts_per_size(),
            self.signer.max_part_size(),
        );
        usize::try_from(size).unwrap_or(usize::MAX)
    }

    fn send_part(&mut self) -> io::Result<()> {
        if self.next_part > self.signer.max_parts() {
            let error = UploadError::Other {
                object: self.object.clone(),
                reason: format!(
                    "more than {} parts: the archive outgrew what the upload allows",
                    self.signer.max_parts()
                ),
                aborted: self.abort(),
            };
            return Err(io::Error::other(error));
        }
        let next_size = self.part_size();
        let data = std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(next_size.min(64 << 20)),
        );
        let number = self.next_part;
        self.next_part += 1;
        let sent = self
            .sender
            .as_ref()
            .is_some_and(|s| s.send((number, data)).is_ok());
        if sent {
            Ok(())
        } else {
            Err(self.failed())
        }
    }

    /// The sending thread stopped: its error, and the upload aborted.
    fn failed(&mut self) -> io::Error {
        self.sender = None;
        let result = self.handle.take().map(JoinHandle::join);
        let aborted = self.abort();
        let error = match result {
            Some(Ok(Err(source))) => UploadError::Failed {
                object: self.object.clone(),
                source,
                aborted,
            },
            _ => UploadError::Other {
                object: self.object.clone(),
                reason: "the upload thread stopped".into(),
                aborted,
            },
        };
        io::Error::other(error)
    }

    /// Aborts the multipart upload; says what happened.
    fn abort(&mut self) -> String {
        self.done = true;
        let Some(url) = self.signer.abort() else {
            let said = self.signer.unaborted();
            tracing::warn!(object = %self.object, "{said}");
            return said.into();
        };
        let mut url_of = || url.clone();
        match http::send(&self.agent, Method::Delete, &mut url_of, &[], &[], "abort") {
            Ok(_) => {
                tracing::warn!(object = %self.object, "multipart upload aborted: nothing is left in the bucket");
                "the multipart upload was aborted: nothing is left in the bucket".into()
            }
            Err(e) => format!("aborting the multipart upload failed too ({e}); the bucket's lifecycle rule must clean it up"),
        }
    }

    /// Sends the last part, waits for every part, and completes the upload.
    pub fn finish(mut self) -> io::Result<Uploaded> {
        if !self.buffer.is_empty() || self.next_part == 1 {
            self.send_part()?;
        }
        self.sender = None;
        let etags = match self.handle.take().map(JoinHandle::join) {
            Some(Ok(Ok(etags))) => etags,
            Some(Ok(Err(source))) => {
                let aborted = self.abort();
                return Err(io::Error::other(UploadError::Failed {
                    object: self.object.clone(),
                    source,
                    aborted,
                }));
            }
            _ => {
                let aborted = self.abort();
                return Err(io::Error::other(UploadError::Other {
                    object: self.object.clone(),
                    reason: "the upload thread stopped".into(),
                    aborted,
                }));
            }
        };
        let completion = self.signer.complete(&etags);
        let mut url_of = || completion.url.clone();
        let result = http::send(
            &self.agent,
            completion.method,
            &mut url_of,
            self.signer.complete_headers(),
            completion.body.as_bytes(),
            "complete",
        );
        match result {
            // S3 may answer 200 with an error in the body.
            Ok(answer) if !answer.body.contains("<Error>") => {
                self.done = true;
                let etag = xml_text(&answer.body, "ETag").or(answer.etag);
                Ok(Uploaded {
                    object: self.object.clone(),
                    parts: self.next_part - 1,
                    etag,
                })
            }
            Ok(answer) => {
                let aborted = self.abort();
                Err(io::Error::other(UploadError::Other {
                    object: self.object.clone(),
                    reason: format!(
                        "the completion was refused (HTTP {}): {}",
                        answer.status,
                        answer.body.chars().take(600).collect::<String>()
                    ),
                    aborted,
                }))
            }
            Err(source) => {
                let aborted = self.abort();
                Err(io::Error::other(UploadError::Failed {
                    object: self.object.clone(),
                    source,
                    aborted,
                }))
            }
        }
    }
}

impl Drop for MultipartUpload {
    /// An upload dropped unfinished (the collection failed elsewhere) is
    /// aborted: a best-effort cleanup, since an open multipart upload is
    /// stored (and billed) until someone aborts it.
    fn drop(&mut self) {
        if !self.done {
            self.sender = None;
            if let Some(handle) = self.handle.take() {
                let _ = handle.join();
            }
            let said = self.abort();
            tracing::warn!(object = %self.object, "upload not finished: {said}");
        }
    }
}

impl Write for MultipartUpload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let size = self.part_size();
        let room = size - self.buffer.len();
        let n = room.min(buf.len());
        self.buffer.extend_from_slice(&buf[..n]);
        if self.buffer.len() == size {
            self.send_part()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Parts have a minimum size: nothing is sent before one is full.
        Ok(())
    }
}

/// The size of part `number` (1-based): `first`, doubled every
/// `per_size` parts, at most `max`.
pub(crate) fn part_size(first: u64, number: u16, per_size: u16, max: u64) -> u64 {
    let doublings = u32::from(number.saturating_sub(1) / per_size.max(1));
    first.saturating_mul(1u64 << doublings.min(30)).min(max)
}

/// The CompleteMultipartUpload body.
pub(crate) fn completion_body(etags: &[String]) -> String {
    let mut body = String::from("<CompleteMultipartUpload>");
    for (i, etag) in etags.iter().enumerate() {
        body.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
            i + 1,
            xml_escape(etag)
        ));
    }
    body.push_str("</CompleteMultipartUpload>");
    body
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The text of the first `<tag>` in a small XML answer.
pub(crate) fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(
        xml[start..end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes_fit_five_terabytes_in_ten_thousand_parts() {
        let mut total: u64 = 0;
        for n in 1..=MAX_PARTS {
            total += part_size(DEFAULT_PART_SIZE, n, 1000, MAX_PART_SIZE);
        }
        assert!(total > 5_000_000_000_000, "{total}");
    }

    #[test]
    fn completion_body_lists_parts_in_order() {
        let body = completion_body(&["\"a\"".into(), "\"b&c\"".into()]);
        assert_eq!(
            body,
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>\"b&amp;c\"</ETag></Part></CompleteMultipartUpload>"
        );
        assert_eq!(
            xml_text("<R><UploadId>x&amp;y</UploadId></R>", "UploadId").as_deref(),
            Some("x&y")
        );
    }
}
