//! Parses every MFT record of an NTFS image and prints how many per second
//! (the MFT enumeration rate `bench/ntfs.sh` reports):
//! `cargo run --release -p sealbag-win --example mft-rate -- IMAGE`.

fn main() {
    let Some(image) = std::env::args_os().nth(1) else {
        eprintln!("usage: mft-rate IMAGE");
        std::process::exit(2);
    };
    let volume = match sealbag_win::open_image(std::path::Path::new(&image), None) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let started = std::time::Instant::now();
    let total = volume.source.record_count();
    let (mut in_use, mut other) = (0u64, 0u64);
    for n in 0..total {
        match volume.source.probe_record(n) {
            Ok(true) => in_use += 1,
            _ => other += 1,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{total} records ({in_use} in-use base records, {other} other) in {secs:.3} s: {:.0} records/s",
        total as f64 / secs.max(1e-9)
    );
}
