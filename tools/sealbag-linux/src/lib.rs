//! sealbag's Linux collector.
//!
//! `sealbag-linux collect` runs a profile over the live system (`/`) or a
//! mounted tree (`--root DIR`) and writes one sealed archive. The library
//! holds everything but `main`, so the end-to-end tests drive the same code.

#![forbid(unsafe_code)]

mod cli;
pub mod host;
pub mod live;
pub mod xfs;

pub use cli::{main, Cli};
