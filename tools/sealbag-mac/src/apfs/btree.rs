//! Blocks, objects, B-tree nodes and object maps of an APFS container.
//!
//! Everything here reads untrusted bytes: every object's Fletcher-64
//! checksum is verified (through the `apfs` crate), every offset inside a
//! node is bounds-checked, a child must sit exactly one level below its
//! parent (so no loop can form), and each scan has a node budget.
//!
//! The object map lookup is the reason this module exists: the `apfs` crate
//! resolves a virtual object to *some* version of it, ignoring the
//! transaction id, which on a volume with snapshots mixes points in time.
//! Here a lookup returns the newest mapping not newer than the requested
//! transaction (Apple File System Reference, "Object Maps").

use std::cmp::Ordering;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};

use super::ApfsError;

/// `OBJECT_TYPE_BTREE`, the root node of a B-tree.
const OBJECT_TYPE_BTREE: u32 = 0x2;
/// `OBJECT_TYPE_BTREE_NODE`, any other node.
const OBJECT_TYPE_BTREE_NODE: u32 = 0x3;
/// `BTNODE_ROOT`.
const BTNODE_ROOT: u16 = 0x1;
/// `BTNODE_LEAF`.
const BTNODE_LEAF: u16 = 0x2;
/// `BTNODE_FIXED_KV_SIZE`: table of contents of `kvoff_t`, not `kvloc_t`.
const BTNODE_FIXED_KV_SIZE: u16 = 0x4;
/// `BTREE_PHYSICAL` in `btree_info_t.bt_flags`: children are block numbers.
const BTREE_PHYSICAL: u32 = 0x10;
/// `OMAP_VAL_DELETED`.
const OMAP_VAL_DELETED: u32 = 0x1;
/// Size of `btree_node_phys_t` before `btn_data`.
const NODE_HEADER: usize = 56;
/// Size of `btree_info_t` at the end of a root node.
const BTREE_INFO: usize = 40;
/// Deepest B-tree accepted (real ones have a handful of levels).
const MAX_LEVEL: u16 = 16;
/// Most nodes one scan may read before it is called corrupt.
const SCAN_BUDGET: usize = 250_000;
/// Blocks kept decoded in memory.
const CACHE_BLOCKS: usize = 4096;

/// What a scan calls with each leaf record's key and value.
pub(crate) type Visit<'v> = dyn FnMut(&[u8], &[u8]) -> Result<(), ApfsError> + 'v;

/// A key and value borrowed from a node (`None`: a ghost entry).
type Entry<'a> = Option<(&'a [u8], &'a [u8])>;

/// How the children of a tree's index nodes are addressed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Addressing {
    /// Child pointers are block numbers.
    Physical,
    /// Child pointers are object ids (plus `base`), looked up in the object
    /// map whose tree root is at `omap` as of transaction `xid`.
    Virtual {
        /// Physical block of the object map's B-tree root.
        omap: u64,
        /// The transaction the tree is read as of.
        xid: u64,
        /// Added to every child pointer (a sealed volume's tree oid, else 0).
        base: u64,
    },
}

/// Fixed key and value sizes of a tree whose nodes may use `kvoff_t`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fixed {
    /// Key size in bytes.
    pub key: usize,
    /// Leaf value size in bytes (index values are 8-byte object ids).
    pub value: usize,
}

/// The object map and the fext tree both use 16-byte keys and values.
pub(crate) const FIXED_16: Fixed = Fixed { key: 16, value: 16 };

/// The container's blocks, behind a lock so a source can be shared.
pub(crate) struct Device<R> {
    dev: Mutex<R>,
    /// Block size in bytes.
    pub block_size: u32,
    /// Blocks in the image (what the reader holds, not what the superblock claims).
    pub blocks: u64,
    cache: Mutex<HashMap<u64, Arc<Vec<u8>>>>,
    omap_cache: Mutex<HashMap<(u64, u64, u64), Option<u64>>>,
}

impl<R: Read + Seek> Device<R> {
    /// Wraps `dev`, whose blocks are `block_size` bytes and whose length is `len`.
    pub fn new(dev: R, block_size: u32, len: u64) -> Self {
        Device {
            dev: Mutex::new(dev),
            block_size,
            blocks: len / u64::from(block_size),
            cache: Mutex::new(HashMap::new()),
            omap_cache: Mutex::new(HashMap::new()),
        }
    }

    /// The same device seen with another block size.
    pub fn into_inner_with(self, block_size: u32, len: u64) -> Self {
        let dev = self.dev.into_inner().unwrap_or_else(|p| p.into_inner());
        Device::new(dev, block_size, len)
    }

    /// Reads `buf.len()` bytes at byte `offset` of the container.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let mut dev = self
            .dev
            .lock()
            .map_err(|_| std::io::Error::other("APFS device lock poisoned"))?;
        dev.seek(SeekFrom::Start(offset))?;
        dev.read_exact(buf)
    }

    /// The raw bytes of block `block`.
    pub fn block(&self, block: u64) -> Result<Vec<u8>, ApfsError> {
        if block >= self.blocks {
            return Err(ApfsError::Corrupt {
                block,
                detail: format!("block beyond the end of the image ({} blocks)", self.blocks),
            });
        }
        let mut buf = vec![0u8; self.block_size as usize];
        self.read_at(block * u64::from(self.block_size), &mut buf)
            .map_err(|source| ApfsError::Io { block, source })?;
        Ok(buf)
    }

    /// Block `block` as an object whose checksum is verified.
    pub fn object(&self, block: u64) -> Result<Arc<Vec<u8>>, ApfsError> {
        if let Ok(cache) = self.cache.lock() {
            if let Some(hit) = cache.get(&block) {
                return Ok(hit.clone());
            }
        }
        let bytes = self.block(block)?;
        if bytes.iter().all(|b| *b == 0) || !apfs::fletcher::verify_object(&bytes) {
            return Err(ApfsError::Corrupt {
                block,
                detail: "object checksum mismatch".into(),
            });
        }
        let bytes = Arc::new(bytes);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_BLOCKS {
                cache.clear();
            }
            cache.insert(block, bytes.clone());
        }
        Ok(bytes)
    }

    /// Physical block of object `oid` as of transaction `xid` in the object
    /// map whose tree root is at `omap`: the newest mapping with an xid not
    /// above `xid`. `None` when there is none (or it is deleted).
    pub fn omap_lookup(&self, omap: u64, oid: u64, xid: u64) -> Result<Option<u64>, ApfsError> {
        if let Ok(cache) = self.omap_cache.lock() {
            if let Some(hit) = cache.get(&(omap, oid, xid)) {
                return Ok(*hit);
            }
        }
        let mut best: Option<(u64, u32, u64)> = None;
        let cmp = |key: &[u8]| le64(key, 0).map_or(Ordering::Less, |k| k.cmp(&oid));
        self.scan(
            omap,
            Addressing::Physical,
            Some(FIXED_16),
            &cmp,
            &mut |key, value| {
                let (Some(kxid), Some(flags), Some(paddr)) =
                    (le64(key, 8), le32(value, 0), le64(value, 8))
                else {
                    return Ok(());
                };
                if kxid <= xid && best.is_none_or(|(b, _, _)| kxid >= b) {
                    best = Some((kxid, flags, paddr));
                }
                Ok(())
            },
        )?;
        let found = match best {
            Some((_, flags, _)) if flags & OMAP_VAL_DELETED != 0 => None,
            Some((_, _, paddr)) => Some(paddr),
            None => None,
        };
        if let Ok(mut cache) = self.omap_cache.lock() {
            if cache.len() >= 65_536 {
                cache.clear();
            }
            cache.insert((omap, oid, xid), found);
        }
        Ok(found)
    }

    /// Block of the root of an object map: reads the `omap_phys_t` at `block`.
    pub fn omap_tree(&self, block: u64) -> Result<u64, ApfsError> {
        let bytes = self.object(block)?;
        let kind = le32(&bytes, 24).unwrap_or(0) & 0xFFFF;
        if kind != 0xB {
            return Err(ApfsError::Corrupt {
                block,
                detail: format!("expected an object map, found object type {kind:#x}"),
            });
        }
        le64(&bytes, 48).ok_or_else(|| ApfsError::Corrupt {
            block,
            detail: "object map truncated".into(),
        })
    }

    /// Visits, in key order, every leaf record of the tree rooted at block
    /// `root` whose key `cmp` calls [`Ordering::Equal`]. `cmp` says where a
    /// key lies relative to the wanted range (`Less`: before it), and must be
    /// monotonic in the tree's key order.
    pub fn scan(
        &self,
        root: u64,
        addressing: Addressing,
        fixed: Option<Fixed>,
        cmp: &dyn Fn(&[u8]) -> Ordering,
        visit: &mut Visit<'_>,
    ) -> Result<(), ApfsError> {
        let mut budget = SCAN_BUDGET;
        self.scan_node(root, None, true, addressing, fixed, cmp, visit, &mut budget)
    }

    #[allow(clippy::too_many_arguments)]
    fn scan_node(
        &self,
        block: u64,
        expect_level: Option<u16>,
        is_root: bool,
        addressing: Addressing,
        fixed: Option<Fixed>,
        cmp: &dyn Fn(&[u8]) -> Ordering,
        visit: &mut Visit<'_>,
        budget: &mut usize,
    ) -> Result<(), ApfsError> {
        if *budget == 0 {
            return Err(ApfsError::Corrupt {
                block,
                detail: "B-tree scan read too many nodes (a loop or a hostile tree)".into(),
            });
        }
        *budget -= 1;
        let bytes = self.object(block)?;
        let node = Node::parse(&bytes, block, is_root, fixed)?;
        // The tree says how its children are addressed (`btree_info_t`).
        let addressing = if is_root
            && le32(&bytes, bytes.len() - BTREE_INFO).is_some_and(|f| f & BTREE_PHYSICAL != 0)
        {
            Addressing::Physical
        } else {
            addressing
        };
        if let Some(level) = expect_level {
            if node.level != level {
                return Err(ApfsError::Corrupt {
                    block,
                    detail: format!("B-tree node at level {}, expected {level}", node.level),
                });
            }
        }
        if node.level == 0 {
            for i in 0..node.nkeys {
                let Some((key, value)) = node.entry(i)? else {
                    continue;
                };
                match cmp(key) {
                    Ordering::Less => continue,
                    Ordering::Equal => visit(key, value)?,
                    Ordering::Greater => break,
                }
            }
            return Ok(());
        }
        // Child i holds the keys from key i up to key i + 1.
        let mut entries = Vec::with_capacity(node.nkeys);
        for i in 0..node.nkeys {
            if let Some((key, value)) = node.entry(i)? {
                entries.push((cmp(key), le64(value, 0)));
            }
        }
        for i in 0..entries.len() {
            if entries[i].0 == Ordering::Greater {
                break;
            }
            if entries
                .get(i + 1)
                .is_some_and(|next| next.0 == Ordering::Less)
            {
                continue;
            }
            let child = entries[i].1.ok_or_else(|| ApfsError::Corrupt {
                block,
                detail: format!("index entry {i}: value too short"),
            })?;
            let child_block = match addressing {
                Addressing::Physical => child,
                Addressing::Virtual { omap, xid, base } => {
                    let child = child.wrapping_add(base);
                    self.omap_lookup(omap, child, xid)?
                        .ok_or_else(|| ApfsError::Corrupt {
                            block,
                            detail: format!(
                                "child object {child:#x} not in the object map as of xid {xid}"
                            ),
                        })?
                }
            };
            self.scan_node(
                child_block,
                Some(node.level - 1),
                false,
                addressing,
                fixed,
                cmp,
                visit,
                budget,
            )?;
        }
        Ok(())
    }
}

/// One B-tree node, checked.
struct Node<'a> {
    bytes: &'a [u8],
    block: u64,
    level: u16,
    nkeys: usize,
    toc: usize,
    keys: usize,
    values_end: usize,
    fixed: Option<Fixed>,
}

impl<'a> Node<'a> {
    fn parse(
        bytes: &'a [u8],
        block: u64,
        is_root: bool,
        fixed: Option<Fixed>,
    ) -> Result<Self, ApfsError> {
        let bad = |detail: String| ApfsError::Corrupt { block, detail };
        let kind = le32(bytes, 24).unwrap_or(0);
        let object_type = kind & 0xFFFF;
        if object_type != OBJECT_TYPE_BTREE && object_type != OBJECT_TYPE_BTREE_NODE {
            return Err(bad(format!(
                "expected a B-tree node, found object type {object_type:#x}"
            )));
        }
        let flags = le16(bytes, 32).unwrap_or(0);
        let level = le16(bytes, 34).unwrap_or(0);
        let nkeys = le32(bytes, 36).unwrap_or(0) as usize;
        let toc_off = le16(bytes, 40).unwrap_or(0) as usize;
        let toc_len = le16(bytes, 42).unwrap_or(0) as usize;
        if level > MAX_LEVEL {
            return Err(bad(format!("B-tree level {level}")));
        }
        if (flags & BTNODE_LEAF != 0) != (level == 0) {
            return Err(bad(format!("leaf flag disagrees with level {level}")));
        }
        if is_root && flags & BTNODE_ROOT == 0 {
            return Err(bad("B-tree root without the root flag".into()));
        }
        let fixed = if flags & BTNODE_FIXED_KV_SIZE != 0 {
            Some(fixed.ok_or_else(|| bad("fixed-size entries in a variable-size tree".into()))?)
        } else {
            None
        };
        let toc = NODE_HEADER + toc_off;
        let keys = toc + toc_len;
        let values_end = bytes.len()
            - if flags & BTNODE_ROOT != 0 {
                BTREE_INFO
            } else {
                0
            };
        let entry = if fixed.is_some() { 4 } else { 8 };
        if keys > values_end || nkeys.saturating_mul(entry) > toc_len {
            return Err(bad(format!(
                "table of contents ({nkeys} entries in {toc_len} bytes) does not fit"
            )));
        }
        Ok(Node {
            bytes,
            block,
            level,
            nkeys,
            toc,
            keys,
            values_end,
            fixed,
        })
    }

    /// Key and value of entry `i`; `None` for a ghost entry without a value.
    fn entry(&self, i: usize) -> Result<Entry<'a>, ApfsError> {
        let bad = |detail: String| ApfsError::Corrupt {
            block: self.block,
            detail: format!("entry {i}: {detail}"),
        };
        let (k_off, k_len, v_off, v_len) = match self.fixed {
            Some(f) => {
                let at = self.toc + 4 * i;
                let k = le16(self.bytes, at).ok_or_else(|| bad("toc".into()))? as usize;
                let v = le16(self.bytes, at + 2).ok_or_else(|| bad("toc".into()))? as usize;
                let v_len = if self.level == 0 { f.value } else { 8 };
                (k, f.key, v, v_len)
            }
            None => {
                let at = self.toc + 8 * i;
                let field = |n: usize| {
                    le16(self.bytes, at + n)
                        .map(usize::from)
                        .ok_or_else(|| bad("toc".into()))
                };
                (field(0)?, field(2)?, field(4)?, field(6)?)
            }
        };
        let key = self
            .bytes
            .get(self.keys + k_off..self.keys + k_off + k_len)
            .filter(|_| self.keys + k_off + k_len <= self.values_end)
            .ok_or_else(|| bad(format!("key at {k_off}+{k_len} outside the node")))?;
        if v_off == 0xFFFF {
            return Ok(None);
        }
        let start = self
            .values_end
            .checked_sub(v_off)
            .filter(|s| *s >= self.keys)
            .ok_or_else(|| bad(format!("value offset {v_off} outside the node")))?;
        let value = self
            .bytes
            .get(start..start + v_len)
            .filter(|_| start + v_len <= self.values_end)
            .ok_or_else(|| bad(format!("value at {v_off}-{v_len} outside the node")))?;
        Ok(Some((key, value)))
    }
}

/// Little-endian u16 at `at`, if in bounds.
pub(crate) fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// Little-endian u32 at `at`, if in bounds.
pub(crate) fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Little-endian u64 at `at`, if in bounds.
pub(crate) fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}
