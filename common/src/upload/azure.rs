//! Azure Blob Storage with a SAS URL: the sealed stream sent as blocks
//! (Put Block) while the collection runs, then committed in one Put Block
//! List. The SAS is the host's whole grant: a container SAS with `c` and
//! `w` (or a blob SAS for one name) lets it write and nothing else.
//!
//! Blocks start at 8 MiB and double every 5 000 blocks: 50 000 blocks (the
//! service's limit) then hold about 5.5 TB while memory stays at two
//! blocks. Nothing is visible until the block list is committed: an upload
//! that fails for good leaves only uncommitted blocks, which are not a blob
//! and which the service discards by itself (after seven days).

use std::sync::Arc;

use base64::Engine as _;

use super::http::Method;
use super::multipart::{Completion, MultipartUpload, Signer};

/// `x-ms-version` of every request: a version every current service and
/// the Azurite emulator accept.
pub(crate) const AZURE_VERSION: &str = "2021-08-06";
/// Blocks in one blob (the service's limit).
const MAX_BLOCKS: u16 = 50_000;
/// The largest block (4000 MiB since version 2019-12-12).
const MAX_BLOCK_SIZE: u64 = 4000 << 20;
/// Blocks sent before the block size doubles.
const BLOCKS_PER_SIZE: u16 = 5_000;
/// Host suffixes of Azure Blob endpoints (public cloud, US government, China).
const BLOB_HOSTS: &[&str] = &[
    ".blob.core.windows.net",
    ".blob.core.usgovcloudapi.net",
    ".blob.core.chinacloudapi.cn",
    ".blob.storage.azure.net",
];

/// Whether an `http(s)://` URL names Azure Blob Storage: its query carries
/// a SAS (`sv` and `sig`), or its host is an Azure Blob endpoint. Anything
/// else is a plain presigned PUT URL.
pub fn is_azure_url(url: &str) -> bool {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let has = |name: &str| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(name))
    };
    if has("sv") && has("sig") {
        return true;
    }
    let host = base
        .split_once("://")
        .map_or(base, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    BLOB_HOSTS.iter().any(|suffix| host.ends_with(suffix))
}

/// A blob URL with its SAS, split so requests can add their own parameters.
#[derive(Debug, Clone)]
pub struct SasUrl {
    /// `https://account.blob.core.windows.net/container/blob` (or a
    /// path-style emulator URL), without the query.
    base: String,
    /// The SAS query, as given (only a raw `+` in `sig` repaired).
    query: String,
}

impl SasUrl {
    /// Parses and checks a SAS URL; refuses one that cannot work (no
    /// signature, no blob name, no write permission) before anything is
    /// collected.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (base, query) = url.split_once('?').ok_or_else(|| {
            format!("`{}`: an Azure blob URL needs its SAS (`?sv=…&sig=…`)\nhint: `az storage container generate-sas --permissions cw` makes one (docs/deploy-intune.md)", strip_query(url))
        })?;
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(format!("`{base}`: not an http(s) URL"));
        }
        let params: Vec<(&str, &str)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")))
            .collect();
        let get = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let (Some(_), Some(sig)) = (get("sv"), get("sig")) else {
            return Err(format!(
                "`{base}`: the URL carries no SAS (`sv` and `sig` are needed)\nhint: give the whole SAS URL, quoted: `--output 'https://…?sv=…&sig=…'`"
            ));
        };
        // The path after the host: CONTAINER/BLOB (path-style emulators
        // put the account first: ACCOUNT/CONTAINER/BLOB).
        let path = base
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('/'))
            .map_or("", |(_, path)| path);
        if path.split('/').filter(|s| !s.is_empty()).count() < 2 {
            return Err(format!(
                "`{base}`: name the blob after the container (`…/CONTAINER/BLOB?sv=…`); a container SAS lets the collector choose the name"
            ));
        }
        if let Some(permissions) = get("sp") {
            if !permissions.contains('w') {
                return Err(format!(
                    "the SAS for `{base}` grants `sp={permissions}`, without `w` (write): Azure refuses Put Block without it\nhint: ask for a SAS with `--permissions cw` (create and write, nothing else)"
                ));
            }
        }
        if let Some(expiry) = get("se") {
            let text = percent_decode(expiry);
            if let Ok(at) = humantime::parse_rfc3339_weak(&text) {
                if at < std::time::SystemTime::now() {
                    tracing::warn!(
                        "the SAS expired at {text} by this host's clock: the store will likely refuse it (or this clock is wrong)"
                    );
                }
            }
        }
        let mut query = query.to_string();
        if sig.contains('+') || sig.contains(' ') {
            // A `+` left raw in a query reads as a space: the signature fails.
            tracing::warn!(
                "the SAS signature holds a raw `+`: sent as `%2B` (URL-encoded), as Azure expects"
            );
            let fixed = sig.replace(['+', ' '], "%2B");
            query = query.replace(&format!("sig={sig}"), &format!("sig={fixed}"));
        }
        Ok(SasUrl {
            base: base.to_string(),
            query,
        })
    }

    /// The blob's URL without the SAS, for messages and the run log (the
    /// SAS is a grant: it is never printed).
    pub fn shown(&self) -> String {
        self.base.clone()
    }

    /// The URL with its SAS and `extra` parameters.
    pub(crate) fn with(&self, extra: &str) -> String {
        if extra.is_empty() {
            format!("{}?{}", self.base, self.query)
        } else {
            format!("{}?{}&{extra}", self.base, self.query)
        }
    }
}

/// The URL without its query (never print a SAS or a signature).
pub fn strip_query(url: &str) -> String {
    url.split_once('?')
        .map_or(url, |(base, _)| base)
        .to_string()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The block id of block `number`: base64 of `sealbag-NNNNNNNNNN` (18
/// bytes, so every id has the same length, 24 characters, as Azure
/// requires, and no `=` padding).
pub(crate) fn block_id(number: u16) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("sealbag-{number:010}"))
}

/// A block id as a query value.
fn encoded_id(number: u16) -> String {
    block_id(number)
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// The Put Block List body: every block, in order, from the uncommitted list.
pub(crate) fn block_list(count: usize) -> String {
    let mut body = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
    for n in 1..=count {
        let id = u16::try_from(n).map_or_else(|_| String::new(), block_id);
        body.push_str(&format!("<Latest>{id}</Latest>"));
    }
    body.push_str("</BlockList>");
    body
}

struct SasSigner(SasUrl);

impl Signer for SasSigner {
    fn part(&self, number: u16) -> Result<String, String> {
        Ok(self
            .0
            .with(&format!("comp=block&blockid={}", encoded_id(number))))
    }
    fn headers(&self) -> &'static [(&'static str, &'static str)] {
        &[("x-ms-version", AZURE_VERSION)]
    }
    fn complete(&self, etags: &[String]) -> Completion {
        Completion {
            method: Method::Put,
            url: self.0.with("comp=blocklist"),
            body: block_list(etags.len()),
        }
    }
    fn complete_headers(&self) -> &'static [(&'static str, &'static str)] {
        // Never replace a blob that exists (sealbag never overwrites): the
        // store answers 409 instead.
        &[("x-ms-version", AZURE_VERSION), ("If-None-Match", "*")]
    }
    fn abort(&self) -> Option<String> {
        None
    }
    fn unaborted(&self) -> &'static str {
        "nothing was committed: the blocks already sent stay uncommitted (no blob exists under the name) and Azure discards them by itself after seven days"
    }
    fn max_parts(&self) -> u16 {
        MAX_BLOCKS
    }
    fn max_part_size(&self) -> u64 {
        MAX_BLOCK_SIZE
    }
    fn parts_per_size(&self) -> u16 {
        BLOCKS_PER_SIZE
    }
}

/// Opens a streaming block upload to the blob a SAS URL names.
pub fn open_azure(url: &str, first_block_size: u64) -> Result<(MultipartUpload, String), String> {
    let sas = SasUrl::parse(url)?;
    let object = sas.shown();
    tracing::info!(object = %object, "starting the block upload (Azure SAS)");
    let upload = MultipartUpload::new(Arc::new(SasSigner(sas)), object.clone(), first_block_size)
        .map_err(|e| format!("cannot start the upload thread for {object}: {e}"))?;
    Ok((upload, object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::multipart::part_size;

    #[test]
    fn azure_is_told_by_its_sas_or_its_host() {
        assert!(is_azure_url(
            "https://acct.blob.core.windows.net/c/b?sv=2021-08-06&sr=c&sp=cw&sig=x"
        ));
        assert!(is_azure_url(
            "http://127.0.0.1:10000/devstoreaccount1/c/b?sv=2021-08-06&sig=x"
        ));
        assert!(is_azure_url("https://ACCT.blob.core.windows.net/c/b"));
        // S3 presigned URLs have neither.
        assert!(!is_azure_url(
            "https://bucket.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab"
        ));
        assert!(!is_azure_url("https://example.com/upload?sig=1"));
    }

    #[test]
    fn block_ids_have_one_length_and_decode_to_their_number() {
        let ids: Vec<String> = [1u16, 9, 10, 999, 50_000].map(block_id).to_vec();
        assert!(ids.iter().all(|id| id.len() == 24), "{ids:?}");
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&ids[4])
                .expect("base64"),
            b"sealbag-0000050000"
        );
        assert_eq!(
            block_list(2),
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><Latest>{}</Latest><Latest>{}</Latest></BlockList>",
                block_id(1),
                block_id(2)
            )
        );
    }

    #[test]
    fn fifty_thousand_blocks_hold_five_terabytes() {
        let mut total: u64 = 0;
        let mut largest = 0;
        for n in 1..=MAX_BLOCKS {
            let size = part_size(8 << 20, n, BLOCKS_PER_SIZE, MAX_BLOCK_SIZE);
            largest = largest.max(size);
            total += size;
        }
        assert!(total > 5_000_000_000_000, "{total}");
        // Two blocks in memory at most: 1 GiB at the very end.
        assert_eq!(largest, 4000 << 20);
        let mut at_5tb = 0;
        let mut sum = 0u64;
        for n in 1..=MAX_BLOCKS {
            sum += part_size(8 << 20, n, BLOCKS_PER_SIZE, MAX_BLOCK_SIZE);
            if sum >= 5_000_000_000_000 {
                at_5tb = part_size(8 << 20, n, BLOCKS_PER_SIZE, MAX_BLOCK_SIZE);
                break;
            }
        }
        assert_eq!(at_5tb, 512 << 20);
    }

    #[test]
    fn sas_urls_are_checked_before_collecting() {
        let base = "https://a.blob.core.windows.net/evidence/h.age";
        assert!(SasUrl::parse(base).is_err());
        let no_write =
            SasUrl::parse(&format!("{base}?sv=2021-08-06&sp=c&sr=c&sig=abc")).expect_err("no w");
        assert!(no_write.contains("without `w`"), "{no_write}");
        let no_blob =
            SasUrl::parse("https://a.blob.core.windows.net/evidence?sv=1&sig=x").expect_err("blob");
        assert!(no_blob.contains("name the blob"), "{no_blob}");
        let raw_plus =
            SasUrl::parse(&format!("{base}?sv=2021-08-06&sp=cw&sig=ab+c%2Bd")).expect("ok");
        assert_eq!(
            raw_plus.with("comp=block"),
            format!("{base}?sv=2021-08-06&sp=cw&sig=ab%2Bc%2Bd&comp=block")
        );
        assert_eq!(raw_plus.shown(), base);
    }
}
