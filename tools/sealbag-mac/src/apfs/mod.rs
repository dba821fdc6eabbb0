//! An APFS container image as a [`Source`]: one volume (chosen by role or
//! name), its live tree or one of its snapshots, read without the OS.
//!
//! Generic over `Read + Seek`, so it reads an image file, a whole-disk image
//! through a partition [`Window`](sealbag_common::source::Window), or bytes
//! in memory (the fuzz target). The `apfs` crate (0.4.1) parses the
//! container and volume superblocks and checks Fletcher-64 checksums; the
//! rest is read here, because the crate's high-level reader opens only the
//! first volume, resolves objects without regard to the transaction (a
//! volume with snapshots then yields a tree mixing points in time), skips
//! records it cannot parse without a word, and reports an encrypted volume
//! as a bare "invalid checksum". See docs/macos-apfs.md.
//!
//! What this source does:
//! - picks the newest checkpoint whose object map and volume superblocks
//!   check out, passing over damaged ones (and saying so);
//! - selects a volume by role or name ([`VolumeSelector`]), by default the
//!   `Data` role volume, else the only volume, else the `System` one;
//! - reads the live tree as of the volume's own transaction, or a snapshot
//!   as of the snapshot's ([`ApfsSource::open`] with a snapshot name);
//! - refuses an encrypted volume with [`ApfsError::Encrypted`];
//! - decompresses `decmpfs` files (zlib, LZVN, LZFSE; through `cmpfs`) and
//!   records them with method `apfs-decmpfs`; others are `apfs-raw`;
//! - offers extended attributes (resource forks included) as named streams.
//!
//! ```no_run
//! use sealbag_common::source::{Source, SourcePath};
//! let file = std::fs::File::open("container.raw")?;
//! let len = file.metadata()?.len();
//! let source = sealbag_mac::apfs::ApfsSource::open(file, len, &Default::default(), None, "disk.raw")?;
//! for entry in source.read_dir(&SourcePath::root())? {
//!     println!("{}", String::from_utf8_lossy(&entry.name));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod btree;
mod container;
mod image;
mod reader;
mod records;
mod select;

use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Read, Seek};
use std::sync::{Arc, Mutex};

use sealbag_common::source::{
    DirEntry, EntryKind, Metadata, OpenedFile, Source, SourceError, SourceInfo, SourcePath,
    Timestamp, Timestamps,
};

use btree::{Addressing, FIXED_16};
pub use container::{role_name, SnapshotSummary, VolumeSummary};
use container::{
    Container, INCOMPAT_CASE_INSENSITIVE, INCOMPAT_NORMALIZATION_INSENSITIVE, INCOMPAT_SEALED,
};
pub use image::{list_image, open_image, ImageListing, ImageReader};
use reader::ExtentReader;
use records::{Drec, Extent, Inode, XattrValue};
pub use select::VolumeSelector;

/// Inode number of a volume's root directory.
const ROOT_DIR: u64 = 2;
/// Largest decmpfs file decompressed (it is decoded whole, in memory).
const MAX_DECMPFS: u64 = 256 << 20;
/// Largest extended attribute read into memory (decmpfs payloads).
const MAX_XATTR: u64 = 256 << 20;
/// Most extents of one stream.
const MAX_EXTENTS: usize = 4 << 20;
/// Most directory listings kept.
const DIR_CACHE: usize = 1024;
/// `UF_COMPRESSED`.
const UF_COMPRESSED: u32 = 0x20;
/// Name of the decmpfs attribute.
const DECMPFS: &str = "com.apple.decmpfs";
/// Name of the resource fork attribute.
const RESOURCE_FORK: &str = "com.apple.ResourceFork";
/// Name of the attribute holding a symbolic link's target.
const SYMLINK: &str = "com.apple.fs.symlink";

/// Why an APFS container or volume could not be opened or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApfsError {
    /// Reading the image failed.
    #[error("reading block {block}: {source}")]
    Io {
        /// The block read.
        block: u64,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A structure is damaged or hostile.
    #[error("block {block}: {detail}")]
    Corrupt {
        /// The block it is in.
        block: u64,
        /// What is wrong.
        detail: String,
    },
    /// Not an APFS container.
    #[error("not an APFS container: {0}")]
    NotApfs(String),
    /// The volume is encrypted; its file-system tree cannot be read without its key.
    #[error("volume {name:?} (index {index}, role {role}) is an encrypted volume (FileVault or software encryption); sealbag cannot decrypt it\nhint: unlock and mount it on a Mac (`diskutil apfs unlockVolume`), then collect with `--root`")]
    Encrypted {
        /// The volume name.
        name: String,
        /// Its index.
        index: u32,
        /// Its role.
        role: &'static str,
    },
    /// No volume matches the selector.
    #[error("no volume matches `{wanted}`; the container holds: {available}")]
    NoSuchVolume {
        /// What was asked for.
        wanted: String,
        /// The volumes there are.
        available: String,
    },
    /// The default choice is ambiguous.
    #[error("the container holds several volumes and none has the `data` role: {available}\nhint: choose one with `--volume NAME|ROLE|INDEX`")]
    Ambiguous {
        /// The volumes there are.
        available: String,
    },
    /// No snapshot of that name.
    #[error("volume {volume:?} has no snapshot {wanted:?}; its snapshots: {available}")]
    NoSuchSnapshot {
        /// The volume.
        volume: String,
        /// What was asked for.
        wanted: String,
        /// The snapshots there are.
        available: String,
    },
}

/// What is cached of an inode.
#[derive(Clone, Debug)]
struct Node {
    inode: Inode,
    /// Uncompressed size and type, when decmpfs-compressed.
    compression: Option<(u64, u32)>,
    /// Symlink target.
    link: Option<Vec<u8>>,
}

/// One APFS volume (live tree or a snapshot) of a container, read-only.
pub struct ApfsSource<R> {
    container: Container<R>,
    volume: VolumeSummary,
    snapshot: Option<SnapshotSummary>,
    snapshots: Vec<SnapshotSummary>,
    /// Physical block of the fs tree root and how its children are addressed.
    root: u64,
    addressing: Addressing,
    /// The sealed volume's file extent tree, if any.
    fext: Option<u64>,
    hashed: bool,
    case_insensitive: bool,
    kind: String,
    location: String,
    dirs: Mutex<HashMap<u64, Arc<Vec<Drec>>>>,
}

impl<R> std::fmt::Debug for ApfsSource<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApfsSource")
            .field("location", &self.location)
            .field("volume", &self.volume)
            .field("snapshot", &self.snapshot)
            .finish()
    }
}

fn corrupt(path: &SourcePath, e: ApfsError) -> SourceError {
    match e {
        ApfsError::Io { block, source } => SourceError::Io {
            path: path.clone(),
            source: std::io::Error::new(source.kind(), format!("block {block}: {source}")),
        },
        other => SourceError::Corrupt {
            path: path.clone(),
            detail: other.to_string(),
        },
    }
}

fn apfs_time(ns: u64) -> Option<Timestamp> {
    if ns == 0 {
        return None;
    }
    Some(Timestamp::new(
        (ns / 1_000_000_000) as i64,
        (ns % 1_000_000_000) as i64,
    ))
}

fn kind_of(format: u16) -> EntryKind {
    match format {
        0o100000 => EntryKind::File,
        0o040000 => EntryKind::Directory,
        0o120000 => EntryKind::Symlink,
        0o010000 => EntryKind::Fifo,
        0o140000 => EntryKind::Socket,
        0o060000 => EntryKind::BlockDevice,
        0o020000 => EntryKind::CharDevice,
        _ => EntryKind::Other,
    }
}

fn kind_of_dtype(dtype: u16) -> Option<EntryKind> {
    Some(match dtype {
        8 => EntryKind::File,
        4 => EntryKind::Directory,
        10 => EntryKind::Symlink,
        1 => EntryKind::Fifo,
        12 => EntryKind::Socket,
        6 => EntryKind::BlockDevice,
        2 => EntryKind::CharDevice,
        _ => return None,
    })
}

/// Folds a name for comparison on a case-insensitive volume (Unicode
/// lowercase; APFS also folds normalization, which this does not).
fn fold(name: &[u8]) -> String {
    String::from_utf8_lossy(name).to_lowercase()
}

impl<R: Read + Seek + Send> ApfsSource<R> {
    /// Opens volume `selector` of the container whose first byte is the first
    /// byte of `dev` (`len` bytes long); `snapshot` names a snapshot to read
    /// instead of the live tree. `location` describes where the image is.
    pub fn open(
        dev: R,
        len: u64,
        selector: &VolumeSelector,
        snapshot: Option<&str>,
        location: impl Into<String>,
    ) -> Result<Self, ApfsError> {
        let container = Container::open(dev, len)?;
        let volumes = container.volumes()?;
        let (index, raw) = select::choose(volumes, selector)?;
        let volume = container::summary(index, &raw);
        if volume.encrypted {
            return Err(ApfsError::Encrypted {
                name: volume.name,
                index,
                role: volume.role,
            });
        }
        let snapshots = container.snapshots(&raw)?;
        // A snapshot's superblock has no object map of its own: it is read
        // through the volume's, as of the snapshot's transaction.
        let omap_block = raw.sb.omap_oid;
        let (tree_sb, chosen) = match snapshot {
            None => (raw, None),
            Some(want) => {
                let s = snapshots
                    .iter()
                    .find(|s| s.name == want)
                    .cloned()
                    .ok_or_else(|| ApfsError::NoSuchSnapshot {
                        volume: volume.name.clone(),
                        wanted: want.into(),
                        available: snapshots
                            .iter()
                            .map(|s| format!("{:?}", s.name))
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?;
                (
                    container::read_volume_at(&container.dev, s.sblock)?,
                    Some(s),
                )
            }
        };
        let sb = &tree_sb.sb;
        // The volume's object map (a snapshot shares it), read as of the
        // transaction of the tree being read.
        let omap = container.dev.omap_tree(omap_block)?;
        let xid = chosen.as_ref().map_or(sb.header.xid, |s| s.xid);
        // The tree root is always virtual (`apfs_root_tree_type` is not
        // reliably flagged); a sealed volume's children are offsets from it.
        let root = container
            .dev
            .omap_lookup(omap, sb.root_tree_oid, xid)?
            .ok_or_else(|| ApfsError::Corrupt {
                block: sb.omap_oid,
                detail: format!(
                    "file-system tree {:#x} not in the object map as of xid {xid}",
                    sb.root_tree_oid
                ),
            })?;
        let base = if sb.incompatible_features & INCOMPAT_SEALED != 0 {
            sb.root_tree_oid
        } else {
            0
        };
        let incompat = sb.incompatible_features;
        let fext = (incompat & INCOMPAT_SEALED != 0 && tree_sb.fext_tree != 0).then(|| {
            let _ = tree_sb.fext_tree_type;
            tree_sb.fext_tree
        });
        let kind = match &chosen {
            Some(_) => "apfs-snapshot",
            None => "apfs-image",
        };
        Ok(ApfsSource {
            addressing: Addressing::Virtual { omap, xid, base },
            root,
            fext,
            hashed: incompat & (INCOMPAT_CASE_INSENSITIVE | INCOMPAT_NORMALIZATION_INSENSITIVE)
                != 0,
            case_insensitive: incompat & INCOMPAT_CASE_INSENSITIVE != 0,
            kind: kind.into(),
            location: location.into(),
            container,
            volume,
            snapshot: chosen,
            snapshots,
            dirs: Mutex::new(HashMap::new()),
        })
    }

    /// The volume read.
    pub fn volume(&self) -> &VolumeSummary {
        &self.volume
    }

    /// The snapshot read, `None` for the live tree.
    pub fn snapshot(&self) -> Option<&SnapshotSummary> {
        self.snapshot.as_ref()
    }

    /// The volume's snapshots, oldest first.
    pub fn snapshots(&self) -> &[SnapshotSummary] {
        &self.snapshots
    }

    /// Checkpoints passed over as damaged when the container was opened.
    pub fn skipped_checkpoints(&self) -> &[String] {
        &self.container.skipped
    }

    /// Facts for the chain of custody.
    pub fn facts(&self) -> BTreeMap<String, serde_json::Value> {
        let mut facts = BTreeMap::new();
        facts.insert("volume_name".into(), self.volume.name.clone().into());
        facts.insert("volume_role".into(), self.volume.role.into());
        facts.insert("volume_index".into(), self.volume.index.into());
        facts.insert("volume_uuid".into(), self.volume.uuid.clone().into());
        facts.insert("block_size".into(), self.container.dev.block_size.into());
        facts.insert("checkpoint_xid".into(), self.container.nx.header.xid.into());
        if let Some(s) = &self.snapshot {
            facts.insert("snapshot".into(), s.name.clone().into());
            facts.insert("snapshot_xid".into(), s.xid.into());
        }
        facts
    }

    /// Visits the records `(oid, type)` of the volume tree.
    fn records(&self, oid: u64, kind: u64, visit: &mut btree::Visit<'_>) -> Result<(), ApfsError> {
        let cmp = |key: &[u8]| {
            records::key_header(key).map_or(std::cmp::Ordering::Less, |k| k.cmp(&(oid, kind)))
        };
        self.container
            .dev
            .scan(self.root, self.addressing, None, &cmp, visit)
    }

    fn inode(&self, id: u64) -> Result<Option<Inode>, ApfsError> {
        let mut found = None;
        self.records(id, records::J_TYPE_INODE, &mut |_, v| {
            found = Some(Inode::parse(id, v).ok_or_else(|| ApfsError::Corrupt {
                block: 0,
                detail: format!("inode {id}: record truncated ({} bytes)", v.len()),
            })?);
            Ok(())
        })?;
        Ok(found)
    }

    fn xattrs(&self, id: u64) -> Result<Vec<(Vec<u8>, XattrValue)>, ApfsError> {
        let mut out = Vec::new();
        self.records(id, records::J_TYPE_XATTR, &mut |k, v| {
            out.push(
                records::parse_xattr(k, v).ok_or_else(|| ApfsError::Corrupt {
                    block: 0,
                    detail: format!("inode {id}: extended attribute record truncated"),
                })?,
            );
            Ok(())
        })?;
        Ok(out)
    }

    fn xattr(&self, id: u64, name: &str) -> Result<Option<XattrValue>, ApfsError> {
        Ok(self
            .xattrs(id)?
            .into_iter()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| v))
    }

    fn extents(&self, stream: u64) -> Result<Vec<Extent>, ApfsError> {
        let mut out = Vec::new();
        let mut push = |e: Option<Extent>| {
            if out.len() >= MAX_EXTENTS {
                return Err(ApfsError::Corrupt {
                    block: 0,
                    detail: format!("stream {stream}: more than {MAX_EXTENTS} extents"),
                });
            }
            out.push(e.ok_or_else(|| ApfsError::Corrupt {
                block: 0,
                detail: format!("stream {stream}: extent record truncated"),
            })?);
            Ok(())
        };
        match self.fext {
            Some(fext) => {
                let cmp = |key: &[u8]| {
                    btree::le64(key, 0).map_or(std::cmp::Ordering::Less, |k| k.cmp(&stream))
                };
                self.container.dev.scan(
                    fext,
                    Addressing::Physical,
                    Some(FIXED_16),
                    &cmp,
                    &mut |k, v| push(records::parse_fext(k, v)),
                )?
            }
            None => self.records(stream, records::J_TYPE_FILE_EXTENT, &mut |k, v| {
                push(records::parse_extent(k, v))
            })?,
        }
        Ok(out)
    }

    /// A reader of data stream `stream`, `size` bytes long. A stream whose
    /// holes (bytes no extent stores) would be larger than the whole image
    /// (and 1 GiB) is called corrupt: reading it would be zeros without end.
    fn stream_reader(&self, stream: u64, size: u64) -> Result<ExtentReader<'_, R>, ApfsError> {
        let extents = self.extents(stream)?;
        let stored: u64 = extents
            .iter()
            .filter(|e| e.block != 0 && e.logical < size)
            .map(|e| e.length.min(size - e.logical))
            .fold(0u64, u64::saturating_add);
        let dev = &self.container.dev;
        let limit = (dev.blocks.saturating_mul(u64::from(dev.block_size))).max(1 << 30);
        if size.saturating_sub(stored) > limit {
            return Err(ApfsError::Corrupt {
                block: 0,
                detail: format!(
                    "stream {stream}: size {size} but its extents store {stored} bytes; the holes would be larger than the image"
                ),
            });
        }
        Ok(ExtentReader::new(dev, extents, size))
    }

    /// The bytes of an attribute value, up to `cap`.
    fn xattr_bytes(&self, value: &XattrValue, cap: u64) -> Result<Vec<u8>, ApfsError> {
        match value {
            XattrValue::Embedded(b) => Ok(b.clone()),
            XattrValue::Stream { id, size } => {
                if *size > cap {
                    return Err(ApfsError::Corrupt {
                        block: 0,
                        detail: format!("attribute stream {id}: {size} bytes, over {cap}"),
                    });
                }
                let mut out = Vec::new();
                self.stream_reader(*id, *size)?
                    .read_to_end(&mut out)
                    .map_err(|source| ApfsError::Io { block: 0, source })?;
                Ok(out)
            }
        }
    }

    fn node(&self, id: u64) -> Result<Option<Node>, ApfsError> {
        let Some(inode) = self.inode(id)? else {
            return Ok(None);
        };
        let mut node = Node {
            compression: None,
            link: None,
            inode,
        };
        match node.inode.format() {
            0o120000 => {
                if let Some(v) = self.xattr(id, SYMLINK)? {
                    let mut t = self.xattr_bytes(&v, 1 << 20)?;
                    while t.last() == Some(&0) {
                        t.pop();
                    }
                    node.link = Some(t);
                }
            }
            0o100000 if node.inode.bsd_flags & UF_COMPRESSED != 0 => {
                if let Some(v) = self.xattr(id, DECMPFS)? {
                    let head = self.xattr_bytes(&v, MAX_XATTR)?;
                    let header = cmpfs::Header::parse(&head).map_err(|e| ApfsError::Corrupt {
                        block: 0,
                        detail: format!("inode {id}: decmpfs header: {e}"),
                    })?;
                    node.compression = Some((header.uncompressed_size, header.compression_type));
                }
            }
            _ => {}
        }
        Ok(Some(node))
    }

    fn listing(&self, dir: u64) -> Result<Arc<Vec<Drec>>, ApfsError> {
        if let Ok(cache) = self.dirs.lock() {
            if let Some(hit) = cache.get(&dir) {
                return Ok(hit.clone());
            }
        }
        let mut out = Vec::new();
        let hashed = self.hashed;
        self.records(dir, records::J_TYPE_DIR_REC, &mut |k, v| {
            out.push(
                records::parse_drec(k, v, hashed).ok_or_else(|| ApfsError::Corrupt {
                    block: 0,
                    detail: format!("directory {dir}: entry record truncated"),
                })?,
            );
            Ok(())
        })?;
        let out = Arc::new(out);
        if let Ok(mut cache) = self.dirs.lock() {
            if cache.len() >= DIR_CACHE {
                cache.clear();
            }
            cache.insert(dir, out.clone());
        }
        Ok(out)
    }

    /// The inode id at `path` (no link followed).
    fn resolve(&self, path: &SourcePath) -> Result<u64, SourceError> {
        let mut id = ROOT_DIR;
        for name in path.components() {
            let entries = self.listing(id).map_err(|e| corrupt(path, e))?;
            let hit = entries.iter().find(|d| d.name == name).or_else(|| {
                if !self.case_insensitive {
                    return None;
                }
                let want = fold(name);
                entries.iter().find(|d| fold(&d.name) == want)
            });
            match hit {
                Some(d) => id = d.file_id,
                None => return Err(SourceError::NotFound { path: path.clone() }),
            }
        }
        Ok(id)
    }

    fn node_at(&self, path: &SourcePath) -> Result<Node, SourceError> {
        let id = self.resolve(path)?;
        self.node(id)
            .map_err(|e| corrupt(path, e))?
            .ok_or_else(|| SourceError::Corrupt {
                path: path.clone(),
                detail: format!("directory entry names inode {id}, which has no record"),
            })
    }

    fn metadata_of(&self, node: &Node) -> Metadata {
        let i = &node.inode;
        let kind = kind_of(i.format());
        let size = match (&node.compression, &node.link) {
            (Some((size, _)), _) => *size,
            (_, Some(t)) => t.len() as u64,
            _ if kind == EntryKind::File => i.size,
            _ => 0,
        };
        let mut m = Metadata::new(kind, size);
        m.times = Timestamps {
            modified: apfs_time(i.modify_time),
            accessed: apfs_time(i.access_time),
            changed: apfs_time(i.change_time),
            created: apfs_time(i.create_time),
        };
        m.mode = Some(u32::from(i.mode));
        m.uid = Some(u64::from(i.uid));
        m.gid = Some(u64::from(i.gid));
        m.inode = Some(i.id);
        m.device = Some(u64::from(self.volume.index));
        m.nlink = (kind != EntryKind::Directory).then_some(i.nlink.max(0) as u64);
        m.extra.insert("apfs_parent_id".into(), i.parent_id.into());
        if i.bsd_flags != 0 {
            m.extra.insert("apfs_bsd_flags".into(), i.bsd_flags.into());
        }
        if let Some((_, t)) = node.compression {
            m.extra.insert("apfs_decmpfs_type".into(), t.into());
        }
        m
    }

    fn open_stream(
        &self,
        path: &SourcePath,
        node: &Node,
        name: &str,
    ) -> Result<OpenedFile<'_>, SourceError> {
        let value = self
            .xattr(node.inode.id, name)
            .map_err(|e| corrupt(path, e))?
            .ok_or_else(|| SourceError::NotFound { path: path.clone() })?;
        let mut metadata = self.metadata_of(node);
        metadata.kind = EntryKind::File;
        metadata.extra.insert("apfs_xattr".into(), name.into());
        let reader: Box<dyn sealbag_common::source::ReadSeek + '_> = match value {
            XattrValue::Embedded(b) => {
                metadata.size = b.len() as u64;
                Box::new(Cursor::new(b))
            }
            XattrValue::Stream { id, size } => {
                metadata.size = size;
                Box::new(self.stream_reader(id, size).map_err(|e| corrupt(path, e))?)
            }
        };
        Ok(OpenedFile {
            reader,
            metadata,
            method: "apfs-raw",
        })
    }
}

impl<R: Read + Seek + Send> Source for ApfsSource<R> {
    fn info(&self) -> SourceInfo {
        let mut location = format!(
            "{} volume {} ({:?}, role {})",
            self.location, self.volume.index, self.volume.name, self.volume.role
        );
        if let Some(s) = &self.snapshot {
            location.push_str(&format!(" snapshot {:?}", s.name));
        }
        SourceInfo {
            kind: self.kind.clone(),
            location,
            case_sensitive: !self.case_insensitive,
        }
    }

    fn metadata(&self, path: &SourcePath) -> Result<Metadata, SourceError> {
        let node = self.node_at(path)?;
        Ok(self.metadata_of(&node))
    }

    fn read_dir(&self, path: &SourcePath) -> Result<Vec<DirEntry>, SourceError> {
        let node = self.node_at(path)?;
        let kind = kind_of(node.inode.format());
        if kind != EntryKind::Directory {
            return Err(SourceError::NotAFile {
                path: path.clone(),
                kind,
            });
        }
        let entries = self.listing(node.inode.id).map_err(|e| corrupt(path, e))?;
        Ok(entries
            .iter()
            .filter(|d| !d.name.is_empty() && !d.name.contains(&b'/'))
            .map(|d| DirEntry {
                name: d.name.clone(),
                kind: kind_of_dtype(d.dtype),
            })
            .collect())
    }

    fn read_link(&self, path: &SourcePath) -> Result<Vec<u8>, SourceError> {
        let node = self.node_at(path)?;
        node.link.clone().ok_or_else(|| SourceError::NotAFile {
            path: path.clone(),
            kind: kind_of(node.inode.format()),
        })
    }

    fn open(&self, path: &SourcePath, stream: Option<&str>) -> Result<OpenedFile<'_>, SourceError> {
        let node = self.node_at(path)?;
        if let Some(name) = stream {
            return self.open_stream(path, &node, name);
        }
        let metadata = self.metadata_of(&node);
        if metadata.kind != EntryKind::File {
            return Err(SourceError::NotAFile {
                path: path.clone(),
                kind: metadata.kind,
            });
        }
        let id = node.inode.id;
        if let Some((size, kind)) = node.compression {
            if size > MAX_DECMPFS {
                return Err(SourceError::Unsupported {
                    path: path.clone(),
                    detail: format!(
                        "decmpfs-compressed (type {kind}) and {size} bytes once decompressed, over the {MAX_DECMPFS}-byte limit"
                    ),
                });
            }
            let head = self
                .xattr(id, DECMPFS)
                .and_then(|v| match v {
                    Some(v) => self.xattr_bytes(&v, MAX_XATTR),
                    None => Ok(Vec::new()),
                })
                .map_err(|e| corrupt(path, e))?;
            let fork = match cmpfs::Header::parse(&head).map(|h| h.storage()) {
                Ok(cmpfs::Storage::ResourceFork) => Some(
                    self.xattr(id, RESOURCE_FORK)
                        .and_then(|v| match v {
                            Some(v) => self.xattr_bytes(&v, MAX_XATTR),
                            None => Ok(Vec::new()),
                        })
                        .map_err(|e| corrupt(path, e))?,
                ),
                _ => None,
            };
            let bytes =
                cmpfs::decompress(&head, fork.as_deref()).map_err(|e| SourceError::Corrupt {
                    path: path.clone(),
                    detail: format!("decmpfs (type {kind}): {e}"),
                })?;
            return Ok(OpenedFile {
                reader: Box::new(Cursor::new(bytes)),
                metadata,
                method: "apfs-decmpfs",
            });
        }
        let reader = self
            .stream_reader(node.inode.private_id, metadata.size)
            .map_err(|e| corrupt(path, e))?;
        Ok(OpenedFile {
            reader: Box::new(reader),
            metadata,
            method: "apfs-raw",
        })
    }

    fn streams(&self, path: &SourcePath) -> Result<Vec<String>, SourceError> {
        let node = self.node_at(path)?;
        let names = self
            .xattrs(node.inode.id)
            .map_err(|e| corrupt(path, e))?
            .into_iter()
            .map(|(n, _)| String::from_utf8_lossy(&n).into_owned())
            .filter(|n| {
                n != SYMLINK
                    && !(node.compression.is_some() && (n == DECMPFS || n == RESOURCE_FORK))
            })
            .collect();
        Ok(names)
    }
}

/// Opens `bytes` as an APFS container and walks it whole, reading every file
/// and stream: for fuzzing. Errors are the expected outcome of most inputs.
pub fn exercise(bytes: &[u8]) {
    let len = bytes.len() as u64;
    let Ok(source) = ApfsSource::open(
        Cursor::new(bytes),
        len,
        &VolumeSelector::Default,
        None,
        "fuzz",
    ) else {
        return;
    };
    let _ = source.snapshots();
    let mut stack = vec![SourcePath::root()];
    let mut seen = 0usize;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = source.read_dir(&dir) else {
            continue;
        };
        for e in entries {
            seen += 1;
            if seen > 10_000 {
                return;
            }
            let path = dir.join(&e.name);
            match source.metadata(&path).map(|m| m.kind) {
                Ok(EntryKind::Directory) if stack.len() < 1000 => stack.push(path),
                Ok(EntryKind::File) => {
                    if let Ok(mut f) = source.open(&path, None) {
                        let _ = std::io::copy(
                            &mut f.reader.by_ref().take(1 << 20),
                            &mut std::io::sink(),
                        );
                    }
                    let _ = source.streams(&path);
                }
                Ok(EntryKind::Symlink) => {
                    let _ = source.read_link(&path);
                }
                _ => {}
            }
        }
    }
}
