//! Any bytes as a whole disk: the MBR/EBR/GPT reader returns partitions or
//! an error naming the sector, never a panic, a loop or a huge allocation.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sealbag_common::source::read_partitions(&mut std::io::Cursor::new(data));
});
