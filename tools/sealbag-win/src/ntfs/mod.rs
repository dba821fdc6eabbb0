//! A raw NTFS volume as a [`Source`]: directory indexes, file records and
//! their streams read from the volume's bytes, never through the OS.
//!
//! The boot sector is checked and its geometry taken by the `ntfs` crate
//! (0.4), as is the volume label. File records, attribute lists, data runs,
//! compressed units and index blocks are read here, because `ntfs` 0.4
//! silently loses evidence on three cases this module handles: LZNT1
//! compressed data (returned raw there; decompressed here, one compression
//! unit at a time), attributes whose extents are split between base and
//! extension records (gathered here by type and name, ordered by VCN, and
//! checked to cover the data size), and devices that refuse unaligned reads
//! (wrap them in [`sealbag_common::source::SectorReader`]).
//!
//! Named streams are entries of their own: `file.txt:Zone.Identifier` is
//! listed beside `file.txt` by [`Source::read_dir`], so profile globs name
//! them (`/Users/*/Downloads/*:Zone.Identifier`) and they are stored as
//! `<file>:<stream>` in the archive. `Source::open(path, Some(stream))`
//! reaches the same bytes.

mod index;
mod lznt1;
mod names;
mod record;
mod runs;
mod stream;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};

use sealbag_common::source::{
    DirEntry, EntryKind, Metadata, OpenedFile, Source, SourceError, SourceInfo, SourcePath,
    Timestamp, Timestamps,
};

pub use lznt1::decompress as lznt1_decompress;
pub use names::{from_wtf8, to_wtf8};

use index::{parse_block, parse_file_name, parse_node, FileName, IndexEntry};
use names::UpCase;
use record::{parse_record, ty, Attribute, Body, Record};
use runs::Extent;
use stream::{read_mapped, Layout, StreamLayout, StreamReader};

/// Record number of the root directory.
const ROOT: u64 = 5;
/// Record number of `$BadClus`, whose `$Bad` stream is as large as the volume.
const BADCLUS: u64 = 8;
/// Largest attribute list read.
const MAX_ATTRIBUTE_LIST: u64 = 4 << 20;
/// Most extension records of one file.
const MAX_EXTENSIONS: usize = 4096;
/// Largest directory index allocation read.
const MAX_INDEX_ALLOCATION: u64 = 1 << 30;
/// Parsed files kept.
const FILE_CACHE: usize = 4096;
/// Directory listings kept.
const DIR_CACHE: usize = 256;
/// Reparse tags read as links.
const TAG_SYMLINK: u32 = 0xA000_000C;
const TAG_MOUNT_POINT: u32 = 0xA000_0003;
/// Windows Overlay Filter (compact OS): the data is in `WofCompressedData`.
const TAG_WOF: u32 = 0x8000_0017;

/// Why a volume could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NtfsOpenError {
    /// The boot sector is not NTFS (or `ntfs` refused it).
    #[error("not an NTFS volume: {0}")]
    NotNtfs(String),
    /// The boot sector is NTFS, but the MFT cannot be read.
    #[error("NTFS volume with an unreadable $MFT: {0}")]
    Corrupt(String),
}

/// Everything known about one file record, its extensions merged in.
#[derive(Debug)]
struct FileInfo {
    record: Record,
    attributes: Vec<Attribute>,
    std_times: Option<[u64; 4]>,
    file_attributes: Option<u32>,
    file_names: Vec<FileName>,
    problems: Vec<String>,
}

impl FileInfo {
    fn is_dir(&self) -> bool {
        self.record.flags & 0x2 != 0
    }

    fn pieces(&self, ty: u32, name: &[u16]) -> Vec<&Attribute> {
        self.attributes
            .iter()
            .filter(|a| a.ty == ty && a.name == name)
            .collect()
    }

    fn stream_names(&self) -> Vec<Vec<u16>> {
        let mut names: Vec<Vec<u16>> = self
            .attributes
            .iter()
            .filter(|a| a.ty == ty::DATA && !a.name.is_empty())
            .map(|a| a.name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn reparse_tag(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match &a.body {
            Body::Resident(b) if a.ty == ty::REPARSE_POINT => record::u32_at(b, 0),
            _ => None,
        })
    }

    /// The name to report: Win32 or POSIX before DOS.
    fn best_name(&self) -> Option<&FileName> {
        self.file_names
            .iter()
            .find(|f| f.namespace != 2)
            .or(self.file_names.first())
    }
}

/// A directory's names, folded for case-insensitive lookup.
#[derive(Debug)]
struct Dir {
    entries: Vec<IndexEntry>,
    by_fold: HashMap<Vec<u16>, usize>,
}

/// A raw NTFS volume, generic over where its bytes come from.
pub struct NtfsSource<R> {
    dev: Mutex<R>,
    cluster: u64,
    record_size: u64,
    serial: u64,
    volume_size: u64,
    label: Option<String>,
    mft: Vec<Extent>,
    mft_size: u64,
    upcase: UpCase,
    kind: String,
    location: String,
    method: &'static str,
    files: Mutex<HashMap<u64, Arc<FileInfo>>>,
    dirs: Mutex<HashMap<u64, Arc<Dir>>>,
}

impl<R> std::fmt::Debug for NtfsSource<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtfsSource")
            .field("location", &self.location)
            .field("cluster", &self.cluster)
            .field("record_size", &self.record_size)
            .finish()
    }
}

fn nt_time(t: u64) -> Option<Timestamp> {
    if t == 0 {
        return None;
    }
    let secs = (t / 10_000_000) as i64 - 11_644_473_600;
    Some(Timestamp::new(secs, ((t % 10_000_000) * 100) as i64))
}

fn corrupt(path: &SourcePath, detail: impl Into<String>) -> SourceError {
    SourceError::Corrupt {
        path: path.clone(),
        detail: detail.into(),
    }
}

impl<R: Read + Seek + Send> NtfsSource<R> {
    /// Opens the NTFS volume whose first byte is the first byte of `dev`;
    /// `kind` and `location` describe it for the chain of custody
    /// (`ntfs-image`, the image path).
    pub fn new(
        mut dev: R,
        kind: impl Into<String>,
        location: impl Into<String>,
    ) -> Result<Self, NtfsOpenError> {
        let fs = ntfs::Ntfs::new(&mut dev).map_err(|e| NtfsOpenError::NotNtfs(e.to_string()))?;
        let cluster = u64::from(fs.cluster_size());
        let record_size = u64::from(fs.file_record_size());
        if !(256..=65_536).contains(&record_size) || !record_size.is_power_of_two() {
            return Err(NtfsOpenError::NotNtfs(format!(
                "file record size {record_size}"
            )));
        }
        let label = match fs.volume_name(&mut dev) {
            Some(Ok(name)) => Some(name.name().to_string_lossy()),
            _ => None,
        };
        let mft_position = fs
            .mft_position()
            .value()
            .map(u64::from)
            .ok_or_else(|| NtfsOpenError::Corrupt("no $MFT position".into()))?;
        let mut source = NtfsSource {
            dev: Mutex::new(dev),
            cluster,
            record_size,
            serial: fs.serial_number(),
            volume_size: fs.size(),
            label,
            // Until $MFT's own extents are known, record 0 is read from the boot sector's LCN.
            mft: vec![Extent {
                vcn: 0,
                clusters: record_size.div_ceil(cluster),
                lcn: Some(mft_position / cluster),
            }],
            mft_size: record_size,
            upcase: UpCase::ascii(),
            kind: kind.into(),
            location: location.into(),
            method: "ntfs-raw",
            files: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashMap::new()),
        };
        if mft_position % cluster != 0 {
            return Err(NtfsOpenError::Corrupt(
                "$MFT not on a cluster boundary".into(),
            ));
        }
        source.bootstrap_mft().map_err(NtfsOpenError::Corrupt)?;
        // $UpCase (record 10) folds names; ASCII folding if it cannot be read.
        match source.read_stream_bytes(10, &[], 1 << 17) {
            Ok(bytes) => source.upcase = UpCase::from_bytes(&bytes),
            Err(e) => tracing::warn!(error = %e, "cannot read $UpCase; names fold as ASCII"),
        }
        Ok(source)
    }

    /// Sets the manifest's `method` for files read from this volume.
    pub fn with_method(mut self, method: &'static str) -> Self {
        self.method = method;
        self
    }

    /// The volume label, if it has one.
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// Number of MFT records the volume has room for.
    pub fn record_count(&self) -> u64 {
        self.mft_size / self.record_size
    }

    /// Bytes per cluster.
    pub fn cluster_size(&self) -> u64 {
        self.cluster
    }

    /// Parses record `number` and reports whether it is an in-use base
    /// record (for enumeration and benchmarks); errors name the record.
    pub fn probe_record(&self, number: u64) -> Result<bool, String> {
        let record = self.read_record(number)?;
        Ok(record.flags & 1 != 0 && !record.is_extension)
    }

    /// Reads $MFT's own record and gathers its $DATA extents, following its
    /// attribute list into extension records (read with the extents known so far).
    fn bootstrap_mft(&mut self) -> Result<(), String> {
        let base = self.read_record(0)?;
        let mut pieces: Vec<Attribute> = base
            .attributes
            .iter()
            .filter(|a| a.ty == ty::DATA && a.name.is_empty())
            .cloned()
            .collect();
        let layout =
            StreamLayout::gather(&pieces.iter().collect::<Vec<_>>(), self.cluster, "$MFT")?;
        self.set_mft(&layout)?;
        if let Some(list) = base.attributes.iter().find(|a| a.ty == ty::ATTRIBUTE_LIST) {
            let list = self.attribute_value(list, MAX_ATTRIBUTE_LIST)?;
            let mut extra: Vec<u64> = parse_attribute_list(&list)?
                .into_iter()
                .filter(|(t, name, rec)| *t == ty::DATA && name.is_empty() && *rec != 0)
                .map(|(_, _, rec)| rec)
                .collect();
            extra.sort();
            extra.dedup();
            for number in extra {
                let record = self.read_record(number)?;
                // An extension of $MFT names record 0 as its base.
                if record.is_extension && record.base == 0 {
                    pieces.extend(
                        record
                            .attributes
                            .into_iter()
                            .filter(|a| a.ty == ty::DATA && a.name.is_empty()),
                    );
                }
                let layout =
                    StreamLayout::gather(&pieces.iter().collect::<Vec<_>>(), self.cluster, "$MFT")?;
                self.set_mft(&layout)?;
            }
        }
        Ok(())
    }

    fn set_mft(&mut self, layout: &StreamLayout) -> Result<(), String> {
        match &layout.layout {
            Layout::Clusters {
                extents, data_size, ..
            } => {
                self.mft = extents.clone();
                self.mft_size = *data_size;
                Ok(())
            }
            Layout::Resident(_) => Err("$MFT's $DATA is resident".into()),
        }
    }

    fn read_record(&self, number: u64) -> Result<Record, String> {
        let offset = number
            .checked_mul(self.record_size)
            .filter(|o| o + self.record_size <= self.mft_size)
            .ok_or_else(|| format!("MFT record {number} is beyond the end of $MFT"))?;
        let mut buf = vec![0u8; self.record_size as usize];
        let mut dev = self.dev.lock().map_err(|_| "volume lock poisoned")?;
        let mut filled = 0;
        while filled < buf.len() {
            filled += read_mapped(
                &mut *dev,
                &self.mft,
                self.cluster,
                offset + filled as u64,
                &mut buf[filled..],
            )
            .map_err(|e| format!("MFT record {number}: {e}"))?;
        }
        drop(dev);
        parse_record(buf, number)
    }

    /// The whole value of one attribute, capped at `cap` bytes.
    fn attribute_value(&self, attribute: &Attribute, cap: u64) -> Result<Vec<u8>, String> {
        let what = format!(
            "attribute {:#x} of record {}",
            attribute.ty, attribute.record
        );
        let layout = StreamLayout::gather(&[attribute], self.cluster, &what)?;
        self.layout_bytes(layout, cap, &what)
    }

    fn layout_bytes(&self, layout: StreamLayout, cap: u64, what: &str) -> Result<Vec<u8>, String> {
        if layout.size() > cap {
            return Err(format!(
                "{what}: {} bytes, more than the {cap} allowed",
                layout.size()
            ));
        }
        let mut out = Vec::with_capacity(layout.size() as usize);
        StreamReader::new(&self.dev, layout, self.cluster)
            .read_to_end(&mut out)
            .map_err(|e| format!("{what}: {e}"))?;
        Ok(out)
    }

    fn read_stream_bytes(&self, number: u64, name: &[u16], cap: u64) -> Result<Vec<u8>, String> {
        let file = self.file(number)?;
        let what = format!("record {number} $DATA");
        let layout = StreamLayout::gather(&file.pieces(ty::DATA, name), self.cluster, &what)?;
        self.layout_bytes(layout, cap, &what)
    }

    /// Loads a base record with its extension records merged in.
    fn file(&self, number: u64) -> Result<Arc<FileInfo>, String> {
        if let Some(file) = self.files.lock().ok().and_then(|f| f.get(&number).cloned()) {
            return Ok(file);
        }
        let record = self.read_record(number)?;
        if record.flags & 1 == 0 {
            return Err(format!("MFT record {number} is not in use (deleted file)"));
        }
        if record.is_extension {
            return Err(format!(
                "MFT record {number} is an extension of record {}",
                record.base
            ));
        }
        let mut attributes = record.attributes.clone();
        let mut problems = Vec::new();
        if let Some(list) = record
            .attributes
            .iter()
            .find(|a| a.ty == ty::ATTRIBUTE_LIST)
        {
            let list = self.attribute_value(list, MAX_ATTRIBUTE_LIST)?;
            let mut seen = HashSet::new();
            for (_, _, ext) in parse_attribute_list(&list)? {
                if ext == number || !seen.insert(ext) {
                    continue;
                }
                if seen.len() > MAX_EXTENSIONS {
                    return Err(format!(
                        "MFT record {number}: more than {MAX_EXTENSIONS} extension records"
                    ));
                }
                match self.read_record(ext) {
                    Ok(e) if e.is_extension && e.base == number => attributes.extend(
                        e.attributes
                            .into_iter()
                            .filter(|a| a.ty != ty::ATTRIBUTE_LIST),
                    ),
                    Ok(e) => problems.push(format!(
                        "extension record {ext} belongs to record {}, not {number}",
                        e.base
                    )),
                    Err(e) => problems.push(e),
                }
            }
        }
        let std_times = attributes.iter().find_map(|a| match &a.body {
            Body::Resident(b) if a.ty == ty::STANDARD_INFORMATION => Some((
                [
                    record::u64_at(b, 0)?,
                    record::u64_at(b, 8)?,
                    record::u64_at(b, 16)?,
                    record::u64_at(b, 24)?,
                ],
                record::u32_at(b, 32)?,
            )),
            _ => None,
        });
        let file_names = attributes
            .iter()
            .filter_map(|a| match &a.body {
                Body::Resident(b) if a.ty == ty::FILE_NAME => parse_file_name(b),
                _ => None,
            })
            .collect();
        let info = Arc::new(FileInfo {
            record,
            attributes,
            std_times: std_times.map(|(t, _)| t),
            file_attributes: std_times.map(|(_, a)| a),
            file_names,
            problems,
        });
        if let Ok(mut files) = self.files.lock() {
            if files.len() >= FILE_CACHE {
                files.clear();
            }
            files.insert(number, info.clone());
        }
        Ok(info)
    }

    /// The names of directory `number`, read from its `$I30` index.
    fn dir(&self, number: u64) -> Result<Arc<Dir>, String> {
        if let Some(dir) = self.dirs.lock().ok().and_then(|d| d.get(&number).cloned()) {
            return Ok(dir);
        }
        let file = self.file(number)?;
        if !file.is_dir() {
            return Err(format!("MFT record {number} is not a directory"));
        }
        let i30: Vec<u16> = "$I30".encode_utf16().collect();
        let what = format!("MFT record {number} $I30");
        let root = file
            .pieces(ty::INDEX_ROOT, &i30)
            .into_iter()
            .find_map(|a| match &a.body {
                Body::Resident(b) => Some(b.clone()),
                Body::NonResident(_) => None,
            })
            .ok_or_else(|| format!("{what}: no resident $INDEX_ROOT"))?;
        let block_size = record::u32_at(&root, 8).unwrap_or(0) as u64;
        let mut entries = Vec::new();
        parse_node(
            root.get(16..).unwrap_or(&[]),
            &mut entries,
            &format!("{what} root"),
        )?;
        let allocation = file.pieces(ty::INDEX_ALLOCATION, &i30);
        if !allocation.is_empty() {
            if !(512..=65_536).contains(&block_size) || !block_size.is_power_of_two() {
                return Err(format!("{what}: index block size {block_size}"));
            }
            let layout = StreamLayout::gather(&allocation, self.cluster, &what)?;
            if layout.size() > MAX_INDEX_ALLOCATION {
                return Err(format!(
                    "{what}: index allocation of {} bytes",
                    layout.size()
                ));
            }
            let bitmap = match file.pieces(ty::BITMAP, &i30).first() {
                Some(b) => Some(self.attribute_value(b, MAX_INDEX_ALLOCATION / 512 / 8 + 8)?),
                None => None,
            };
            let blocks = layout.size() / block_size;
            let mut reader = StreamReader::new(&self.dev, layout, self.cluster);
            let mut block = vec![0u8; block_size as usize];
            for i in 0..blocks {
                let in_use = bitmap.as_ref().is_none_or(|b| {
                    b.get((i / 8) as usize)
                        .is_some_and(|byte| byte & (1 << (i % 8)) != 0)
                });
                if !in_use {
                    continue;
                }
                reader
                    .seek(SeekFrom::Start(i * block_size))
                    .and_then(|_| reader.read_exact(&mut block))
                    .map_err(|e| format!("{what} block {i}: {e}"))?;
                parse_block(block.clone(), &mut entries, &format!("{what} block {i}"))?;
            }
        }
        let mut dir = Dir {
            entries: Vec::new(),
            by_fold: HashMap::new(),
        };
        for entry in entries {
            if entry.file_name.namespace == 2 || (number == ROOT && entry.record == ROOT) {
                continue;
            }
            let fold = self.upcase.fold(&entry.file_name.name);
            if dir.by_fold.contains_key(&fold) {
                continue;
            }
            dir.by_fold.insert(fold, dir.entries.len());
            dir.entries.push(entry);
        }
        let dir = Arc::new(dir);
        if let Ok(mut dirs) = self.dirs.lock() {
            if dirs.len() >= DIR_CACHE {
                dirs.clear();
            }
            dirs.insert(number, dir.clone());
        }
        Ok(dir)
    }

    /// The record and stream a path names (`/a/b.txt:ads` names a stream).
    fn resolve(
        &self,
        path: &SourcePath,
        stream: Option<&str>,
    ) -> Result<(u64, Option<Vec<u16>>), SourceError> {
        let components: Vec<&[u8]> = path.components().collect();
        let mut current = ROOT;
        // Directories have no hard links: a record met twice on one path is
        // a loop in hostile indexes, which would make a `**` walk endless.
        let mut on_path = HashSet::from([ROOT]);
        let mut stream_name: Option<Vec<u16>> = stream.map(|s| s.encode_utf16().collect());
        for (i, component) in components.iter().enumerate() {
            let mut name = *component;
            if i + 1 == components.len() {
                if let Some(colon) = name.iter().position(|b| *b == b':') {
                    if stream_name.is_some() {
                        return Err(SourceError::Unsupported {
                            path: path.clone(),
                            detail: "a stream named both in the path and apart".into(),
                        });
                    }
                    let s = from_wtf8(&name[colon + 1..])
                        .ok_or_else(|| SourceError::NotFound { path: path.clone() })?;
                    stream_name = Some(s);
                    name = &name[..colon];
                }
            }
            let units =
                from_wtf8(name).ok_or_else(|| SourceError::NotFound { path: path.clone() })?;
            let dir = match self.dir(current) {
                Ok(dir) => dir,
                Err(e) => {
                    let is_not_dir = self.file(current).map(|f| !f.is_dir()).unwrap_or(false);
                    if is_not_dir {
                        return Err(SourceError::NotFound { path: path.clone() });
                    }
                    return Err(corrupt(path, e));
                }
            };
            let index = dir
                .by_fold
                .get(&self.upcase.fold(&units))
                .ok_or_else(|| SourceError::NotFound { path: path.clone() })?;
            current = dir.entries[*index].record;
            if !on_path.insert(current) {
                return Err(corrupt(
                    path,
                    format!("directory loop: MFT record {current} is its own ancestor"),
                ));
            }
        }
        if let Some(name) = &stream_name {
            if name.is_empty() {
                stream_name = None;
            }
        }
        Ok((current, stream_name))
    }

    fn metadata_of(
        &self,
        path: &SourcePath,
        number: u64,
        stream: Option<&[u16]>,
    ) -> Result<(Arc<FileInfo>, Metadata, Option<StreamLayout>), SourceError> {
        let file = self.file(number).map_err(|e| corrupt(path, e))?;
        let tag = file.reparse_tag();
        let kind = if stream.is_some() {
            EntryKind::File
        } else if matches!(tag, Some(TAG_SYMLINK | TAG_MOUNT_POINT)) {
            EntryKind::Symlink
        } else if file.is_dir() {
            EntryKind::Directory
        } else {
            EntryKind::File
        };
        let mut layout = None;
        if kind == EntryKind::File {
            let name = stream.unwrap_or(&[]);
            let pieces = file.pieces(ty::DATA, name);
            if pieces.is_empty() {
                if stream.is_some() {
                    return Err(SourceError::NotFound { path: path.clone() });
                }
            } else {
                let what = format!(
                    "MFT record {number} $DATA{}",
                    if name.is_empty() {
                        String::new()
                    } else {
                        format!(":{}", String::from_utf16_lossy(name))
                    }
                );
                let mut gathered = StreamLayout::gather(&pieces, self.cluster, &what)
                    .map_err(|e| corrupt(path, e))?;
                if is_usn_journal(&file, name) {
                    gathered.skip_sparse_head(self.cluster);
                }
                layout = Some(gathered);
            }
        }
        let mut metadata = Metadata::new(kind, layout.as_ref().map_or(0, |l| l.size()));
        if let Some(t) = file.std_times {
            metadata.times = Timestamps {
                created: nt_time(t[0]),
                modified: nt_time(t[1]),
                changed: nt_time(t[2]),
                accessed: nt_time(t[3]),
            };
        }
        metadata.inode = Some(number);
        metadata.device = Some(self.serial);
        metadata.nlink = Some(u64::from(file.record.links));
        let extra = &mut metadata.extra;
        extra.insert("mft_record".into(), number.into());
        extra.insert("mft_sequence".into(), file.record.sequence.into());
        if let Some(a) = file.file_attributes {
            extra.insert("file_attributes".into(), format!("{a:#x}").into());
        }
        if let Some(f) = file.best_name() {
            for (key, t) in ["fn_btime", "fn_mtime", "fn_ctime", "fn_atime"]
                .iter()
                .zip(f.times)
            {
                if let Some(ts) = nt_time(t) {
                    extra.insert((*key).into(), ts.to_string().into());
                }
            }
            extra.insert("fn_parent_record".into(), f.parent.into());
        }
        if let Some(tag) = tag {
            extra.insert("reparse_tag".into(), format!("{tag:#x}").into());
        }
        if let Some(s) = stream {
            extra.insert("ntfs_stream".into(), String::from_utf16_lossy(s).into());
        }
        if let Some(l) = &layout {
            if l.compressed {
                extra.insert("ntfs_compressed".into(), true.into());
            }
            if l.sparse {
                extra.insert("ntfs_sparse".into(), true.into());
            }
            if l.skip > 0 {
                // Only the allocated tail is stored: its byte 0 is byte
                // `ntfs_stream_offset` of the stream (for $J, the USN of the
                // first record kept).
                extra.insert("ntfs_stream_offset".into(), l.skip.into());
                extra.insert("ntfs_stream_size".into(), l.stream_size().into());
            }
            if l.encrypted {
                extra.insert(
                    "ntfs_encrypted".into(),
                    "EFS: stored bytes are ciphertext".into(),
                );
            }
        }
        let problems: Vec<String> = file
            .problems
            .iter()
            .cloned()
            .chain(layout.iter().flat_map(|l| l.gaps.iter().cloned()))
            .collect();
        if !problems.is_empty() {
            extra.insert("ntfs_problems".into(), problems.into());
        }
        Ok((file, metadata, layout))
    }
}

/// Whether stream `name` of `file` is the change journal's `$J`, whose
/// deallocated (sparse) head is skipped: `$J` of a file named `$UsnJrnl`.
/// The parent is not checked, on purpose: skipping is lossless (only
/// clusters no run maps are skipped, and the manifest says how many), and
/// a fixture made with ntfs-3g, which refuses to write into `$Extend`, can
/// then exercise it.
fn is_usn_journal(file: &FileInfo, name: &[u16]) -> bool {
    let j: Vec<u16> = "$J".encode_utf16().collect();
    let usn: Vec<u16> = "$UsnJrnl".encode_utf16().collect();
    name == j.as_slice() && file.file_names.iter().any(|f| f.name == usn)
}

/// Entries of an attribute list: (type, name, record number).
fn parse_attribute_list(bytes: &[u8]) -> Result<Vec<(u32, Vec<u16>, u64)>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 26 <= bytes.len() {
        let t = record::u32_at(bytes, at).unwrap_or(0);
        let length = record::u16_at(bytes, at + 4).unwrap_or(0) as usize;
        if t == 0 || t == 0xFFFF_FFFF {
            break;
        }
        if length < 26 || at + length > bytes.len() {
            return Err(format!(
                "attribute list entry at byte {at} has length {length}"
            ));
        }
        let name_len = bytes[at + 6] as usize;
        let name_off = bytes[at + 7] as usize;
        let name = bytes
            .get(at + name_off..at + name_off + 2 * name_len)
            .ok_or_else(|| format!("attribute list entry at byte {at}: name outside the entry"))?
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let reference = record::u64_at(bytes, at + 16).unwrap_or(0) & 0xFFFF_FFFF_FFFF;
        out.push((t, name, reference));
        at += length;
    }
    Ok(out)
}

/// Target of a symbolic link or junction from its reparse data, as WTF-8.
fn reparse_target(data: &[u8]) -> Option<Vec<u8>> {
    let tag = record::u32_at(data, 0)?;
    let (buffer_at, sub_off, sub_len, print_off, print_len) = match tag {
        TAG_SYMLINK => (20usize, 8usize, 10usize, 12usize, 14usize),
        TAG_MOUNT_POINT => (16, 8, 10, 12, 14),
        _ => return None,
    };
    let field = |at| record::u16_at(data, at).map(|v| v as usize);
    let (off, len) = match (field(print_off)?, field(print_len)?) {
        (_, 0) => (field(sub_off)?, field(sub_len)?),
        other => other,
    };
    let bytes = data.get(buffer_at + off..buffer_at + off + len)?;
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Some(to_wtf8(&units))
}

impl<R: Read + Seek + Send> Source for NtfsSource<R> {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: self.kind.clone(),
            location: self.location.clone(),
            case_sensitive: false,
        }
    }

    fn metadata(&self, path: &SourcePath) -> Result<Metadata, SourceError> {
        let (number, stream) = self.resolve(path, None)?;
        self.metadata_of(path, number, stream.as_deref())
            .map(|(_, m, _)| m)
    }

    fn read_dir(&self, path: &SourcePath) -> Result<Vec<DirEntry>, SourceError> {
        let (number, stream) = self.resolve(path, None)?;
        if stream.is_some() {
            return Err(SourceError::NotAFile {
                path: path.clone(),
                kind: EntryKind::File,
            });
        }
        let dir = self.dir(number).map_err(|e| corrupt(path, e))?;
        let mut out = Vec::with_capacity(dir.entries.len());
        for entry in &dir.entries {
            let name = to_wtf8(&entry.file_name.name);
            let is_dir = entry.file_name.flags & 0x1000_0000 != 0;
            // Named streams are entries of their own: `name:stream`.
            if entry.record != BADCLUS {
                if let Ok(file) = self.file(entry.record) {
                    for stream in file.stream_names() {
                        let mut full = name.clone();
                        full.push(b':');
                        full.extend_from_slice(&to_wtf8(&stream));
                        out.push(DirEntry {
                            name: full,
                            kind: Some(EntryKind::File),
                        });
                    }
                }
            }
            out.push(DirEntry {
                name,
                kind: Some(if is_dir {
                    EntryKind::Directory
                } else {
                    EntryKind::File
                }),
            });
        }
        Ok(out)
    }

    fn read_link(&self, path: &SourcePath) -> Result<Vec<u8>, SourceError> {
        let (number, _) = self.resolve(path, None)?;
        let file = self.file(number).map_err(|e| corrupt(path, e))?;
        file.attributes
            .iter()
            .find_map(|a| match &a.body {
                Body::Resident(b) if a.ty == ty::REPARSE_POINT => reparse_target(b),
                _ => None,
            })
            .ok_or_else(|| SourceError::NotAFile {
                path: path.clone(),
                kind: if file.is_dir() {
                    EntryKind::Directory
                } else {
                    EntryKind::File
                },
            })
    }

    fn open(&self, path: &SourcePath, stream: Option<&str>) -> Result<OpenedFile<'_>, SourceError> {
        let (number, stream) = self.resolve(path, stream)?;
        let (file, metadata, layout) = self.metadata_of(path, number, stream.as_deref())?;
        if metadata.kind != EntryKind::File {
            return Err(SourceError::NotAFile {
                path: path.clone(),
                kind: metadata.kind,
            });
        }
        if stream.is_none() && file.reparse_tag() == Some(TAG_WOF) {
            return Err(SourceError::Unsupported {
                path: path.clone(),
                detail: "WOF-compressed (compact OS): its bytes are in the `WofCompressedData` stream, collected raw as `<file>:WofCompressedData`".into(),
            });
        }
        let layout = layout.unwrap_or(StreamLayout {
            layout: Layout::Resident(Vec::new()),
            compressed: false,
            encrypted: false,
            sparse: false,
            gaps: Vec::new(),
            skip: 0,
        });
        Ok(OpenedFile {
            reader: Box::new(StreamReader::new(&self.dev, layout, self.cluster)),
            metadata,
            method: self.method,
        })
    }

    fn streams(&self, path: &SourcePath) -> Result<Vec<String>, SourceError> {
        let (number, _) = self.resolve(path, None)?;
        let file = self.file(number).map_err(|e| corrupt(path, e))?;
        Ok(file
            .stream_names()
            .iter()
            .map(|s| String::from_utf16_lossy(s))
            .collect())
    }
}

/// Facts about a volume for the chain of custody.
pub fn volume_facts<R: Read + Seek + Send>(
    source: &NtfsSource<R>,
) -> BTreeMap<String, serde_json::Value> {
    let mut facts = BTreeMap::new();
    facts.insert("cluster_size".into(), source.cluster.into());
    facts.insert("record_size".into(), source.record_size.into());
    facts.insert("serial".into(), format!("{:016X}", source.serial).into());
    facts.insert("volume_size".into(), source.volume_size.into());
    if let Some(label) = &source.label {
        facts.insert("label".into(), label.clone().into());
    }
    facts
}
