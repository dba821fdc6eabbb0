//! `sealbag-mac`: see `sealbag-mac --help`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    sealbag_mac::main()
}
