//! Any bytes as an ext2/3/4 volume: open, walk (bounded), read every file,
//! link and xattr: errors naming the inode, never a panic, a hang or a huge
//! allocation. Seed the corpus with the fixture (see
//! tools/sealbag-linux/tests/fixtures/make-ext4.sh; partition 1 of
//! small-gpt.raw starts at byte 1048576).
#![no_main]
use std::io::Read;

use sealbag_common::source::EntryKind;
use sealbag_common::{Source, SourcePath};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(source) =
        sealbag_linux::ext4::Ext4Source::open(std::io::Cursor::new(data.to_vec()), "fuzz")
    else {
        return;
    };
    let mut stack = vec![SourcePath::root()];
    let mut seen = 0;
    while let Some(path) = stack.pop() {
        seen += 1;
        if seen > 2000 {
            break;
        }
        let Ok(meta) = source.metadata(&path) else {
            continue;
        };
        match meta.kind {
            EntryKind::Directory => {
                if let Ok(entries) = source.read_dir(&path) {
                    for entry in entries.into_iter().take(100) {
                        stack.push(path.join(&entry.name));
                    }
                }
            }
            EntryKind::File => {
                if let Ok(mut opened) = source.open(&path, None) {
                    let mut sink = Vec::new();
                    let _ = (&mut opened.reader).take(1 << 20).read_to_end(&mut sink);
                }
            }
            EntryKind::Symlink => {
                let _ = source.read_link(&path);
            }
            _ => {}
        }
    }
});
