//! The container: its newest usable checkpoint, its volumes and their snapshots.
//!
//! The `apfs` crate parses the superblocks; choosing among checkpoints,
//! selecting a volume by role or name and reading snapshots are done here.

use std::io::{Read, Seek};

use apfs::superblock::{ApfsSuperblock, NxSuperblock};

use super::btree::{le16, le32, le64, Addressing, Device};
use super::ApfsError;

/// `NXSB`, little-endian.
const NX_MAGIC: u32 = 0x4253_584E;
/// Most checkpoint descriptor blocks scanned.
const MAX_DESC_BLOCKS: u32 = 65_536;
/// `APFS_FS_UNENCRYPTED`.
const FS_UNENCRYPTED: u64 = 0x1;
/// `APFS_INCOMPAT_CASE_INSENSITIVE`.
pub(crate) const INCOMPAT_CASE_INSENSITIVE: u64 = 0x1;
/// `APFS_INCOMPAT_NORMALIZATION_INSENSITIVE`.
pub(crate) const INCOMPAT_NORMALIZATION_INSENSITIVE: u64 = 0x8;
/// `APFS_INCOMPAT_SEALED_VOLUME`.
pub(crate) const INCOMPAT_SEALED: u64 = 0x20;
/// `J_TYPE_SNAP_METADATA`.
const J_TYPE_SNAP_METADATA: u64 = 1;

/// The name of a volume role (`apfs_role`), as `diskutil` spells it.
pub fn role_name(role: u16) -> &'static str {
    match role {
        0x0 => "none",
        0x1 => "system",
        0x2 => "user",
        0x4 => "recovery",
        0x8 => "vm",
        0x10 => "preboot",
        0x20 => "installer",
        0x40 => "data",
        0x80 => "baseband",
        0xC0 => "update",
        0x100 => "xart",
        0x140 => "hardware",
        0x180 => "backup",
        0x1C0 => "sidecar",
        0x200 => "reserved",
        0x240 => "enterprise",
        0x280 => "reserved",
        0x2C0 => "prelogin",
        _ => "unknown",
    }
}

/// What the container says about one of its volumes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VolumeSummary {
    /// Index in the container's volume array.
    pub index: u32,
    /// The volume name.
    pub name: String,
    /// The role (`data`, `system`, `preboot`…; `none` on a plain volume).
    pub role: &'static str,
    /// Whether the volume is encrypted (FileVault or software encryption).
    pub encrypted: bool,
    /// Whether names are compared without regard to case.
    pub case_insensitive: bool,
    /// Whether it is a sealed (signed system) volume.
    pub sealed: bool,
    /// The volume UUID.
    pub uuid: String,
    /// Snapshots the superblock counts.
    pub snapshot_count: u64,
    /// Transaction id of the volume superblock.
    pub xid: u64,
}

/// One snapshot of a volume.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotSummary {
    /// Its name (`com.apple.TimeMachine…`).
    pub name: String,
    /// The transaction it captures.
    pub xid: u64,
    /// Creation time, nanoseconds since 1970 UTC.
    pub create_time: u64,
    /// Block of its volume superblock.
    #[serde(skip)]
    pub(crate) sblock: u64,
}

/// An opened container.
pub(crate) struct Container<R> {
    pub dev: Device<R>,
    pub nx: NxSuperblock,
    /// Physical block of the container object map's tree root.
    pub omap: u64,
    /// Checkpoints passed over because they were damaged, newest first.
    pub skipped: Vec<String>,
}

/// The volume superblock fields the crate does not parse.
pub(crate) struct VolumeRaw {
    pub sb: ApfsSuperblock,
    pub role: u16,
    pub fext_tree: u64,
    pub fext_tree_type: u32,
}

fn parse_volume(block: u64, bytes: &[u8]) -> Result<VolumeRaw, ApfsError> {
    let sb = ApfsSuperblock::parse(bytes).map_err(|e| ApfsError::Corrupt {
        block,
        detail: format!("volume superblock: {e}"),
    })?;
    Ok(VolumeRaw {
        sb,
        role: le16(bytes, 0x3C4).unwrap_or(0),
        fext_tree: le64(bytes, 0x408).unwrap_or(0),
        fext_tree_type: le32(bytes, 0x410).unwrap_or(0),
    })
}

fn uuid_text(u: &[u8; 16]) -> String {
    let h: String = u.iter().map(|b| format!("{b:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl<R: Read + Seek> Container<R> {
    /// Opens the container whose block 0 is the first byte of `dev` (`len` bytes).
    pub fn open(dev: R, len: u64) -> Result<Self, ApfsError> {
        // Block 0 is read at the smallest block size to learn the real one.
        let probe = Device::new(dev, 4096, len);
        let mut first = vec![0u8; 4096];
        probe
            .read_at(0, &mut first)
            .map_err(|source| ApfsError::Io { block: 0, source })?;
        if le32(&first, 32) != Some(NX_MAGIC) {
            return Err(ApfsError::NotApfs(
                "no `NXSB` container superblock at block 0".into(),
            ));
        }
        let block_size = le32(&first, 36).unwrap_or(0);
        if !(4096..=65_536).contains(&block_size) || !block_size.is_power_of_two() {
            return Err(ApfsError::NotApfs(format!("block size {block_size}")));
        }
        let dev = probe.into_inner_with(block_size, len);
        let block0 = dev.block(0)?;
        let base = NxSuperblock::parse(&block0).map_err(|e| ApfsError::Corrupt {
            block: 0,
            detail: format!("container superblock: {e}"),
        })?;
        // Candidates: every valid superblock of the checkpoint descriptor
        // area, newest first; block 0 (a copy of one of them) last.
        let mut candidates: Vec<(u64, u64, NxSuperblock)> = Vec::new();
        let desc_blocks = base.xp_desc_blocks;
        if desc_blocks & 0x8000_0000 == 0 {
            for i in 0..desc_blocks.min(MAX_DESC_BLOCKS) {
                let block = base.xp_desc_base.saturating_add(u64::from(i));
                let Ok(bytes) = dev.object(block) else {
                    continue;
                };
                if le32(&bytes, 24).map(|t| t & 0xFFFF) != Some(1) {
                    continue;
                }
                if let Ok(nx) = NxSuperblock::parse(&bytes) {
                    if nx.block_size == block_size {
                        candidates.push((nx.header.xid, block, nx));
                    }
                }
            }
        }
        candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
        let mut skipped = Vec::new();
        if apfs::fletcher::verify_object(&block0) {
            candidates.push((base.header.xid, 0, base));
        } else {
            skipped.push("block 0: container superblock checksum mismatch".to_string());
        }
        for (xid, block, nx) in candidates {
            match Self::check(&dev, &nx) {
                Ok(omap) => {
                    if !skipped.is_empty() {
                        tracing::warn!(xid, block, skipped = ?skipped, "APFS: using an older checkpoint");
                    }
                    return Ok(Container {
                        dev,
                        nx,
                        omap,
                        skipped,
                    });
                }
                Err(e) => skipped.push(format!("checkpoint xid {xid} (block {block}): {e}")),
            }
        }
        Err(ApfsError::NotApfs(format!(
            "no usable checkpoint: {}",
            skipped.join("; ")
        )))
    }

    /// Whether a checkpoint's object map and volume superblocks read.
    fn check(dev: &Device<R>, nx: &NxSuperblock) -> Result<u64, ApfsError> {
        let omap = dev.omap_tree(nx.omap_oid)?;
        for &oid in nx.fs_oids.iter().filter(|o| **o != 0) {
            let block =
                dev.omap_lookup(omap, oid, nx.header.xid)?
                    .ok_or_else(|| ApfsError::Corrupt {
                        block: nx.omap_oid,
                        detail: format!("volume object {oid:#x} not in the container object map"),
                    })?;
            let bytes = dev.object(block)?;
            parse_volume(block, &bytes)?;
        }
        Ok(omap)
    }

    /// Every volume's superblock, in index order.
    pub fn volumes(&self) -> Result<Vec<(u32, u64, VolumeRaw)>, ApfsError> {
        let mut out = Vec::new();
        for (index, &oid) in self.nx.fs_oids.iter().enumerate() {
            if oid == 0 {
                continue;
            }
            let block = self
                .dev
                .omap_lookup(self.omap, oid, self.nx.header.xid)?
                .ok_or_else(|| ApfsError::Corrupt {
                    block: self.nx.omap_oid,
                    detail: format!("volume object {oid:#x} not in the container object map"),
                })?;
            let bytes = self.dev.object(block)?;
            out.push((index as u32, block, parse_volume(block, &bytes)?));
        }
        Ok(out)
    }

    /// The snapshots of a volume, oldest first.
    pub fn snapshots(&self, volume: &VolumeRaw) -> Result<Vec<SnapshotSummary>, ApfsError> {
        let sb = &volume.sb;
        if sb.snap_meta_tree_oid == 0 {
            return Ok(Vec::new());
        }
        // Its root is a physical address (as dissect.apfs and apfs-fuse read it).
        let (root, addressing) = (sb.snap_meta_tree_oid, Addressing::Physical);
        let mut out = Vec::new();
        self.dev.scan(
            root,
            addressing,
            None,
            &|_| std::cmp::Ordering::Equal,
            &mut |key, value| {
                let Some(header) = le64(key, 0) else {
                    return Ok(());
                };
                if header >> 60 != J_TYPE_SNAP_METADATA {
                    return Ok(());
                }
                let name_len = le16(value, 48).unwrap_or(0) as usize;
                let name = value
                    .get(50..50 + name_len)
                    .map(|n| {
                        let end = n.iter().position(|b| *b == 0).unwrap_or(n.len());
                        String::from_utf8_lossy(&n[..end]).into_owned()
                    })
                    .unwrap_or_default();
                out.push(SnapshotSummary {
                    name,
                    xid: header & 0x0FFF_FFFF_FFFF_FFFF,
                    create_time: le64(value, 16).unwrap_or(0),
                    sblock: le64(value, 8).unwrap_or(0),
                });
                Ok(())
            },
        )?;
        out.sort_by_key(|s| s.xid);
        Ok(out)
    }
}

/// The summary of a parsed volume superblock.
pub(crate) fn summary(index: u32, v: &VolumeRaw) -> VolumeSummary {
    VolumeSummary {
        index,
        name: v.sb.volume_name.clone(),
        role: role_name(v.role),
        encrypted: v.sb.fs_flags & FS_UNENCRYPTED == 0,
        case_insensitive: v.sb.incompatible_features & INCOMPAT_CASE_INSENSITIVE != 0,
        sealed: v.sb.incompatible_features & INCOMPAT_SEALED != 0,
        uuid: uuid_text(&v.sb.uuid),
        snapshot_count: v.sb.num_snapshots,
        xid: v.sb.header.xid,
    }
}

/// Re-reads the volume superblock of a snapshot at `block`.
pub(crate) fn read_volume_at<R: Read + Seek>(
    dev: &Device<R>,
    block: u64,
) -> Result<VolumeRaw, ApfsError> {
    let bytes = dev.object(block)?;
    parse_volume(block, &bytes)
}
