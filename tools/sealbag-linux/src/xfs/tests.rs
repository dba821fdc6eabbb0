//! Hostile and damaged images: the committed fixture with single structures
//! altered (CRC recomputed where the point is to get past it). Each case
//! must end in an error naming the inode or structure, never a panic, a
//! hang or a huge allocation.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

use sealbag_common::source::{EntryKind, Source, SourcePath};

use super::bmap::Extent;
use super::*;

/// The committed v5 fixture, decompressed once per test process into an
/// unnamed (already deleted) temporary file, runs of zeros left as holes.
fn image() -> &'static File {
    static IMAGE: OnceLock<File> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let zst =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/xfs-v5.img.zst");
        let mut input = zstd::Decoder::new(File::open(zst).expect("fixture")).expect("zstd");
        let file = tempfile::tempfile().expect("tempfile");
        let mut buf = vec![0u8; 1 << 16];
        let mut len = 0u64;
        loop {
            let mut filled = 0;
            while filled < buf.len() {
                match input.read(&mut buf[filled..]).expect("decompress") {
                    0 => break,
                    n => filled += n,
                }
            }
            if filled == 0 {
                break;
            }
            if buf[..filled].iter().any(|b| *b != 0) {
                file.write_all_at(&buf[..filled], len).expect("write");
            }
            len += filled as u64;
        }
        file.set_len(len).expect("set_len");
        file
    })
}

/// The image with some bytes replaced, without touching the file.
struct Patched {
    file: &'static File,
    patches: BTreeMap<u64, u8>,
    position: u64,
}

impl Read for Patched {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.position)?;
        for (at, byte) in self.patches.range(self.position..self.position + n as u64) {
            buf[(at - self.position) as usize] = *byte;
        }
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for Patched {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let len = self.file.metadata()?.len();
        self.position = match pos {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
            SeekFrom::End(d) => len.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.position)
    }
}

fn clean() -> XfsSource<Patched> {
    patched(BTreeMap::new())
}

fn patched(patches: BTreeMap<u64, u8>) -> XfsSource<Patched> {
    let dev = Patched {
        file: image(),
        patches,
        position: 0,
    };
    open(dev).expect("opens")
}

fn p(s: &str) -> SourcePath {
    SourcePath::parse(s.as_bytes()).expect("path")
}

/// Inode number and its raw bytes.
fn raw_inode(src: &XfsSource<Patched>, path: &str) -> (u64, u64, Vec<u8>) {
    let (ino, _) = src.resolve(&p(path)).expect("resolve");
    let offset = src.geo.inode_offset(ino).expect("offset");
    (
        ino,
        offset,
        src.read_at(offset, src.geo.inode_size as usize)
            .expect("read"),
    )
}

/// Patches `bytes` over the inode at `offset`, recomputing its CRC.
fn with_crc(offset: u64, mut inode: Vec<u8>) -> BTreeMap<u64, u8> {
    inode[100..104].fill(0);
    let crc = crc::crc32c(&inode);
    inode[100..104].copy_from_slice(&crc.to_le_bytes());
    inode
        .iter()
        .enumerate()
        .map(|(i, b)| (offset + i as u64, *b))
        .collect()
}

fn err_text<T: std::fmt::Debug>(r: Result<T, SourceError>) -> String {
    r.expect_err("must fail").to_string()
}

/// Walks everything; returns the errors met. Bounded: a loop would show as
/// more steps than the image has inodes.
fn walk(src: &dyn Source) -> Vec<String> {
    let mut errors = Vec::new();
    let mut stack = vec![SourcePath::root()];
    let mut steps = 0;
    while let Some(path) = stack.pop() {
        steps += 1;
        assert!(steps < 100_000, "walk does not end (loop not detected)");
        match src.metadata(&path) {
            Ok(m) if m.kind == EntryKind::Directory => match src.read_dir(&path) {
                Ok(list) => stack.extend(list.into_iter().map(|e| path.join(&e.name))),
                Err(e) => errors.push(e.to_string()),
            },
            Ok(m) if m.kind == EntryKind::File => {
                if let Err(e) = src.open(&path, None).and_then(|mut f| {
                    io::copy(&mut f.reader, &mut io::sink())
                        .map_err(|e| SourceError::from_io(&path, e))
                }) {
                    errors.push(e.to_string());
                }
            }
            Ok(m) if m.kind == EntryKind::Symlink => {
                if let Err(e) = src.read_link(&path) {
                    errors.push(e.to_string());
                }
            }
            Ok(_) => {}
            Err(e) => errors.push(e.to_string()),
        }
    }
    errors
}

#[test]
fn clean_image_walks_without_errors() {
    assert_eq!(walk(&clean()), Vec::<String>::new());
}

#[test]
fn superblock_with_a_flipped_byte_is_refused() {
    let dev = Patched {
        file: image(),
        patches: [(150u64, 0x5Au8)].into(),
        position: 0,
    };
    let err = open(dev).expect_err("bad CRC");
    assert!(matches!(err, XfsError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("superblock: bad CRC"), "{err}");
    assert!(!looks_like_xfs(b"XFS"));
    assert!(looks_like_xfs(b"XFSB\0\0\x10\0"));
}

#[test]
fn inode_with_a_flipped_byte_is_a_checksum_error_naming_it() {
    let src = clean();
    let (ino, offset, raw) = raw_inode(&src, "/dirs/block/file-1.txt");
    let src = patched([(offset + 60, raw[60] ^ 1)].into());
    let err = err_text(src.metadata(&p("/dirs/block/file-1.txt")));
    assert!(err.contains(&format!("inode {ino}: bad CRC")), "{err}");
}

#[test]
fn directory_block_with_a_flipped_byte_is_a_checksum_error() {
    let src = clean();
    let (ino, _, _) = raw_inode(&src, "/dirs/leaf");
    let inode = src.inode(ino).expect("inode");
    let first = Extent::decode(&inode.fork[..16]);
    let at = src.geo.block_offset(first.block).expect("block") + 200;
    let byte = src.read_at(at, 1).expect("read")[0];
    let src = patched([(at, byte ^ 0x10)].into());
    let err = err_text(src.read_dir(&p("/dirs/leaf")));
    assert!(
        err.contains(&format!("inode {ino} directory block 0: bad CRC")),
        "{err}"
    );
}

#[test]
fn directory_loop_is_detected() {
    let src = clean();
    let (dirs, _, _) = raw_inode(&src, "/dirs");
    let (ino, offset, mut raw) = raw_inode(&src, "/dirs/short");
    // Short form: count, i8count, 4-byte parent, then namelen, offset (2),
    // name, ftype, 4-byte inode. Point "f1" back at /dirs, as a directory.
    assert_eq!(&raw[176 + 9..176 + 11], b"f1");
    raw[176 + 11] = 2;
    raw[176 + 12..176 + 16].copy_from_slice(&(dirs as u32).to_be_bytes());
    let src = patched(with_crc(offset, raw));
    let err = err_text(src.read_dir(&p("/dirs/short/f1")));
    assert!(err.contains("loop or cross-link"), "{err}");
    let errors = walk(&src);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let _ = ino;
}

#[test]
fn extent_past_the_end_is_refused_naming_the_inode() {
    let src = clean();
    let (ino, offset, mut raw) = raw_inode(&src, "/frag/few");
    let mut e = Extent::decode(&raw[176..192]);
    e.block = src.geo.ag_count << src.geo.ag_blk_log; // AG beyond the last
    raw[176..192].copy_from_slice(&bmap::encode(e));
    let src = patched(with_crc(offset, raw));
    let err = err_text(src.open(&p("/frag/few"), None).map(|f| f.metadata));
    assert!(err.contains(&format!("inode {ino}: extent 0")), "{err}");
    assert!(err.contains("past the end"), "{err}");
}

#[test]
fn extent_btree_loop_is_detected() {
    let src = clean();
    let (ino, offset, mut raw) = raw_inode(&src, "/frag/btree");
    let inode = src.inode(ino).expect("inode");
    assert_eq!(inode.format, Format::Btree);
    let maxrecs = (inode.fork.len() - 4) / 16;
    let numrecs = usize::from(be16(&inode.fork, 2));
    assert!(numrecs >= 2, "fixture's btree root has {numrecs} pointers");
    // Second pointer = first pointer: the same leaf reached twice.
    let ptrs = 176 + 4 + maxrecs * 8;
    let first = raw[ptrs..ptrs + 8].to_vec();
    raw[ptrs + 8..ptrs + 16].copy_from_slice(&first);
    let src = patched(with_crc(offset, raw));
    let err = err_text(src.open(&p("/frag/btree"), None).map(|f| f.metadata));
    assert!(
        err.contains(&format!("inode {ino}: extent btree block")),
        "{err}"
    );
    assert!(err.contains("reached twice"), "{err}");
}

#[test]
fn extent_btree_block_with_a_flipped_byte_is_a_checksum_error() {
    let src = clean();
    let (ino, _, _) = raw_inode(&src, "/frag/btree");
    let inode = src.inode(ino).expect("inode");
    let maxrecs = (inode.fork.len() - 4) / 16;
    let leaf = be64(&inode.fork, 4 + maxrecs * 8);
    let at = src.geo.block_offset(leaf).expect("leaf") + 300;
    let byte = src.read_at(at, 1).expect("read")[0];
    let src = patched([(at, byte ^ 1)].into());
    let err = err_text(src.open(&p("/frag/btree"), None).map(|f| f.metadata));
    assert!(
        err.contains(&format!("inode {ino} extent btree block {leaf}: bad CRC")),
        "{err}"
    );
}

#[test]
fn remote_symlink_block_with_a_flipped_byte_is_a_checksum_error() {
    let src = clean();
    let (ino, _, _) = raw_inode(&src, "/links/long");
    let inode = src.inode(ino).expect("inode");
    let e = Extent::decode(&inode.fork[..16]);
    let at = src.geo.block_offset(e.block).expect("block") + 100;
    let byte = src.read_at(at, 1).expect("read")[0];
    let src = patched([(at, byte ^ 1)].into());
    let err = err_text(src.read_link(&p("/links/long")));
    assert!(
        err.contains(&format!("inode {ino} symlink block 0: bad CRC")),
        "{err}"
    );
}

#[test]
fn absurd_short_form_count_is_an_error() {
    let src = clean();
    let (ino, offset, mut raw) = raw_inode(&src, "/dirs/short");
    raw[176] = 255;
    let src = patched(with_crc(offset, raw));
    let err = err_text(src.read_dir(&p("/dirs/short")));
    assert!(
        err.contains(&format!("inode {ino}: short-form entry 3")),
        "{err}"
    );
}

/// Every byte of a few inodes altered in turn (CRC recomputed, so the
/// parsers see it): errors at worst, and the walk ends.
#[test]
fn altered_inodes_never_panic_or_hang() {
    let src = clean();
    for path in [
        "/dirs/short",
        "/dirs/node",
        "/frag/btree",
        "/links/long",
        "/sparse/holes",
    ] {
        let (_, offset, raw) = raw_inode(&src, path);
        for at in (0..raw.len()).step_by(3) {
            for value in [0x00, 0xFF, raw[at] ^ 0x80] {
                let mut bad = raw.clone();
                bad[at] = value;
                let hostile = patched(with_crc(offset, bad));
                let target = p(path);
                let _ = hostile.metadata(&target);
                let _ = hostile.read_dir(&target);
                let _ = hostile.read_link(&target);
                if let Ok(mut f) = hostile.open(&target, None) {
                    let mut limited = (&mut f.reader).take(64 << 20);
                    let _ = io::copy(&mut limited, &mut io::sink());
                };
            }
        }
    }
}
