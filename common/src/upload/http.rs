//! One HTTP request with retries: the blocking client (ureq, rustls with
//! the Mozilla roots of `webpki-roots`, so no system store is needed), and
//! backoff on network errors, 5xx and 429 answers.

use std::time::Duration;

/// Tries of one request before the upload fails for good.
pub(crate) const TRIES: u32 = 6;
/// The first wait between tries; doubled each time (0.25 s … 4 s).
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// What the store answered.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub etag: Option<String>,
    pub body: String,
}

/// A request that failed for good.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No answer after every try (connection refused, reset, timeout).
    #[error("{what}: no answer after {tries} tries: {last}")]
    Network {
        /// The request (`part 3`, `complete`).
        what: String,
        /// Tries made.
        tries: u32,
        /// The last error.
        last: String,
    },
    /// The store refused (4xx), or kept answering 5xx.
    #[error("{what}: the store answered HTTP {status} (after {tries} tries): {body}{hint}")]
    Refused {
        /// The request.
        what: String,
        /// HTTP status.
        status: u16,
        /// Tries made.
        tries: u32,
        /// The store's answer, cut short.
        body: String,
        /// The likely cause, when known.
        hint: String,
    },
}

/// The agent: timeouts so a dead network cannot hang the collector.
pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_response(Some(Duration::from_secs(120)))
        .timeout_send_body(Some(Duration::from_secs(600)))
        .user_agent(concat!("sealbag/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// The method of a request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    Put,
    Post,
    Delete,
}

/// Sends `body` to the URL `url()` gives (called again for each try, so a
/// signature can be renewed) and retries network errors, 5xx and 429 with
/// backoff. A 2xx answer is returned; anything else is an error.
pub(crate) fn send(
    agent: &ureq::Agent,
    method: Method,
    url: &mut dyn FnMut() -> String,
    headers: &[(&str, &str)],
    body: &[u8],
    what: &str,
) -> Result<Answer, HttpError> {
    let mut backoff = FIRST_BACKOFF;
    let mut last_error = None;
    for attempt in 1..=TRIES {
        if attempt > 1 {
            std::thread::sleep(backoff);
            backoff *= 2;
        }
        let target = url();
        let result = match method {
            Method::Put => {
                let mut request = agent.put(&target);
                for (k, v) in headers {
                    request = request.header(*k, *v);
                }
                request.send(body)
            }
            Method::Post => {
                let mut request = agent.post(&target);
                for (k, v) in headers {
                    request = request.header(*k, *v);
                }
                request.send(body)
            }
            Method::Delete => agent.delete(&target).call(),
        };
        match result {
            Err(e) => {
                tracing::warn!(attempt, "{what}: network error: {e}; retrying");
                last_error = Some(HttpError::Network {
                    what: what.into(),
                    tries: attempt,
                    last: e.to_string(),
                });
            }
            Ok(mut response) => {
                let status = response.status().as_u16();
                let etag = response
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = response
                    .body_mut()
                    .with_config()
                    .limit(1 << 20)
                    .read_to_string()
                    .unwrap_or_default();
                if (200..300).contains(&status) {
                    return Ok(Answer { status, etag, body });
                }
                let refused = HttpError::Refused {
                    what: what.into(),
                    status,
                    tries: attempt,
                    body: body.chars().take(600).collect(),
                    hint: hint(status, &body),
                };
                if status >= 500 || status == 429 {
                    tracing::warn!(attempt, "{what}: HTTP {status}; retrying");
                    last_error = Some(refused);
                } else {
                    return Err(refused);
                }
            }
        }
    }
    Err(last_error.unwrap_or_else(|| HttpError::Network {
        what: what.into(),
        tries: TRIES,
        last: "no try made".into(),
    }))
}

/// What a refusal most likely means, for the operator.
fn hint(status: u16, body: &str) -> String {
    let cause = if body.contains("SignatureDoesNotMatch") {
        "the signature does not cover what was sent: a header added on the way (a proxy?), a clock far off, or a URL altered in transit (an encoded `+`)"
    } else if body.contains("Request has expired")
        || (body.contains("AccessDenied") && body.contains("xpired"))
    {
        "the presigned URL or ticket has expired: ask the responder for a new ticket"
    } else if body.contains("NoSuchUpload") {
        "the multipart upload no longer exists: the ticket was already used (completed or aborted); ask for a new one"
    } else if body.contains("AuthenticationFailed") {
        "the SAS token is not valid for this request: expired, or without create/write permission"
    } else if status == 403 {
        "access denied: the credentials or ticket do not allow writing this object"
    } else if status == 404 {
        "no such bucket, container or upload"
    } else {
        return String::new();
    };
    format!("\nhint: {cause}")
}
