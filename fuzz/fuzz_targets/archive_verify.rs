//! Any bytes as an (unencrypted) archive: `verify` reports, never panics.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let input: Box<dyn std::io::Read> = Box::new(std::io::Cursor::new(data.to_vec()));
    if let Ok(plaintext) = sealbag_common::archive::open_plaintext(input, &[]) {
        let _ = sealbag_common::archive::verify(plaintext);
    }
});
