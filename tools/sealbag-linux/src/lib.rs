//! sealbag's Linux collector.
//!
//! `sealbag-linux collect` runs a profile over the live system (`/`), a
//! mounted tree (`--root DIR`), or a disk image or block device read
//! without mounting (`--image`: ext2/3/4 through [`ext4::Ext4Source`], XFS
//! through [`xfs::open`], partitions found by [`image::layout`]), and
//! writes one sealed archive. The library
//! holds everything but `main`, so the end-to-end tests drive the same code.

#![forbid(unsafe_code)]

mod cli;
pub mod ext4;
pub mod host;
pub mod image;
pub mod live;
pub mod lvm;
pub mod xfs;

pub use cli::{image_name, main, Cli};
