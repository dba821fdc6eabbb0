//! Remote delivery: the sealed archive streamed to an object store as it is
//! produced, with nothing written to the host's disk.
//!
//! - [`open_s3`]: `s3://BUCKET/KEY` with the host's own credentials
//!   (environment, shared file, instance role), as a streaming multipart
//!   upload ([`MultipartUpload`]).
//! - [`open_ticket`]: the same upload from a presigned [`Ticket`] that the
//!   responder made with [`make_ticket`]: the host holds no credential.
//! - [`open_azure`] for `https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB?<SAS>`:
//!   streamed as Azure blocks and committed with one block list.
//!
//! Which store an `http(s)://` URL names: Azure when its query carries a SAS
//! (`sv` and `sig`) or its host is an Azure Blob endpoint
//! (`*.blob.core.windows.net` and the sovereign clouds' equivalents),
//! otherwise a plain presigned PUT URL.
//!
//! HTTP is `ureq` (blocking, small) over rustls with the Mozilla root
//! certificates compiled in (`webpki-roots`): the collector needs no system
//! certificate store, and trusts exactly those roots.

mod azure;
mod credentials;
mod fallback;
mod http;
mod multipart;
mod put;
mod read;
mod s3;
mod s3_split;
mod ticket;

pub use azure::{is_azure_url, open_azure, strip_query, SasUrl};
pub use fallback::{Delivery, Fallback};
pub use http::HttpError;
pub use multipart::{MultipartUpload, UploadError, Uploaded, DEFAULT_PART_SIZE};
pub use put::{PutUpload, DEFAULT_PUT_BUFFER, MAX_PUT_SIZE};
pub use read::{open_remote, open_remote_split, ReadError, RemoteSplit, ResumingGet};
pub use s3::{open_s3, S3Location, S3Options};
pub use s3_split::{open_s3_split, SplitUpload};
pub use ticket::{
    load_ticket, make_split_ticket, make_ticket, make_url_ticket, open_ticket, read_ticket,
    PartTicket, Ticket, KIND_AZURE_SAS, KIND_PUT_URL, KIND_S3_MULTIPART, KIND_S3_SPLIT,
    MAX_SPLIT_OBJECTS, TICKET_FORMAT,
};

/// A remote output being written: in parts (S3 multipart, Azure blocks),
/// or whole in one presigned PUT.
pub enum Upload {
    /// Streamed in parts while the collection runs.
    Parts(MultipartUpload),
    /// Held in memory and sent in one PUT at the end.
    Put(PutUpload),
    /// `--split`: numbered objects of at most a given size, and their index.
    Split(Box<SplitUpload>),
}

impl std::io::Write for Upload {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Upload::Parts(u) => u.write(buf),
            Upload::Put(u) => u.write(buf),
            Upload::Split(u) => u.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Upload::Parts(u) => u.flush(),
            Upload::Put(u) => u.flush(),
            Upload::Split(u) => u.flush(),
        }
    }
}

impl Upload {
    /// Sends what is left and completes the upload.
    pub fn finish(self) -> std::io::Result<Uploaded> {
        self.finish_sealed("", 0)
    }

    /// Like [`finish`](Self::finish), given the whole ciphertext's hex
    /// SHA-256 and size (which a split upload's index records).
    pub fn finish_sealed(self, sha256: &str, bytes: u64) -> std::io::Result<Uploaded> {
        match self {
            Upload::Parts(u) => u.finish(),
            Upload::Put(u) => u.finish(),
            Upload::Split(u) => u.finish_sealed(sha256, bytes),
        }
    }
}

/// A destination given as `--output`: a local path, or a URL this module serves.
pub fn is_remote(output: &str) -> bool {
    output.starts_with("s3://") || output.starts_with("https://") || output.starts_with("http://")
}

/// Expands `{host}`, `{time}` and `{case}` in an object key.
pub fn expand_key(template: &str, host: &str, time: &str, case: Option<&str>) -> String {
    let safe = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    template
        .replace("{host}", &safe(host))
        .replace("{time}", &safe(time))
        .replace("{case}", &safe(case.unwrap_or("nocase")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_templates_expand_to_safe_text() {
        assert_eq!(
            expand_key(
                "ir/{case}/{host}-{time}.tar.zst.age",
                "web 01/x",
                "20260102T030405Z",
                Some("IR-1")
            ),
            "ir/IR-1/web_01_x-20260102T030405Z.tar.zst.age"
        );
        assert_eq!(expand_key("{case}", "h", "t", None), "nocase");
    }
}
