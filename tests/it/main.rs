//! End-to-end tests of the sealbag binaries: real runs, archives read back
//! with the reference `age`, `zstd` and GNU tar.

mod azure;
mod cli_errors;
mod collect;
mod config;
mod fallback;
mod faults;
mod ioc;
mod limits;
mod split;
mod support;
mod ticket_split;
mod upload;
#[cfg(feature = "yara")]
mod yara;
