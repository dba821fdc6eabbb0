//! Whole disks as collectors are handed them: a raw image file, a block
//! device (an attached snapshot volume), or a fixed VHD (a raw image with a
//! 512-byte `conectix` footer, as Azure exports disks).
//!
//! [`Disk::open`] opens read-only (`O_RDONLY`, no lock, no write, ever),
//! tells the container apart, and gives the length of the guest data; other
//! containers (qcow2, VHDX, VMDK, dynamic VHD) are recognised and refused
//! with a hint. [`Disk::partitions`] reads the table (see
//! [`read_partitions`]); [`PartitionSpec`] picks one by number or name, and
//! [`volume_names`] gives each partition its folder in the archive.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::partition::{read_partitions, Partition, PartitionError, PartitionType, Window};

/// The size of a VHD footer.
const VHD_FOOTER: u64 = 512;

/// How the guest's bytes are stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Container {
    /// The bytes as they are (a `dd` image, a block device).
    Raw,
    /// A fixed VHD: raw bytes followed by a 512-byte footer.
    FixedVhd,
}

impl Container {
    /// A short name for listings and the chain of custody.
    pub fn name(self) -> &'static str {
        match self {
            Container::Raw => "raw",
            Container::FixedVhd => "fixed-vhd",
        }
    }
}

/// Why a disk could not be opened or its table read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiskError {
    /// The file or device could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The image or device.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A container format this build does not read.
    #[error("{path}: {format} images are not supported\nhint: {hint}")]
    UnsupportedContainer {
        /// The image.
        path: PathBuf,
        /// What it is.
        format: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// The partition table is damaged or hostile.
    #[error("{path}: partition table: {source}")]
    Partition {
        /// The image.
        path: PathBuf,
        /// The error, with its sector.
        #[source]
        source: PartitionError,
    },
}

/// A disk opened read-only: where its guest bytes are and how long they are.
#[derive(Debug)]
pub struct Disk {
    path: PathBuf,
    file: File,
    len: u64,
    container: Container,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Disk {
    /// Opens `path` (an image file or a block device) read-only and
    /// recognises its container. Nothing is ever written, and no lock is taken.
    pub fn open(path: &Path) -> Result<Disk, DiskError> {
        let io = |source| DiskError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        // Block devices report their size through seeking to the end.
        let total = file.seek(SeekFrom::End(0)).map_err(io)?;
        let mut head = [0u8; 512];
        let head_len = read_at(&mut file, 0, &mut head).map_err(io)?;
        let head = &head[..head_len];
        let refuse = |format, hint| {
            Err(DiskError::UnsupportedContainer {
                path: path.to_path_buf(),
                format,
                hint,
            })
        };
        const CONVERT: &str = "convert it to raw first (`qemu-img convert -O raw IMAGE disk.raw`), or attach it as a block device (`qemu-nbd -r`) and give the device";
        if head.starts_with(b"QFI\xfb") {
            return refuse("qcow2", CONVERT);
        }
        if head.starts_with(b"vhdxfile") {
            return refuse("VHDX", CONVERT);
        }
        if head.starts_with(b"KDMV") || head.starts_with(b"# Disk DescriptorFile") {
            return refuse("VMDK", CONVERT);
        }
        if head.starts_with(b"conectix") {
            // A footer copy at the start: dynamic or differencing VHD.
            return refuse("dynamic VHD", CONVERT);
        }
        let mut container = Container::Raw;
        let mut len = total;
        if total >= VHD_FOOTER {
            let mut footer = [0u8; 512];
            let n = read_at(&mut file, total - VHD_FOOTER, &mut footer).map_err(io)?;
            if n == 512 && footer.starts_with(b"conectix") {
                match be32(&footer, 60) {
                    2 => {
                        container = Container::FixedVhd;
                        len = total - VHD_FOOTER;
                    }
                    3 | 4 => return refuse("dynamic or differencing VHD", CONVERT),
                    other => {
                        tracing::warn!(
                            disk_type = other,
                            "VHD footer with an unknown disk type; reading the image as raw"
                        );
                    }
                }
            }
        }
        Ok(Disk {
            path: path.to_path_buf(),
            file,
            len,
            container,
        })
    }

    /// The image or device path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of guest data (without a VHD footer).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the disk holds no byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How the bytes are stored.
    pub fn container(&self) -> Container {
        self.container
    }

    /// Reads up to `buf.len()` bytes at `offset` of the guest data; returns how many.
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let end = self.len;
        let n = (buf.len() as u64).min(end.saturating_sub(offset)) as usize;
        read_at(&mut self.file, offset, &mut buf[..n])
    }

    /// The partitions; `Ok(None)` when the disk has no table (a bare file system).
    pub fn partitions(&mut self) -> Result<Option<Vec<Partition>>, DiskError> {
        let mut window = Window::new(&mut self.file, 0, self.len);
        read_partitions(&mut window).map_err(|source| DiskError::Partition {
            path: self.path.clone(),
            source,
        })
    }

    /// A new read-only handle on `[offset, offset + length)` of the guest
    /// data (cut to the disk's end), for one file system's reader.
    pub fn window(&self, offset: u64, length: u64) -> Result<Window<File>, DiskError> {
        let file = self.file.try_clone().map_err(|source| DiskError::Io {
            path: self.path.clone(),
            source,
        })?;
        let length = length.min(self.len.saturating_sub(offset));
        Ok(Window::new(file, offset, length))
    }
}

/// Reads until `buf` is full or the end; returns the bytes read.
fn read_at<R: Read + Seek>(reader: &mut R, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    reader.seek(SeekFrom::Start(offset))?;
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Which partition `--partition` names: its number, or its name (GPT name,
/// or a file-system label the tool reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionSpec {
    /// The 1-based number (MBR logicals from 5).
    Number(u32),
    /// A name or label, compared exactly.
    Name(String),
}

impl std::str::FromStr for PartitionSpec {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.parse::<u32>() {
            Ok(n) => PartitionSpec::Number(n),
            Err(_) => PartitionSpec::Name(s.to_string()),
        })
    }
}

impl std::fmt::Display for PartitionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PartitionSpec::Number(n) => write!(f, "{n}"),
            PartitionSpec::Name(s) => f.write_str(s),
        }
    }
}

impl PartitionSpec {
    /// Whether `partition` (whose file system has label `label`, if read) is the one named.
    pub fn matches(&self, partition: &Partition, label: Option<&str>) -> bool {
        match self {
            PartitionSpec::Number(n) => partition.number == *n,
            PartitionSpec::Name(name) => {
                partition.name.as_deref() == Some(name.as_str()) || label == Some(name.as_str())
            }
        }
    }
}

/// A name usable as one folder of the archive: letters, digits, `.`, `-`
/// and `_` kept, anything else `_`, at most 64 characters.
pub fn folder_name(text: &str) -> String {
    let name: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() || name.chars().all(|c| c == '.') {
        String::new()
    } else {
        name
    }
}

/// The archive folder of each partition: its GPT name (made folder-safe)
/// when it has one no other partition shares, else `p<number>`.
pub fn volume_names(partitions: &[Partition]) -> Vec<String> {
    let named: Vec<String> = partitions
        .iter()
        .map(|p| p.name.as_deref().map(folder_name).unwrap_or_default())
        .collect();
    partitions
        .iter()
        .zip(&named)
        .map(|(p, name)| {
            let unique = !name.is_empty()
                && named.iter().filter(|n| *n == name).count() == 1
                && !name.starts_with('p');
            if unique {
                name.clone()
            } else {
                format!("p{}", p.number)
            }
        })
        .collect()
}

impl PartitionType {
    /// What the type means, for listings (`Linux filesystem`, `EFI System`…).
    pub fn describe(&self) -> String {
        match self {
            PartitionType::Mbr(kind) => {
                let what = match kind {
                    0x01 | 0x04 | 0x06 | 0x0b | 0x0c | 0x0e => "FAT",
                    0x05 | 0x0f | 0x85 => "extended",
                    0x07 => "NTFS/exFAT",
                    0x27 => "Windows recovery",
                    0x82 => "Linux swap",
                    0x83 => "Linux",
                    0x8e => "Linux LVM",
                    0xa5 => "FreeBSD",
                    0xaf => "HFS/HFS+",
                    0xee => "GPT protective",
                    0xef => "EFI System",
                    0xfd => "Linux RAID",
                    _ => "unknown",
                };
                format!("0x{kind:02x} {what}")
            }
            PartitionType::Gpt(guid) => {
                let what = match guid.as_str() {
                    "0fc63daf-8483-4772-8e79-3d69d8477de4" => "Linux filesystem",
                    "4f68bce3-e8cd-4db1-96e7-fbcaf984b709" => "Linux root (x86-64)",
                    "b921b045-1df0-41c3-af44-4c6f280d3fae" => "Linux root (ARM64)",
                    "933ac7e1-2eb4-4f13-b844-0e14e2aef915" => "Linux /home",
                    "3b8f8425-20e0-4f3b-907f-1a25a76f98e8" => "Linux /srv",
                    "4d21b016-b534-45c2-a9fb-5c16e091fd2d" => "Linux /var",
                    "bc13c2ff-59e6-4262-a352-b275fd6f7172" => "Linux extended boot",
                    "e6d6d379-f507-44c2-a23c-238f2a3df928" => "Linux LVM",
                    "a19d880f-05fc-4d3b-a006-743f0f84911e" => "Linux RAID",
                    "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f" => "Linux swap",
                    "c12a7328-f81f-11d2-ba4b-00a0c93ec93b" => "EFI System",
                    "21686148-6449-6e6f-744e-656564454649" => "BIOS boot",
                    "ebd0a0a2-b9e5-4433-87c0-68b6b9e94aee" => "Microsoft basic data",
                    "e3c9e316-0b5c-4db8-817d-f92df00215ae" => "Microsoft reserved",
                    "de94bba4-06d1-4d40-a16a-bfd50179d6ac" => "Windows recovery",
                    "48465300-0000-11aa-aa11-00306543ecac" => "Apple HFS+",
                    "7c3457ef-0000-11aa-aa11-00306543ecac" => "Apple APFS",
                    _ => "unknown",
                };
                format!("{what} ({guid})")
            }
        }
    }

    /// Whether this type is a Linux data or LVM partition (or one that
    /// commonly holds a Linux file system), so worth probing for one.
    pub fn may_hold_linux(&self) -> bool {
        match self {
            PartitionType::Mbr(kind) => matches!(kind, 0x83 | 0x8e | 0xfd),
            PartitionType::Gpt(guid) => {
                let d = self.describe();
                d.starts_with("Linux") && !d.starts_with("Linux swap")
                    || guid == super::partition::GPT_MICROSOFT_BASIC_DATA
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn fixed_vhd_footer_is_not_guest_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.vhd");
        let mut bytes = vec![7u8; 4096];
        let mut footer = [0u8; 512];
        footer[..8].copy_from_slice(b"conectix");
        footer[60..64].copy_from_slice(&2u32.to_be_bytes());
        bytes.extend_from_slice(&footer);
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(&bytes))
            .expect("write");
        let mut disk = Disk::open(&path).expect("open");
        assert_eq!(disk.container(), Container::FixedVhd);
        assert_eq!(disk.len(), 4096);
        let mut buf = [0u8; 600];
        assert_eq!(disk.read_at(4000, &mut buf).expect("read"), 96);
        let mut w = disk.window(4000, 10_000).expect("window");
        let mut all = Vec::new();
        w.read_to_end(&mut all).expect("read");
        assert_eq!(all, vec![7u8; 96], "the footer is never read as data");

        footer[60..64].copy_from_slice(&3u32.to_be_bytes());
        let mut dynamic = vec![0u8; 1024];
        dynamic.extend_from_slice(&footer);
        std::fs::write(&path, &dynamic).expect("write");
        let err = Disk::open(&path).expect_err("dynamic");
        assert!(err.to_string().contains("dynamic"), "{err}");
        std::fs::write(&path, b"QFI\xfb\0\0\0\x03").expect("write");
        let err = Disk::open(&path).expect_err("qcow2");
        assert!(err.to_string().contains("qcow2"), "{err}");
    }

    #[test]
    fn names_and_specs() {
        let part = |number, name: Option<&str>| Partition {
            number,
            offset: 0,
            length: 0,
            kind: PartitionType::Mbr(0x83),
            name: name.map(str::to_string),
        };
        let parts = vec![
            part(1, Some("root fs")),
            part(2, Some("data")),
            part(3, Some("data")),
            part(4, None),
            part(5, Some("p1")),
        ];
        assert_eq!(volume_names(&parts), ["root_fs", "p2", "p3", "p4", "p5"]);
        let spec: PartitionSpec = "2".parse().expect("spec");
        assert!(spec.matches(&parts[1], None));
        let spec: PartitionSpec = "rootfs".parse().expect("spec");
        assert!(spec.matches(&parts[3], Some("rootfs")));
        assert!(!spec.matches(&parts[0], None));
        assert_eq!(folder_name(".."), "");
        assert_eq!(PartitionType::Mbr(0x8e).describe(), "0x8e Linux LVM");
    }
}
