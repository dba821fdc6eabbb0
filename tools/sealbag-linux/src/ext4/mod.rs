//! An ext2/3/4 [`Source`] over any `Read + Seek`: a partition of a disk
//! image, a block device, a bare file-system image. Nothing is mounted and
//! nothing is written.
//!
//! The `ext4-view` crate (pure Rust, read-only) loads the file system and
//! checks it; [`raw`] reads the on-disk format for what the crate does not
//! expose: inode numbers, ctime, link counts, 32-bit owners, extended
//! attributes, symlink targets, directories, and the extent or block map of
//! each file, through which file contents are read (holes and unwritten
//! extents as zeros). Paths are resolved here, component by component, with
//! a cache of recent directory listings, never following a symlink.
//! (Reading contents through `ext4-view`'s own path lookup made a
//! 20 000-entry directory quadratic: 836 files/s.) A file system `ext4-view`
//! refuses at load (inline data, encryption) is refused whole.
//!
//! The journal is never replayed, not even in memory: `ext4-view` is shown
//! the superblock with `needs_recovery` cleared, so what is read is what is
//! on disk (the kernel's `mount -o ro,noload` view). Whether the image had
//! an unreplayed journal is recorded in [`SourceInfo`] and the log.
//!
//! `ext4-view` keeps its state in `Rc`, which cannot cross threads, so the
//! file system lives on a worker thread of its own and this source talks to
//! it over channels; each request runs under `catch_unwind`, so a panic of
//! the crate on a hostile image is an error naming the path, never a crash.
//!
//! ```no_run
//! use sealbag_common::{Source, SourcePath};
//! let image = std::fs::File::open("root.ext4").expect("image");
//! let source = sealbag_linux::ext4::Ext4Source::open(image, "root.ext4").expect("ext4");
//! let names = source.read_dir(&SourcePath::root()).expect("root");
//! # let _ = names;
//! ```

pub mod raw;

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Seek, SeekFrom};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;

use sealbag_common::source::{
    DirEntry, EntryKind, Metadata, OpenedFile, SourceError, SourceInfo, SourcePath, Timestamp,
    Timestamps,
};
use sealbag_common::Source;

use raw::{RawError, RawFs, RawInode, XattrValue};

/// The root directory's inode.
const ROOT_INODE: u32 = 2;
/// Directory listings kept for path lookups (the walk is depth-first, so
/// the parents of what it asks about are recent): at most this many
/// directories, and at most [`DIR_CACHE_NAMES`] names in all.
const DIR_CACHE: usize = 8192;
/// Most names kept in the listing cache (about 100 MiB at worst).
const DIR_CACHE_NAMES: usize = 1_000_000;
/// Most bytes one read request carries between threads.
const READ_CHUNK: usize = 1 << 20;
/// Deepest path resolved.
const MAX_DEPTH: usize = 512;

/// Why an image could not be opened as ext2/3/4.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Ext4OpenError {
    /// The superblock is missing or damaged.
    #[error("not a readable ext2/3/4 file system: {0}")]
    Raw(#[from] RawError),
    /// `ext4-view` refused the file system (an unsupported feature, a bad
    /// checksum, a damaged group descriptor).
    #[error("ext4 file system refused: {0}")]
    Load(String),
    /// The worker thread could not be started.
    #[error("cannot start the ext4 reader thread: {0}")]
    Thread(#[source] io::Error),
}

/// Whether `superblock_area` (the first 2048 bytes of a volume, or more)
/// holds an ext2/3/4 superblock.
pub fn looks_like_ext4(first_bytes: &[u8]) -> bool {
    first_bytes.len() >= 2048 && raw::looks_like_ext(&first_bytes[1024..2048])
}

/// The volume label of an ext2/3/4 file system from its first 2048 bytes.
pub fn ext4_label(first_bytes: &[u8]) -> Option<String> {
    if !looks_like_ext4(first_bytes) {
        return None;
    }
    raw::Geometry::parse(&first_bytes[1024..2048])
        .ok()
        .and_then(|g| g.label)
}

enum Request {
    Metadata(SourcePath),
    ReadDir(SourcePath),
    ReadLink(SourcePath),
    Open(SourcePath),
    Read {
        handle: u64,
        offset: u64,
        len: usize,
    },
    Close(u64),
}

enum Response {
    Metadata(Result<Metadata, SourceError>),
    ReadDir(Result<Vec<DirEntry>, SourceError>),
    ReadLink(Result<Vec<u8>, SourceError>),
    Open(Result<(u64, Metadata), SourceError>),
    Read(io::Result<Vec<u8>>),
}

type Envelope = (Request, Option<Sender<Response>>);

/// An ext2/3/4 file system read in user space, as a [`Source`].
pub struct Ext4Source {
    requests: Mutex<Sender<Envelope>>,
    info: SourceInfo,
    /// The volume label.
    label: Option<String>,
    needs_recovery: bool,
}

impl std::fmt::Debug for Ext4Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ext4Source")
            .field("info", &self.info)
            .field("label", &self.label)
            .finish()
    }
}

/// The reader `ext4-view` gets: the shared image, with the patched superblock.
struct ViewReader<R> {
    inner: std::rc::Rc<std::cell::RefCell<R>>,
    superblock: Vec<u8>,
}

impl<R: Read + Seek> ext4_view::Ext4Read for ViewReader<R> {
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        let mut inner = self.inner.borrow_mut();
        inner.seek(SeekFrom::Start(start_byte))?;
        inner.read_exact(dst).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("reading {} bytes at offset {start_byte}: {e}", dst.len()),
            )
        })?;
        // Overlay the superblock without `needs_recovery`.
        let end = start_byte.saturating_add(dst.len() as u64);
        let (sb_start, sb_end) = (1024u64, 1024 + self.superblock.len() as u64);
        if start_byte < sb_end && end > sb_start {
            let from = start_byte.max(sb_start);
            let to = end.min(sb_end);
            let d = (from - start_byte) as usize..(to - start_byte) as usize;
            let s = (from - sb_start) as usize..(to - sb_start) as usize;
            dst[d].copy_from_slice(&self.superblock[s]);
        }
        Ok(())
    }
}

/// A shared handle on the image for the raw reader.
struct SharedReader<R>(std::rc::Rc<std::cell::RefCell<R>>);

impl<R: Read> Read for SharedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

impl<R: Seek> Seek for SharedReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.0.borrow_mut().seek(pos)
    }
}

impl Ext4Source {
    /// Opens the ext2/3/4 file system in `reader`; `location` says where it
    /// is (image path and partition) for the chain of custody.
    pub fn open<R>(reader: R, location: impl Into<String>) -> Result<Ext4Source, Ext4OpenError>
    where
        R: Read + Seek + Send + 'static,
    {
        let location = location.into();
        let (ready_tx, ready_rx) = channel::<Result<raw::Geometry, Ext4OpenError>>();
        let (tx, rx) = channel::<Envelope>();
        std::thread::Builder::new()
            .name("ext4-reader".into())
            .spawn(move || {
                let started = catch_unwind(AssertUnwindSafe(|| Worker::start(reader)));
                let mut worker = match started {
                    Ok(Ok(worker)) => {
                        let _ = ready_tx.send(Ok(worker.raw.geometry.clone()));
                        worker
                    }
                    Ok(Err(e)) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                    Err(_) => {
                        let _ = ready_tx.send(Err(Ext4OpenError::Load(
                            "the ext4 reader panicked on this superblock".into(),
                        )));
                        return;
                    }
                };
                while let Ok((request, reply)) = rx.recv() {
                    let response = worker.handle(request);
                    if let (Some(reply), Some(response)) = (reply, response) {
                        let _ = reply.send(response);
                    }
                }
            })
            .map_err(Ext4OpenError::Thread)?;
        let geometry = ready_rx.recv().map_err(|_| {
            Ext4OpenError::Load("the ext4 reader thread stopped while opening".into())
        })??;
        let needs_recovery = geometry.needs_recovery();
        if needs_recovery {
            tracing::warn!(
                location = %location,
                "the ext4 journal holds unreplayed transactions (the file system was not cleanly unmounted); reading the on-disk state without replaying it, as `mount -o ro,noload` would"
            );
        }
        let mut kind = "ext4-image".to_string();
        if needs_recovery {
            kind.push_str(" (journal not replayed)");
        }
        Ok(Ext4Source {
            requests: Mutex::new(tx),
            info: SourceInfo {
                kind,
                location: match &geometry.label {
                    Some(label) => {
                        format!("{location} (ext4 label `{label}`, uuid {})", geometry.uuid)
                    }
                    None => format!("{location} (ext4 uuid {})", geometry.uuid),
                },
                case_sensitive: true,
            },
            label: geometry.label,
            needs_recovery,
        })
    }

    /// The file system's label, if it has one.
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// Whether the journal held transactions that were not replayed.
    pub fn needs_recovery(&self) -> bool {
        self.needs_recovery
    }

    fn sender(&self) -> Sender<Envelope> {
        match self.requests.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn ask(&self, path: &SourcePath, request: Request) -> Result<Response, SourceError> {
        let (reply_tx, reply_rx) = channel();
        let gone = || SourceError::Io {
            path: path.clone(),
            source: io::Error::other("the ext4 reader thread has stopped"),
        };
        self.sender()
            .send((request, Some(reply_tx)))
            .map_err(|_| gone())?;
        reply_rx.recv().map_err(|_| gone())
    }
}

fn unexpected(path: &SourcePath) -> SourceError {
    SourceError::Io {
        path: path.clone(),
        source: io::Error::other("unexpected reply from the ext4 reader"),
    }
}

impl Source for Ext4Source {
    fn info(&self) -> SourceInfo {
        self.info.clone()
    }

    fn metadata(&self, path: &SourcePath) -> Result<Metadata, SourceError> {
        match self.ask(path, Request::Metadata(path.clone()))? {
            Response::Metadata(r) => r,
            _ => Err(unexpected(path)),
        }
    }

    fn read_dir(&self, path: &SourcePath) -> Result<Vec<DirEntry>, SourceError> {
        match self.ask(path, Request::ReadDir(path.clone()))? {
            Response::ReadDir(r) => r,
            _ => Err(unexpected(path)),
        }
    }

    fn read_link(&self, path: &SourcePath) -> Result<Vec<u8>, SourceError> {
        match self.ask(path, Request::ReadLink(path.clone()))? {
            Response::ReadLink(r) => r,
            _ => Err(unexpected(path)),
        }
    }

    fn open(&self, path: &SourcePath, stream: Option<&str>) -> Result<OpenedFile<'_>, SourceError> {
        if let Some(stream) = stream {
            return Err(SourceError::Unsupported {
                path: path.clone(),
                detail: format!("ext4 has no named stream `{stream}`"),
            });
        }
        let (handle, metadata) = match self.ask(path, Request::Open(path.clone()))? {
            Response::Open(r) => r?,
            _ => return Err(unexpected(path)),
        };
        Ok(OpenedFile {
            reader: Box::new(Ext4Reader {
                requests: self.sender(),
                handle,
                size: metadata.size,
                position: 0,
                path: path.clone(),
            }),
            metadata,
            method: "ext4-raw",
        })
    }
}

/// The bytes of one file, read through the worker.
struct Ext4Reader {
    requests: Sender<Envelope>,
    handle: u64,
    size: u64,
    position: u64,
    path: SourcePath,
}

impl Read for Ext4Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.position >= self.size {
            return Ok(0);
        }
        let len = buf.len().min(READ_CHUNK);
        let (reply_tx, reply_rx) = channel();
        let gone =
            || io::Error::other(format!("{}: the ext4 reader thread has stopped", self.path));
        self.requests
            .send((
                Request::Read {
                    handle: self.handle,
                    offset: self.position,
                    len,
                },
                Some(reply_tx),
            ))
            .map_err(|_| gone())?;
        let bytes = match reply_rx.recv().map_err(|_| gone())? {
            Response::Read(r) => r?,
            _ => return Err(io::Error::other("unexpected reply from the ext4 reader")),
        };
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for Ext4Reader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
        };
        self.position = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )
        })?;
        Ok(self.position)
    }
}

impl Drop for Ext4Reader {
    fn drop(&mut self) {
        // Frees the worker's handle; if the worker is gone there is nothing to free.
        let _ = self.requests.send((Request::Close(self.handle), None));
    }
}

/// An open file: its size and where its data is, read through sealbag's
/// raw extent (or block) map.
struct FileHandle {
    size: u64,
    /// `(logical block, physical block, count)`, sorted.
    runs: Vec<(u64, u64, u64)>,
}

/// The state on the worker thread.
struct Worker<R> {
    raw: RawFs<SharedReader<R>>,
    /// Recent directory listings: path → (name → (inode, type byte)).
    dirs: HashMap<SourcePath, (HashMap<Vec<u8>, u32>, u64)>,
    /// Use order of `dirs` (path, stamp); stale stamps are skipped.
    order: VecDeque<(SourcePath, u64)>,
    clock: u64,
    /// Names in `dirs`.
    cached_names: usize,
    files: HashMap<u64, (FileHandle, SourcePath)>,
    next_handle: u64,
}

impl<R: Read + Seek + 'static> Worker<R> {
    fn start(reader: R) -> Result<Worker<R>, Ext4OpenError> {
        let shared = std::rc::Rc::new(std::cell::RefCell::new(reader));
        let mut raw = RawFs::open(SharedReader(shared.clone()))?;
        let mut superblock = vec![0u8; 1024];
        raw.read_at(1024, &mut superblock)?;
        let view_reader = ViewReader {
            inner: shared,
            superblock: raw::superblock_without_recovery(&superblock),
        };
        // Loading checks the file system (features, superblock, group
        // descriptors): what ext4-view refuses is refused here, whole.
        ext4_view::Ext4::load(Box::new(view_reader))
            .map_err(|e| Ext4OpenError::Load(e.to_string()))?;
        Ok(Worker {
            raw,
            dirs: HashMap::new(),
            order: VecDeque::new(),
            clock: 0,
            cached_names: 0,
            files: HashMap::new(),
            next_handle: 1,
        })
    }

    fn handle(&mut self, request: Request) -> Option<Response> {
        let path = match &request {
            Request::Metadata(p)
            | Request::ReadDir(p)
            | Request::ReadLink(p)
            | Request::Open(p) => Some(p.clone()),
            Request::Read { handle, .. } => self.files.get(handle).map(|(_, p)| p.clone()),
            Request::Close(_) => None,
        };
        let panicked = |path: Option<SourcePath>| {
            let path = path.unwrap_or_else(SourcePath::root);
            SourceError::Corrupt {
                path,
                detail: "the ext4 reader panicked on this entry's structures".into(),
            }
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| self.serve(request_clone(&request))));
        match outcome {
            Ok(response) => response,
            Err(_) => {
                tracing::error!(path = ?path, "ext4 reader panicked; entry reported as corrupt");
                Some(match request {
                    Request::Metadata(_) => Response::Metadata(Err(panicked(path))),
                    Request::ReadDir(_) => Response::ReadDir(Err(panicked(path))),
                    Request::ReadLink(_) => Response::ReadLink(Err(panicked(path))),
                    Request::Open(_) => Response::Open(Err(panicked(path))),
                    Request::Read { .. } => {
                        Response::Read(Err(io::Error::other(panicked(path).to_string())))
                    }
                    Request::Close(_) => return None,
                })
            }
        }
    }

    fn serve(&mut self, request: Request) -> Option<Response> {
        Some(match request {
            Request::Metadata(path) => Response::Metadata(
                self.resolve(&path)
                    .and_then(|inode| self.metadata_of(&path, &inode)),
            ),
            Request::ReadDir(path) => Response::ReadDir(self.read_dir(&path)),
            Request::ReadLink(path) => Response::ReadLink(self.read_link(&path)),
            Request::Open(path) => Response::Open(self.open(&path)),
            Request::Read {
                handle,
                offset,
                len,
            } => Response::Read(self.read(handle, offset, len)),
            Request::Close(handle) => {
                self.files.remove(&handle);
                return None;
            }
        })
    }

    /// The inode at `path`, never following a symlink.
    fn resolve(&mut self, path: &SourcePath) -> Result<RawInode, SourceError> {
        let components: Vec<&[u8]> = path.components().collect();
        if components.len() > MAX_DEPTH {
            return Err(SourceError::Unsupported {
                path: path.clone(),
                detail: format!("deeper than {MAX_DEPTH} components"),
            });
        }
        let mut inode = self.inode(path, ROOT_INODE)?;
        let mut current = SourcePath::root();
        for name in components {
            if inode.file_type() != 0o040000 {
                return Err(SourceError::NotFound { path: path.clone() });
            }
            let number = {
                let listing = self.listing(&current, &inode)?;
                listing.get(name).copied()
            };
            let Some(number) = number else {
                return Err(SourceError::NotFound { path: path.clone() });
            };
            current = current.join(name);
            inode = self.inode(&current, number)?;
        }
        Ok(inode)
    }

    fn inode(&mut self, path: &SourcePath, number: u32) -> Result<RawInode, SourceError> {
        let inode = self.raw.inode(number).map_err(|e| raw_error(path, e))?;
        if inode.links == 0 || inode.dtime != 0 || inode.mode == 0 {
            return Err(SourceError::Corrupt {
                path: path.clone(),
                detail: format!("inode {number}: the directory entry points at a free inode"),
            });
        }
        Ok(inode)
    }

    /// The name → inode map of directory `dir` (cached).
    fn listing(
        &mut self,
        dir: &SourcePath,
        inode: &RawInode,
    ) -> Result<&HashMap<Vec<u8>, u32>, SourceError> {
        self.clock += 1;
        let clock = self.clock;
        if let Some(entry) = self.dirs.get_mut(dir) {
            entry.1 = clock;
            self.order.push_back((dir.clone(), clock));
        } else {
            let entries = self.raw.read_dir(inode).map_err(|e| raw_error(dir, e))?;
            let map: HashMap<Vec<u8>, u32> = entries
                .into_iter()
                .map(|(name, ino, _)| (name, ino))
                .collect();
            self.cache(dir.clone(), map);
        }
        match self.dirs.get(dir) {
            Some((map, _)) => Ok(map),
            None => Err(SourceError::NotFound { path: dir.clone() }),
        }
    }

    /// Keeps a listing, dropping the oldest ones past the budget.
    fn cache(&mut self, dir: SourcePath, map: HashMap<Vec<u8>, u32>) {
        self.clock += 1;
        self.cached_names += map.len();
        if let Some((old, _)) = self.dirs.insert(dir.clone(), (map, self.clock)) {
            self.cached_names -= old.len();
        }
        self.order.push_back((dir.clone(), self.clock));
        while self.dirs.len() > 1
            && (self.dirs.len() > DIR_CACHE || self.cached_names > DIR_CACHE_NAMES)
        {
            let Some((oldest, stamp)) = self.order.pop_front() else {
                break;
            };
            if oldest != dir && self.dirs.get(&oldest).is_some_and(|(_, s)| *s == stamp) {
                if let Some((old, _)) = self.dirs.remove(&oldest) {
                    self.cached_names -= old.len();
                }
            }
        }
        if self.order.len() > 8 * DIR_CACHE {
            let mut live: Vec<(SourcePath, u64)> = self
                .dirs
                .iter()
                .map(|(p, (_, s))| (p.clone(), *s))
                .collect();
            live.sort_by_key(|(_, s)| *s);
            self.order = live.into();
        }
    }

    fn metadata_of(
        &mut self,
        path: &SourcePath,
        inode: &RawInode,
    ) -> Result<Metadata, SourceError> {
        let kind = match inode.file_type() {
            0o100000 => EntryKind::File,
            0o040000 => EntryKind::Directory,
            0o120000 => EntryKind::Symlink,
            0o010000 => EntryKind::Fifo,
            0o140000 => EntryKind::Socket,
            0o060000 => EntryKind::BlockDevice,
            0o020000 => EntryKind::CharDevice,
            _ => EntryKind::Other,
        };
        let ts = |(s, n): (i64, u32)| Some(Timestamp::new(s, i64::from(n)));
        let mut metadata = Metadata::new(kind, inode.size);
        metadata.times = Timestamps {
            modified: ts(inode.mtime),
            accessed: ts(inode.atime),
            changed: ts(inode.ctime),
            created: inode.crtime.and_then(ts),
        };
        metadata.mode = Some(u32::from(inode.mode));
        metadata.uid = Some(u64::from(inode.uid));
        metadata.gid = Some(u64::from(inode.gid));
        metadata.inode = Some(u64::from(inode.number));
        metadata.nlink = Some(u64::from(inode.links));
        metadata
            .extra
            .insert("ext4_flags".into(), format!("0x{:08x}", inode.flags).into());
        match self.raw.xattrs(inode) {
            Ok(xattrs) if !xattrs.is_empty() => {
                let map: serde_json::Map<String, serde_json::Value> = xattrs
                    .into_iter()
                    .map(|(name, value)| (name, xattr_json(value)))
                    .collect();
                metadata.extra.insert("xattrs".into(), map.into());
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(path = %path, error = %e, "cannot read extended attributes");
                metadata
                    .extra
                    .insert("xattrs_error".into(), e.to_string().into());
            }
        }
        Ok(metadata)
    }

    fn read_dir(&mut self, path: &SourcePath) -> Result<Vec<DirEntry>, SourceError> {
        let inode = self.resolve(path)?;
        if inode.file_type() != 0o040000 {
            return Err(SourceError::Unsupported {
                path: path.clone(),
                detail: format!("inode {}: not a directory", inode.number),
            });
        }
        let entries = self.raw.read_dir(&inode).map_err(|e| raw_error(path, e))?;
        let mut map = HashMap::with_capacity(entries.len());
        let mut listing = Vec::with_capacity(entries.len());
        for (name, ino, kind) in entries {
            map.insert(name.clone(), ino);
            listing.push(DirEntry {
                name,
                kind: match kind {
                    1 => Some(EntryKind::File),
                    2 => Some(EntryKind::Directory),
                    7 => Some(EntryKind::Symlink),
                    _ => None,
                },
            });
        }
        self.cache(path.clone(), map);
        Ok(listing)
    }

    fn read_link(&mut self, path: &SourcePath) -> Result<Vec<u8>, SourceError> {
        let inode = self.resolve(path)?;
        if inode.file_type() != 0o120000 {
            return Err(SourceError::Unsupported {
                path: path.clone(),
                detail: format!("inode {}: not a symbolic link", inode.number),
            });
        }
        self.raw.read_link(&inode).map_err(|e| raw_error(path, e))
    }

    fn open(&mut self, path: &SourcePath) -> Result<(u64, Metadata), SourceError> {
        let inode = self.resolve(path)?;
        let metadata = self.metadata_of(path, &inode)?;
        if metadata.kind != EntryKind::File {
            return Err(SourceError::NotAFile {
                path: path.clone(),
                kind: metadata.kind,
            });
        }
        let handle = self.next_handle;
        // The data is read through sealbag's own extent (or block) map of the
        // inode already resolved: ext4-view's `open` would look the path up
        // again, scanning every directory on it, which made a directory of
        // 20 000 files quadratic.
        let file = FileHandle {
            size: inode.size,
            runs: self.raw.file_runs(&inode).map_err(|e| raw_error(path, e))?,
        };
        self.next_handle += 1;
        self.files.insert(handle, (file, path.clone()));
        Ok((handle, metadata))
    }

    fn read(&mut self, handle: u64, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let Some((file, path)) = self.files.get_mut(&handle) else {
            return Err(io::Error::other("read of a closed ext4 file"));
        };
        let FileHandle { size, runs } = file;
        let len = (len as u64).min(size.saturating_sub(offset)) as usize;
        let bs = self.raw.geometry.block_size;
        let mut out = vec![0u8; len];
        let end = offset + len as u64;
        // Runs overlapping [offset, end); everything else stays zero (holes).
        let first = runs.partition_point(|(l, _, c)| (l + c) * bs <= offset);
        for &(logical, physical, count) in &runs[first..] {
            let run_start = logical * bs;
            if run_start >= end {
                break;
            }
            let from = run_start.max(offset);
            let to = ((logical + count) * bs).min(end);
            if from >= to {
                continue;
            }
            let disk = physical.saturating_mul(bs).saturating_add(from - run_start);
            let dst = &mut out[(from - offset) as usize..(to - offset) as usize];
            self.raw
                .read_at(disk, dst)
                .map_err(|e| io::Error::other(format!("{path}: at offset {from}: {e}")))?;
        }
        Ok(out)
    }
}

fn request_clone(request: &Request) -> Request {
    match request {
        Request::Metadata(p) => Request::Metadata(p.clone()),
        Request::ReadDir(p) => Request::ReadDir(p.clone()),
        Request::ReadLink(p) => Request::ReadLink(p.clone()),
        Request::Open(p) => Request::Open(p.clone()),
        Request::Read {
            handle,
            offset,
            len,
        } => Request::Read {
            handle: *handle,
            offset: *offset,
            len: *len,
        },
        Request::Close(h) => Request::Close(*h),
    }
}

fn xattr_json(value: XattrValue) -> serde_json::Value {
    match value {
        XattrValue::Bytes(bytes) => match String::from_utf8(bytes) {
            Ok(text) if !text.contains('\0') || text.ends_with('\0') => {
                serde_json::json!({ "text": text.trim_end_matches('\0') })
            }
            Ok(text) => serde_json::json!({ "b64": b64(text.as_bytes()) }),
            Err(e) => serde_json::json!({ "b64": b64(e.as_bytes()) }),
        },
        XattrValue::InInode(n) => serde_json::json!({ "in_inode": n }),
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn raw_error(path: &SourcePath, error: RawError) -> SourceError {
    match error {
        RawError::Io {
            source,
            offset,
            len,
        } => SourceError::Io {
            path: path.clone(),
            source: io::Error::new(
                source.kind(),
                format!("reading {len} bytes at file-system offset {offset}: {source}"),
            ),
        },
        RawError::Unsupported { .. } => SourceError::Unsupported {
            path: path.clone(),
            detail: error.to_string(),
        },
        other => SourceError::Corrupt {
            path: path.clone(),
            detail: other.to_string(),
        },
    }
}
