//! Any glob against any name: an error or a match, never a panic or a hang.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    if let Ok(pattern) = std::str::from_utf8(&data[..split]) {
        if let Ok(glob) = sealbag_common::glob::Glob::parse(pattern) {
            let name = data.get(split + 1..).unwrap_or(b"");
            let _ = glob.matches_path(name, true);
            let _ = glob.matches_path(name, false);
        }
    }
});
