//! The XFS source against the kernel's own reading of the same image.
//!
//! Images come from `tests/fixtures/make-xfs.sh` (committed small ones,
//! zstd-compressed; the big one is made at test time). Every entry the
//! source finds is compared with a `mount -o ro,norecovery,loop` of the
//! image: names, kind, size, mode, owner, inode number, link count, all
//! four timestamps to the nanosecond, link targets and every byte of every
//! file; and the image's SHA-256 is unchanged afterwards. Mounting needs
//! root: without it those tests skip loudly, and fail under `CI=true`.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sealbag_common::source::{EntryKind, Source, SourcePath, Timestamp};
use sealbag_linux::xfs;
use sha2::{Digest, Sha256};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Skips loudly, or fails under CI.
fn skip(why: &str) {
    assert!(!in_ci(), "{why} (required under CI=true)");
    eprintln!("SKIP: {why}");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Decompresses a committed fixture, keeping runs of zeros as holes.
fn unpack(name: &str, dir: &Path) -> PathBuf {
    let out = dir.join(name.trim_end_matches(".zst"));
    let mut input =
        zstd::Decoder::new(File::open(fixtures().join(name)).expect("fixture")).expect("zstd");
    let mut file = File::create(&out).expect("create");
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
        if buf[..filled].iter().all(|b| *b == 0) {
            file.seek(SeekFrom::Current(filled as i64)).expect("seek");
        } else {
            file.write_all(&buf[..filled]).expect("write");
        }
        len += filled as u64;
    }
    file.set_len(len).expect("set_len");
    out
}

fn sha256(path: &Path) -> Vec<u8> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut File::open(path).expect("open"), &mut hasher).expect("hash");
    hasher.finalize().to_vec()
}

fn open(image: &Path) -> xfs::XfsSource<File> {
    xfs::open(File::open(image).expect("image"))
        .expect("xfs")
        .with_info("xfs-image", image.display().to_string())
}

fn read_all(source: &dyn Source, path: &SourcePath) -> Vec<u8> {
    let mut out = Vec::new();
    source
        .open(path, None)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
        .reader
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    out
}

/// A read-only, no-recovery loop mount, unmounted on drop.
struct Mount(tempfile::TempDir);

impl Mount {
    fn new(image: &Path) -> Option<Mount> {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("mount")
            .args(["-o", "ro,norecovery,loop"])
            .arg(image)
            .arg(dir.path())
            .status()
            .ok()?;
        status.success().then_some(Mount(dir))
    }

    fn path(&self, p: &SourcePath) -> PathBuf {
        self.0.path().join(OsStr::from_bytes(p.relative()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

fn ts(secs: i64, nanos: i64) -> Option<Timestamp> {
    Some(Timestamp::new(secs, nanos))
}

#[derive(Default, Debug)]
struct Tally {
    files: u64,
    dirs: u64,
    links: u64,
    other: u64,
    bytes: u64,
    largest_dir: usize,
}

/// Walks the whole image through the source and the mount, comparing all.
fn compare_with_kernel(image: &Path) -> Option<Tally> {
    let before = sha256(image);
    let source = open(image);
    let Some(mount) = Mount::new(image) else {
        skip("cannot loop-mount the XFS image (needs root and loop devices)");
        return None;
    };
    let mut tally = Tally::default();
    let mut stack = vec![SourcePath::root()];
    while let Some(path) = stack.pop() {
        let ours = source
            .metadata(&path)
            .unwrap_or_else(|e| panic!("metadata {}: {e}", path.display()));
        let theirs = std::fs::symlink_metadata(mount.path(&path)).expect("kernel metadata");
        let what = path.display();
        assert_eq!(ours.mode, Some(theirs.mode()), "{what}: mode");
        assert_eq!(ours.uid, Some(u64::from(theirs.uid())), "{what}: uid");
        assert_eq!(ours.gid, Some(u64::from(theirs.gid())), "{what}: gid");
        assert_eq!(ours.inode, Some(theirs.ino()), "{what}: inode");
        assert_eq!(ours.nlink, Some(theirs.nlink()), "{what}: nlink");
        assert_eq!(ours.size, theirs.size(), "{what}: size");
        assert_eq!(
            ours.times.modified,
            ts(theirs.mtime(), theirs.mtime_nsec()),
            "{what}: mtime"
        );
        assert_eq!(
            ours.times.accessed,
            ts(theirs.atime(), theirs.atime_nsec()),
            "{what}: atime"
        );
        assert_eq!(
            ours.times.changed,
            ts(theirs.ctime(), theirs.ctime_nsec()),
            "{what}: ctime"
        );
        match theirs.created() {
            Ok(t) => assert_eq!(
                ours.times.created,
                Some(Timestamp::from_system(t)),
                "{what}: crtime"
            ),
            Err(_) => assert_eq!(ours.times.created, None, "{what}: crtime on a v4 inode"),
        }
        match ours.kind {
            EntryKind::Directory => {
                assert!(theirs.is_dir(), "{what}: kind");
                tally.dirs += 1;
                let listed = source.read_dir(&path).expect("read_dir");
                let names: BTreeSet<Vec<u8>> = listed.iter().map(|e| e.name.clone()).collect();
                assert_eq!(names.len(), listed.len(), "{what}: duplicate names");
                let kernel: BTreeSet<Vec<u8>> = std::fs::read_dir(mount.path(&path))
                    .expect("kernel read_dir")
                    .map(|e| e.expect("entry").file_name().as_bytes().to_vec())
                    .collect();
                assert_eq!(names, kernel, "{what}: names");
                tally.largest_dir = tally.largest_dir.max(names.len());
                for entry in listed {
                    let child = path.join(&entry.name);
                    let kind = std::fs::symlink_metadata(mount.path(&child))
                        .expect("child")
                        .file_type();
                    let expected = if kind.is_dir() {
                        EntryKind::Directory
                    } else if kind.is_symlink() {
                        EntryKind::Symlink
                    } else if kind.is_file() {
                        EntryKind::File
                    } else {
                        entry.kind.unwrap_or(EntryKind::Other)
                    };
                    if let Some(k) = entry.kind {
                        assert_eq!(k, expected, "{}: ftype", child.display());
                    }
                    stack.push(child);
                }
            }
            EntryKind::Symlink => {
                assert!(theirs.file_type().is_symlink(), "{what}: kind");
                tally.links += 1;
                let target = std::fs::read_link(mount.path(&path)).expect("kernel read_link");
                assert_eq!(
                    source.read_link(&path).expect("read_link"),
                    target.as_os_str().as_bytes(),
                    "{what}: target"
                );
            }
            EntryKind::File => {
                assert!(theirs.is_file(), "{what}: kind");
                tally.files += 1;
                let mut ours = source.open(&path, None).expect("open").reader;
                let mut kernel = File::open(mount.path(&path)).expect("kernel open");
                let (mut a, mut b) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
                let mut at = 0u64;
                loop {
                    let n = read_full(&mut ours, &mut a);
                    let m = read_full(&mut kernel, &mut b);
                    assert_eq!(n, m, "{what}: length differs at byte {at}");
                    if a[..n] != b[..m] {
                        let i = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(0);
                        panic!("{what}: byte {} differs", at + i as u64);
                    }
                    if n == 0 {
                        break;
                    }
                    at += n as u64;
                }
                assert_eq!(at, theirs.size(), "{what}: bytes read");
                tally.bytes += at;
            }
            _ => tally.other += 1,
        }
    }
    drop(mount);
    assert_eq!(sha256(image), before, "the image changed while read");
    Some(tally)
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]).expect("read") {
            0 => break,
            n => filled += n,
        }
    }
    filled
}

fn small(name: &str) -> Option<Tally> {
    if !is_root() {
        skip("XFS comparison with the kernel needs root (loop mount)");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let image = unpack(name, dir.path());
    let tally = compare_with_kernel(&image)?;
    eprintln!("{name}: {tally:?} equal to the kernel's reading");
    Some(tally)
}

#[test]
fn v5_image_reads_like_the_kernel() {
    if let Some(t) = small("xfs-v5.img.zst") {
        assert!(
            t.files > 1800 && t.dirs > 10 && t.links == 4 && t.other == 2,
            "{t:?}"
        );
        assert!(t.bytes > 10 << 20, "{t:?}");
    }
}

/// Runs `make-xfs.sh MODE OUT VARIANT` into a temporary directory.
fn make(mode: &str, variant: &str) -> Option<(tempfile::TempDir, PathBuf)> {
    if !is_root() {
        skip("XFS images are made with a loop mount (needs root)");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let image = dir.path().join(format!("{mode}-{variant}.img"));
    let status = Command::new("bash")
        .arg(fixtures().join("make-xfs.sh"))
        .args([mode.as_ref(), image.as_os_str(), variant.as_ref()])
        .status()
        .expect("make-xfs.sh");
    if status.code() == Some(77) {
        skip("make-xfs.sh cannot run here (xfsprogs missing?)");
        return None;
    }
    assert!(status.success(), "make-xfs.sh {mode} {variant} failed");
    Some((dir, image))
}

/// Thousands of files and a directory of 20 000 entries, made at test time.
#[test]
fn big_image_reads_like_the_kernel() {
    let Some((_dir, image)) = make("big", "v5") else {
        return;
    };
    let Some(t) = compare_with_kernel(&image) else {
        return;
    };
    eprintln!("big image: {t:?} equal to the kernel's reading");
    assert_eq!(t.largest_dir, 20_000, "{t:?}");
    assert!(t.files > 24_000, "{t:?}");
}

/// Other mkfs geometries and features: 64-bit extent counters, directory
/// blocks larger than filesystem blocks, 1 KiB blocks.
#[test]
fn variants_read_like_the_kernel() {
    for variant in ["nrext64", "dir16k", "block1k"] {
        let Some((_dir, image)) = make("small", variant) else {
            return;
        };
        let Some(t) = compare_with_kernel(&image) else {
            return;
        };
        eprintln!("{variant}: {t:?} equal to the kernel's reading");
        assert!(t.files > 3000 && t.links == 4, "{variant}: {t:?}");
    }
}

/// What the fixture script wrote, checked without mounting (runs anywhere).
#[test]
fn v5_image_holds_what_the_script_wrote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = unpack("xfs-v5.img.zst", dir.path());
    let source = open(&image);
    assert!(source.is_v5());
    assert_eq!(source.label(), Some(&b"sealbag-xfs"[..]));
    let p = |s: &[u8]| SourcePath::parse(s).expect("path");
    let fill = |n: &str, size: usize| -> Vec<u8> {
        format!("sealbag {n}\n")
            .bytes()
            .cycle()
            .take(size)
            .collect()
    };
    assert_eq!(read_all(&source, &p(b"/dirs/short/f2")), fill("s2", 200));
    assert_eq!(
        read_all(&source, &p(b"/dirs/block/file-40.txt")),
        fill("b40", 280)
    );
    assert_eq!(read_all(&source, &p(b"/names/caf\xe9")), fill("latin1", 10));
    let long = [b"/names/".as_slice(), &[b'L'; 255]].concat();
    assert_eq!(read_all(&source, &p(&long)), fill("long", 1000));
    for (dir, count) in [
        ("short", 3),
        ("block", 40),
        ("leaf", 300),
        ("node", 1500),
        ("btree", 1200),
    ] {
        let listed = source
            .read_dir(&p(format!("/dirs/{dir}").as_bytes()))
            .expect("dir");
        assert_eq!(listed.len(), count, "/dirs/{dir}");
    }
    // 1200 data extents in a B+tree fork: 0x42 blocks alternating with holes.
    let frag = read_all(&source, &p(b"/frag/btree"));
    assert_eq!(frag.len(), 9600 << 10);
    for (i, block) in frag.chunks(4096).enumerate() {
        let expected = if i % 2 == 1 { 0 } else { 0x42 };
        assert!(block.iter().all(|b| *b == expected), "frag block {i}");
    }
    // Sparse: holes and the unwritten extent read as zeros.
    let holes = read_all(&source, &p(b"/sparse/holes"));
    assert_eq!(holes.len(), 10 << 20);
    assert_eq!(&holes[..5000], fill("sp1", 5000).as_slice());
    assert!(holes[5000..100 * 4096].iter().all(|b| *b == 0));
    assert!(holes[103 * 4096..].iter().all(|b| *b == 0));
    let unwritten = read_all(&source, &p(b"/sparse/unwritten"));
    assert_eq!(unwritten.len(), 1 << 20);
    assert!(unwritten[..64 << 10].iter().all(|b| *b == 0));
    assert!(unwritten[64 << 10..72 << 10].iter().all(|b| *b == 0x61));
    assert!(unwritten[72 << 10..].iter().all(|b| *b == 0));
    let empty = source.metadata(&p(b"/sparse/empty-1g")).expect("empty");
    assert_eq!(empty.size, 1 << 30);
    // Symlinks: in the inode and in a remote block.
    assert_eq!(
        source.read_link(&p(b"/links/short")).expect("link"),
        b"../dirs/short/f1"
    );
    let long = source.read_link(&p(b"/links/long")).expect("link");
    assert_eq!(long, [b"x/".repeat(400), b"target".to_vec()].concat());
    // Times before 1970 and after 2038 (bigtime), to the nanosecond.
    let before = source.metadata(&p(b"/special/before-1970")).expect("meta");
    assert_eq!(
        before.times.modified,
        Some(Timestamp::new(-14_182_940, 123_456_789))
    );
    let after = source.metadata(&p(b"/special/after-2038")).expect("meta");
    assert_eq!(
        after.times.modified,
        Some(Timestamp::new(4_102_444_800, 500_000_000))
    );
    let setuid = source.metadata(&p(b"/special/setuid")).expect("meta");
    assert_eq!(
        (setuid.mode, setuid.uid, setuid.gid),
        (Some(0o104_751), Some(1234), Some(5678)),
        "chmod after chown keeps the setuid bit"
    );
    assert_eq!(
        source.metadata(&p(b"/special/hard2")).expect("meta").nlink,
        Some(2)
    );
    assert!(matches!(
        source.open(&p(b"/special/fifo"), None),
        Err(sealbag_common::source::SourceError::NotAFile {
            kind: EntryKind::Fifo,
            ..
        })
    ));
}

/// v5 and v4 images populated by `mkfs.xfs -p protofile` from a tree made
/// here (no mount, no root): names, kinds, modes, owners, link targets and
/// every byte must be those of the tree. The v4 image is checked only this
/// way, since kernels built without `CONFIG_XFS_SUPPORT_V4` cannot mount it.
#[test]
fn protofile_images_hold_their_source_tree() {
    if Command::new("mkfs.xfs").arg("-V").output().is_err() {
        skip("mkfs.xfs not installed (xfsprogs, tests/deps/xfs.apt)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = dir.path().join("tree");
    // (path in the image, contents or link target, is link)
    let mut expected: Vec<(String, Vec<u8>, bool)> = Vec::new();
    let mut proto = String::from("sealbag\n0 0\nd--755 0 0\n");
    let mut add_file = |proto: &mut String, rel: &str, name: &str, bytes: Vec<u8>, mode: &str| {
        let host = tree.join(rel.trim_start_matches('/'));
        std::fs::create_dir_all(host.parent().expect("parent")).expect("mkdir");
        std::fs::write(&host, &bytes).expect("write");
        proto.push_str(&format!(
            "{name} -{}-{} 1001 1002 {}\n",
            &mode[..1],
            &mode[1..],
            host.display()
        ));
        expected.push((rel.to_string(), bytes, false));
    };
    add_file(
        &mut proto,
        "/small",
        "small",
        b"hello xfs\n".to_vec(),
        "-644",
    );
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    add_file(&mut proto, "/big", "big", big, "u755");
    proto.push_str("many d--750 1001 1002\n");
    for i in 0..700 {
        let name = format!("entry-{i:04}-with-a-name-long-enough-to-need-blocks");
        let bytes = format!("file {i}\n").repeat(i % 50).into_bytes();
        add_file(&mut proto, &format!("/many/{name}"), &name, bytes, "-600");
    }
    proto.push_str("$\n");
    proto.push_str("short l--777 0 0 many/entry-0001\n");
    let long_target = "y/".repeat(300) + "end";
    proto.push_str(&format!("long l--777 0 0 {long_target}\n"));
    proto.push_str("$\n");
    let protofile = dir.path().join("proto");
    std::fs::write(&protofile, proto).expect("proto");
    for (variant, crc) in [("v5", "crc=1"), ("v4", "crc=0")] {
        let image = dir.path().join(format!("{variant}.img"));
        File::create(&image)
            .expect("image")
            .set_len(300 << 20)
            .expect("size");
        let out = Command::new("mkfs.xfs")
            .args(["-q", "-f", "-m", crc, "-p"])
            .arg(&protofile)
            .arg(&image)
            .output()
            .expect("mkfs.xfs");
        assert!(
            out.status.success(),
            "mkfs.xfs -m {crc}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let source = open(&image);
        assert_eq!(source.is_v5(), variant == "v5");
        let root = source.read_dir(&SourcePath::root()).expect("root");
        let names: BTreeSet<&[u8]> = root.iter().map(|e| e.name.as_slice()).collect();
        assert_eq!(
            names,
            BTreeSet::from([&b"small"[..], b"big", b"many", b"short", b"long"])
        );
        assert_eq!(
            source
                .read_dir(&SourcePath::parse(b"/many").expect("p"))
                .expect("many")
                .len(),
            700
        );
        for (path, bytes, _) in &expected {
            let p = SourcePath::parse(path.as_bytes()).expect("path");
            assert_eq!(&read_all(&source, &p), bytes, "{variant} {path}");
            let m = source.metadata(&p).expect("metadata");
            assert_eq!(
                (m.uid, m.gid, m.size),
                (Some(1001), Some(1002), bytes.len() as u64),
                "{variant} {path}"
            );
        }
        let big = source
            .metadata(&SourcePath::parse(b"/big").expect("p"))
            .expect("big");
        assert_eq!(
            big.mode,
            Some(0o104_755),
            "{variant}: setuid mode from the protofile"
        );
        assert_eq!(
            source
                .read_link(&SourcePath::parse(b"/short").expect("p"))
                .expect("link"),
            b"many/entry-0001"
        );
        // xfsprogs 6.1's protofile writes v5 remote symlink blocks without
        // their `XSLM` header (xfs_db reports a CRC error, xfs_repair junks
        // the link): the source must refuse such a block, not trust it.
        match source.read_link(&SourcePath::parse(b"/long").expect("p")) {
            Ok(target) => assert_eq!(target, long_target.as_bytes(), "{variant}: remote symlink"),
            Err(e) => {
                assert_eq!(variant, "v5", "{e}");
                assert!(e.to_string().contains("symlink block 0: bad magic"), "{e}");
            }
        }
        let v = source
            .metadata(&SourcePath::parse(b"/small").expect("p"))
            .expect("m");
        assert_eq!(
            v.times.created.is_some(),
            variant == "v5",
            "{variant}: crtime only on v3 inodes"
        );
    }
}

/// The whole path a responder uses: `sealbag-linux collect --image` on a bare
/// XFS image, read back with stock `zstd` and GNU tar, method `xfs-raw`.
#[test]
fn collect_image_of_a_bare_xfs_volume_reads_back_with_stock_tools() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = unpack("xfs-v5.img.zst", dir.path());
    let before = sha256(&image);
    let profile = dir.path().join("p.toml");
    std::fs::write(
        &profile,
        "name = \"t\"\n[[target]]\nname = \"dirs\"\npaths = [\"/dirs/**\"]\n",
    )
    .expect("profile");
    let archive = dir.path().join("out.tar.zst");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sealbag-linux"))
        .args(["collect", "--no-encrypt", "-q", "--image"])
        .arg(&image)
        .arg("-p")
        .arg(&profile)
        .arg("-o")
        .arg(&archive)
        .output()
        .expect("run sealbag-linux");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let x = dir.path().join("x");
    std::fs::create_dir(&x).expect("mkdir");
    let tar = std::process::Command::new("tar")
        .arg("--zstd")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&x)
        .status()
        .expect("GNU tar with zstd");
    assert!(tar.success());
    let fill = |n: &str, size: usize| -> Vec<u8> {
        format!("sealbag {n}\n")
            .bytes()
            .cycle()
            .take(size)
            .collect()
    };
    assert_eq!(
        std::fs::read(x.join("files/volume/dirs/block/file-40.txt")).expect("file"),
        fill("b40", 280)
    );
    let manifest = std::fs::read_to_string(x.join("sealbag/manifest.jsonl")).expect("manifest");
    let records: Vec<serde_json::Value> = manifest
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let files: Vec<&serde_json::Value> = records.iter().filter(|r| r["kind"] == "file").collect();
    // make-xfs.sh: short, block, leaf, node and btree folders, plus one
    // spacer file per 20 btree entries.
    assert_eq!(
        files.len(),
        3 + 40 + 300 + 1500 + 1200 + 1200 / 20,
        "every file make-xfs.sh wrote under /dirs"
    );
    assert!(files
        .iter()
        .all(|r| r["status"] == "ok" && r["method"] == "xfs-raw"));
    assert_eq!(sha256(&image), before, "the image is never written");
}
