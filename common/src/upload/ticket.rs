//! Upload tickets: presigned, write-only delivery.
//!
//! The responder (`sealbag ticket`, with their own credentials) starts a
//! multipart upload and presigns the URL of each part it may need, the
//! completion and the abort. The collector (`--upload-ticket FILE`) holds
//! only those URLs: permission to write that one object, nothing else. A
//! stolen ticket reads nothing and overwrites nothing; once the upload is
//! completed, the ticket is spent (the store answers `NoSuchUpload`).
//!
//! A ticket may also carry one URL the responder made elsewhere ([`make_url_ticket`]):
//! an Azure SAS URL (kind `azure-sas`, streamed as blocks) or a plain
//! presigned PUT URL (kind `put-url`). Then the ticket only keeps that URL
//! out of the command line (where any user of the host could read it in the
//! process list) and says when it expires.

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

/// `kind` of a presigned S3 multipart upload (the default).
pub const KIND_S3_MULTIPART: &str = "s3-multipart";
/// `kind` of a presigned split set (`--split`): one multipart upload per
/// part object `KEY.000`, `KEY.001`, … and one for `KEY.index.json`.
pub const KIND_S3_SPLIT: &str = "s3-split";
/// Most part objects a split ticket presigns.
pub const MAX_SPLIT_OBJECTS: u64 = 1000;
/// Most URLs one ticket holds (so it stays under its size cap).
const MAX_TICKET_URLS: usize = 20_000;
/// `kind` of a ticket holding an Azure SAS URL.
pub const KIND_AZURE_SAS: &str = "azure-sas";
/// `kind` of a ticket holding a plain presigned PUT URL.
pub const KIND_PUT_URL: &str = "put-url";

fn default_kind() -> String {
    KIND_S3_MULTIPART.into()
}

/// A presigned multipart upload of one object, or one URL that grants
/// writing it (see the module documentation).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Ticket {
    /// [`TICKET_FORMAT`].
    pub format: String,
    /// [`KIND_S3_MULTIPART`] (when absent), [`KIND_AZURE_SAS`] or [`KIND_PUT_URL`].
    #[serde(default = "default_kind")]
    pub kind: String,
    /// The object (`s3://bucket/key`, or the URL without its query), for messages.
    pub object: String,
    /// The multipart upload's id.
    #[serde(default)]
    pub upload_id: String,
    /// When the URLs expire (seconds since 1970, UTC).
    pub expires_unix: u64,
    /// The first part size the URLs were planned for.
    #[serde(default)]
    pub part_size: u64,
    /// The largest archive the ticket can carry.
    #[serde(default)]
    pub max_size: u64,
    /// PUT URL of part 1, 2, …
    #[serde(default)]
    pub parts: Vec<String>,
    /// POST URL completing the upload.
    #[serde(default)]
    pub complete: String,
    /// DELETE URL aborting it.
    #[serde(default)]
    pub abort: String,
    /// The SAS or presigned PUT URL of an `azure-sas` or `put-url` ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `s3-split`: the largest part object (`--split SIZE`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub split_size: u64,
    /// `s3-split`: the presigned multipart upload of `KEY.000`, `KEY.001`, …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub split_parts: Vec<PartTicket>,
    /// `s3-split`: the presigned multipart upload of `KEY.index.json` (an
    /// upload rather than a PUT URL: once completed it is spent, so a
    /// stolen ticket cannot overwrite the index either).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<PartTicket>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The presigned multipart upload of one part object of a split set.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PartTicket {
    /// The part object (`s3://bucket/KEY.000`), for messages.
    pub object: String,
    /// Its multipart upload's id.
    pub upload_id: String,
    /// PUT URL of its multipart part 1, 2, …
    pub parts: Vec<String>,
    /// POST URL completing it.
    pub complete: String,
    /// DELETE URL aborting it (used for the part objects the archive did not need).
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

/// Starts the multipart upload of `location` and presigns `count` part
/// URLs, its completion and its abort.
fn presign_upload(
    location: &S3Location,
    credentials: &rusty_s3::Credentials,
    expires: Duration,
    count: usize,
) -> Result<PartTicket, String> {
    let upload_id = location.create_upload(credentials)?;
    let bucket = &location.bucket;
    let parts = (1..=count as u16)
        .map(|n| {
            bucket
                .upload_part(Some(credentials), &location.key, n, &upload_id)
                .sign(expires)
                .to_string()
        })
        .collect();
    let complete = bucket
        .complete_multipart_upload(
            Some(credentials),
            &location.key,
            &upload_id,
            std::iter::empty(),
        )
        .sign(expires)
        .to_string();
    let abort = bucket
        .abort_multipart_upload(Some(credentials), &location.key, &upload_id)
        .sign(expires)
        .to_string();
    Ok(PartTicket {
        object: location.shown(),
        upload_id,
        parts,
        complete,
        abort,
    })
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
    let count = parts_for(max_size, DEFAULT_PART_SIZE);
    if count >= 10_000 {
        return Err("--max-size is beyond what 10 000 parts hold".into());
    }
    let (credentials, _) = super::credentials::resolve()?;
    let upload = presign_upload(&location, &credentials, expires, count)?;
    Ok(Ticket {
        format: TICKET_FORMAT.into(),
        kind: KIND_S3_MULTIPART.into(),
        url: None,
        object: upload.object,
        upload_id: upload.upload_id,
        expires_unix: now_unix() + expires.as_secs(),
        part_size: DEFAULT_PART_SIZE,
        max_size,
        parts: upload.parts,
        complete: upload.complete,
        abort: upload.abort,
        split_size: 0,
        split_parts: Vec::new(),
        index: None,
    })
}

/// Makes a split ticket (`sealbag ticket --split SIZE`): one presigned
/// multipart upload per part object `KEY.000` … `KEY.(n-1)`, n =
/// ceil(`max_size` / `split_size`), each sized for `split_size` bytes, and
/// one of `KEY.index.json`. The host can write exactly the
/// set's objects; the part uploads it does not need it aborts.
pub fn make_split_ticket(
    url: &str,
    options: &S3Options,
    expires: Duration,
    max_size: u64,
    split_size: u64,
) -> Result<Ticket, String> {
    if expires > MAX_EXPIRY {
        return Err("a ticket expires in at most 7 days (S3's limit for presigned URLs)".into());
    }
    if split_size == 0 {
        return Err("--split 0: a part holds at least one byte".into());
    }
    let location = S3Location::parse(url, options)?;
    let objects = max_size.max(1).div_ceil(split_size);
    if objects > MAX_SPLIT_OBJECTS {
        return Err(format!(
            "--max-size {max_size} in parts of --split {split_size} needs {objects} part objects; a split ticket presigns at most {MAX_SPLIT_OBJECTS}\nhint: raise --split or lower --max-size"
        ));
    }
    let per_object = parts_for(split_size, DEFAULT_PART_SIZE);
    if per_object >= 10_000 {
        return Err("--split is beyond what 10 000 parts hold".into());
    }
    let urls = per_object.saturating_mul(objects as usize);
    if urls > MAX_TICKET_URLS {
        return Err(format!(
            "{objects} part objects of {per_object} presigned parts each ({urls} URLs): more than a ticket holds ({MAX_TICKET_URLS})\nhint: lower --max-size"
        ));
    }
    let (credentials, _) = super::credentials::resolve()?;
    let mut split_parts = Vec::with_capacity(objects as usize);
    for number in 0..objects as usize {
        let part = S3Location {
            bucket: location.bucket.clone(),
            key: super::s3_split::part_key(&location.key, number),
        };
        match presign_upload(&part, &credentials, expires, per_object) {
            Ok(upload) => split_parts.push(upload),
            Err(e) => {
                // Leave no open upload behind a ticket that was not written.
                abort_all(&split_parts);
                return Err(e);
            }
        }
    }
    let index = S3Location {
        bucket: location.bucket.clone(),
        key: format!("{}.index.json", location.key),
    };
    let index = match presign_upload(&index, &credentials, expires, 1) {
        Ok(upload) => upload,
        Err(e) => {
            abort_all(&split_parts);
            return Err(e);
        }
    };
    Ok(Ticket {
        format: TICKET_FORMAT.into(),
        kind: KIND_S3_SPLIT.into(),
        url: None,
        object: location.shown(),
        upload_id: String::new(),
        expires_unix: now_unix() + expires.as_secs(),
        part_size: DEFAULT_PART_SIZE,
        max_size,
        parts: Vec::new(),
        complete: String::new(),
        abort: String::new(),
        split_size,
        split_parts,
        index: Some(index),
    })
}

/// Aborts presigned part uploads; returns the objects whose abort failed.
/// An upload the store no longer knows (`NoSuchUpload`, 404: completed or
/// aborted by an earlier use of the ticket) is not open: not a failure.
pub(crate) fn abort_all(uploads: &[PartTicket]) -> Vec<String> {
    let agent = super::http::agent();
    let mut failed = Vec::new();
    let mut gone = 0usize;
    for upload in uploads {
        let mut url_of = || upload.abort.clone();
        match super::http::send(&agent, Method::Delete, &mut url_of, &[], &[], "abort") {
            Ok(_) => {}
            Err(super::HttpError::Refused { status: 404, .. }) => gone += 1,
            Err(e) => {
                tracing::warn!(object = %upload.object, "cannot abort the unused part upload: {e}");
                failed.push(upload.object.clone());
            }
        }
    }
    tracing::info!(
        aborted = uploads.len() - gone - failed.len(),
        already_gone = gone,
        failed = failed.len(),
        "the split ticket's unused uploads: aborted (or already gone: NoSuchUpload)"
    );
    failed
}

/// Makes a ticket holding one URL made elsewhere: an Azure SAS URL (checked
/// as the collector will check it) or a presigned PUT URL. It expires when
/// the URL does (`se`; `X-Amz-Date` + `X-Amz-Expires`; `Expires`), else
/// after `expires`.
pub fn make_url_ticket(url: &str, expires: Duration) -> Result<Ticket, String> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!("`{}`: not an http(s) URL", super::strip_query(url)));
    }
    let kind = if super::is_azure_url(url) {
        super::SasUrl::parse(url)?;
        KIND_AZURE_SAS
    } else {
        KIND_PUT_URL
    };
    let expires_unix = url_expiry(url).unwrap_or_else(|| now_unix() + expires.as_secs());
    if expires_unix <= now_unix() {
        return Err(format!(
            "the URL for `{}` has already expired",
            super::strip_query(url)
        ));
    }
    Ok(Ticket {
        format: TICKET_FORMAT.into(),
        kind: kind.into(),
        object: super::strip_query(url),
        upload_id: String::new(),
        expires_unix,
        part_size: 0,
        max_size: 0,
        parts: Vec::new(),
        complete: String::new(),
        abort: String::new(),
        url: Some(url.to_string()),
        split_size: 0,
        split_parts: Vec::new(),
        index: None,
    })
}

/// When a SAS or presigned URL expires, from its own parameters.
fn url_expiry(url: &str) -> Option<u64> {
    let query = url.split_once('?')?.1;
    let get = |name: &str| {
        query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.replace("%3A", ":").replace("%3a", ":"))
    };
    let unix = |text: &str| {
        humantime::parse_rfc3339_weak(text)
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs())
    };
    if let Some(se) = get("se") {
        return unix(&se);
    }
    if let (Some(date), Some(seconds)) = (get("X-Amz-Date"), get("X-Amz-Expires")) {
        // 20261123T182600Z
        let d = date.as_bytes();
        if d.len() == 16 {
            let text = format!(
                "{}-{}-{}T{}:{}:{}Z",
                &date[0..4],
                &date[4..6],
                &date[6..8],
                &date[9..11],
                &date[11..13],
                &date[13..15]
            );
            return Some(unix(&text)? + seconds.parse::<u64>().ok()?);
        }
    }
    get("Expires")?.parse().ok()
}

/// Reads a ticket file and refuses an expired one.
pub fn read_ticket(path: &std::path::Path) -> Result<Ticket, String> {
    let ticket = load_ticket(path)?;
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

/// Reads a ticket file, expired or not (what kind it is decides the shape
/// of the output, including a `--fallback-output` copy).
pub fn load_ticket(path: &std::path::Path) -> Result<Ticket, String> {
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
    Ok(ticket)
}

/// Signs nothing: hands out the presigned URLs of one multipart upload.
struct TicketSigner(PartTicket);

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

/// Opens the upload a ticket describes (the collector's side). A `put-url`
/// ticket holds the archive in memory up to `put_cap`, asking `stop` to end
/// the collection `margin` bytes before it (see [`PutUpload`](super::PutUpload)).
/// `expand` fills in `{host}`, `{time}` and `{case}` in the URL of an
/// `azure-sas` or `put-url` ticket (a container SAS lets the host name its blob).
pub fn open_ticket(
    path: &std::path::Path,
    put_cap: u64,
    margin: u64,
    stop: crate::engine::StopSignal,
    expand: &dyn Fn(&str) -> String,
) -> Result<(super::Upload, String), String> {
    let ticket = read_ticket(path)?;
    let object = ticket.object.clone();
    if ticket.kind == KIND_S3_SPLIT {
        let upload = super::s3_split::open_ticket_split(ticket)?;
        return Ok((super::Upload::Split(Box::new(upload)), object));
    }
    if ticket.kind != KIND_S3_MULTIPART {
        let Some(url) = ticket.url.as_deref().map(expand) else {
            return Err(format!(
                "{}: a `{}` ticket without its `url`",
                path.display(),
                ticket.kind
            ));
        };
        let url = url.as_str();
        let object = super::strip_query(url);
        return match ticket.kind.as_str() {
            KIND_AZURE_SAS => {
                let (upload, object) = super::open_azure(url, DEFAULT_PART_SIZE)?;
                Ok((super::Upload::Parts(upload), object))
            }
            KIND_PUT_URL => {
                let upload = super::PutUpload::new(url, put_cap, margin, stop)?;
                Ok((super::Upload::Put(upload), object))
            }
            other => Err(format!(
                "{}: ticket kind `{other}` is not known to this collector",
                path.display()
            )),
        };
    }
    let first = ticket.part_size;
    let upload = open_part_ticket(
        PartTicket {
            object: ticket.object,
            upload_id: ticket.upload_id,
            parts: ticket.parts,
            complete: ticket.complete,
            abort: ticket.abort,
        },
        first,
    )?;
    Ok((super::Upload::Parts(upload), object))
}

/// The streaming upload of one presigned multipart upload.
pub(crate) fn open_part_ticket(part: PartTicket, first: u64) -> Result<MultipartUpload, String> {
    let object = part.object.clone();
    MultipartUpload::new(Arc::new(TicketSigner(part)), object.clone(), first)
        .map_err(|e| format!("cannot start the upload thread for {object}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_tickets_expire_with_their_url() {
        assert_eq!(
            url_expiry("https://a/c/b?sv=2021-08-06&se=2030-01-02T03%3A04%3A05Z&sig=x"),
            Some(1_893_553_445)
        );
        assert_eq!(
            url_expiry("https://b.s3.amazonaws.com/k?X-Amz-Date=20300102T030405Z&X-Amz-Expires=60&X-Amz-Signature=x"),
            Some(1_893_553_505)
        );
        assert_eq!(
            url_expiry("https://h/k?Expires=1893553445&Signature=x"),
            Some(1_893_553_445)
        );
        assert_eq!(url_expiry("https://h/k"), None);
    }

    #[test]
    fn a_split_ticket_refuses_too_many_part_objects_before_any_request() {
        let options = S3Options::default();
        let hour = Duration::from_secs(3600);
        let error = make_split_ticket("s3://b/k", &options, hour, 1001 << 20, 1 << 20)
            .expect_err("1001 part objects");
        assert!(
            error.contains("needs 1001 part objects; a split ticket presigns at most 1000"),
            "{error}"
        );
        let error = make_split_ticket("s3://b/k", &options, hour, 1 << 30, 0).expect_err("0");
        assert!(error.contains("--split 0"), "{error}");
        // 1000 objects of 1 GiB: 128 URLs each, beyond what a ticket holds.
        let error = make_split_ticket("s3://b/k", &options, hour, 1000 << 30, 1 << 30)
            .expect_err("too many URLs");
        assert!(error.contains("more than a ticket holds"), "{error}");
    }

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
