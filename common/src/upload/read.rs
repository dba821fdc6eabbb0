//! Reading a delivered archive back for `sealbag verify`: `s3://BUCKET/KEY`
//! (GetObject signed with the credentials found as for uploads) or an
//! `http(s)://` URL (an Azure read SAS, a presigned GET), streamed: the
//! object is never stored whole on the responder's side either.
//!
//! The GET is retried like an upload's requests (network errors, 5xx and
//! 429, with the same backoff), and a stream that breaks midway is resumed
//! with `Range: bytes=OFFSET-` from the byte reached, guarded by `If-Match`
//! on the first answer's ETag so a changed object is not spliced in. A store
//! that ignores ranges (answers 200) is read again from the start and the
//! bytes already seen are skipped.
//!
//! A split set uploaded with `--split` is read from its index:
//! `s3://BUCKET/KEY.index.json`; [`open_remote_split`] checks every part's
//! size and SHA-256 first and names a part missing or altered.

use std::io::{self, Read};

use rusty_s3::S3Action;

use super::http;
use super::s3::{S3Location, S3Options, SIGNED_FOR};
use crate::archive::SplitIndex;

/// Largest split index read (as for a local one).
const MAX_INDEX_BYTES: u64 = 64 << 20;

/// How to make the URL of each try (S3 URLs are signed again each time).
type UrlMaker = Box<dyn FnMut() -> String + Send>;

/// A GET that resumes where it broke; see the module documentation.
pub struct ResumingGet {
    agent: ureq::Agent,
    url: UrlMaker,
    azure: bool,
    shown: String,
    offset: u64,
    length: Option<u64>,
    etag: Option<String>,
    body: Option<ureq::BodyReader<'static>>,
    /// Failures since the last byte received.
    failures: u32,
    /// Resumptions made (for the log and tests).
    resumed: u32,
}

/// Why an object cannot be read: the store's refusal (404, 403: not
/// retried), or the network after every try.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The store answered 404.
    #[error("{shown}: no such object (HTTP 404)")]
    Missing {
        /// The object.
        shown: String,
    },
    /// Anything else, said in full.
    #[error("{0}")]
    Other(String),
}

impl ResumingGet {
    fn new(url: UrlMaker, azure: bool, shown: String) -> Self {
        ResumingGet {
            agent: http::agent(),
            url,
            azure,
            shown,
            offset: 0,
            length: None,
            etag: None,
            body: None,
            failures: 0,
            resumed: 0,
        }
    }

    /// Sends the GET from `self.offset`, retrying; sets `self.body`.
    fn open(&mut self) -> Result<(), ReadError> {
        let mut last = String::new();
        while self.failures < http::TRIES {
            if self.failures > 0 {
                std::thread::sleep(http::backoff(self.failures));
            }
            let target = (self.url)();
            let mut request = self.agent.get(&target);
            if self.azure {
                request = request.header("x-ms-version", super::azure::AZURE_VERSION);
            }
            if self.offset > 0 {
                request = request.header("Range", &format!("bytes={}-", self.offset));
                if let Some(etag) = &self.etag {
                    request = request.header("If-Match", etag);
                }
            }
            let mut response = match request.call() {
                Ok(response) => response,
                Err(e) => {
                    self.failures += 1;
                    last = format!("network error: {e}");
                    tracing::warn!(object = %self.shown, offset = self.offset, "GET: {last}; retrying");
                    continue;
                }
            };
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let content_length = header("content-length").and_then(|v| v.parse::<u64>().ok());
            let etag = header("etag");
            if status == 200 || (status == 206 && self.offset > 0) {
                if self.etag.is_none() {
                    self.etag = etag;
                }
                let skip = if status == 200 { self.offset } else { 0 };
                if self.length.is_none() {
                    self.length = content_length;
                }
                let mut body = response.into_body().into_reader();
                if skip > 0 {
                    // The store ignored the range: skip what was already read.
                    tracing::warn!(object = %self.shown, "the store ignored the range: reading {skip} bytes again");
                    match io::copy(&mut (&mut body).take(skip), &mut io::sink()) {
                        Ok(n) if n == skip => {}
                        Ok(_) | Err(_) => {
                            self.failures += 1;
                            last = "broke again before the offset reached".into();
                            continue;
                        }
                    }
                }
                self.body = Some(body);
                return Ok(());
            }
            let text = response
                .body_mut()
                .with_config()
                .limit(1 << 20)
                .read_to_string()
                .unwrap_or_default();
            if status == 404 {
                return Err(ReadError::Missing {
                    shown: self.shown.clone(),
                });
            }
            let said = format!(
                "the store answered HTTP {status}: {}{}",
                http::said(&text),
                http::hint(status, &text)
            );
            if status == 412 {
                return Err(ReadError::Other(format!(
                    "{}: the object changed while it was read (its ETag no longer matches at byte {}): {said}",
                    self.shown, self.offset
                )));
            }
            if status >= 500 || status == 429 {
                self.failures += 1;
                tracing::warn!(object = %self.shown, offset = self.offset, "GET: HTTP {status}; retrying");
                last = said;
                continue;
            }
            return Err(ReadError::Other(format!(
                "cannot read {}: {said}",
                self.shown
            )));
        }
        Err(ReadError::Other(format!(
            "cannot read {} (at byte {}): no answer after {} tries: {last}",
            self.shown,
            self.offset,
            http::TRIES
        )))
    }
}

impl Read for ResumingGet {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.body.is_none() {
                if self.offset > 0 {
                    self.resumed += 1;
                    tracing::warn!(object = %self.shown, offset = self.offset, "the stream broke: resuming from byte {}", self.offset);
                }
                self.open().map_err(io::Error::other)?;
            }
            let Some(body) = self.body.as_mut() else {
                continue;
            };
            match body.read(buf) {
                Ok(0) if self.length.is_some_and(|length| self.offset < length) => {
                    self.body = None;
                    self.failures += 1;
                    tracing::warn!(object = %self.shown, offset = self.offset, "the stream ended early");
                }
                Ok(n) => {
                    self.offset += n as u64;
                    if n > 0 {
                        self.failures = 0;
                    }
                    return Ok(n);
                }
                Err(e) => {
                    self.body = None;
                    self.failures += 1;
                    tracing::warn!(object = %self.shown, offset = self.offset, "the stream broke: {e}");
                }
            }
            if self.failures >= http::TRIES {
                return Err(io::Error::other(format!(
                    "{}: the stream broke at byte {} {} times in a row",
                    self.shown,
                    self.offset,
                    http::TRIES
                )));
            }
        }
    }
}

/// What a `verify` URL names: an S3 object (with how to sign for it), or a
/// plain URL.
enum Target {
    S3 {
        location: Box<S3Location>,
        credentials: Box<rusty_s3::Credentials>,
    },
    Url(String),
}

impl Target {
    fn parse(url: &str, options: &S3Options) -> Result<Self, String> {
        if url.starts_with("s3://") {
            let location = S3Location::parse(url, options)?;
            let (credentials, origin) = super::credentials::resolve()?;
            tracing::info!(object = %location.shown(), credentials = %origin, "reading the object");
            Ok(Target::S3 {
                location: Box::new(location),
                credentials: Box::new(credentials),
            })
        } else if url.starts_with("https://") || url.starts_with("http://") {
            Ok(Target::Url(url.to_string()))
        } else {
            Err(format!("`{url}`: not an s3:// or http(s):// URL"))
        }
    }

    /// A resuming GET of `key` (S3), or of the URL itself.
    fn get(&self, key: Option<&str>) -> ResumingGet {
        match self {
            Target::S3 {
                location,
                credentials,
            } => {
                let bucket = location.bucket.clone();
                let credentials = credentials.clone();
                let key = key.unwrap_or(&location.key).to_string();
                let shown = format!("s3://{}/{key}", bucket.name());
                let url = move || {
                    bucket
                        .get_object(Some(&credentials), &key)
                        .sign(SIGNED_FOR)
                        .to_string()
                };
                ResumingGet::new(Box::new(url), false, shown)
            }
            Target::Url(url) => {
                let fixed = url.clone();
                ResumingGet::new(
                    Box::new(move || fixed.clone()),
                    super::is_azure_url(url),
                    super::strip_query(url),
                )
            }
        }
    }
}

/// Opens a stored archive as a stream; returns it and its name without
/// any signature. Retried and resumed as the module documentation says.
pub fn open_remote(url: &str, options: &S3Options) -> Result<(Box<dyn Read>, String), String> {
    let target = Target::parse(url, options)?;
    let mut get = target.get(None);
    get.open().map_err(|e| match e {
        ReadError::Missing { shown } if url.starts_with("s3://") => format!(
            "{shown}: no such object (HTTP 404)\nhint: a set uploaded with `--split` is read from its index: `{shown}.index.json`"
        ),
        other => other.to_string(),
    })?;
    let shown = get.shown.clone();
    Ok((Box::new(get), shown))
}

/// A split set in a store, found from its index.
pub struct RemoteSplit {
    /// The index object (`s3://BUCKET/KEY.index.json`).
    pub shown: String,
    /// The index.
    pub index: SplitIndex,
    /// One line per part that is missing, of the wrong size or altered (or
    /// a part beyond those the index lists); empty when all are as written.
    pub problems: Vec<String>,
    target: Target,
    keys: Vec<String>,
}

impl RemoteSplit {
    /// The parts read in order, as one stream (each a resuming GET).
    pub fn reader(self) -> Box<dyn Read> {
        let gets: Vec<ResumingGet> = self
            .keys
            .iter()
            .map(|key| self.target.get(Some(key)))
            .collect();
        Box::new(Chain {
            gets: gets.into_iter(),
            current: None,
        })
    }
}

struct Chain {
    gets: std::vec::IntoIter<ResumingGet>,
    current: Option<ResumingGet>,
}

impl Read for Chain {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(get) = self.current.as_mut() {
                let n = get.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
            }
            match self.gets.next() {
                Some(get) => self.current = Some(get),
                None => return Ok(0),
            }
        }
    }
}

/// `Ok(None)`: `url` is not a split index (`s3://BUCKET/KEY.index.json`).
/// Otherwise reads the index and checks every part it lists (size and
/// SHA-256, each part read once), and whether a part beyond them exists.
pub fn open_remote_split(url: &str, options: &S3Options) -> Result<Option<RemoteSplit>, String> {
    if !url.ends_with(".index.json") {
        return Ok(None);
    }
    if !url.starts_with("s3://") {
        return Err(format!(
            "`{}`: a split set is verified through `s3://BUCKET/KEY.index.json` (its parts are found beside the index)\nhint: or download the index and the parts into one folder and verify the local index",
            super::strip_query(url)
        ));
    }
    let target = Target::parse(url, options)?;
    let Target::S3 { location, .. } = &target else {
        return Ok(None);
    };
    let index_key = location.key.clone();
    let folder = match index_key.rfind('/') {
        Some(slash) => index_key[..=slash].to_string(),
        None => String::new(),
    };
    let mut get = target.get(None);
    let shown = get.shown.clone();
    let mut bytes = Vec::new();
    get.open().map_err(|e| e.to_string())?;
    (&mut get)
        .take(MAX_INDEX_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the split index {shown}: {e}"))?;
    let index = crate::archive::parse_index(&bytes)
        .map_err(|reason| format!("{shown}: not a sealbag split index: {reason}"))?;
    let keys: Vec<String> = index
        .parts
        .iter()
        .map(|p| format!("{folder}{}", p.name))
        .collect();
    let mut check = crate::archive::PartCheck::new(&index);
    for (part, key) in index.parts.iter().zip(&keys) {
        let mut get = target.get(Some(key));
        match get.open() {
            Ok(()) => check.part(part, Ok(&mut get)),
            Err(ReadError::Missing { .. }) => check.part(part, Err(None)),
            Err(ReadError::Other(text)) => check.part(part, Err(Some(text))),
        }
    }
    let next = format!("{folder}{}.{:03}", index.archive, index.parts.len());
    let mut extra = target.get(Some(&next));
    if extra.open().is_ok() {
        check.unlisted(&extra.shown);
    }
    let problems = check.finish();
    Ok(Some(RemoteSplit {
        shown,
        index,
        problems,
        target,
        keys,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    /// A server that answers every GET with `body` whole (200, ignoring any
    /// Range), but cuts the first answer after `cut` bytes; returns its URL
    /// and the request heads it saw.
    fn flaky_server(body: Vec<u8>, cut: usize) -> (String, std::sync::mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (heads, seen) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().take(4).enumerate() {
                let Ok(mut stream) = stream else { continue };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let _ = heads.send(String::from_utf8_lossy(&head).into_owned());
                let send = if n == 0 { cut } else { body.len() };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: \"e\"\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body[..send]);
            }
        });
        (format!("http://127.0.0.1:{port}/object"), seen)
    }

    #[test]
    fn a_cut_answer_is_resumed_from_the_byte_reached_even_when_ranges_are_ignored() {
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let (url, seen) = flaky_server(body.clone(), 100_000);
        let (mut reader, shown) = open_remote(&url, &S3Options::default()).expect("open");
        assert_eq!(shown, url);
        let mut read = Vec::new();
        reader.read_to_end(&mut read).expect("read to the end");
        assert_eq!(read.len(), body.len());
        assert!(read == body, "the bytes differ");
        let first = seen.recv().expect("first request");
        assert!(!first.to_ascii_lowercase().contains("range:"), "{first}");
        let second = seen.recv().expect("second request").to_ascii_lowercase();
        assert!(second.contains("range: bytes="), "{second}");
        assert!(second.contains("if-match: \"e\""), "{second}");
    }
}
