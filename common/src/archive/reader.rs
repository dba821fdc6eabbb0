//! Opens a sealed archive for reading: age (if encrypted), then zstd (if compressed).

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const AGE_MAGIC: &[u8] = b"age-encryption.org/";
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Why an archive could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The archive is encrypted and no identity was given.
    #[error("the archive is age-encrypted; give the responder's identity with `--identity KEY`")]
    NeedIdentity,
    /// None of the identities can decrypt it.
    #[error("cannot decrypt: {0}\nhint: is this the identity whose public key the archive was sealed to? `sealbag keygen -y KEY` prints it")]
    Decrypt(String),
    /// Reading failed.
    #[error("cannot read the archive: {0}")]
    Io(#[from] io::Error),
}

/// Counts bytes as they pass, so errors can say where they happened.
#[derive(Clone, Default, Debug)]
pub struct Position(Arc<AtomicU64>);

impl Position {
    /// Bytes read so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct Counting<R> {
    inner: R,
    position: Position,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.position.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The plaintext tar stream of an archive, with positions for error reports.
pub struct Plaintext {
    /// The tar bytes.
    pub reader: Box<dyn Read>,
    /// Bytes of the sealed file consumed so far.
    pub sealed_position: Position,
    /// Bytes of tar produced so far.
    pub tar_position: Position,
    /// Whether the file was age-encrypted.
    pub encrypted: bool,
    /// Whether the tar was zstd-compressed.
    pub compressed: bool,
}

/// Opens `input`, decrypting with `identities` when it is an age file.
pub fn open_plaintext(
    input: Box<dyn Read>,
    identities: &[age::x25519::Identity],
) -> Result<Plaintext, OpenError> {
    let sealed_position = Position::default();
    let counted = Counting {
        inner: input,
        position: sealed_position.clone(),
    };
    let mut buffered = BufReader::with_capacity(256 * 1024, counted);
    let encrypted = buffered.fill_buf()?.starts_with(AGE_MAGIC);
    let decrypted: Box<dyn Read> = if encrypted {
        if identities.is_empty() {
            return Err(OpenError::NeedIdentity);
        }
        let decryptor = age::Decryptor::new_buffered(buffered)
            .map_err(|e| OpenError::Decrypt(e.to_string()))?;
        let reader = decryptor
            .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
            .map_err(|e| OpenError::Decrypt(e.to_string()))?;
        Box::new(reader)
    } else {
        Box::new(buffered)
    };
    let mut plain = BufReader::with_capacity(256 * 1024, decrypted);
    let compressed = plain.fill_buf()?.starts_with(ZSTD_MAGIC);
    let tar: Box<dyn Read> = if compressed {
        Box::new(zstd::stream::read::Decoder::with_buffer(plain)?)
    } else {
        Box::new(plain)
    };
    let tar_position = Position::default();
    Ok(Plaintext {
        reader: Box::new(Counting {
            inner: tar,
            position: tar_position.clone(),
        }),
        sealed_position,
        tar_position,
        encrypted,
        compressed,
    })
}

/// Reads an age identity file (as `sealbag keygen` or `age-keygen` write it).
pub fn read_identities(path: &std::path::Path) -> Result<Vec<age::x25519::Identity>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read identity file {}: {e}", path.display()))?;
    let mut identities = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.parse::<age::x25519::Identity>() {
            Ok(identity) => identities.push(identity),
            Err(_) => {
                return Err(format!(
                    "{}:{}: not an age identity (expected a line starting with `AGE-SECRET-KEY-1`)\nhint: pass the key file written by `sealbag keygen`, not the public key",
                    path.display(),
                    number + 1
                ))
            }
        }
    }
    if identities.is_empty() {
        return Err(format!(
            "{}: holds no age identity\nhint: pass the key file written by `sealbag keygen`",
            path.display()
        ));
    }
    Ok(identities)
}
