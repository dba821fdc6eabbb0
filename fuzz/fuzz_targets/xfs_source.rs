//! Any bytes as an XFS image: opened and walked (bounded), every file read;
//! errors are fine, a panic, a hang or a huge allocation is not. Seed the
//! corpus with the first megabytes of `tools/sealbag-linux/tests/fixtures/xfs-v5.img.zst`.
#![no_main]
use std::io::{Cursor, Read};

use sealbag_common::source::{EntryKind, Source, SourcePath};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(xfs) = sealbag_linux::xfs::open(Cursor::new(data.to_vec())) else {
        return;
    };
    let mut stack = vec![SourcePath::root()];
    let mut steps = 0;
    while let Some(path) = stack.pop() {
        steps += 1;
        if steps > 10_000 {
            break;
        }
        match xfs.metadata(&path).map(|m| m.kind) {
            Ok(EntryKind::Directory) => {
                if let Ok(list) = xfs.read_dir(&path) {
                    stack.extend(list.into_iter().map(|e| path.join(&e.name)));
                }
            }
            Ok(EntryKind::File) => {
                if let Ok(f) = xfs.open(&path, None) {
                    let _ = std::io::copy(&mut f.reader.take(1 << 20), &mut std::io::sink());
                }
            }
            Ok(EntryKind::Symlink) => {
                let _ = xfs.read_link(&path);
            }
            _ => {}
        }
    }
});
