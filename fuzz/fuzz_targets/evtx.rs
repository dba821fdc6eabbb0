//! The event-log parse path: any bytes give records and counted errors,
//! never a panic, a hang or a huge allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = std::io::Cursor::new(data.to_vec());
    let mut errors = Vec::new();
    let _ = sealbag_win::parse_evtx(&mut reader, &[], None, &mut std::io::sink(), &mut errors);
});
