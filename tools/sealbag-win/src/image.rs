//! Opening an image file: a bare NTFS volume or a whole disk (MBR or GPT),
//! choosing the NTFS partition.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use sealbag_common::source::{read_partitions, Partition, SectorReader, Window};

use crate::NtfsSource;

/// The reader an image volume is read through.
pub type ImageReader = SectorReader<Window<File>>;

/// An NTFS volume found in an image.
#[derive(Debug)]
pub struct ImageVolume {
    /// The source.
    pub source: NtfsSource<ImageReader>,
    /// Partition number, `None` for a bare volume.
    pub partition: Option<u32>,
    /// Offset of the volume in the image.
    pub offset: u64,
}

fn is_ntfs(file: &mut File, offset: u64) -> bool {
    let mut boot = [0u8; 11];
    file.seek(SeekFrom::Start(offset)).is_ok()
        && file.read_exact(&mut boot).is_ok()
        && &boot[3..11] == b"NTFS    "
}

/// Opens the NTFS volume in `path`: the image itself if it is a volume,
/// else partition `partition`, else the only NTFS partition of the disk.
pub fn open_image(path: &Path, partition: Option<u32>) -> Result<ImageVolume, String> {
    let open = || File::open(path).map_err(|e| format!("{}: {e}", path.display()));
    let mut file = open()?;
    let len = file
        .seek(SeekFrom::End(0))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let location = path.display().to_string();
    let (offset, length, number) = if partition.is_none() && is_ntfs(&mut file, 0) {
        (0, len, None)
    } else {
        let partitions = read_partitions(&mut file)
            .map_err(|e| format!("{}: partition table: {e}", path.display()))?
            .ok_or_else(|| {
                format!(
                    "{}: neither an NTFS volume nor a partitioned disk",
                    path.display()
                )
            })?;
        let ntfs: Vec<&Partition> = partitions
            .iter()
            .filter(|p| is_ntfs(&mut file, p.offset))
            .collect();
        let chosen = match partition {
            Some(n) => partitions
                .iter()
                .find(|p| p.number == n)
                .ok_or_else(|| format!("{}: no partition {n}", path.display()))?,
            None => match ntfs.as_slice() {
                [one] => *one,
                [] => return Err(format!("{}: no NTFS partition", path.display())),
                many => {
                    let list: Vec<String> = many.iter().map(|p| p.number.to_string()).collect();
                    return Err(format!(
                        "{}: several NTFS partitions ({})\nhint: choose one with `--partition N`",
                        path.display(),
                        list.join(", ")
                    ));
                }
            },
        };
        (chosen.offset, chosen.length, Some(chosen.number))
    };
    let window = Window::new(open()?, offset, length.min(len.saturating_sub(offset)));
    let reader = SectorReader::new(window, 512).map_err(|e| e.to_string())?;
    let source = NtfsSource::new(reader, "ntfs-image", location)
        .map_err(|e| format!("{} at offset {offset}: {e}", path.display()))?;
    Ok(ImageVolume {
        source,
        partition: number,
        offset,
    })
}
