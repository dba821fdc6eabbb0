//! The age v1 encrypted stream, written with ring's ChaCha20-Poly1305.
//!
//! The `age` crate's `StreamWriter` encrypts with the RustCrypto ciphers at
//! about 1.1 GiB/s here; ring's assembly does the same work at 2.4 GiB/s,
//! and encryption is the longest stage of the pipeline (see `bench/run.sh`).
//! So the payload is written here, to the age v1 format
//! (<https://age-encryption.org/v1>), while the `age` crate still makes the
//! recipient stanzas (the X25519 key agreement and the file key's wrapping).
//! Every archive is read back by the `age` crate's decryptor (`verify`,
//! `unpack`) and, in the tests, by the stock `age` tool.
//!
//! The format, in short: the header (`age-encryption.org/v1`, one stanza per
//! recipient, `---` and the HMAC-SHA256 of all that under a key derived from
//! the file key), a 16-byte random nonce, then the payload in chunks of
//! 64 KiB, each sealed with ChaCha20-Poly1305 under a key derived from the
//! file key and the nonce; a chunk's nonce is its 11-byte big-endian index
//! and a byte that is 1 on the last chunk only.

use std::io::{self, Write};

use age::secrecy::ExposeSecret;
use age::Recipient;
use age_core::format::{FileKey, FILE_KEY_BYTES};
use base64::prelude::{Engine, BASE64_STANDARD_NO_PAD};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use ring::rand::{SecureRandom, SystemRandom};

/// Plaintext bytes per payload chunk (fixed by the format).
const CHUNK: usize = 64 * 1024;
/// The Poly1305 tag after each chunk.
const TAG: usize = 16;
/// The first line of every age v1 file.
const MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// An age v1 stream to a set of X25519 recipients; see the module documentation.
pub struct AgeWriter<W: Write> {
    inner: W,
    key: LessSafeKey,
    /// Plaintext of the current chunk, then its ciphertext and tag.
    chunk: Vec<u8>,
    /// Index of the current chunk.
    counter: u128,
}

impl<W: Write> AgeWriter<W> {
    /// Writes the header for `recipients` to `inner`, ready for the payload.
    pub fn new(mut inner: W, recipients: &[age::x25519::Recipient]) -> io::Result<Self> {
        if recipients.is_empty() {
            return Err(io::Error::other(
                "age encryption needs at least one recipient",
            ));
        }
        let random = SystemRandom::new();
        let mut key_bytes = [0u8; FILE_KEY_BYTES];
        random
            .fill(&mut key_bytes)
            .map_err(|_| io::Error::other("the system's random source failed"))?;
        let file_key = FileKey::new(Box::new(key_bytes));
        key_bytes.fill(0);

        let mut header = MAGIC.to_vec();
        for recipient in recipients {
            let (stanzas, _labels) = recipient
                .wrap_file_key(&file_key)
                .map_err(|e| io::Error::other(format!("cannot wrap the file key: {e}")))?;
            for stanza in stanzas {
                write_stanza(&mut header, &stanza.tag, &stanza.args, &stanza.body);
            }
        }
        header.extend_from_slice(b"---");
        let mac_key = age_core::primitives::hkdf(&[], b"header", file_key.expose_secret());
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &mac_key),
            &header,
        );
        header.push(b' ');
        header.extend_from_slice(BASE64_STANDARD_NO_PAD.encode(mac.as_ref()).as_bytes());
        header.push(b'\n');

        let mut nonce = [0u8; 16];
        random
            .fill(&mut nonce)
            .map_err(|_| io::Error::other("the system's random source failed"))?;
        let payload_key = age_core::primitives::hkdf(&nonce, b"payload", file_key.expose_secret());
        let key = UnboundKey::new(&CHACHA20_POLY1305, &payload_key)
            .map_err(|_| io::Error::other("cannot set up ChaCha20-Poly1305"))?;
        inner.write_all(&header)?;
        inner.write_all(&nonce)?;
        Ok(AgeWriter {
            inner,
            key: LessSafeKey::new(key),
            chunk: Vec::with_capacity(CHUNK + TAG),
            counter: 0,
        })
    }

    /// Seals the current chunk and writes it out.
    fn seal_chunk(&mut self, last: bool) -> io::Result<()> {
        let mut nonce = [0u8; 12];
        nonce[..11].copy_from_slice(&self.counter.to_be_bytes()[5..]);
        nonce[11] = u8::from(last);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut self.chunk,
            )
            .map_err(|_| io::Error::other("ChaCha20-Poly1305 refused a chunk"))?;
        self.chunk.extend_from_slice(tag.as_ref());
        self.inner.write_all(&self.chunk)?;
        self.chunk.clear();
        self.counter += 1;
        // 2^88 chunks (16 YiB) is the format's limit; unreachable, but checked.
        if self.counter >> 88 != 0 {
            return Err(io::Error::other("age stream too long"));
        }
        Ok(())
    }

    /// Seals the last chunk (empty only when nothing was written) and
    /// returns the inner writer, flushed.
    pub fn finish(mut self) -> io::Result<W> {
        self.seal_chunk(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for AgeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // A full chunk is sealed only once more data comes: the last chunk
        // may be full, and must carry the last-chunk flag.
        if self.chunk.len() == CHUNK {
            self.seal_chunk(false)?;
        }
        let n = buf.len().min(CHUNK - self.chunk.len());
        self.chunk.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Appends one header stanza: `-> TAG ARGS…`, then the body in base64
/// lines of 64 columns, the last one always shorter (empty if need be).
fn write_stanza(out: &mut Vec<u8>, tag: &str, args: &[String], body: &[u8]) {
    out.extend_from_slice(b"-> ");
    out.extend_from_slice(tag.as_bytes());
    for arg in args {
        out.push(b' ');
        out.extend_from_slice(arg.as_bytes());
    }
    out.push(b'\n');
    let encoded = BASE64_STANDARD_NO_PAD.encode(body);
    let mut rest = encoded.as_bytes();
    while rest.len() >= 64 {
        out.extend_from_slice(&rest[..64]);
        out.push(b'\n');
        rest = &rest[64..];
    }
    out.extend_from_slice(rest);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn decrypt(identity: &age::x25519::Identity, sealed: &[u8]) -> Vec<u8> {
        let decryptor = age::Decryptor::new(sealed).expect("header");
        let mut reader = decryptor
            .decrypt(std::iter::once(identity as &dyn age::Identity))
            .expect("decrypt");
        let mut out = Vec::new();
        reader.read_to_end(&mut out).expect("payload");
        out
    }

    fn seal(recipients: &[age::x25519::Recipient], data: &[u8], piece: usize) -> Vec<u8> {
        let mut writer = AgeWriter::new(Vec::new(), recipients).expect("header");
        for part in data.chunks(piece.max(1)) {
            writer.write_all(part).expect("write");
        }
        writer.finish().expect("finish")
    }

    #[test]
    fn the_age_crate_reads_every_length_around_chunk_edges() {
        let identity = age::x25519::Identity::generate();
        let data: Vec<u8> = (0..3 * CHUNK + 5).map(|i| (i * 7 % 251) as u8).collect();
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 5] {
            for piece in [1000, CHUNK, 200_000] {
                let sealed = seal(&[identity.to_public()], &data[..len], piece);
                assert_eq!(decrypt(&identity, &sealed), &data[..len], "len {len}");
                // Header, nonce, then one tagged chunk per 64 KiB (at least one).
                let chunks = len.div_ceil(CHUNK).max(1);
                let header = sealed
                    .windows(4)
                    .position(|w| w == b"--- ")
                    .expect("mac line");
                let header_end = header + 4 + 43 + 1;
                assert_eq!(sealed.len(), header_end + 16 + len + chunks * TAG);
            }
        }
    }

    #[test]
    fn every_recipient_can_open_it() {
        let one = age::x25519::Identity::generate();
        let two = age::x25519::Identity::generate();
        let sealed = seal(&[one.to_public(), two.to_public()], b"evidence", 3);
        assert_eq!(decrypt(&one, &sealed), b"evidence");
        assert_eq!(decrypt(&two, &sealed), b"evidence");
        let other = age::x25519::Identity::generate();
        let decryptor = age::Decryptor::new(&sealed[..]).expect("header");
        assert!(decryptor
            .decrypt(std::iter::once(&other as &dyn age::Identity))
            .is_err());
    }

    #[test]
    fn a_flipped_payload_byte_is_refused() {
        let identity = age::x25519::Identity::generate();
        let mut sealed = seal(&[identity.to_public()], &[9u8; 100_000], 4096);
        let at = sealed.len() - 50_000;
        sealed[at] ^= 1;
        let decryptor = age::Decryptor::new(&sealed[..]).expect("header");
        let mut reader = decryptor
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .expect("header still fine");
        let mut out = Vec::new();
        assert!(reader.read_to_end(&mut out).is_err());
    }

    #[test]
    fn stanza_bodies_wrap_at_64_columns_with_a_short_last_line() {
        let mut out = Vec::new();
        write_stanza(&mut out, "X", &["a".into()], &[0u8; 48]);
        // 48 bytes are exactly 64 base64 characters: an empty line follows.
        assert_eq!(out, [b"-> X a\n".as_slice(), &[b'A'; 64], b"\n\n"].concat());
        out.clear();
        write_stanza(&mut out, "X", &[], &[0u8; 32]);
        assert_eq!(out, [b"-> X\n".as_slice(), &[b'A'; 43], b"\n"].concat());
    }
}
