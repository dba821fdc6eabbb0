//! `sealbag`: see `sealbag --help`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    sealbag::main()
}
