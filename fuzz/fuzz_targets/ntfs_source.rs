//! The NTFS source on a mutated volume: the committed fixture image with the
//! fuzzer's bytes written over it at the offsets it chooses, then the whole
//! tree walked, every stream opened and read. Must never panic, hang or
//! allocate without bound.
#![no_main]

use std::io::Read;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sealbag_common::{Source, SourcePath};
use sealbag_win::NtfsSource;

fn pristine() -> &'static [u8] {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let packed = include_bytes!("../../tools/sealbag-win/tests/fixtures/fixture1.raw.zst");
        zstd::decode_all(&packed[..]).expect("fixture decompresses")
    })
}

fuzz_target!(|data: &[u8]| {
    let mut image = pristine().to_vec();
    // Each 5-byte group: a little-endian offset and one byte to put there.
    // Offsets are folded into the first 4 MiB, where the metadata lives.
    let span = image.len().min(4 << 20);
    for patch in data.chunks_exact(5) {
        let offset = u32::from_le_bytes([patch[0], patch[1], patch[2], patch[3]]) as usize % span;
        image[offset] = patch[4];
    }
    let Ok(source) = NtfsSource::new(std::io::Cursor::new(image), "ntfs-image", "fuzz") else {
        return;
    };
    let mut pending = vec![SourcePath::root()];
    let mut visited = 0usize;
    let mut buf = vec![0u8; 64 << 10];
    while let Some(dir) = pending.pop() {
        visited += 1;
        if visited > 5_000 {
            break;
        }
        let Ok(entries) = source.read_dir(&dir) else { continue };
        for entry in entries {
            let path = dir.join(&entry.name);
            let Ok(meta) = source.metadata(&path) else { continue };
            if meta.kind == sealbag_common::source::EntryKind::Directory {
                pending.push(path);
                continue;
            }
            if meta.kind != sealbag_common::source::EntryKind::File {
                continue;
            }
            let mut streams = vec![None];
            if let Ok(names) = source.streams(&path) {
                streams.extend(names.into_iter().map(Some));
            }
            for stream in streams {
                if let Ok(mut opened) = source.open(&path, stream.as_deref()) {
                    let mut total = 0u64;
                    while let Ok(n) = opened.reader.read(&mut buf) {
                        if n == 0 || total > (64 << 20) {
                            break;
                        }
                        total += n as u64;
                    }
                }
            }
        }
    }
});
