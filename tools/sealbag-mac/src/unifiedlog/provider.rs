//! The unified-log files of a collected target, read back through the
//! [`Source`], as the `macos-unifiedlogs` crate's [`FileProvider`], with a
//! bounded string cache that also remembers what it could not load.
//!
//! Files are recognised by their last two path components, as the crate
//! does on a live system or a `.logarchive` (`Persist/….tracev3`,
//! `XX/<30 hex>`, `dsc/<32 hex>`, `timesync/….timesync`), so the same code
//! serves `/private/var/db/{diagnostics,uuidtext}` and a bundle's root.

use std::collections::{HashMap, VecDeque};
use std::io::{Cursor, Read};
use std::sync::{Arc, Mutex};

use macos_unifiedlogs::dsc::SharedCacheStrings;
use macos_unifiedlogs::traits::{FileProvider, SourceFile, StringCache};
use macos_unifiedlogs::uuidtext::UUIDText;
use sealbag_common::source::{Source, SourcePath};

/// Largest tracev3 file parsed (macOS rotates them at about 10 MiB).
pub const MAX_TRACEV3: u64 = 256 << 20;
/// Largest uuidtext file read.
pub const MAX_UUIDTEXT: u64 = 64 << 20;
/// Largest shared-cache strings (`dsc`) file read.
pub const MAX_DSC: u64 = 512 << 20;
/// Largest timesync file read.
pub const MAX_TIMESYNC: u64 = 64 << 20;
/// Memory kept for parsed uuidtext files (oldest dropped first).
const UUIDTEXT_BUDGET: usize = 128 << 20;
/// Memory kept for parsed dsc files (oldest dropped first; the newest always stays).
const DSC_BUDGET: usize = 512 << 20;

/// What a file of the unified logs is, from its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFile {
    /// A `.tracev3` log file (Persist, Special, Signpost, HighVolume, live data).
    Tracev3,
    /// A `uuidtext/XX/<30 hex>` format-string file, with its 32-hex UUID.
    UuidText,
    /// A `uuidtext/dsc/<32 hex>` shared-cache strings file.
    Dsc,
    /// A `timesync/*.timesync` boot and clock file.
    Timesync,
}

fn hex(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_hexdigit)
}

/// Classifies `path` by its last two components; `None` for anything else
/// (`Info.plist`, `version.plist`, metadata).
pub fn classify(path: &SourcePath) -> Option<(LogFile, String)> {
    let components: Vec<&[u8]> = path.components().collect();
    let name = *components.last()?;
    let parent = components
        .len()
        .checked_sub(2)
        .and_then(|i| components.get(i))
        .copied()
        .unwrap_or_default();
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_ascii_uppercase();
    if name == b"logdata.LiveData.tracev3"
        || (name.ends_with(b".tracev3")
            && [&b"Persist"[..], b"Special", b"Signpost", b"HighVolume"].contains(&parent))
    {
        return Some((LogFile::Tracev3, String::new()));
    }
    if name.len() == 30 && hex(name) && parent.len() == 2 && hex(parent) {
        return Some((LogFile::UuidText, text(parent) + &text(name)));
    }
    if name.len() == 32 && hex(name) && parent == b"dsc" {
        return Some((LogFile::Dsc, text(name)));
    }
    if name.ends_with(b".timesync") && parent == b"timesync" {
        return Some((LogFile::Timesync, String::new()));
    }
    None
}

/// Reads `path` whole from `source`, refusing files over `cap` bytes.
pub fn read_capped(source: &dyn Source, path: &SourcePath, cap: u64) -> std::io::Result<Vec<u8>> {
    let opened = source
        .open(path, None)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    if opened.metadata.size > cap {
        return Err(std::io::Error::other(format!(
            "{} bytes: larger than the {} MiB cap for this kind of file",
            opened.metadata.size,
            cap >> 20
        )));
    }
    let mut data = Vec::with_capacity(usize::try_from(opened.metadata.size).unwrap_or(0));
    opened.reader.take(cap).read_to_end(&mut data)?;
    Ok(data)
}

/// The 32-hex form of a UUID as the crate passes it (it drops leading zeros).
fn full_uuid(uuid: &str) -> Option<String> {
    if uuid.len() > 32 || uuid.len() < 30 || !hex(uuid.as_bytes()) {
        return None;
    }
    Some(format!("{uuid:0>32}").to_ascii_uppercase())
}

/// The unified-log files of one collection, by kind.
pub struct SourceProvider<'a> {
    source: &'a dyn Source,
    /// tracev3 files, in collection order.
    pub tracev3: Vec<SourcePath>,
    /// timesync files.
    pub timesync: Vec<SourcePath>,
    uuidtext: HashMap<String, SourcePath>,
    dsc: HashMap<String, SourcePath>,
}

impl<'a> SourceProvider<'a> {
    /// Sorts `files` into their kinds; others are ignored.
    pub fn new(source: &'a dyn Source, files: &[SourcePath]) -> Self {
        let mut provider = SourceProvider {
            source,
            tracev3: Vec::new(),
            timesync: Vec::new(),
            uuidtext: HashMap::new(),
            dsc: HashMap::new(),
        };
        for path in files {
            match classify(path) {
                Some((LogFile::Tracev3, _)) => provider.tracev3.push(path.clone()),
                Some((LogFile::Timesync, _)) => provider.timesync.push(path.clone()),
                Some((LogFile::UuidText, uuid)) => {
                    provider.uuidtext.insert(uuid, path.clone());
                }
                Some((LogFile::Dsc, uuid)) => {
                    provider.dsc.insert(uuid, path.clone());
                }
                None => {}
            }
        }
        provider
    }

    /// The source the files are read from.
    pub fn source(&self) -> &'a dyn Source {
        self.source
    }

    /// Counts of uuidtext and dsc files known.
    pub fn string_files(&self) -> (usize, usize) {
        (self.uuidtext.len(), self.dsc.len())
    }

    fn load(
        &self,
        map: &HashMap<String, SourcePath>,
        uuid: &str,
        cap: u64,
    ) -> std::io::Result<(SourcePath, Vec<u8>)> {
        let key = full_uuid(uuid).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, format!("bad uuid `{uuid}`"))
        })?;
        let path = map
            .get(&key)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not collected"))?;
        Ok((path.clone(), read_capped(self.source, path, cap)?))
    }

    fn files(&self, paths: Vec<SourcePath>, cap: u64) -> impl Iterator<Item = Loaded> + '_ {
        paths.into_iter().filter_map(move |path| {
            read_capped(self.source, &path, cap)
                .map_err(|e| tracing::warn!(%path, error = %e, "unified log: cannot read"))
                .ok()
                .map(|data| Loaded {
                    path: path.display(),
                    data: Cursor::new(data),
                })
        })
    }
}

/// A file read into memory, as the crate's [`SourceFile`].
pub struct Loaded {
    path: String,
    data: Cursor<Vec<u8>>,
}

impl SourceFile for Loaded {
    fn reader(&mut self) -> impl Read {
        &mut self.data
    }
    fn source_path(&self) -> &str {
        &self.path
    }
}

impl FileProvider for SourceProvider<'_> {
    fn tracev3_files(&self) -> impl Iterator<Item = impl SourceFile> {
        self.files(self.tracev3.clone(), MAX_TRACEV3)
    }

    fn uuidtext_files(&self) -> impl Iterator<Item = impl SourceFile> {
        self.files(self.uuidtext.values().cloned().collect(), MAX_UUIDTEXT)
    }

    fn read_uuidtext(&self, uuid: &str) -> Result<UUIDText, std::io::Error> {
        let (path, data) = self.load(&self.uuidtext, uuid, MAX_UUIDTEXT)?;
        match UUIDText::parse_uuidtext(&data) {
            Ok((_, mut text)) => {
                text.uuid = path.file_name().escape_ascii().to_string();
                Ok(text)
            }
            Err(e) => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{path}: not a uuidtext file: {e}"),
            )),
        }
    }

    fn dsc_files(&self) -> impl Iterator<Item = impl SourceFile> {
        self.files(self.dsc.values().cloned().collect(), MAX_DSC)
    }

    fn read_dsc_uuid(&self, uuid: &str) -> Result<SharedCacheStrings, std::io::Error> {
        let (path, data) = self.load(&self.dsc, uuid, MAX_DSC)?;
        match SharedCacheStrings::parse_dsc(&data) {
            Ok((_, mut strings)) => {
                strings.dsc_uuid = path.file_name().escape_ascii().to_string();
                Ok(strings)
            }
            Err(e) => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{path}: not a shared-cache strings file: {e}"),
            )),
        }
    }

    fn timesync_files(&self) -> impl Iterator<Item = impl SourceFile> {
        self.files(self.timesync.clone(), MAX_TIMESYNC)
    }
}

/// Entries of one kind, oldest dropped first past a byte budget; failures
/// are remembered too, so a missing file is looked for once, not per entry.
struct Bounded<V> {
    map: HashMap<String, (Option<Arc<V>>, usize)>,
    order: VecDeque<String>,
    used: usize,
    budget: usize,
    /// UUIDs that could not be loaded, with why (first [`MAX_REPORTED`]).
    failed: Vec<String>,
    failed_count: usize,
}

/// How many unloadable UUIDs are named in the facts.
const MAX_REPORTED: usize = 50;

impl<V> Bounded<V> {
    fn new(budget: usize) -> Self {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
            used: 0,
            budget,
            failed: Vec::new(),
            failed_count: 0,
        }
    }

    fn get(&self, key: &str) -> Option<Option<Arc<V>>> {
        self.map.get(key).map(|(v, _)| v.clone())
    }

    fn insert(&mut self, key: String, value: Option<Arc<V>>, size: usize) {
        while self.used + size > self.budget && !self.order.is_empty() {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some((_, s)) = self.map.remove(&old) {
                self.used -= s;
            }
        }
        self.used += size;
        self.order.push_back(key.clone());
        self.map.insert(key, (value, size));
    }

    fn get_or_load(
        &mut self,
        uuid: &str,
        load: impl FnOnce() -> std::io::Result<V>,
        size: impl Fn(&V) -> usize,
    ) -> Option<Arc<V>> {
        if let Some(found) = self.get(uuid) {
            return found;
        }
        match load() {
            Ok(value) => {
                let bytes = size(&value);
                let value = Arc::new(value);
                self.insert(uuid.to_string(), Some(Arc::clone(&value)), bytes);
                Some(value)
            }
            Err(e) => {
                self.failed_count += 1;
                if self.failed.len() < MAX_REPORTED {
                    self.failed.push(format!("{uuid}: {e}"));
                }
                self.insert(uuid.to_string(), None, uuid.len() + 64);
                None
            }
        }
    }
}

/// The bounded [`StringCache`] the parse uses (the crate's default keeps
/// every file it ever loaded, and retries a missing one for every entry).
pub struct BoundedCache {
    uuidtext: Mutex<Bounded<UUIDText>>,
    dsc: Mutex<Bounded<SharedCacheStrings>>,
}

impl Default for BoundedCache {
    fn default() -> Self {
        BoundedCache {
            uuidtext: Mutex::new(Bounded::new(UUIDTEXT_BUDGET)),
            dsc: Mutex::new(Bounded::new(DSC_BUDGET)),
        }
    }
}

/// What could not be loaded: (count, the first few with why) for uuidtext and dsc.
pub struct CacheMisses {
    /// uuidtext UUIDs referenced but missing or unreadable.
    pub uuidtext: (usize, Vec<String>),
    /// dsc UUIDs referenced but missing or unreadable.
    pub dsc: (usize, Vec<String>),
}

impl BoundedCache {
    /// The UUIDs that could not be loaded.
    pub fn misses(&self) -> CacheMisses {
        let of = |failed: &[String], count: usize| (count, failed.to_vec());
        CacheMisses {
            uuidtext: self
                .uuidtext
                .lock()
                .map(|b| of(&b.failed, b.failed_count))
                .unwrap_or_default(),
            dsc: self
                .dsc
                .lock()
                .map(|b| of(&b.failed, b.failed_count))
                .unwrap_or_default(),
        }
    }
}

impl StringCache for BoundedCache {
    fn get_or_load_uuidtext(
        &self,
        uuid: &str,
        provider: &impl FileProvider,
    ) -> Option<Arc<UUIDText>> {
        let mut cache = self.uuidtext.lock().ok()?;
        cache.get_or_load(
            uuid,
            || provider.read_uuidtext(uuid),
            |t| t.footer_data.len() + t.entry_descriptors.len() * 8 + 128,
        )
    }

    fn get_or_load_dsc(
        &self,
        uuid: &str,
        provider: &impl FileProvider,
    ) -> Option<Arc<SharedCacheStrings>> {
        let mut cache = self.dsc.lock().ok()?;
        cache.get_or_load(
            uuid,
            || provider.read_dsc_uuid(uuid),
            |s| {
                s.ranges.iter().map(|r| r.strings.len() + 32).sum::<usize>()
                    + s.uuids
                        .iter()
                        .map(|u| u.path_string.len() + u.uuid.len() + 48)
                        .sum::<usize>()
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_place() {
        let kind = |p: &str| classify(&SourcePath::parse(p.as_bytes()).expect("path"));
        assert_eq!(
            kind("/private/var/db/diagnostics/Persist/0000000000000030.tracev3"),
            Some((LogFile::Tracev3, String::new()))
        );
        assert_eq!(
            kind("/x/logdata.LiveData.tracev3"),
            Some((LogFile::Tracev3, String::new()))
        );
        assert_eq!(kind("/x/Other/0000000000000030.tracev3"), None);
        assert_eq!(
            kind("/private/var/db/uuidtext/22/0d3c2953a33917b333dd8366ac25f2"),
            Some((
                LogFile::UuidText,
                "220D3C2953A33917B333DD8366AC25F2".to_string()
            ))
        );
        assert_eq!(
            kind("/u/dsc/8E21CAB1DCF936B49F85CF860E6F34EC"),
            Some((LogFile::Dsc, "8E21CAB1DCF936B49F85CF860E6F34EC".to_string()))
        );
        assert_eq!(kind("/u/dsc/dsc-version1"), None);
        assert_eq!(
            kind("/d/timesync/0000000000000002.timesync"),
            Some((LogFile::Timesync, String::new()))
        );
        assert_eq!(full_uuid("D3C2953A33917B333DD8366AC25F2"), None);
        assert_eq!(
            full_uuid("20D3C2953A33917B333DD8366AC25F2").as_deref(),
            Some("020D3C2953A33917B333DD8366AC25F2")
        );
    }

    #[test]
    fn bounded_cache_evicts_and_remembers_failures() {
        let mut cache: Bounded<Vec<u8>> = Bounded::new(100);
        let mut loads = 0;
        for key in ["a", "b", "c"] {
            let value = cache.get_or_load(
                key,
                || {
                    loads += 1;
                    Ok(vec![0; 60])
                },
                Vec::len,
            );
            assert!(value.is_some());
        }
        assert_eq!(loads, 3);
        assert_eq!(cache.used, 60, "budget kept");
        assert!(cache.get("a").is_none(), "oldest evicted");
        for _ in 0..3 {
            let missing = cache.get_or_load(
                "z",
                || Err(std::io::Error::other("not collected")),
                Vec::len,
            );
            assert!(missing.is_none());
        }
        assert_eq!(cache.failed_count, 1, "a failure is looked up once");
    }
}
