//! `--image`: ext4 read in user space, compared with what the Linux kernel
//! reads from a read-only, no-journal-replay loop mount of the very same
//! bytes (`mount -o ro,loop,noload,offset=…`), entry by entry: kind, size,
//! mode, owner, link count, inode number, the four timestamps with
//! nanoseconds, directory listings, symlink targets, and every file's bytes.
//!
//! Needs: e2fsprogs (`mkfs.ext4`, `debugfs`, `e2fsck`), `sfdisk` (Debian
//! `fdisk`), `getfattr` (`attr`), root for the loop mount. Missing tools or
//! an impossible mount skip LOUDLY, and fail under `CI=true`.

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sealbag_common::source::{EntryKind, Timestamp};
use sealbag_common::{Source, SourcePath};
use sealbag_linux::ext4::Ext4Source;
use sealbag_linux::image::{layout, Content};
use sha2::Digest;

const BIN: &str = env!("CARGO_BIN_EXE_sealbag-linux");

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Whether `tool` runs; if not, skip loudly (fail under CI).
fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        assert!(!ci(), "{tool} missing (see tests/deps/linux-image.apt)");
        eprintln!("SKIP: {tool} not installed (apt install e2fsprogs fdisk attr age zstd)");
    }
    found
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make-ext4.sh")
}

fn sha256_file(path: &Path) -> String {
    let mut file = std::fs::File::open(path).expect("open");
    sha256_reader(&mut file)
}

fn sha256_reader(reader: &mut dyn Read) -> String {
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A loop mount, unmounted when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn mount(image: &Path, offset: u64, at: &Path) -> Option<Mount> {
    std::fs::create_dir_all(at).expect("mkdir");
    let output = Command::new("mount")
        .arg("-t")
        .arg("ext4")
        .arg("-o")
        .arg(format!("ro,loop,noload,offset={offset}"))
        .arg(image)
        .arg(at)
        .output();
    match output {
        Ok(o) if o.status.success() => Some(Mount(at.to_path_buf())),
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            assert!(
                !ci(),
                "cannot loop-mount the fixture read-only ({why}); CI runs as root and must"
            );
            eprintln!(
                "SKIP!!! cannot loop-mount the fixture ({why}): the comparison with the kernel did NOT run; run as root"
            );
            None
        }
    }
}

fn ts(secs: i64, nanos: i64) -> Option<Timestamp> {
    Some(Timestamp::new(secs, nanos))
}

/// Walks the kernel's view under `root` and checks every entry against `source`.
fn compare_tree(root: &Path, source: &dyn Source) -> (u64, u64) {
    let mut stack = vec![PathBuf::new()];
    let mut entries = 0u64;
    let mut bytes = 0u64;
    while let Some(rel) = stack.pop() {
        let on_disk = root.join(&rel);
        let mut sp = b"/".to_vec();
        sp.extend_from_slice(rel.as_os_str().as_bytes());
        let sp = SourcePath::parse(&sp).expect("path");
        let km = std::fs::symlink_metadata(&on_disk).expect("kernel stat");
        let sm = source
            .metadata(&sp)
            .unwrap_or_else(|e| panic!("{sp}: source metadata: {e}"));
        entries += 1;
        let kind = if km.file_type().is_dir() {
            EntryKind::Directory
        } else if km.file_type().is_symlink() {
            EntryKind::Symlink
        } else if km.file_type().is_file() {
            EntryKind::File
        } else {
            use std::os::unix::fs::FileTypeExt;
            assert!(km.file_type().is_fifo(), "{sp}: fixture kinds");
            EntryKind::Fifo
        };
        assert_eq!(sm.kind, kind, "{sp}: kind");
        assert_eq!(sm.size, km.size(), "{sp}: size");
        assert_eq!(sm.mode, Some(km.mode()), "{sp}: mode");
        assert_eq!(sm.uid, Some(u64::from(km.uid())), "{sp}: uid");
        assert_eq!(sm.gid, Some(u64::from(km.gid())), "{sp}: gid");
        assert_eq!(sm.nlink, Some(km.nlink()), "{sp}: nlink");
        assert_eq!(sm.inode, Some(km.ino()), "{sp}: inode");
        assert_eq!(
            sm.times.modified,
            ts(km.mtime(), km.mtime_nsec()),
            "{sp}: mtime"
        );
        assert_eq!(
            sm.times.accessed,
            ts(km.atime(), km.atime_nsec()),
            "{sp}: atime"
        );
        assert_eq!(
            sm.times.changed,
            ts(km.ctime(), km.ctime_nsec()),
            "{sp}: ctime"
        );
        let btime = km.created().ok().map(Timestamp::from_system);
        assert!(
            btime.is_some(),
            "{sp}: the kernel gives a birth time (statx)"
        );
        assert_eq!(sm.times.created, btime, "{sp}: crtime");
        match kind {
            EntryKind::Directory => {
                let kernel: BTreeSet<Vec<u8>> = std::fs::read_dir(&on_disk)
                    .expect("readdir")
                    .map(|e| e.expect("entry").file_name().as_bytes().to_vec())
                    .collect();
                let ours: BTreeSet<Vec<u8>> = source
                    .read_dir(&sp)
                    .unwrap_or_else(|e| panic!("{sp}: read_dir: {e}"))
                    .into_iter()
                    .map(|e| e.name)
                    .collect();
                assert_eq!(ours, kernel, "{sp}: listing");
                for name in kernel {
                    stack.push(rel.join(std::ffi::OsStr::from_bytes(&name)));
                }
            }
            EntryKind::Symlink => {
                let kernel = std::fs::read_link(&on_disk).expect("readlink");
                let ours = source.read_link(&sp).expect("read_link");
                assert_eq!(ours, kernel.as_os_str().as_bytes(), "{sp}: link target");
            }
            EntryKind::File => {
                let mut opened = source
                    .open(&sp, None)
                    .unwrap_or_else(|e| panic!("{sp}: open: {e}"));
                assert_eq!(opened.method, "ext4-raw");
                let ours = sha256_reader(&mut opened.reader);
                let kernel = sha256_file(&on_disk);
                assert_eq!(ours, kernel, "{sp}: bytes");
                bytes += km.size();
            }
            _ => {}
        }
    }
    (entries, bytes)
}

#[test]
fn big_gpt_image_matches_the_kernel_entry_by_entry() {
    for tool in ["mkfs.ext4", "debugfs", "e2fsck", "sfdisk"] {
        if !have(tool) {
            return;
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let status = Command::new("sh")
        .arg(script())
        .arg(d)
        .arg("big")
        .stdout(Stdio::null())
        .status()
        .expect("sh");
    assert!(status.success(), "fixture script failed");
    let disk = d.join("big-gpt.raw");
    let before = sha256_file(&disk);

    // The table, as sfdisk (an independent reader) sees it.
    let found = layout(&disk).expect("layout");
    assert!(found.partitioned);
    type Row<'a> = (Option<u32>, &'a str, u64, u64, Content, Option<&'a str>);
    let summary: Vec<Row<'_>> = found
        .volumes
        .iter()
        .map(|v| {
            (
                v.number,
                v.name.as_str(),
                v.offset,
                v.length,
                v.content.clone(),
                v.label.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                Some(1),
                "boot",
                2048 * 512,
                8192 * 512,
                Content::Ext4,
                Some("boot")
            ),
            (
                Some(2),
                "root",
                10240 * 512,
                400 * 1024 * 1024,
                Content::Ext4,
                Some("fixture-root")
            ),
        ]
    );
    let sfdisk = Command::new("sfdisk")
        .arg("--json")
        .arg(&disk)
        .output()
        .expect("sfdisk");
    let table: serde_json::Value = serde_json::from_slice(&sfdisk.stdout).expect("sfdisk json");
    let parts = table["partitiontable"]["partitions"]
        .as_array()
        .expect("partitions");
    for (v, p) in found.volumes.iter().zip(parts) {
        assert_eq!(Some(v.offset / 512), p["start"].as_u64());
        assert_eq!(Some(v.length / 512), p["size"].as_u64());
        assert_eq!(v.partition_name.as_deref(), p["name"].as_str());
        let kind = p["type"].as_str().expect("type").to_lowercase();
        assert!(
            v.partition_type.as_deref().unwrap_or("").contains(&kind),
            "{:?} vs {kind}",
            v.partition_type
        );
    }

    // The fixture is what it claims: the fragmented file has many extents.
    let extents = Command::new("debugfs")
        .arg("-R")
        .arg("ex /tmp/fragmented.bin")
        .arg(d.join("big.ext4"))
        .stderr(Stdio::null())
        .output()
        .expect("debugfs");
    let leaves = String::from_utf8_lossy(&extents.stdout)
        .lines()
        .filter(|l| l.contains(" - "))
        .count();
    assert!(leaves >= 20, "fragmented.bin has only {leaves} extents");

    let root = &found.volumes[1];
    let source = found.open(root).expect("open root volume");
    let mnt = d.join("mnt");
    let Some(_mounted) = mount(&disk, root.offset, &mnt) else {
        return;
    };
    let (entries, bytes) = compare_tree(&mnt, source.as_ref());
    assert!(entries > 23_000, "only {entries} entries compared");
    assert!(bytes > 20_000_000, "only {bytes} bytes compared");
    eprintln!("compared {entries} entries and {bytes} bytes with the kernel");

    // Extended attributes, against getfattr on the kernel's view.
    if have("getfattr") {
        let out = Command::new("getfattr")
            .args(["-n", "user.origin", "--only-values"])
            .arg(mnt.join("etc/passwd"))
            .output()
            .expect("getfattr");
        let meta = source
            .metadata(&SourcePath::parse(b"/etc/passwd").expect("path"))
            .expect("metadata");
        let ours = meta.extra["xattrs"]["user.origin"]["text"]
            .as_str()
            .map(str::as_bytes);
        assert_eq!(ours, Some(out.stdout.as_slice()));
    }
    drop(source);
    drop(_mounted);
    assert_eq!(sha256_file(&disk), before, "the image was changed");
}

#[test]
fn hostile_images_give_errors_never_panics_or_hangs() {
    let zst = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-gpt.raw.zst");
    let mut raw = Vec::new();
    zstd::stream::read::Decoder::new(std::fs::File::open(&zst).expect("fixture"))
        .expect("zstd")
        .read_to_end(&mut raw)
        .expect("decompress");
    let fs_start = 2048 * 512;
    let fs = raw[fs_start..].to_vec();
    // The pristine image reads.
    let source = Ext4Source::open(std::io::Cursor::new(fs.clone()), "small").expect("pristine");
    let passwd = SourcePath::parse(b"/etc/passwd").expect("path");
    assert_eq!(source.metadata(&passwd).expect("passwd").size, 78);
    drop(source);
    // Flip bytes in the metadata area (superblock, descriptors, inode
    // tables, directories): every call returns, with an error or a value.
    let started = std::time::Instant::now();
    for seed in 0..200u64 {
        let mut bad = fs.clone();
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(1);
        for _ in 0..64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = 1024 + (x % (2 * 1024 * 1024)) as usize;
            bad[at] ^= (x >> 32) as u8 | 1;
        }
        let Ok(source) = Ext4Source::open(std::io::Cursor::new(bad), "bad") else {
            continue;
        };
        let mut stack = vec![SourcePath::root()];
        let mut seen = 0;
        while let Some(path) = stack.pop() {
            seen += 1;
            if seen > 5000 {
                break;
            }
            let Ok(meta) = source.metadata(&path) else {
                continue;
            };
            match meta.kind {
                EntryKind::Directory => {
                    if let Ok(entries) = source.read_dir(&path) {
                        for e in entries.into_iter().take(200) {
                            stack.push(path.join(&e.name));
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
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(120),
        "hostile images took {:?}",
        started.elapsed()
    );
}

fn age_keypair(d: &Path) -> Option<(PathBuf, String)> {
    if !have("age") || !have("age-keygen") || !have("zstd") {
        return None;
    }
    let key = d.join("key.txt");
    assert!(Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .stderr(Stdio::null())
        .status()
        .expect("age-keygen")
        .success());
    let text = std::fs::read_to_string(&key).expect("key");
    let public = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("public key")
        .to_string();
    Some((key, public))
}

#[test]
fn collect_image_with_default_profile_and_open_with_age() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let Some((key, public)) = age_keypair(d) else {
        return;
    };
    let zst = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-gpt.raw.zst");
    let image = d.join("web01.raw");
    assert!(Command::new("zstd")
        .args(["-q", "-d"])
        .arg(&zst)
        .arg("-o")
        .arg(&image)
        .status()
        .expect("zstd")
        .success());
    let before = sha256_file(&image);
    let archive = d.join("out.tar.zst.age");
    let output = Command::new(BIN)
        .args(["collect", "--image"])
        .arg(&image)
        .args(["--recipient", &public, "--output"])
        .arg(&archive)
        .output()
        .expect("run sealbag-linux");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "complete collection: {stderr}"
    );
    assert_eq!(sha256_file(&image), before, "the image was changed");
    let x = d.join("x");
    std::fs::create_dir(&x).expect("mkdir");
    let shell = format!(
        "age -d -i '{}' '{}' | zstd -d | tar -x -C '{}'",
        key.display(),
        archive.display(),
        x.display()
    );
    assert!(Command::new("sh")
        .arg("-c")
        .arg(&shell)
        .status()
        .expect("sh")
        .success());
    // Files under files/<partition name>/, bytes and times as on the image.
    let source_image = layout(&image).expect("layout");
    let volume = &source_image.volumes[0];
    assert_eq!(volume.name, "root");
    let source = source_image.open(volume).expect("open");
    for path in [
        "etc/passwd",
        "root/.bash_history",
        "var/log/auth.log",
        "etc/hostname",
    ] {
        let got = std::fs::read(x.join("files/root").join(path)).expect(path);
        let sp = SourcePath::parse(path.as_bytes()).expect("path");
        let mut opened = source.open(&sp, None).expect("open");
        let mut want = Vec::new();
        opened.reader.read_to_end(&mut want).expect("read");
        assert_eq!(got, want, "{path}");
    }
    let hostname = std::fs::symlink_metadata(x.join("files/root/etc/hostname")).expect("stat");
    assert_eq!(
        (hostname.mtime(), hostname.mtime_nsec()),
        (981_173_106, 123_456_789),
        "mtime with nanoseconds, as set by the fixture script"
    );
    let manifest: Vec<serde_json::Value> =
        std::fs::read_to_string(x.join("sealbag/manifest.jsonl"))
            .expect("manifest")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
    let passwd = manifest
        .iter()
        .find(|r| r["path"] == "/etc/passwd")
        .expect("passwd record");
    assert_eq!(passwd["volume"], "root");
    assert_eq!(passwd["method"], "ext4-raw");
    let sp = SourcePath::parse(b"/etc/passwd").expect("path");
    let meta = source.metadata(&sp).expect("meta");
    assert_eq!(passwd["inode"].as_u64(), meta.inode);
    // Volatile state: said once, not per target.
    let volatile: Vec<&serde_json::Value> = manifest
        .iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("live:")))
        .collect();
    assert_eq!(volatile.len(), 1, "{volatile:?}");
    assert_eq!(volatile[0]["path"], "live:volatile");
    assert!(volatile[0]["error"]
        .as_str()
        .is_some_and(|e| e.contains("not available from an image")));
    // The bodyfile is the image's own metadata.
    let body = std::fs::read_to_string(x.join("live/root/bodyfile.txt")).expect("bodyfile");
    let line = body
        .lines()
        .find(|l| l.contains("|/etc/passwd|"))
        .expect("passwd in bodyfile");
    assert!(
        line.contains(&format!("|{}|", meta.inode.expect("inode"))),
        "{line}"
    );
    let collection: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(x.join("sealbag/collection.json")).expect("collection"),
    )
    .expect("json");
    assert_eq!(collection["host"]["hostname"], "web01");
    assert_eq!(collection["volumes"][0]["name"], "root");
    assert!(collection["source"]["kind"]
        .as_str()
        .is_some_and(|k| k.starts_with("disk-image")));
}

#[test]
fn partitions_command_lists_the_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    if !have("zstd") {
        return;
    }
    let zst = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-gpt.raw.zst");
    let image = d.join("small.raw");
    assert!(Command::new("zstd")
        .args(["-q", "-d"])
        .arg(&zst)
        .arg("-o")
        .arg(&image)
        .status()
        .expect("zstd")
        .success());
    let out = Command::new(BIN)
        .args(["partitions", "--json", "--image"])
        .arg(&image)
        .output()
        .expect("run");
    assert!(out.status.success());
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(listing["partitioned"], true);
    assert_eq!(listing["volumes"][0]["offset"], 1_048_576);
    assert_eq!(listing["volumes"][0]["length"], 8 * 1024 * 1024);
    assert_eq!(listing["volumes"][0]["content"], "ext4");
    assert_eq!(listing["volumes"][0]["label"], "fixture-root");
    // A name that is no partition is refused with a hint.
    let out = Command::new(BIN)
        .args(["collect", "--no-encrypt", "--partition", "nope", "--image"])
        .arg(&image)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no partition `nope`"));
}

#[test]
fn lvm_linear_volume_in_two_segments_matches_the_kernel() {
    for tool in ["mkfs.ext4", "debugfs", "sfdisk", "pvcreate", "losetup"] {
        if !have(tool) {
            return;
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let output = Command::new("sh")
        .arg(script())
        .arg(d)
        .arg("lvm")
        .output()
        .expect("sh");
    if !output.status.success() {
        let why = String::from_utf8_lossy(&output.stderr);
        assert!(!ci(), "the LVM fixture needs root and loop devices: {why}");
        eprintln!("SKIP!!! cannot build the LVM fixture (root and loop devices needed): {why}");
        return;
    }
    let disk = d.join("lvm-gpt.raw");
    let before = sha256_file(&disk);
    let found = layout(&disk).expect("layout");
    let contents: Vec<(String, Content)> = found
        .volumes
        .iter()
        .map(|v| (v.name.clone(), v.content.clone()))
        .collect();
    assert_eq!(contents.len(), 3, "{contents:?}");
    assert_eq!(contents[0].1, Content::LvmPv);
    assert!(contents[1].0.ends_with("-data") && contents[1].1 == Content::Ext4);
    assert!(contents[2].0.ends_with("-small"));
    let data = &found.volumes[1];
    let lv = data.logical_volume.as_ref().expect("lv");
    assert_eq!(lv.segments.len(), 2, "the fixture's LV has two segments");
    assert_eq!(lv.length, 12 << 20);
    // The LV read through our segment map is the file system the script
    // wrote through lvs's own segment report: compare with the kernel's
    // reading of that file system.
    let source = found.open(data).expect("open LV");
    let mnt = d.join("mnt");
    let Some(_mounted) = mount(&d.join("lvm.ext4"), 0, &mnt) else {
        return;
    };
    let (entries, _) = compare_tree(&mnt, source.as_ref());
    assert!(entries > 20, "only {entries} entries compared");
    drop(source);
    assert_eq!(sha256_file(&disk), before, "the image was changed");
}

#[test]
fn read_only_block_device_is_collected_like_its_image() {
    if !have("losetup") || !have("zstd") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let zst = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-gpt.raw.zst");
    let image = d.join("small.raw");
    assert!(Command::new("zstd")
        .args(["-q", "-d"])
        .arg(&zst)
        .arg("-o")
        .arg(&image)
        .status()
        .expect("zstd")
        .success());
    let before = sha256_file(&image);
    let attach = Command::new("losetup")
        .args(["-r", "-f", "--show"])
        .arg(&image)
        .output()
        .expect("losetup");
    if !attach.status.success() {
        assert!(!ci(), "losetup needs root and loop devices");
        eprintln!("SKIP!!! no loop device: the block-device path did NOT run");
        return;
    }
    let device = String::from_utf8_lossy(&attach.stdout).trim().to_string();
    struct Detach(String);
    impl Drop for Detach {
        fn drop(&mut self) {
            let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
        }
    }
    let _detach = Detach(device.clone());
    let found = layout(Path::new(&device)).expect("layout of the device");
    assert_eq!(found.volumes.len(), 1);
    let source = found.open(&found.volumes[0]).expect("open");
    let sp = SourcePath::parse(b"/etc/passwd").expect("path");
    let mut opened = source.open(&sp, None).expect("open passwd");
    let mut bytes = Vec::new();
    opened.reader.read_to_end(&mut bytes).expect("read");
    assert_eq!(
        bytes,
        b"root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
    );
    drop(opened);
    drop(source);
    let out = Command::new(BIN)
        .args(["collect", "--no-encrypt", "-q", "--image", &device, "-o"])
        .arg(d.join("out.tar.zst"))
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(_detach);
    assert_eq!(
        sha256_file(&image),
        before,
        "the device's backing image was changed"
    );
}

/// A file system with `inline_data` (data inside the inode; not a default
/// of any distribution's mkfs) is refused whole by ext4-view at load: the
/// error must say which feature, and the image must be left unchanged.
#[test]
fn inline_data_file_system_is_refused_with_the_feature_named() {
    if !have("mkfs.ext4") || !have("debugfs") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).expect("mkdir");
    std::fs::write(tree.join("small.txt"), b"tiny inline file\n").expect("write");
    let image = dir.path().join("inline.ext4");
    std::fs::File::create(&image)
        .and_then(|f| f.set_len(8 << 20))
        .expect("image");
    let status = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-O", "inline_data", "-d"])
        .arg(&tree)
        .arg(&image)
        .status()
        .expect("mkfs.ext4");
    assert!(status.success(), "mkfs.ext4 -O inline_data failed");
    // The fixture really holds an inline file (flag 0x10000000), per debugfs.
    let stat = Command::new("debugfs")
        .arg("-R")
        .arg("stat /small.txt")
        .arg(&image)
        .stderr(Stdio::null())
        .output()
        .expect("debugfs");
    assert!(
        String::from_utf8_lossy(&stat.stdout).contains("Flags: 0x10000000"),
        "small.txt is not inline: {}",
        String::from_utf8_lossy(&stat.stdout)
    );
    let before = sha256_file(&image);
    let error = Ext4Source::open(std::fs::File::open(&image).expect("open"), "inline")
        .expect_err("an inline_data file system is refused")
        .to_string();
    assert!(error.contains("DATA_IN_INODE"), "{error}");
    assert_eq!(sha256_file(&image), before, "the image changed");
}
