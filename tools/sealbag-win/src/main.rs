//! `sealbag-win`: see `sealbag-win --help`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    sealbag_win::main()
}
