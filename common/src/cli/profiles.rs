//! `<tool> profiles`: the embedded profiles written for one operating system.

use crate::profile::{Profile, TargetOs, EMBEDDED};

/// Prints `name<TAB>description` of every embedded profile for `os` (or any
/// OS); an embedded profile that does not load is reported on stderr.
pub fn print_embedded_profiles(os: TargetOs) {
    for (name, _) in EMBEDDED {
        match Profile::load(name) {
            Ok(p) if p.os == os || p.os == TargetOs::Any => {
                println!("{name}\t{}", p.description);
            }
            Ok(_) => {}
            Err(e) => eprintln!("{name}: {e}"),
        }
    }
}
