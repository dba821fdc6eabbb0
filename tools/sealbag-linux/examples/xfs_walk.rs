//! Walks an XFS image with the XFS source and reads every file: the driver
//! of `bench/xfs.sh`. Prints files, bytes, seconds, files/s and MB/s.
//!
//! `cargo run --release -p sealbag-linux --example xfs_walk -- IMAGE`

use std::io::Read;
use std::time::Instant;

use sealbag_common::source::{EntryKind, Source, SourcePath};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let image = std::env::args().nth(1).ok_or("usage: xfs_walk IMAGE")?;
    let started = Instant::now();
    let xfs = sealbag_linux::xfs::open(std::fs::File::open(&image)?)?;
    let (mut files, mut bytes, mut errors) = (0u64, 0u64, 0u64);
    let mut buf = vec![0u8; 1 << 20];
    let mut stack = vec![SourcePath::root()];
    while let Some(path) = stack.pop() {
        match xfs.metadata(&path).map(|m| m.kind) {
            Ok(EntryKind::Directory) => match xfs.read_dir(&path) {
                Ok(list) => stack.extend(list.into_iter().map(|e| path.join(&e.name))),
                Err(_) => errors += 1,
            },
            Ok(EntryKind::File) => match xfs.open(&path, None) {
                Ok(mut f) => {
                    files += 1;
                    loop {
                        match f.reader.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => bytes += n as u64,
                            Err(_) => {
                                errors += 1;
                                break;
                            }
                        }
                    }
                }
                Err(_) => errors += 1,
            },
            Ok(_) => {}
            Err(_) => errors += 1,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "files={files} bytes={bytes} errors={errors} seconds={secs:.2} files_per_s={:.0} MB_per_s={:.1}",
        files as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    Ok(())
}
