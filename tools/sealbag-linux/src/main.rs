//! `sealbag-linux`: see `sealbag-linux --help`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    sealbag_linux::main()
}
