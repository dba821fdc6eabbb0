//! Any text as a profile: an error or a profile, never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sealbag_common::profile::Profile::from_toml(text, "fuzz.toml");
    }
});
