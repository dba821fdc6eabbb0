//! Opening an image file: a bare APFS container, or a whole disk (GPT or
//! MBR) holding one.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use sealbag_common::source::{read_partitions, Window};

use super::container::Container;
use super::{ApfsError, ApfsSource, SnapshotSummary, VolumeSelector, VolumeSummary};

/// GPT type of an APFS container partition.
const GPT_APFS: &str = "7C3457EF-0000-11AA-AA11-00306543ECAC";

/// The reader an image's container is read through.
pub type ImageReader = Window<File>;

fn is_container(file: &mut File, offset: u64) -> bool {
    let mut head = [0u8; 36];
    file.seek(SeekFrom::Start(offset)).is_ok()
        && file.read_exact(&mut head).is_ok()
        && &head[32..36] == b"NXSB"
}

/// Where the container is in the image: (offset, length, partition number).
fn locate(path: &Path, partition: Option<u32>) -> Result<(u64, u64, Option<u32>), String> {
    let mut file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let len = file
        .seek(SeekFrom::End(0))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if partition.is_none() && is_container(&mut file, 0) {
        return Ok((0, len, None));
    }
    let partitions = read_partitions(&mut file)
        .map_err(|e| format!("{}: partition table: {e}", path.display()))?
        .ok_or_else(|| {
            format!(
                "{}: neither an APFS container nor a partitioned disk",
                path.display()
            )
        })?;
    let chosen = match partition {
        Some(n) => partitions
            .iter()
            .find(|p| p.number == n)
            .ok_or_else(|| format!("{}: no partition {n}", path.display()))?,
        None => {
            let apfs: Vec<_> = partitions
                .iter()
                .filter(|p| {
                    matches!(&p.kind, sealbag_common::source::PartitionType::Gpt(g) if g.eq_ignore_ascii_case(GPT_APFS))
                        || is_container(&mut file, p.offset)
                })
                .collect();
            match apfs.as_slice() {
                [one] => *one,
                [] => return Err(format!("{}: no APFS partition", path.display())),
                many => {
                    let list: Vec<String> = many.iter().map(|p| p.number.to_string()).collect();
                    return Err(format!(
                        "{}: several APFS partitions ({})\nhint: choose one with `--partition N`",
                        path.display(),
                        list.join(", ")
                    ));
                }
            }
        }
    };
    Ok((
        chosen.offset,
        chosen.length.min(len.saturating_sub(chosen.offset)),
        Some(chosen.number),
    ))
}

/// Opens volume `selector` (or its snapshot `snapshot`) of the APFS
/// container in the image at `path`: the image itself, else partition
/// `partition`, else the only APFS partition of the disk.
pub fn open_image(
    path: &Path,
    partition: Option<u32>,
    selector: &VolumeSelector,
    snapshot: Option<&str>,
) -> Result<ApfsSource<ImageReader>, String> {
    let (offset, length, number) = locate(path, partition)?;
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut location = path.display().to_string();
    if let Some(n) = number {
        location.push_str(&format!(" partition {n}"));
    }
    ApfsSource::open(
        Window::new(file, offset, length),
        length,
        selector,
        snapshot,
        location,
    )
    .map_err(|e| match e {
        e @ (ApfsError::Encrypted { .. }
        | ApfsError::NoSuchVolume { .. }
        | ApfsError::Ambiguous { .. }
        | ApfsError::NoSuchSnapshot { .. }) => format!("{}: {e}", path.display()),
        e => format!("{} (container at byte {offset}): {e}", path.display()),
    })
}

/// What an image holds: its volumes and each one's snapshots.
#[derive(Debug, serde::Serialize)]
pub struct ImageListing {
    /// Byte offset of the container in the image.
    pub offset: u64,
    /// The partition it is in, if the image is a whole disk.
    pub partition: Option<u32>,
    /// Transaction id of the checkpoint read.
    pub checkpoint_xid: u64,
    /// Damaged checkpoints passed over.
    pub skipped_checkpoints: Vec<String>,
    /// Volumes, each with its snapshots (empty when encrypted or unreadable).
    pub volumes: Vec<(VolumeSummary, Vec<SnapshotSummary>)>,
}

/// Lists the volumes and snapshots of the container in the image at `path`.
pub fn list_image(path: &Path, partition: Option<u32>) -> Result<ImageListing, String> {
    let (offset, length, number) = locate(path, partition)?;
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let container = Container::open(Window::new(file, offset, length), length)
        .map_err(|e| format!("{} (container at byte {offset}): {e}", path.display()))?;
    let mut volumes = Vec::new();
    for (index, _, raw) in container
        .volumes()
        .map_err(|e| format!("{}: {e}", path.display()))?
    {
        let summary = super::container::summary(index, &raw);
        let snapshots = container.snapshots(&raw).unwrap_or_default();
        volumes.push((summary, snapshots));
    }
    Ok(ImageListing {
        offset,
        partition: number,
        checkpoint_xid: container.nx.header.xid,
        skipped_checkpoints: container.skipped.clone(),
        volumes,
    })
}
