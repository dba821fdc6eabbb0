//! Reading a delivered archive back for `sealbag verify`: `s3://BUCKET/KEY`
//! (GetObject signed with the credentials found as for uploads) or an
//! `http(s)://` URL (an Azure read SAS, a presigned GET), streamed: the
//! object is never stored whole on the responder's side either.

use std::io::Read;

use rusty_s3::S3Action;

use super::http;
use super::s3::{S3Location, S3Options, SIGNED_FOR};

/// Opens a stored archive as a stream; returns it and its name without
/// any signature. One GET, not retried: a broken stream shows as damage at
/// the point it broke, and `verify` can be run again.
pub fn open_remote(url: &str, options: &S3Options) -> Result<(Box<dyn Read>, String), String> {
    let (target, shown) = if url.starts_with("s3://") {
        let location = S3Location::parse(url, options)?;
        let (credentials, origin) = super::credentials::resolve()?;
        tracing::info!(object = %location.shown(), credentials = %origin, "reading the object");
        let signed = location
            .bucket
            .get_object(Some(&credentials), &location.key)
            .sign(SIGNED_FOR)
            .to_string();
        (signed, location.shown())
    } else if url.starts_with("https://") || url.starts_with("http://") {
        (url.to_string(), super::strip_query(url))
    } else {
        return Err(format!("`{url}`: not an s3:// or http(s):// URL"));
    };
    let mut request = http::agent().get(&target);
    if url.starts_with("http") && super::is_azure_url(url) {
        request = request.header("x-ms-version", super::azure::AZURE_VERSION);
    }
    let mut response = request
        .call()
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        let body = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .unwrap_or_default();
        return Err(format!(
            "cannot read {shown}: the store answered HTTP {status}: {}{}",
            http::said(&body),
            http::hint(status, &body)
        ));
    }
    Ok((Box::new(response.into_body().into_reader()), shown))
}
