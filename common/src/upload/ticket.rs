//! Upload tickets: presigned, write-only delivery.
//!
//! The responder (`sealbag ticket`, with their own credentials) starts a
//! multipart upload and presigns the URL of each part it may need, the
//! completion and the abort. The collector (`--upload-ticket FILE`) holds
//! only those URLs: permission to write that one object, nothing else. A
//! stolen ticket reads nothing and overwrites nothing; once the upload is
//! completed, the ticket is spent (the store answers `NoSuchUpload`).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusty_s3::S3Action;

use super::http::Method;
use super::multipart::{completion_body, Completion, MultipartUpload, Signer, DEFAULT_PART_SIZE};
use super::s3::{S3Location, S3Options};

/// `format` of a ticket.
pub const TICKET_FORMAT: &str = "sealbag-ticket-1";
/// SigV4 presigned URLs live at most seven days.
const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);
/// Largest ticket read (10 000 URLs of about 1 KiB).
const MAX_TICKET_BYTES: u64 = 32 << 20;

/// A presigned multipart upload of one object.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Ticket {
    /// [`TICKET_FORMAT`].
    pub format: String,
    /// The object (`s3://bucket/key`), for messages.
    pub object: String,
    /// The multipart upload's id.
    pub upload_id: String,
    /// When the URLs expire (seconds since 1970, UTC).
    pub expires_unix: u64,
    /// The first part size the URLs were planned for.
    pub part_size: u64,
    /// The largest archive the ticket can carry.
    pub max_size: u64,
    /// PUT URL of part 1, 2, …
    pub parts: Vec<String>,
    /// POST URL completing the upload.
    pub complete: String,
    /// DELETE URL aborting it.
    pub abort: String,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Parts needed for `max_size` with parts growing as [`MultipartUpload`] grows them.
fn parts_for(max_size: u64, first: u64) -> usize {
    let mut total = 0u64;
    let mut n = 0usize;
    while total < max_size.max(1) && n < 10_000 {
        let doublings = (n / 1000) as u32;
        total = total.saturating_add((first << doublings).min(5 << 30));
        n += 1;
    }
    n
}

/// Makes a ticket (the responder's side): starts the upload with the
/// responder's credentials and presigns every URL for `expires`.
pub fn make_ticket(
    url: &str,
    options: &S3Options,
    expires: Duration,
    max_size: u64,
) -> Result<Ticket, String> {
    if expires > MAX_EXPIRY {
        return Err("a ticket expires in at most 7 days (S3's limit for presigned URLs)".into());
    }
    let location = S3Location::parse(url, options)?;
    let (credentials, _) = super::credentials::resolve()?;
    let upload_id = location.create_upload(&credentials)?;
    let count = parts_for(max_size, DEFAULT_PART_SIZE);
    if count >= 10_000 {
        return Err("--max-size is beyond what 10 000 parts hold".into());
    }
    let bucket = &location.bucket;
    let parts = (1..=count as u16)
        .map(|n| {
            bucket
                .upload_part(Some(&credentials), &location.key, n, &upload_id)
                .sign(expires)
                .to_string()
        })
        .collect();
    let complete = bucket
        .complete_multipart_upload(
            Some(&credentials),
            &location.key,
            &upload_id,
            std::iter::empty(),
        )
        .sign(expires)
        .to_string();
    let abort = bucket
        .abort_multipart_upload(Some(&credentials), &location.key, &upload_id)
        .sign(expires)
        .to_string();
    Ok(Ticket {
        format: TICKET_FORMAT.into(),
        object: location.shown(),
        upload_id,
        expires_unix: now_unix() + expires.as_secs(),
        part_size: DEFAULT_PART_SIZE,
        max_size,
        parts,
        complete,
        abort,
    })
}

/// Reads a ticket file and refuses an expired one.
pub fn read_ticket(path: &std::path::Path) -> Result<Ticket, String> {
    use std::io::Read;
    let mut text = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_TICKET_BYTES).read_to_end(&mut text))
        .map_err(|e| format!("cannot read the ticket {}: {e}", path.display()))?;
    let ticket: Ticket = serde_json::from_slice(&text)
        .map_err(|e| format!("{}: not a sealbag upload ticket: {e}", path.display()))?;
    if ticket.format != TICKET_FORMAT {
        return Err(format!(
            "{}: ticket format `{}`, expected `{TICKET_FORMAT}`",
            path.display(),
            ticket.format
        ));
    }
    let now = now_unix();
    if now >= ticket.expires_unix {
        return Err(format!(
            "the upload ticket {} for {} expired {} s ago\nhint: ask the responder for a new ticket (`sealbag ticket`)",
            path.display(),
            ticket.object,
            now - ticket.expires_unix
        ));
    }
    Ok(ticket)
}

struct TicketSigner(Ticket);

impl Signer for TicketSigner {
    fn part(&self, number: u16) -> Result<String, String> {
        self.0
            .parts
            .get(usize::from(number).wrapping_sub(1))
            .cloned()
            .ok_or_else(|| {
                format!(
                    "the ticket holds {} parts: the archive is larger than its --max-size",
                    self.0.parts.len()
                )
            })
    }
    fn complete(&self, etags: &[String]) -> Completion {
        Completion {
            method: Method::Post,
            url: self.0.complete.clone(),
            body: completion_body(etags),
        }
    }
    fn abort(&self) -> Option<String> {
        Some(self.0.abort.clone())
    }
    fn max_parts(&self) -> u16 {
        u16::try_from(self.0.parts.len()).unwrap_or(u16::MAX)
    }
}

/// Opens the upload a ticket describes (the collector's side).
pub fn open_ticket(path: &std::path::Path) -> Result<(MultipartUpload, String), String> {
    let ticket = read_ticket(path)?;
    let object = ticket.object.clone();
    let first = ticket.part_size;
    let upload = MultipartUpload::new(Arc::new(TicketSigner(ticket)), object.clone(), first)
        .map_err(|e| format!("cannot start the upload thread: {e}"))?;
    Ok((upload, object))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_max_size() {
        assert_eq!(parts_for(1, 8 << 20), 1);
        assert_eq!(parts_for(8 << 20, 8 << 20), 1);
        assert_eq!(parts_for((8 << 20) + 1, 8 << 20), 2);
        // 50 GiB: 1000 parts of 8 MiB, 1000 of 16 MiB, then 32 MiB parts.
        assert_eq!(
            parts_for(50 << 30, 8 << 20),
            2000 + (50 * 1024 - 8000 - 16000) / 32
        );
    }
}
