//! The APFS image source (`sealbag-mac --image`) over arbitrary bytes: open
//! the container, pick a volume, walk the tree, read every file, link and
//! extended attribute. Must never panic, hang or allocate without bound.
//! Seed it with a real container: the `dissect.apfs` 1.1 test images that
//! `tools/sealbag-mac/tests/apfs.rs` fetches into the target dir.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sealbag_mac::apfs::exercise(data);
});
