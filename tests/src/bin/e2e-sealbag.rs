//! `sealbag`, built inside the test package so tests use a fresh binary.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    sealbag::main()
}
