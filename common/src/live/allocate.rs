//! Reserving disk space without writing it.

use std::fs::File;
use std::io;

/// Allocates `bytes` of disk blocks to `file` (Linux `fallocate`): the
/// space reserve beside the output is then really held by the file system
/// without writing and syncing tens of MiB of zeros (40 ms of a 0.25 s
/// collection of 20 000 small files). `Ok(false)` where the system or the
/// file system cannot, so the caller writes zeros instead.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn allocate(file: &File, bytes: u64) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let Ok(len) = libc::off_t::try_from(bytes) else {
        return Ok(false);
    };
    // SAFETY: `fallocate` takes a file descriptor and two integers, and
    // touches no memory of ours; the descriptor is valid for the call
    // because `file` is borrowed for its duration. Mode 0 allocates blocks
    // (and extends the size) without changing any existing data.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
    if rc == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) | Some(libc::EINVAL) => Ok(false),
        _ => Err(error),
    }
}

/// Elsewhere the caller writes zeros.
#[cfg(not(target_os = "linux"))]
pub fn allocate(_file: &File, _bytes: u64) -> io::Result<bool> {
    Ok(false)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_file_holds_the_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("reserve");
        let file = File::create(&path).expect("create");
        if allocate(&file, 4 << 20).expect("fallocate") {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(&path).expect("stat");
            assert_eq!(meta.len(), 4 << 20);
            // Blocks really allocated (512-byte units), not a sparse size.
            assert!(meta.blocks() * 512 >= 4 << 20, "{} blocks", meta.blocks());
        }
    }
}
