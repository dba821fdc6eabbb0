//! `--image FILE|DEVICE`: finding the Linux file systems of a disk image or
//! an attached snapshot volume and opening each as a [`Source`], without
//! mounting anything.
//!
//! A disk (raw, fixed VHD, block device; see [`Disk`]) holds either a bare
//! file system or a partition table (MBR with logical partitions, GPT).
//! Every partition is probed by its magic numbers; ext2/3/4 and XFS ones
//! are collected (all of them, or the one `--partition` names), each under
//! `files/<partition name or p<number>>/`. Everything else is listed with
//! what it is and why it is not read.

use std::path::Path;

use sealbag_common::source::{
    folder_name, volume_names, Disk, DiskError, PartitionSpec, ReadSeek, SectorReader, SourceInfo,
    Window,
};
use sealbag_common::Source;

use crate::ext4::{ext4_label, looks_like_ext4, Ext4Source};
use crate::lvm::{read_pv, LogicalVolume, LvReader};
use crate::xfs::looks_like_xfs;

/// The reader a volume is read through: its window of the disk, read in
/// aligned pages (a block device wants them; an image file does not mind).
pub type VolumeReader = SectorReader<Window<std::fs::File>>;

/// What a partition (or a bare disk) holds, from its magic numbers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Content {
    /// ext2, ext3 or ext4.
    Ext4,
    /// XFS.
    Xfs,
    /// An LVM2 physical volume.
    LvmPv,
    /// Linux swap.
    Swap,
    /// NTFS (use `sealbag-win --image`).
    Ntfs,
    /// FAT (an EFI system partition, usually).
    Fat,
    /// An extended partition's container, or nothing recognised.
    Unknown,
}

impl Content {
    /// A short name for listings.
    pub fn name(&self) -> &'static str {
        match self {
            Content::Ext4 => "ext4",
            Content::Xfs => "xfs",
            Content::LvmPv => "lvm2-pv",
            Content::Swap => "swap",
            Content::Ntfs => "ntfs",
            Content::Fat => "fat",
            Content::Unknown => "unknown",
        }
    }

    /// Whether sealbag-linux collects from this content.
    pub fn collectable(&self) -> bool {
        matches!(self, Content::Ext4 | Content::Xfs)
    }
}

/// Reads the first 8 KiB of a volume and says what it holds, with its label.
fn probe(head: &[u8]) -> (Content, Option<String>) {
    if looks_like_ext4(head) {
        return (Content::Ext4, ext4_label(head));
    }
    if looks_like_xfs(head) {
        let label = head.get(108..120).map(|l| {
            let end = l.iter().position(|b| *b == 0).unwrap_or(l.len());
            String::from_utf8_lossy(&l[..end]).into_owned()
        });
        return (Content::Xfs, label.filter(|l| !l.is_empty()));
    }
    // LVM2 label: "LABELONE" in one of the first four sectors, "LVM2 001" at +24.
    for sector in 0..4 {
        let at = sector * 512;
        if head.get(at..at + 8) == Some(b"LABELONE")
            && head.get(at + 24..at + 32) == Some(b"LVM2 001")
        {
            return (Content::LvmPv, None);
        }
    }
    if head.len() >= 4096
        && (&head[4086..4096] == b"SWAPSPACE2" || &head[4086..4096] == b"SWAP-SPACE")
    {
        return (Content::Swap, None);
    }
    if head.get(3..11) == Some(b"NTFS    ") {
        return (Content::Ntfs, None);
    }
    if head.get(82..87) == Some(b"FAT32")
        || head.get(54..59) == Some(b"FAT16")
        || head.get(54..59) == Some(b"FAT12")
    {
        return (Content::Fat, None);
    }
    (Content::Unknown, None)
}

/// One volume of a disk: a partition, or the whole disk when it has no table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VolumeInfo {
    /// Partition number (`None`: the whole disk is one file system).
    pub number: Option<u32>,
    /// Its folder in the archive (`files/<name>/`).
    pub name: String,
    /// First byte, from the start of the disk.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// The partition type, described (`Linux filesystem (0fc63daf-…)`).
    pub partition_type: Option<String>,
    /// The GPT partition name.
    pub partition_name: Option<String>,
    /// What it holds.
    pub content: Content,
    /// The file-system label.
    pub label: Option<String>,
    /// For an LVM2 logical volume: where its bytes are in the PV partition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logical_volume: Option<LogicalVolume>,
    /// Why it is not read, when that is not obvious from its content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A disk and what is on it.
#[derive(Debug)]
pub struct DiskLayout {
    /// The opened disk.
    pub disk: Disk,
    /// Its volumes, in table order.
    pub volumes: Vec<VolumeInfo>,
    /// Whether the disk has a partition table.
    pub partitioned: bool,
}

/// Opens `path` read-only and lists its volumes.
pub fn layout(path: &Path) -> Result<DiskLayout, DiskError> {
    let mut disk = Disk::open(path)?;
    let mut head = vec![0u8; 8192];
    let n = disk.read_at(0, &mut head).map_err(|source| DiskError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    head.truncate(n);
    let (content, label) = probe(&head);
    if content.collectable() || content == Content::LvmPv {
        let mut volumes = vec![VolumeInfo {
            number: None,
            name: "volume".into(),
            offset: 0,
            length: disk.len(),
            partition_type: None,
            partition_name: None,
            content,
            label,
            logical_volume: None,
            note: None,
        }];
        expand_lvm(&disk, &mut volumes);
        return Ok(DiskLayout {
            disk,
            volumes,
            partitioned: false,
        });
    }
    let Some(partitions) = disk.partitions()? else {
        let volumes = vec![VolumeInfo {
            number: None,
            name: "volume".into(),
            offset: 0,
            length: disk.len(),
            partition_type: None,
            partition_name: None,
            content,
            label,
            logical_volume: None,
            note: None,
        }];
        return Ok(DiskLayout {
            disk,
            volumes,
            partitioned: false,
        });
    };
    let names = volume_names(&partitions);
    let mut volumes = Vec::new();
    for (partition, name) in partitions.iter().zip(names) {
        let mut head = vec![0u8; 8192];
        let n = if partition.offset < disk.len() {
            disk.read_at(partition.offset, &mut head).unwrap_or(0)
        } else {
            0
        };
        head.truncate(n.min(partition.length as usize));
        let (content, label) = probe(&head);
        volumes.push(VolumeInfo {
            number: Some(partition.number),
            name,
            offset: partition.offset,
            length: partition.length,
            partition_type: Some(partition.kind.describe()),
            partition_name: partition.name.clone(),
            content,
            label,
            logical_volume: None,
            note: None,
        });
    }
    expand_lvm(&disk, &mut volumes);
    Ok(DiskLayout {
        disk,
        volumes,
        partitioned: true,
    })
}

/// Adds the logical volumes of every LVM2 PV among `volumes` after it.
fn expand_lvm(disk: &Disk, volumes: &mut Vec<VolumeInfo>) {
    let mut expanded = Vec::new();
    for volume in volumes.drain(..) {
        if volume.content != Content::LvmPv {
            expanded.push(volume);
            continue;
        }
        let window = match std::fs::File::open(disk.path()) {
            Ok(file) => Window::new(file, volume.offset, volume.length),
            Err(e) => {
                expanded.push(VolumeInfo {
                    note: Some(e.to_string()),
                    ..volume
                });
                continue;
            }
        };
        let mut pv = window;
        match read_pv(&mut pv) {
            Ok(found) => {
                let mut lvs = Vec::new();
                for lv in found.volumes {
                    let mut reader = LvReader::new(&mut pv, lv.clone());
                    let mut head = vec![0u8; 8192];
                    let n = read_some(&mut reader, &mut head);
                    head.truncate(n);
                    let (content, label) = probe(&head);
                    lvs.push(VolumeInfo {
                        number: volume.number,
                        name: folder_name(&lv.name),
                        offset: volume.offset,
                        length: lv.length,
                        partition_type: Some(format!("LVM2 logical volume of VG `{}`", found.vg)),
                        partition_name: None,
                        content,
                        label,
                        logical_volume: Some(lv),
                        note: None,
                    });
                }
                for (name, why) in found.refused {
                    tracing::warn!(lv = %name, "LVM logical volume not read: {why}");
                    lvs.push(VolumeInfo {
                        number: volume.number,
                        name: folder_name(&name),
                        offset: volume.offset,
                        length: 0,
                        partition_type: Some(format!("LVM2 logical volume of VG `{}`", found.vg)),
                        partition_name: None,
                        content: Content::Unknown,
                        label: None,
                        logical_volume: None,
                        note: Some(why),
                    });
                }
                expanded.push(VolumeInfo {
                    note: Some(format!(
                        "LVM2 physical volume of VG `{}`: its logical volumes follow",
                        found.vg
                    )),
                    ..volume
                });
                expanded.extend(lvs);
            }
            Err(e) => {
                tracing::warn!(volume = %volume.name, "cannot read the LVM2 metadata: {e}");
                expanded.push(VolumeInfo {
                    note: Some(e.to_string()),
                    ..volume
                });
            }
        }
    }
    *volumes = expanded;
}

fn read_some<R: std::io::Read>(reader: &mut R, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    filled
}

impl DiskLayout {
    /// The volumes to collect: the one `spec` names, or every collectable one.
    pub fn select(&self, spec: Option<&PartitionSpec>) -> Result<Vec<&VolumeInfo>, String> {
        let path = self.disk.path().display();
        match spec {
            Some(spec) => {
                let found: Vec<&VolumeInfo> = self
                    .volumes
                    .iter()
                    .filter(|v| match spec {
                        PartitionSpec::Number(n) => v.number == Some(*n),
                        PartitionSpec::Name(name) => {
                            v.partition_name.as_deref() == Some(name.as_str())
                                || v.label.as_deref() == Some(name.as_str())
                                || v.name == *name
                        }
                    })
                    .collect();
                let readable: Vec<&VolumeInfo> = found
                    .iter()
                    .copied()
                    .filter(|v| v.content.collectable())
                    .collect();
                match (found.as_slice(), readable.len()) {
                    ([], _) => Err(format!(
                        "{path}: no partition `{spec}`\nhint: `sealbag-linux partitions --image {path}` lists them"
                    )),
                    ([one], 0) => Err(format!(
                        "{path}: partition `{spec}` holds {} ({}), which sealbag-linux does not read",
                        one.content.name(),
                        one.note.as_deref().unwrap_or(why_not(&one.content))
                    )),
                    (_, 0) => Err(format!("{path}: nothing readable in `{spec}`")),
                    (_, 1) => Ok(readable),
                    // The logical volumes of one PV partition, named by its number.
                    _ if matches!(spec, PartitionSpec::Number(_)) => Ok(readable),
                    _ => Err(format!(
                        "{path}: `{spec}` names several partitions\nhint: give the number instead"
                    )),
                }
            }
            None => {
                let chosen: Vec<&VolumeInfo> = self
                    .volumes
                    .iter()
                    .filter(|v| v.content.collectable())
                    .collect();
                for v in self.volumes.iter().filter(|v| !v.content.collectable()) {
                    tracing::info!(
                        volume = %v.name,
                        content = v.content.name(),
                        "not collected: {}",
                        why_not(&v.content)
                    );
                }
                if chosen.is_empty() {
                    let seen: Vec<String> = self
                        .volumes
                        .iter()
                        .map(|v| {
                            format!("{} ({}: {})", v.name, v.content.name(), why_not(&v.content))
                        })
                        .collect();
                    return Err(format!(
                        "{path}: no ext2/3/4 or XFS file system found; saw {}",
                        if seen.is_empty() {
                            "no partition".into()
                        } else {
                            seen.join(", ")
                        }
                    ));
                }
                Ok(chosen)
            }
        }
    }

    /// Opens `volume` as a source.
    pub fn open(&self, volume: &VolumeInfo) -> Result<Box<dyn Source>, String> {
        let location = match volume.number {
            Some(n) => format!(
                "{} partition {n} (offset {}, {} bytes)",
                self.disk.path().display(),
                volume.offset,
                volume.length
            ),
            None => self.disk.path().display().to_string(),
        };
        let reader = self.reader(volume)?;
        match volume.content {
            Content::Ext4 => Ext4Source::open(reader, location.clone())
                .map(|s| Box::new(s) as Box<dyn Source>)
                .map_err(|e| format!("{location}: {e}")),
            Content::Xfs => crate::xfs::open(reader)
                .map(|s| {
                    Box::new(Located {
                        inner: s,
                        info: SourceInfo {
                            kind: "xfs-image".into(),
                            location: location.clone(),
                            case_sensitive: true,
                        },
                    }) as Box<dyn Source>
                })
                .map_err(|e| format!("{location}: {e}")),
            ref other => Err(format!(
                "{location}: holds {} ({})",
                other.name(),
                why_not(other)
            )),
        }
    }

    fn reader(&self, volume: &VolumeInfo) -> Result<Box<dyn ReadSeek>, String> {
        // A fresh handle per volume: each reader thread seeks on its own.
        let file = std::fs::File::open(self.disk.path())
            .map_err(|e| format!("{}: {e}", self.disk.path().display()))?;
        let available = self.disk.len().saturating_sub(volume.offset);
        match &volume.logical_volume {
            Some(lv) => {
                let window = Window::new(file, volume.offset, available);
                let reader = SectorReader::new(LvReader::new(window, lv.clone()), 512)
                    .map_err(|e| e.to_string())?
                    .with_len(lv.length);
                Ok(Box::new(reader))
            }
            None => {
                let length = volume.length.min(available);
                let window = Window::new(file, volume.offset, length);
                let reader: VolumeReader = SectorReader::new(window, 512)
                    .map(|r| r.with_len(length))
                    .map_err(|e| e.to_string())?;
                Ok(Box::new(reader))
            }
        }
    }

    /// The disk as the chain of custody records it.
    pub fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: format!("disk-image ({})", self.disk.container().name()),
            location: self.disk.path().display().to_string(),
            case_sensitive: true,
        }
    }
}

fn why_not(content: &Content) -> &'static str {
    match content {
        Content::Ext4 | Content::Xfs => "collected",
        Content::LvmPv => {
            "LVM2 physical volume: its linear logical volumes are listed and read separately"
        }
        Content::Swap => "swap holds no files",
        Content::Ntfs => "use `sealbag-win collect --image`",
        Content::Fat => "FAT is not read by sealbag-linux",
        Content::Unknown => "no file system recognised",
    }
}

/// A source with the location the image opener knows (the XFS source is
/// opened on a bare reader and cannot say which partition it is).
struct Located<S> {
    inner: S,
    info: SourceInfo,
}

impl<S: Source> Source for Located<S> {
    fn info(&self) -> SourceInfo {
        let mut info = self.inner.info();
        info.location = self.info.location.clone();
        info
    }
    fn metadata(
        &self,
        path: &sealbag_common::SourcePath,
    ) -> Result<sealbag_common::source::Metadata, sealbag_common::source::SourceError> {
        self.inner.metadata(path)
    }
    fn read_dir(
        &self,
        path: &sealbag_common::SourcePath,
    ) -> Result<Vec<sealbag_common::source::DirEntry>, sealbag_common::source::SourceError> {
        self.inner.read_dir(path)
    }
    fn read_link(
        &self,
        path: &sealbag_common::SourcePath,
    ) -> Result<Vec<u8>, sealbag_common::source::SourceError> {
        self.inner.read_link(path)
    }
    fn open(
        &self,
        path: &sealbag_common::SourcePath,
        stream: Option<&str>,
    ) -> Result<sealbag_common::source::OpenedFile<'_>, sealbag_common::source::SourceError> {
        self.inner.open(path, stream)
    }
    fn streams(
        &self,
        path: &sealbag_common::SourcePath,
    ) -> Result<Vec<String>, sealbag_common::source::SourceError> {
        self.inner.streams(path)
    }
}

/// The partition listing as text: one line per volume.
pub fn format_layout(layout: &DiskLayout) -> String {
    let mut out = format!(
        "{} ({}, {} bytes, {})\n",
        layout.disk.path().display(),
        layout.disk.container().name(),
        layout.disk.len(),
        if layout.partitioned {
            "partitioned"
        } else {
            "no partition table"
        }
    );
    out.push_str("NR\tFOLDER\tOFFSET\tSIZE\tCONTENT\tLABEL\tTYPE\tGPT NAME\tCOLLECT\n");
    for v in &layout.volumes {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            v.number.map_or("-".into(), |n| n.to_string()),
            v.name,
            v.offset,
            v.length,
            v.content.name(),
            v.label.as_deref().unwrap_or("-"),
            v.partition_type.as_deref().unwrap_or("-"),
            v.partition_name.as_deref().unwrap_or("-"),
            if v.content.collectable() {
                "yes"
            } else {
                why_not(&v.content)
            }
        ));
    }
    out
}
