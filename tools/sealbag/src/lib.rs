//! The responder's tool: make keys, verify and unpack archives, check profiles.
//!
//! Everything but `main` lives here so the end-to-end tests drive the same code.

#![forbid(unsafe_code)]

mod cli;
pub mod docs;
mod import;
mod keys;
mod open;
mod profiles;

pub use cli::{main, Cli};
