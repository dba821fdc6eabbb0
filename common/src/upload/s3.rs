//! S3 (and S3-compatible stores): `s3://BUCKET/KEY`, signed with SigV4
//! query signatures (rusty-s3) for each request just before it is sent.

use std::sync::Arc;
use std::time::Duration;

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use super::http::{self, Method};
use super::multipart::{completion_body, xml_text, Completion, MultipartUpload, Signer};

/// How long a URL signed by the collector stays valid: a part's tries fit.
pub(crate) const SIGNED_FOR: Duration = Duration::from_secs(3600);

/// Where and how to reach the store (`--s3-endpoint`, `--s3-region`).
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// `https://host[:port]` of an S3-compatible store; default AWS's regional endpoint.
    pub endpoint: Option<String>,
    /// The region; default `AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: Option<String>,
}

/// A bucket and key, from `s3://BUCKET/KEY`.
#[derive(Debug, Clone)]
pub struct S3Location {
    /// The bucket.
    pub bucket: Bucket,
    /// The object key.
    pub key: String,
}

impl S3Location {
    /// Parses `s3://BUCKET/KEY` against the store `options` names.
    pub fn parse(url: &str, options: &S3Options) -> Result<Self, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("`{url}`: not an s3://BUCKET/KEY URL"))?;
        let (bucket, key) = rest
            .split_once('/')
            .filter(|(b, k)| !b.is_empty() && !k.is_empty())
            .ok_or_else(|| format!("`{url}`: write s3://BUCKET/KEY (a key is needed)"))?;
        let region = options
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .unwrap_or_else(|| "us-east-1".into());
        let (endpoint, style) = match &options.endpoint {
            Some(endpoint) => (endpoint.clone(), UrlStyle::Path),
            None if bucket.contains('.') => {
                (format!("https://s3.{region}.amazonaws.com"), UrlStyle::Path)
            }
            None => (
                format!("https://s3.{region}.amazonaws.com"),
                UrlStyle::VirtualHost,
            ),
        };
        let endpoint = endpoint
            .parse()
            .map_err(|e| format!("--s3-endpoint `{endpoint}`: {e}"))?;
        let bucket = Bucket::new(endpoint, style, bucket.to_string(), region)
            .map_err(|e| format!("bucket `{bucket}`: {e}"))?;
        Ok(S3Location {
            bucket,
            key: key.to_string(),
        })
    }

    /// `s3://bucket/key`, for messages.
    pub fn shown(&self) -> String {
        format!("s3://{}/{}", self.bucket.name(), self.key)
    }

    /// Starts a multipart upload (CreateMultipartUpload) and returns its id.
    pub fn create_upload(&self, credentials: &Credentials) -> Result<String, String> {
        let action = self
            .bucket
            .create_multipart_upload(Some(credentials), &self.key);
        let url = action.sign(SIGNED_FOR).to_string();
        let mut url_of = || url.clone();
        let answer = http::send(
            &http::agent(),
            Method::Post,
            &mut url_of,
            &[],
            &[],
            "create upload",
        )
        .map_err(|e| format!("cannot start the upload to {}: {e}", self.shown()))?;
        xml_text(&answer.body, "UploadId").ok_or_else(|| {
            format!(
                "cannot start the upload to {}: no UploadId in the answer: {}",
                self.shown(),
                answer.body.chars().take(300).collect::<String>()
            )
        })
    }
}

/// Signs each request with the collector's own credentials.
struct CredentialSigner {
    location: S3Location,
    credentials: Credentials,
    upload_id: String,
}

impl Signer for CredentialSigner {
    fn part(&self, number: u16) -> Result<String, String> {
        let action = self.location.bucket.upload_part(
            Some(&self.credentials),
            &self.location.key,
            number,
            &self.upload_id,
        );
        Ok(action.sign(SIGNED_FOR).to_string())
    }
    fn complete(&self, etags: &[String]) -> Completion {
        let action = self.location.bucket.complete_multipart_upload(
            Some(&self.credentials),
            &self.location.key,
            &self.upload_id,
            std::iter::empty(),
        );
        Completion {
            method: Method::Post,
            url: action.sign(SIGNED_FOR).to_string(),
            body: completion_body(etags),
        }
    }
    fn abort(&self) -> Option<String> {
        let action = self.location.bucket.abort_multipart_upload(
            Some(&self.credentials),
            &self.location.key,
            &self.upload_id,
        );
        Some(action.sign(SIGNED_FOR).to_string())
    }
}

/// Starts a multipart upload of `location` signed with `credentials`.
pub(crate) fn start_upload(
    location: S3Location,
    credentials: Credentials,
    first_part_size: u64,
) -> Result<MultipartUpload, String> {
    let upload_id = location.create_upload(&credentials)?;
    let object = location.shown();
    let signer = CredentialSigner {
        location,
        credentials,
        upload_id,
    };
    MultipartUpload::new(Arc::new(signer), object.clone(), first_part_size)
        .map_err(|e| format!("cannot start the upload thread for {object}: {e}"))
}

/// Opens a streaming upload to `s3://BUCKET/KEY` with the credentials found
/// in the environment, the shared file or the instance role.
pub fn open_s3(
    url: &str,
    options: &S3Options,
    first_part_size: u64,
) -> Result<MultipartUpload, String> {
    let location = S3Location::parse(url, options)?;
    let (credentials, origin) = super::credentials::resolve()?;
    tracing::info!(object = %location.shown(), credentials = %origin, "starting the multipart upload");
    start_upload(location, credentials, first_part_size)
}
