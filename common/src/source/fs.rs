//! The live file system (or any mounted tree) as a [`Source`].
//!
//! This is the only place in the engine that touches `std::fs` for reading
//! evidence. It opens files so that the host cannot trick it: never following
//! a link (`O_NOFOLLOW`), never blocking on a FIFO swapped in after the walk
//! (`O_NONBLOCK`, then `fstat` to check it is the same regular file), and not
//! updating the access time where the kernel lets us (`O_NOATIME`).

use std::fs;
use std::path::{Path, PathBuf};

use super::{
    DirEntry, EntryKind, Metadata, OpenedFile, Source, SourceError, SourceInfo, SourcePath,
    Timestamp, Timestamps,
};

/// A directory tree of the running system, collected as if it were `/`.
#[derive(Debug, Clone)]
pub struct FsSource {
    root: PathBuf,
    kind: &'static str,
}

impl FsSource {
    /// The live system: source paths are host paths.
    pub fn live() -> Self {
        FsSource {
            root: PathBuf::from("/"),
            kind: "live",
        }
    }

    /// A mounted image or copied tree at `root`, collected as if it were `/`.
    pub fn tree(root: impl Into<PathBuf>) -> Self {
        FsSource {
            root: root.into(),
            kind: "tree",
        }
    }

    /// The host path of a source path (inside the root).
    pub fn host_path(&self, path: &SourcePath) -> Result<PathBuf, SourceError> {
        let relative = bytes_to_path(path.relative()).ok_or_else(|| SourceError::Unsupported {
            path: path.clone(),
            detail: "name cannot be represented on this operating system".into(),
        })?;
        Ok(self.root.join(relative))
    }
}

#[cfg(unix)]
fn bytes_to_path(bytes: &[u8]) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    Some(Path::new(std::ffi::OsStr::from_bytes(bytes)).to_path_buf())
}

#[cfg(not(unix))]
fn bytes_to_path(bytes: &[u8]) -> Option<PathBuf> {
    std::str::from_utf8(bytes).ok().map(PathBuf::from)
}

#[cfg(unix)]
fn name_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    name.as_bytes().to_vec()
}

#[cfg(not(unix))]
fn name_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
    name.to_string_lossy().into_owned().into_bytes()
}

fn kind_of(file_type: fs::FileType) -> EntryKind {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return EntryKind::Fifo;
        }
        if file_type.is_socket() {
            return EntryKind::Socket;
        }
        if file_type.is_block_device() {
            return EntryKind::BlockDevice;
        }
        if file_type.is_char_device() {
            return EntryKind::CharDevice;
        }
    }
    if file_type.is_symlink() {
        EntryKind::Symlink
    } else if file_type.is_dir() {
        EntryKind::Directory
    } else if file_type.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    }
}

fn convert(meta: &fs::Metadata) -> Metadata {
    let mut out = Metadata::new(kind_of(meta.file_type()), meta.len());
    out.times = Timestamps {
        modified: meta.modified().ok().map(Timestamp::from_system),
        accessed: meta.accessed().ok().map(Timestamp::from_system),
        changed: None,
        created: meta.created().ok().map(Timestamp::from_system),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        out.times.changed = Some(Timestamp::new(meta.ctime(), meta.ctime_nsec()));
        out.mode = Some(meta.mode());
        out.uid = Some(u64::from(meta.uid()));
        out.gid = Some(u64::from(meta.gid()));
        out.inode = Some(meta.ino());
        out.device = Some(meta.dev());
        out.nlink = Some(meta.nlink());
    }
    out
}

impl Source for FsSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: self.kind.to_string(),
            location: self.root.display().to_string(),
            case_sensitive: cfg!(target_os = "linux"),
        }
    }

    fn metadata(&self, path: &SourcePath) -> Result<Metadata, SourceError> {
        let host = self.host_path(path)?;
        fs::symlink_metadata(&host)
            .map(|m| convert(&m))
            .map_err(|e| SourceError::from_io(path, e))
    }

    fn read_dir(&self, path: &SourcePath) -> Result<Vec<DirEntry>, SourceError> {
        let host = self.host_path(path)?;
        let mut entries = Vec::new();
        for entry in fs::read_dir(&host).map_err(|e| SourceError::from_io(path, e))? {
            let entry = entry.map_err(|e| SourceError::from_io(path, e))?;
            entries.push(DirEntry {
                name: name_bytes(&entry.file_name()),
                kind: entry.file_type().ok().map(kind_of),
            });
        }
        Ok(entries)
    }

    fn read_link(&self, path: &SourcePath) -> Result<Vec<u8>, SourceError> {
        let host = self.host_path(path)?;
        fs::read_link(&host)
            .map(|target| name_bytes(target.as_os_str()))
            .map_err(|e| SourceError::from_io(path, e))
    }

    fn open(&self, path: &SourcePath, stream: Option<&str>) -> Result<OpenedFile<'_>, SourceError> {
        refuse_stream(path, stream)?;
        let host = self.host_path(path)?;
        let before = fs::symlink_metadata(&host).map_err(|e| SourceError::from_io(path, e))?;
        let kind = kind_of(before.file_type());
        if kind != EntryKind::File {
            return Err(SourceError::NotAFile {
                path: path.clone(),
                kind,
            });
        }
        let listed = convert(&before);
        self.open_checked(path, &host, &listed)
    }

    fn open_listed(
        &self,
        path: &SourcePath,
        stream: Option<&str>,
        listed: &Metadata,
    ) -> Result<OpenedFile<'_>, SourceError> {
        refuse_stream(path, stream)?;
        // The walk's lstat of a moment ago stands for the one `open` makes:
        // a device node or FIFO is never opened (by what the walk saw, and
        // O_NONBLOCK), and what is opened is checked against it.
        if listed.kind != EntryKind::File || listed.inode.is_none() {
            return self.open(path, stream);
        }
        let host = self.host_path(path)?;
        self.open_checked(path, &host, listed)
    }
}

impl FsSource {
    /// Opens `host` without following links, and refuses anything but the
    /// regular file `listed` describes.
    fn open_checked(
        &self,
        path: &SourcePath,
        host: &Path,
        listed: &Metadata,
    ) -> Result<OpenedFile<'_>, SourceError> {
        let (file, method) = open_no_follow(host).map_err(|e| SourceError::from_io(path, e))?;
        let after = file.metadata().map_err(|e| SourceError::from_io(path, e))?;
        let opened = convert(&after);
        check_same_file(path, listed, &opened)?;
        Ok(OpenedFile {
            reader: Box::new(file),
            metadata: opened,
            method,
        })
    }
}

fn refuse_stream(path: &SourcePath, stream: Option<&str>) -> Result<(), SourceError> {
    match stream {
        Some(stream) => Err(SourceError::Unsupported {
            path: path.clone(),
            detail: format!("named stream `{stream}` (this file system has none)"),
        }),
        None => Ok(()),
    }
}

/// Opens without following links and without blocking, preferring no atime update.
#[cfg(unix)]
fn open_no_follow(host: &Path) -> std::io::Result<(fs::File, &'static str)> {
    use std::os::unix::fs::OpenOptionsExt;
    let base = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // O_NOATIME is refused (EPERM) unless we own the file or are root.
        match fs::OpenOptions::new()
            .read(true)
            .custom_flags(base | libc::O_NOATIME)
            .open(host)
        {
            Ok(file) => return Ok((file, "fs-noatime")),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
            Err(e) => return Err(e),
        }
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(base)
        .open(host)?;
    Ok((file, "fs"))
}

/// Opens for reading; Windows' own file API (the raw NTFS reader is preferred there).
#[cfg(not(unix))]
fn open_no_follow(host: &Path) -> std::io::Result<(fs::File, &'static str)> {
    Ok((fs::File::open(host)?, "fs"))
}

/// Refuses an object that is not the regular file the walk saw.
fn check_same_file(
    path: &SourcePath,
    listed: &Metadata,
    opened: &Metadata,
) -> Result<(), SourceError> {
    if opened.kind != EntryKind::File {
        return Err(SourceError::NotAFile {
            path: path.clone(),
            kind: opened.kind,
        });
    }
    if (listed.device, listed.inode) != (opened.device, opened.inode) {
        return Err(SourceError::Changed {
            path: path.clone(),
            detail: "replaced by another file between listing and opening".into(),
        });
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn refuses_fifo_and_follows_no_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("real"), b"secret").expect("write");
        std::os::unix::fs::symlink("real", dir.path().join("link")).expect("symlink");
        let fifo = dir.path().join("pipe");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(status.success());
        let source = FsSource::tree(dir.path());

        let link = SourcePath::parse(b"/link").expect("path");
        assert_eq!(
            source.metadata(&link).expect("lstat").kind,
            EntryKind::Symlink
        );
        assert!(matches!(
            source.open(&link, None),
            Err(SourceError::NotAFile {
                kind: EntryKind::Symlink,
                ..
            })
        ));
        assert_eq!(source.read_link(&link).expect("readlink"), b"real");

        let pipe = SourcePath::parse(b"/pipe").expect("path");
        assert!(matches!(
            source.open(&pipe, None),
            Err(SourceError::NotAFile {
                kind: EntryKind::Fifo,
                ..
            })
        ));

        let mut opened = source
            .open(&SourcePath::parse(b"/real").expect("path"), None)
            .expect("open");
        let mut text = String::new();
        opened.reader.read_to_string(&mut text).expect("read");
        assert_eq!(text, "secret");
        assert!(opened.method.starts_with("fs"));
    }
}
