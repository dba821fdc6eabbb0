//! One HTTP request with retries: the blocking client (ureq, rustls with
//! the Mozilla roots of `webpki-roots`, so no system store is needed), and
//! backoff on network errors, 5xx and 429 answers.

use std::time::Duration;

/// Tries of one request before the upload fails for good.
pub(crate) const TRIES: u32 = 6;
/// The first wait between tries; doubled each time (0.25 s … 4 s).
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// The wait before try `attempt + 1` after `attempt` failed tries (1-based):
/// 0.25 s, doubled each time.
pub(crate) fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF * (1u32 << attempt.saturating_sub(1).min(6))
}

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
        /// What the store said: its error `Code: Message`, cut short.
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
    let mut last_error = None;
    for attempt in 1..=TRIES {
        if attempt > 1 {
            std::thread::sleep(backoff(attempt - 1));
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
                    body: said(&body),
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

/// The store's `<Code>` and `<Message>` (S3 and Azure error bodies), cut
/// short; the raw answer, cut short, when it is not such XML.
pub(crate) fn said(body: &str) -> String {
    let field = |tag: &str| super::multipart::xml_text(body, tag);
    match (field("Code"), field("Message")) {
        (Some(code), Some(message)) => {
            // Azure's messages end with a request id and a time: keep the first line.
            let message = message.lines().next().unwrap_or("").trim().to_string();
            let mut text = format!("{code}: {message}");
            if let Some(detail) = field("AuthenticationErrorDetail") {
                text.push_str(&format!(" ({})", detail.trim()));
            }
            cut(&text, 400)
        }
        (Some(code), None) => code,
        _ => cut(body.trim(), 400),
    }
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

/// What a refusal most likely means, for the operator.
pub(crate) fn hint(status: u16, body: &str) -> String {
    let code = super::multipart::xml_text(body, "Code").unwrap_or_default();
    let lower = body.to_ascii_lowercase();
    let cause = match code.as_str() {
        "SignatureDoesNotMatch" => "the signature does not cover what was sent: a header the URL was signed with (such as `Content-Type`) missing or different, a header added on the way (a proxy?), or the URL altered in transit (a `+` decoded to a space, or `%2B` encoded twice); presign without headers, and pass the URL quoted and unchanged",
        "RequestTimeTooSkewed" => "this host's clock is too far from the store's: set the clock (UTC) and retry",
        "AuthorizationQueryParametersError" => "the presigned URL is malformed (cut short, or altered in transit): pass it whole and quoted",
        "NoSuchUpload" => "the multipart upload no longer exists: the ticket was already used (completed or aborted); ask for a new one",
        "AuthorizationPermissionMismatch" => "the SAS does not grant this operation: a write-only SAS needs `c` and `w` (`az storage container generate-sas --permissions cw`)",
        "AuthorizationResourceTypeMismatch" => "the SAS is for another kind of resource (`sr`/`srt`): use a container SAS (`sr=c`) or a blob SAS for this very blob",
        "AuthorizationFailure" => "the SAS was refused: expired or not yet valid (`se`/`st`; check this host's clock, UTC), or the storage account's firewall or network rules refuse this host, or SAS access is disabled on the account",
        "AuthorizationProtocolMismatch" => "the SAS allows HTTPS only (`spr=https`): use the https:// URL",
        "AuthorizationSourceIPMismatch" => "the SAS is limited to other IP addresses (`sip`): this host's public address is not in the range",
        "BlobAlreadyExists" | "ConditionNotMet" => "a blob of that name exists and sealbag never overwrites: use a new name (`{host}-{time}` in the URL)",
        "ContainerNotFound" => "no such container: create it first (the SAS cannot)",
        "AuthenticationFailed" if lower.contains("expir") || lower.contains("time frame") || (lower.contains("not valid") && lower.contains("time")) => "the SAS has expired or is not yet valid (`st`/`se`), or this host's clock is off: make a new SAS (and check the clock)",
        "AuthenticationFailed" if lower.contains("signature did not match") || lower.contains("not well formed") => "the SAS was altered: pass the whole URL quoted (an unquoted `&` cuts it in a shell), with `%2B` as it is (a raw `+` reads as a space), or the SAS was signed with another key (keys rotated?)",
        "AuthenticationFailed" => "the SAS is not valid for this request: expired, altered, or signed with a key since rotated",
        _ if lower.contains("request has expired") || (code == "AccessDenied" && lower.contains("xpired")) => "the presigned URL or ticket has expired: ask the responder for a new one",
        _ if status == 403 => "access denied: the URL, SAS or credentials do not allow writing this object (expired? signed for another key or method?)",
        _ if status == 404 => "no such bucket, container or upload",
        _ if status == 409 => "the object exists or is being written: sealbag never overwrites; use a new name",
        _ => return String::new(),
    };
    format!("\nhint: {cause}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_code_the_message_and_a_likely_cause() {
        let azure = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthorizationPermissionMismatch</Code><Message>This request is not authorized to perform this operation using this permission.\nRequestId:1\nTime:2026-11-23T19:00:00Z</Message></Error>";
        assert_eq!(
            said(azure),
            "AuthorizationPermissionMismatch: This request is not authorized to perform this operation using this permission."
        );
        assert!(hint(403, azure).contains("`c` and `w`"));
        let s3 = "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>";
        assert!(hint(403, s3).contains("`Content-Type`"));
        assert!(hint(403, s3).contains("`+`"));
        let expired = "<Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate the request.</Message><AuthenticationErrorDetail>Signed expiry time [Mon, 23 Nov 2026 18:00:00 GMT] must be after signed start time [Mon, 23 Nov 2026 19:00:00 GMT]</AuthenticationErrorDetail></Error>";
        assert!(
            said(expired).contains("(Signed expiry time"),
            "{}",
            said(expired)
        );
        assert!(hint(403, expired).contains("expired"));
        assert!(hint(403, "<Error><Code>RequestTimeTooSkewed</Code></Error>").contains("clock"));
        assert_eq!(said("plain text"), "plain text");
        assert_eq!(hint(500, "oops"), "");
    }
}
