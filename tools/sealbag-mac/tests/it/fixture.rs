//! A macOS-like tree assembled at test time from the shared corpus.

use std::path::{Path, PathBuf};

/// Bytes of the fake `/usr/bin/true` the launch agents point to.
pub const TRUE_BYTES: &[u8] = b"#!/bin/sh\nexit 0\n";

/// A temporary macOS-like root: the corpus `macos/tree`, its unified logs at
/// their real places, a program, a cron table and a periodic script.
pub struct Fixture {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// The root (`/` of the tree).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for file in crate::files_under(from) {
        let relative = file.strip_prefix(from).expect("under");
        let dest = to.join(relative);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&file, &dest).expect("copy");
    }
}

/// Builds the fixture, or `None` (after a SKIP) without the corpus.
pub fn build() -> Option<Fixture> {
    let tree = crate::corpus("macos/tree")?;
    let logs = crate::corpus("macos/unifiedlog")?;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    copy_tree(&tree, root);
    let diagnostics = root.join("private/var/db/diagnostics");
    let uuidtext = root.join("private/var/db/uuidtext");
    for (from, to) in [
        (
            "0000000000000030.tracev3",
            "Persist/0000000000000030.tracev3",
        ),
        (
            "0000000000000f85.tracev3",
            "Special/0000000000000f85.tracev3",
        ),
        (
            "timesync/0000000000000002.timesync",
            "timesync/0000000000000002.timesync",
        ),
    ] {
        let dest = diagnostics.join(to);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(logs.join(from), dest).expect("copy");
    }
    copy_tree(&logs.join("uuidtext"), &uuidtext);
    let write = |path: &str, bytes: &[u8]| {
        let dest: PathBuf = root.join(path);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::write(dest, bytes).expect("write");
    };
    write("usr/bin/true", TRUE_BYTES);
    write(
        "usr/lib/cron/tabs/root",
        b"# m h dom mon dow command\n*/5 * * * * /usr/local/bin/beacon --quiet\n\n",
    );
    write(
        "private/etc/periodic/daily/110.clean-tmps",
        b"#!/bin/sh\nexit 0\n",
    );
    write("private/etc/hosts", b"127.0.0.1 localhost\n");
    write(
        "private/var/log/system.log",
        b"Nov 23 12:00:00 mac kernel: hello\n",
    );
    // A damaged launch agent: collected raw, its parse error recorded.
    let malformed = crate::corpus("macos/malformed")?;
    std::fs::copy(
        malformed.join("truncated.plist"),
        root.join("Library/LaunchAgents/truncated.plist"),
    )
    .expect("copy");
    // A launch daemon that is a link: reported with its target, never followed.
    std::os::unix::fs::symlink(
        "/Users/user/Library/LaunchAgents/foo.plist",
        root.join("Library/LaunchDaemons/linked.plist"),
    )
    .expect("symlink");
    Some(Fixture { dir })
}
