//! The plist parse path (binary and XML plists to JSON): any bytes give a
//! value or an error, never a panic, a hang or a huge allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = sealbag_mac::plist::parse_bytes(data) {
        let _ = serde_json::to_vec(&parsed.value);
    }
});
