//! Placeholder for the XFS source (written on the `linux-xfs` branch, which
//! replaces this file at merge): the API the image opener calls, refusing
//! every volume until the real reader lands.

use std::io::{Read, Seek};
use std::sync::Mutex;

use sealbag_common::source::{DirEntry, Metadata, OpenedFile, SourceError, SourceInfo};
use sealbag_common::{Source, SourcePath};

/// Why an XFS volume could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XfsError {
    /// This build has no XFS reader yet.
    #[error("XFS support not built yet")]
    NotBuilt,
}

/// An XFS file system read in user space (placeholder).
#[derive(Debug)]
pub struct XfsSource<R> {
    _reader: Mutex<R>,
}

/// Opens the XFS file system in `reader` (placeholder: always refuses).
pub fn open<R: Read + Seek + Send>(reader: R) -> Result<XfsSource<R>, XfsError> {
    drop(reader);
    Err(XfsError::NotBuilt)
}

impl<R: Read + Seek + Send> Source for XfsSource<R> {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: "xfs-image".into(),
            location: String::new(),
            case_sensitive: true,
        }
    }
    fn metadata(&self, path: &SourcePath) -> Result<Metadata, SourceError> {
        Err(SourceError::NotFound { path: path.clone() })
    }
    fn read_dir(&self, path: &SourcePath) -> Result<Vec<DirEntry>, SourceError> {
        Err(SourceError::NotFound { path: path.clone() })
    }
    fn read_link(&self, path: &SourcePath) -> Result<Vec<u8>, SourceError> {
        Err(SourceError::NotFound { path: path.clone() })
    }
    fn open(&self, path: &SourcePath, _: Option<&str>) -> Result<OpenedFile<'_>, SourceError> {
        Err(SourceError::NotFound { path: path.clone() })
    }
}

/// Whether the first sector holds an XFS superblock (`XFSB`).
pub fn looks_like_xfs(first_sector: &[u8]) -> bool {
    first_sector.starts_with(b"XFSB")
}
