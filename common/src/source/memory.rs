//! An in-memory source, for tests and fuzzing of the engine without a disk.

use std::collections::BTreeMap;
use std::io::Cursor;

use super::{
    DirEntry, EntryKind, Metadata, OpenedFile, Source, SourceError, SourceInfo, SourcePath,
};

/// One entry: its kind, and its bytes (a file) or target (a link).
type Entry = (EntryKind, Vec<u8>);

/// A tree held in memory: files with bytes, directories, links.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    entries: BTreeMap<Vec<u8>, Entry>,
    case_insensitive: bool,
}

impl MemorySource {
    /// An empty, case-sensitive tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes name lookups ignore case, as NTFS and APFS (usually) do.
    pub fn case_insensitive(mut self) -> Self {
        self.case_insensitive = true;
        self
    }

    /// Adds a file (and its parent directories).
    pub fn file(mut self, path: &[u8], data: &[u8]) -> Self {
        self.add(path, EntryKind::File, data.to_vec());
        self
    }

    /// Adds a symbolic link to `target`.
    pub fn link(mut self, path: &[u8], target: &[u8]) -> Self {
        self.add(path, EntryKind::Symlink, target.to_vec());
        self
    }

    fn add(&mut self, path: &[u8], kind: EntryKind, data: Vec<u8>) {
        let Some(path) = SourcePath::parse(path) else {
            return;
        };
        let mut parent = SourcePath::root();
        let components: Vec<Vec<u8>> = path.components().map(<[u8]>::to_vec).collect();
        for name in &components[..components.len().saturating_sub(1)] {
            parent = parent.join(name);
            self.entries
                .entry(parent.as_bytes().to_vec())
                .or_insert((EntryKind::Directory, Vec::new()));
        }
        self.entries.insert(path.as_bytes().to_vec(), (kind, data));
    }

    fn find(&self, path: &SourcePath) -> Option<(&Vec<u8>, &Entry)> {
        if path.is_root() {
            return None;
        }
        if !self.case_insensitive {
            return self.entries.get_key_value(path.as_bytes());
        }
        let wanted = path.display().to_lowercase();
        self.entries
            .iter()
            .find(|(k, _)| String::from_utf8_lossy(k).to_lowercase() == wanted)
    }
}

impl Source for MemorySource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: "memory".into(),
            location: "memory".into(),
            case_sensitive: !self.case_insensitive,
        }
    }

    fn metadata(&self, path: &SourcePath) -> Result<Metadata, SourceError> {
        if path.is_root() {
            return Ok(Metadata::new(EntryKind::Directory, 0));
        }
        let (_, (kind, data)) = self
            .find(path)
            .ok_or_else(|| SourceError::NotFound { path: path.clone() })?;
        Ok(Metadata::new(*kind, data.len() as u64))
    }

    fn read_dir(&self, path: &SourcePath) -> Result<Vec<DirEntry>, SourceError> {
        let dir = if path.is_root() {
            Vec::new()
        } else {
            self.find(path)
                .ok_or_else(|| SourceError::NotFound { path: path.clone() })?
                .0
                .clone()
        };
        let mut prefix = dir;
        prefix.push(b'/');
        Ok(self
            .entries
            .iter()
            .filter_map(|(k, (kind, _))| {
                let rest = k.strip_prefix(prefix.as_slice())?;
                (!rest.is_empty() && !rest.contains(&b'/')).then(|| DirEntry {
                    name: rest.to_vec(),
                    kind: Some(*kind),
                })
            })
            .collect())
    }

    fn read_link(&self, path: &SourcePath) -> Result<Vec<u8>, SourceError> {
        match self.find(path) {
            Some((_, (EntryKind::Symlink, target))) => Ok(target.clone()),
            Some((_, (kind, _))) => Err(SourceError::NotAFile {
                path: path.clone(),
                kind: *kind,
            }),
            None => Err(SourceError::NotFound { path: path.clone() }),
        }
    }

    fn open(
        &self,
        path: &SourcePath,
        _stream: Option<&str>,
    ) -> Result<OpenedFile<'_>, SourceError> {
        match self.find(path) {
            Some((_, (EntryKind::File, data))) => Ok(OpenedFile {
                reader: Box::new(Cursor::new(data.clone())),
                metadata: Metadata::new(EntryKind::File, data.len() as u64),
                method: "memory",
            }),
            Some((_, (kind, _))) => Err(SourceError::NotAFile {
                path: path.clone(),
                kind: *kind,
            }),
            None => Err(SourceError::NotFound { path: path.clone() }),
        }
    }
}
