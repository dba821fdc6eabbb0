//! What every collector's command line shares: flags, logging, progress,
//! recipients, exit codes, and the `collect` driver itself.
//!
//! A tool's `main` parses its own clap struct (which flattens
//! [`CollectArgs`]), builds its [`Source`](crate::Source), and calls
//! [`collect::run_collect`]; the engine never sees clap types.

mod args;
pub mod collect;
pub mod config;
mod exit;
mod hunt;
mod logging;
mod profiles;
mod progress;
mod recipients;
mod same_volume;

pub use args::{CollectArgs, CompressionArg, LogArgs};
pub use exit::{Exit, EXIT_COMPLETE, EXIT_FAILED, EXIT_KEPT_LOCALLY, EXIT_WITH_ERRORS};
pub use hunt::{load_hunt, HuntArgs};
pub use logging::{init_logging, LogCapture};
pub use profiles::print_embedded_profiles;
pub use recipients::{parse_recipient, resolve_recipients};
