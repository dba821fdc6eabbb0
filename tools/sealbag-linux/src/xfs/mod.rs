//! An XFS filesystem read from its bytes, in user space, as a [`Source`]:
//! never mounted, never written, the log never replayed.
//!
//! Our own reader, from the on-disk format described in the XFS Algorithms
//! & Data Structures book (no maintained Rust crate reads XFS). It takes v5
//! (CRC) filesystems as `mkfs.xfs` makes them today (ftype, sparse inodes,
//! bigtime, 64-bit extent counters) and v4 ones with version 2
//! directories; inodes in every data fork format (local, extents, B+tree),
//! directories in every format (short form, block, leaf, node, B+tree),
//! local and remote symlinks, sparse files (holes and unwritten extents read
//! as zeros). Every v5 checksum met is verified (superblock, inodes, extent
//! btree blocks, directory data blocks, remote symlink blocks) and a bad one
//! is an error naming the structure; every length read is capped, btree and
//! directory loops are detected, and extents past the end are refused, with
//! the inode named.
//!
//! ```no_run
//! use sealbag_common::source::{Source, SourcePath};
//! let image = std::fs::File::open("xfs.img").expect("image");
//! let xfs = sealbag_linux::xfs::open(image).expect("xfs");
//! for entry in xfs.read_dir(&SourcePath::root()).expect("root") {
//!     println!("{}", String::from_utf8_lossy(&entry.name));
//! }
//! ```

mod bmap;
mod crc;
mod dir;
mod inode;
mod reader;
mod superblock;
mod symlink;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};

use sealbag_common::source::{
    DirEntry, EntryKind, Metadata, OpenedFile, Source, SourceError, SourceInfo, SourcePath,
    Timestamps,
};

use dir::Listing;
use inode::{Format, Inode};
use reader::{Data, FileReader};
use superblock::Geometry;

pub use crc::crc32c;

/// Directory listings kept in memory.
const DIR_CACHE: usize = 256;
/// Deepest path resolved (XFS paths are limited by PATH_MAX anyway).
const MAX_DEPTH: usize = 2048;
/// Largest sector read to find the superblock.
const MAX_SECTOR: usize = 32_768;
/// Largest file size accepted (the XFS maximum, 2^63 - 1).
const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// Why an XFS filesystem, or something in it, could not be read. Variants
/// name the inode and the byte offset where it helps an examiner.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XfsError {
    /// The first sector has no XFS superblock magic.
    #[error("not an XFS filesystem (no `XFSB` superblock magic)")]
    NotXfs,
    /// A feature or layout this reader does not handle.
    #[error("unsupported XFS feature: {feature}")]
    Unsupported {
        /// What it is.
        feature: String,
    },
    /// The superblock's geometry is impossible.
    #[error("corrupt XFS superblock: {detail}")]
    Superblock {
        /// What is wrong.
        detail: String,
    },
    /// A CRC did not match: the structure is not trusted.
    #[error("{what}: bad CRC (structure at byte offset {offset:#x})")]
    Checksum {
        /// The structure (`inode 131`, `inode 131 directory block 2`…).
        what: String,
        /// Its byte offset in the filesystem.
        offset: u64,
    },
    /// An inode, or a structure it owns, is damaged or hostile.
    #[error("inode {ino}: {detail}")]
    Corrupt {
        /// The inode.
        ino: u64,
        /// What is wrong, with block numbers and offsets.
        detail: String,
    },
    /// Reading the underlying image failed.
    #[error("reading {len} bytes at byte offset {offset:#x}: {source}")]
    Io {
        /// Where.
        offset: u64,
        /// How much.
        len: usize,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Whether a filesystem's first sector carries the XFS superblock magic
/// (`XFSB`), for probing partitions before [`open`].
pub fn looks_like_xfs(first_sector: &[u8]) -> bool {
    first_sector.get(..4) == Some(superblock::MAGIC.to_be_bytes().as_slice())
}

/// Opens the XFS filesystem whose first byte is the first byte of `reader`.
pub fn open<R: Read + Seek + Send>(reader: R) -> Result<XfsSource<R>, XfsError> {
    XfsSource::new(reader)
}

/// One directory, listed once and indexed by name.
#[derive(Debug)]
struct Dir {
    listing: Listing,
    by_name: HashMap<Vec<u8>, usize>,
}

/// An XFS filesystem over any `Read + Seek`: an image file, a partition
/// window, a block device.
pub struct XfsSource<R> {
    dev: Mutex<R>,
    geo: Geometry,
    kind: String,
    location: String,
    method: &'static str,
    dirs: Mutex<HashMap<u64, Arc<Dir>>>,
}

impl<R> std::fmt::Debug for XfsSource<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XfsSource")
            .field("location", &self.location)
            .field("block_size", &self.geo.block_size)
            .field("crc", &self.geo.crc)
            .finish()
    }
}

/// Big-endian u16 at `at`, 0 if out of range (callers check lengths first).
fn be16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_be_bytes([s[0], s[1]]))
}

/// Big-endian u32 at `at`, 0 if out of range.
fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Big-endian u64 at `at`, 0 if out of range.
fn be64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |s| {
        u64::from_be_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]])
    })
}

fn corrupt(path: &SourcePath, e: XfsError) -> SourceError {
    match e {
        XfsError::Unsupported { feature } => SourceError::Unsupported {
            path: path.clone(),
            detail: feature,
        },
        XfsError::Io { source, .. } => SourceError::Io {
            path: path.clone(),
            source,
        },
        other => SourceError::Corrupt {
            path: path.clone(),
            detail: other.to_string(),
        },
    }
}

fn kind_of(mode: u16) -> EntryKind {
    match mode & 0o170_000 {
        0o100_000 => EntryKind::File,
        0o040_000 => EntryKind::Directory,
        0o120_000 => EntryKind::Symlink,
        0o010_000 => EntryKind::Fifo,
        0o140_000 => EntryKind::Socket,
        0o060_000 => EntryKind::BlockDevice,
        0o020_000 => EntryKind::CharDevice,
        _ => EntryKind::Other,
    }
}

fn kind_of_ftype(ftype: u8) -> Option<EntryKind> {
    Some(match ftype {
        1 => EntryKind::File,
        2 => EntryKind::Directory,
        3 => EntryKind::CharDevice,
        4 => EntryKind::BlockDevice,
        5 => EntryKind::Fifo,
        6 => EntryKind::Socket,
        7 => EntryKind::Symlink,
        _ => return None,
    })
}

impl<R: Read + Seek + Send> XfsSource<R> {
    /// Reads and checks the superblock.
    pub fn new(mut reader: R) -> Result<Self, XfsError> {
        let mut sector = read_raw(&mut reader, 0, 4096)?;
        let mut geo = Geometry::parse(&sector)?;
        let sect = usize::from(be16(&sector, 102));
        if sect > sector.len() {
            sector = read_raw(&mut reader, 0, sect.min(MAX_SECTOR))?;
            geo = Geometry::parse(&sector)?;
        }
        if geo.needs_repair {
            tracing::warn!("XFS filesystem flagged as needing repair; reading it as it is on disk (the log is never replayed)");
        }
        Ok(XfsSource {
            dev: Mutex::new(reader),
            geo,
            kind: "xfs-image".into(),
            location: String::new(),
            method: "xfs-raw",
            dirs: Mutex::new(HashMap::new()),
        })
    }

    /// Names the source for the chain of custody: `kind` (`xfs-image`) and
    /// `location` (the image path, or partition).
    pub fn with_info(mut self, kind: impl Into<String>, location: impl Into<String>) -> Self {
        self.kind = kind.into();
        self.location = location.into();
        self
    }

    /// Sets the manifest's `method` for files read from this filesystem.
    pub fn with_method(mut self, method: &'static str) -> Self {
        self.method = method;
        self
    }

    /// The label (`sb_fname`), if the filesystem has one.
    pub fn label(&self) -> Option<&[u8]> {
        (!self.geo.label.is_empty()).then_some(self.geo.label.as_slice())
    }

    /// The filesystem UUID, formatted like `blkid` does.
    pub fn uuid(&self) -> String {
        let u = &self.geo.uuid;
        let hex: String = u.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }

    /// Filesystem block size in bytes.
    pub fn block_size(&self) -> u64 {
        self.geo.block_size
    }

    /// Bytes the filesystem claims (blocks × block size).
    pub fn size(&self) -> u64 {
        self.geo.size()
    }

    /// Whether this is a v5 (CRC-checked) filesystem.
    pub fn is_v5(&self) -> bool {
        self.geo.crc
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, XfsError> {
        let mut dev = self.dev.lock().map_err(|_| XfsError::Io {
            offset,
            len,
            source: std::io::Error::other("volume lock poisoned"),
        })?;
        read_raw(&mut *dev, offset, len)
    }

    fn read_block(&self, fsbno: u64) -> Result<Vec<u8>, XfsError> {
        let offset = self
            .geo
            .block_offset(fsbno)
            .ok_or_else(|| XfsError::Superblock {
                detail: format!("block {fsbno} is outside the filesystem"),
            })?;
        self.read_at(offset, self.geo.block_size as usize)
    }

    /// Reads and checks inode `ino`.
    fn inode(&self, ino: u64) -> Result<Inode, XfsError> {
        let offset = self
            .geo
            .inode_offset(ino)
            .ok_or_else(|| XfsError::Corrupt {
                ino,
                detail: "inode number is outside the filesystem".into(),
            })?;
        let buf = self.read_at(offset, self.geo.inode_size as usize)?;
        let inode = Inode::parse(&buf, ino, &self.geo)?;
        if inode.size > MAX_FILE_SIZE {
            return Err(XfsError::Corrupt {
                ino,
                detail: format!("size {} is negative", inode.size as i64),
            });
        }
        Ok(inode)
    }

    /// The listing of directory `ino`, cached.
    fn dir(&self, ino: u64) -> Result<Arc<Dir>, XfsError> {
        if let Some(d) = self.dirs.lock().ok().and_then(|d| d.get(&ino).cloned()) {
            return Ok(d);
        }
        let inode = self.inode(ino)?;
        if !inode.is_dir() {
            return Err(XfsError::Corrupt {
                ino,
                detail: "not a directory".into(),
            });
        }
        let listing = dir::list(&inode, &self.geo, &mut |b| self.read_block(b))?;
        let mut by_name = HashMap::with_capacity(listing.entries.len());
        let mut subdirs = HashSet::new();
        for (i, e) in listing.entries.iter().enumerate() {
            by_name.entry(e.name.clone()).or_insert(i);
            // A directory has one name: two entries for one directory would
            // make the walk a DAG (exponential) or a loop.
            if e.ftype == 2 && !subdirs.insert(e.ino) {
                return Err(XfsError::Corrupt {
                    ino,
                    detail: format!("directory inode {} is listed twice", e.ino),
                });
            }
        }
        let d = Arc::new(Dir { listing, by_name });
        if let Ok(mut dirs) = self.dirs.lock() {
            if dirs.len() >= DIR_CACHE {
                dirs.clear();
            }
            dirs.insert(ino, d.clone());
        }
        Ok(d)
    }

    /// The inode a path names, refusing directory loops: every directory
    /// passed through must name the one before it as its parent (`..`).
    fn resolve(&self, path: &SourcePath) -> Result<(u64, u64), SourceError> {
        let mut current = self.geo.root_ino;
        let mut parent = current;
        for (depth, name) in path.components().enumerate() {
            if depth >= MAX_DEPTH {
                return Err(SourceError::Corrupt {
                    path: path.clone(),
                    detail: format!("path deeper than {MAX_DEPTH} directories"),
                });
            }
            let dir = match self.dir(current) {
                Ok(d) => d,
                Err(XfsError::Corrupt { detail, .. }) if detail == "not a directory" => {
                    return Err(SourceError::NotFound { path: path.clone() })
                }
                Err(e) => return Err(corrupt(path, e)),
            };
            if dir.listing.parent.is_some_and(|p| p != parent) {
                return Err(SourceError::Corrupt {
                    path: path.clone(),
                    detail: format!(
                        "inode {current}: directory's parent is inode {}, but it was reached from inode {parent} (directory loop or cross-link)",
                        dir.listing.parent.unwrap_or(0)
                    ),
                });
            }
            let index = dir
                .by_name
                .get(name)
                .ok_or_else(|| SourceError::NotFound { path: path.clone() })?;
            parent = current;
            current = dir.listing.entries[*index].ino;
        }
        Ok((current, parent))
    }

    fn metadata_of(&self, inode: &Inode) -> Metadata {
        let mut m = Metadata::new(kind_of(inode.mode), inode.size);
        m.times = Timestamps {
            modified: Some(inode.mtime),
            accessed: Some(inode.atime),
            changed: Some(inode.ctime),
            created: inode.crtime,
        };
        m.mode = Some(u32::from(inode.mode));
        m.uid = Some(u64::from(inode.uid));
        m.gid = Some(u64::from(inode.gid));
        m.inode = Some(inode.ino);
        m.device = Some(be64(&self.geo.uuid, 0));
        m.nlink = Some(u64::from(inode.nlink));
        m.extra
            .insert("xfs_generation".into(), inode.generation.into());
        m.extra.insert("xfs_blocks".into(), inode.nblocks.into());
        m.extra
            .insert("xfs_inode_version".into(), inode.version.into());
        m
    }
}

/// Reads `len` bytes at `offset`; errors say where.
fn read_raw<R: Read + Seek>(dev: &mut R, offset: u64, len: usize) -> Result<Vec<u8>, XfsError> {
    let io = |source| XfsError::Io {
        offset,
        len,
        source,
    };
    let mut buf = vec![0u8; len];
    dev.seek(SeekFrom::Start(offset)).map_err(io)?;
    dev.read_exact(&mut buf).map_err(io)?;
    Ok(buf)
}

impl<R: Read + Seek + Send> Source for XfsSource<R> {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: self.kind.clone(),
            location: self.location.clone(),
            case_sensitive: true,
        }
    }

    fn metadata(&self, path: &SourcePath) -> Result<Metadata, SourceError> {
        let (ino, _) = self.resolve(path)?;
        let inode = self.inode(ino).map_err(|e| corrupt(path, e))?;
        Ok(self.metadata_of(&inode))
    }

    fn read_dir(&self, path: &SourcePath) -> Result<Vec<DirEntry>, SourceError> {
        let (ino, parent) = self.resolve(path)?;
        let dir = match self.dir(ino) {
            Ok(d) => d,
            Err(XfsError::Corrupt { detail, .. }) if detail == "not a directory" => {
                let kind = self
                    .inode(ino)
                    .map_or(EntryKind::Other, |i| kind_of(i.mode));
                return Err(SourceError::NotAFile {
                    path: path.clone(),
                    kind,
                });
            }
            Err(e) => return Err(corrupt(path, e)),
        };
        if dir.listing.parent.is_some_and(|p| p != parent) {
            return Err(SourceError::Corrupt {
                path: path.clone(),
                detail: format!(
                    "inode {ino}: directory's `..` names another directory (loop or cross-link)"
                ),
            });
        }
        Ok(dir
            .listing
            .entries
            .iter()
            .map(|e| DirEntry {
                name: e.name.clone(),
                kind: kind_of_ftype(e.ftype),
            })
            .collect())
    }

    fn read_link(&self, path: &SourcePath) -> Result<Vec<u8>, SourceError> {
        let (ino, _) = self.resolve(path)?;
        let inode = self.inode(ino).map_err(|e| corrupt(path, e))?;
        if kind_of(inode.mode) != EntryKind::Symlink {
            return Err(SourceError::NotAFile {
                path: path.clone(),
                kind: kind_of(inode.mode),
            });
        }
        symlink::target(&inode, &self.geo, &mut |b| self.read_block(b))
            .map_err(|e| corrupt(path, e))
    }

    fn open(&self, path: &SourcePath, stream: Option<&str>) -> Result<OpenedFile<'_>, SourceError> {
        if stream.is_some() {
            return Err(SourceError::NotFound { path: path.clone() });
        }
        let (ino, _) = self.resolve(path)?;
        let inode = self.inode(ino).map_err(|e| corrupt(path, e))?;
        let metadata = self.metadata_of(&inode);
        if metadata.kind != EntryKind::File {
            return Err(SourceError::NotAFile {
                path: path.clone(),
                kind: metadata.kind,
            });
        }
        let data = match inode.format {
            Format::Local => Data::Inline(inode.fork.clone()),
            Format::Extents | Format::Btree => {
                let extents = bmap::data_extents(&inode, &self.geo, &mut |b| self.read_block(b))
                    .map_err(|e| corrupt(path, e))?;
                let located =
                    reader::locate(extents, |b| self.geo.block_offset(b)).ok_or_else(|| {
                        corrupt(
                            path,
                            XfsError::Corrupt {
                                ino,
                                detail: "extent outside the filesystem".into(),
                            },
                        )
                    })?;
                Data::Blocks(located)
            }
            Format::Device => {
                return Err(corrupt(
                    path,
                    XfsError::Corrupt {
                        ino,
                        detail: "regular file with a device fork".into(),
                    },
                ))
            }
        };
        Ok(OpenedFile {
            reader: Box::new(FileReader::new(
                &self.dev,
                data,
                self.geo.block_size,
                inode.size,
                ino,
            )),
            metadata,
            method: self.method,
        })
    }
}
