//! `--split`: the sealed output cut into numbered parts of at most a given
//! size (`NAME.000`, `NAME.001`, …) with an index, `NAME.index.json`, that
//! records each part's size and SHA-256 and the whole ciphertext's.
//!
//! EDR live-response channels cap the size of one file they fetch; the parts
//! travel one by one and `cat NAME.0* > NAME` (in order) gives back the
//! archive. `sealbag verify`/`unpack` take the index or the first part,
//! check every part against the index before decrypting, and name a part
//! that is missing, of the wrong size or altered.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// `format` of a split index.
pub const SPLIT_FORMAT: &str = "sealbag-split-1";

/// Largest index read into memory (a million parts fit in far less).
const MAX_INDEX_BYTES: u64 = 64 << 20;

/// The index of a split archive, written as `NAME.index.json` beside the parts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitIndex {
    /// [`SPLIT_FORMAT`].
    pub format: String,
    /// File name of the whole archive (what `cat` of the parts gives).
    pub archive: String,
    /// The largest size of one part.
    pub part_size: u64,
    /// Size of the whole ciphertext.
    pub bytes: u64,
    /// SHA-256 of the whole ciphertext (hex), as the collector printed it.
    pub sha256: String,
    /// The parts, in order.
    pub parts: Vec<PartRecord>,
}

/// One part in a [`SplitIndex`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartRecord {
    /// File name of the part, beside the index.
    pub name: String,
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256 (hex).
    pub sha256: String,
}

/// The name of part `number` of `base` (`base.000`; four digits and more past 999).
pub fn part_path(base: &Path, number: usize) -> PathBuf {
    let mut name = base.as_os_str().to_owned();
    name.push(format!(".{number:03}"));
    PathBuf::from(name)
}

/// The index of the split archive `base`: `base.index.json`.
pub fn index_path(base: &Path) -> PathBuf {
    let mut name = base.as_os_str().to_owned();
    name.push(".index.json");
    PathBuf::from(name)
}

/// The writing side: which part is open, and the records of those closed.
pub(crate) struct PartWriter {
    base: PathBuf,
    part_size: u64,
    written: u64,
    hasher: Sha256,
    parts: Vec<PartRecord>,
}

impl PartWriter {
    pub(crate) fn new(base: &Path, part_size: u64) -> Self {
        PartWriter {
            base: base.to_path_buf(),
            part_size,
            written: 0,
            hasher: Sha256::new(),
            parts: Vec::new(),
        }
    }

    pub(crate) fn part_path(&self, number: usize) -> PathBuf {
        part_path(&self.base, number)
    }

    pub(crate) fn index_path(&self) -> PathBuf {
        index_path(&self.base)
    }

    /// The part being written.
    pub(crate) fn current_path(&self) -> PathBuf {
        self.part_path(self.parts.len())
    }

    /// Bytes the current part can still take.
    pub(crate) fn room(&self) -> u64 {
        self.part_size - self.written
    }

    /// Counts and hashes bytes written to the current part.
    pub(crate) fn record(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
    }

    fn close_current(&mut self) {
        let hasher = std::mem::replace(&mut self.hasher, Sha256::new());
        let number = self.parts.len();
        self.parts.push(PartRecord {
            name: file_name(&self.part_path(number)),
            bytes: self.written,
            sha256: crate::profile::hex(&hasher.finalize()),
        });
        self.written = 0;
    }

    /// Records the current part as closed and creates the next (never overwriting).
    pub(crate) fn next_part(&mut self) -> io::Result<File> {
        self.close_current();
        let path = self.part_path(self.parts.len());
        File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())))
    }

    /// Closes the last part and writes the index.
    pub(crate) fn finish(mut self, sha256: &str, bytes: u64) -> io::Result<()> {
        self.close_current();
        let index = SplitIndex {
            format: SPLIT_FORMAT.into(),
            archive: file_name(&self.base),
            part_size: self.part_size,
            bytes,
            sha256: sha256.into(),
            parts: self.parts,
        };
        let mut json = serde_json::to_vec_pretty(&index).map_err(io::Error::other)?;
        json.push(b'\n');
        let path = index_path(&self.base);
        let mut file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| {
                io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))
            })?;
        file.write_all(&json)?;
        file.sync_all()
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Why a split archive cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// The index cannot be read.
    #[error("cannot read the split index {path}: {source}")]
    Read {
        /// The index.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The index is not a sealbag split index.
    #[error("{path}: not a sealbag split index: {reason}")]
    Bad {
        /// The index.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A split archive found from what the user named.
#[derive(Debug, Clone)]
pub struct SplitSet {
    /// The folder holding the parts.
    pub dir: PathBuf,
    /// The index, when there is one.
    pub index: Option<SplitIndex>,
    /// Where the index is (or would be).
    pub index_path: PathBuf,
    /// The parts, in order.
    pub parts: Vec<PathBuf>,
}

/// Recognises a split archive: `path` is an index (`*.index.json`), the
/// archive's own name when only its parts and index exist, or a
/// part (`NAME.000`…) whose `NAME.index.json` is beside it, or a part alone
/// (then the parts are `NAME.000`, `NAME.001`, … up to the first gap, and
/// nothing checks them but the decryption). `Ok(None)`: not a split archive.
pub fn find_split(path: &Path) -> Result<Option<SplitSet>, SplitError> {
    let text = path.as_os_str().to_string_lossy();
    let named_base = !path.exists() && (index_path(path).exists() || part_path(path, 0).exists());
    let base = if named_base {
        path.to_path_buf()
    } else if let Some(base) = text.strip_suffix(".index.json") {
        PathBuf::from(base)
    } else {
        match text.rsplit_once('.') {
            Some((base, digits))
                if digits.len() >= 3 && digits.bytes().all(|b| b.is_ascii_digit()) =>
            {
                PathBuf::from(base)
            }
            _ => return Ok(None),
        }
    };
    let dir = match base.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let index_file = index_path(&base);
    if index_file.exists() {
        let index = read_index(&index_file)?;
        let parts = index.parts.iter().map(|p| dir.join(&p.name)).collect();
        return Ok(Some(SplitSet {
            dir,
            index: Some(index),
            index_path: index_file,
            parts,
        }));
    }
    if text.ends_with(".index.json") {
        // Named but unreadable: let read_index say why.
        read_index(&index_file)?;
    }
    let mut parts = Vec::new();
    while parts.len() < 1_000_000 {
        let part = part_path(&base, parts.len());
        if !part.is_file() {
            break;
        }
        parts.push(part);
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(SplitSet {
        dir,
        index: None,
        index_path: index_file,
        parts,
    }))
}

/// Reads and checks an index (names must be plain file names, no folders).
pub fn read_index(path: &Path) -> Result<SplitIndex, SplitError> {
    let read = |source| SplitError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    File::open(path)
        .map_err(read)?
        .take(MAX_INDEX_BYTES)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    parse_index(&bytes).map_err(|reason| SplitError::Bad {
        path: path.to_path_buf(),
        reason,
    })
}

/// Parses and checks an index's bytes (names must be plain file names, no
/// folders); `Err` says what is wrong. For an index read from a store.
pub fn parse_index(bytes: &[u8]) -> Result<SplitIndex, String> {
    let index: SplitIndex = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if index.format != SPLIT_FORMAT {
        return Err(format!(
            "format `{}`, expected `{SPLIT_FORMAT}`",
            index.format
        ));
    }
    for part in &index.parts {
        let plain = Path::new(&part.name)
            .file_name()
            .is_some_and(|n| n == part.name.as_str());
        if !plain || part.name == ".." {
            return Err(format!(
                "part name `{}` is not a plain file name",
                part.name
            ));
        }
    }
    Ok(index)
}

/// Checks every part against the index: returns one line per part that is
/// missing, of the wrong size or altered, plus one if the parts together
/// are not the archive the index names. Empty: every part is as written.
pub fn check_parts(set: &SplitSet) -> Vec<String> {
    let Some(index) = &set.index else {
        return Vec::new();
    };
    let mut check = PartCheck::new(index);
    for (part, path) in index.parts.iter().zip(&set.parts) {
        match File::open(path) {
            Ok(mut file) => check.part(part, Ok(&mut file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => check.part(part, Err(None)),
            Err(e) => check.part(part, Err(Some(e.to_string()))),
        }
    }
    let next = part_path(&set.dir.join(&index.archive), index.parts.len());
    if next.exists() {
        check.unlisted(&next.display().to_string());
    }
    check.finish()
}

/// Checks the parts of a split set against its index as they are read
/// (local files or objects in a store): each part's size and SHA-256, a
/// part beyond the index, and the whole's size and SHA-256.
pub(crate) struct PartCheck<'a> {
    index: &'a SplitIndex,
    problems: Vec<String>,
    whole: Sha256,
    total: u64,
    whole_valid: bool,
}

impl<'a> PartCheck<'a> {
    /// A check of the set `index` describes.
    pub(crate) fn new(index: &'a SplitIndex) -> Self {
        PartCheck {
            index,
            problems: Vec::new(),
            whole: Sha256::new(),
            total: 0,
            whole_valid: true,
        }
    }

    /// The next part, in order: its bytes, or `Err(None)` when it is
    /// missing and `Err(Some(why))` when it cannot be read.
    pub(crate) fn part(&mut self, part: &PartRecord, data: Result<&mut dyn Read, Option<String>>) {
        let hashed = data
            .and_then(|reader| hash_part(reader, &mut self.whole).map_err(|e| Some(e.to_string())));
        match hashed {
            Err(None) => {
                self.problems.push(format!("part {}: missing", part.name));
                self.whole_valid = false;
            }
            Err(Some(e)) => {
                self.problems
                    .push(format!("part {}: cannot read: {e}", part.name));
                self.whole_valid = false;
            }
            Ok((bytes, _)) if bytes != part.bytes => {
                self.problems.push(format!(
                    "part {}: {bytes} bytes, the index says {}",
                    part.name, part.bytes
                ));
                self.total += bytes;
            }
            Ok((bytes, sha256)) if sha256 != part.sha256 => {
                self.problems.push(format!(
                    "part {}: altered: SHA-256 {sha256}, the index says {}",
                    part.name, part.sha256
                ));
                self.total += bytes;
            }
            Ok((bytes, _)) => self.total += bytes,
        }
    }

    /// A part found after the last one the index lists, named `shown`.
    pub(crate) fn unlisted(&mut self, shown: &str) {
        self.problems
            .push(format!("{shown}: a part the index does not list"));
    }

    /// Every problem found; the whole is checked only when every part was read.
    pub(crate) fn finish(mut self) -> Vec<String> {
        if self.problems.is_empty() && self.whole_valid {
            let sha256 = crate::profile::hex(&self.whole.finalize());
            if self.total != self.index.bytes || sha256 != self.index.sha256 {
                self.problems.push(format!(
                    "the parts together: {} bytes, SHA-256 {sha256}; the index says {} bytes, {}",
                    self.total, self.index.bytes, self.index.sha256
                ));
            }
        }
        self.problems
    }
}

/// Hashes one part, feeding the whole's hash too; its size and SHA-256.
fn hash_part(reader: &mut dyn Read, whole: &mut Sha256) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        whole.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, crate::profile::hex(&hasher.finalize())))
}

/// The parts read one after the other, as one stream.
pub struct PartsReader {
    parts: std::vec::IntoIter<PathBuf>,
    current: Option<(PathBuf, File)>,
}

impl PartsReader {
    /// Reads `parts` in order; a part that cannot be opened is an error naming it.
    pub fn new(parts: Vec<PathBuf>) -> Self {
        PartsReader {
            parts: parts.into_iter(),
            current: None,
        }
    }
}

impl Read for PartsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some((_, file)) = &mut self.current {
                let n = file.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                self.current = None;
            }
            match self.parts.next() {
                None => return Ok(0),
                Some(path) => {
                    let file = File::open(&path).map_err(|e| {
                        io::Error::new(e.kind(), format!("part {}: {e}", path.display()))
                    })?;
                    self.current = Some((path, file));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_are_numbered_from_zero_with_three_digits() {
        let base = Path::new("/x/host.tar.zst.age");
        assert_eq!(part_path(base, 0), Path::new("/x/host.tar.zst.age.000"));
        assert_eq!(part_path(base, 42), Path::new("/x/host.tar.zst.age.042"));
        assert_eq!(part_path(base, 1000), Path::new("/x/host.tar.zst.age.1000"));
        assert_eq!(
            index_path(base),
            Path::new("/x/host.tar.zst.age.index.json")
        );
    }

    #[test]
    fn index_with_a_path_in_a_part_name_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.age.index.json");
        let index = SplitIndex {
            format: SPLIT_FORMAT.into(),
            archive: "a.age".into(),
            part_size: 1,
            bytes: 1,
            sha256: String::new(),
            parts: vec![PartRecord {
                name: "../../etc/passwd".into(),
                bytes: 1,
                sha256: String::new(),
            }],
        };
        std::fs::write(&path, serde_json::to_vec(&index).expect("json")).expect("write");
        let error = read_index(&path).expect_err("refused");
        assert!(
            error.to_string().contains("not a plain file name"),
            "{error}"
        );
    }
}
