//! `sealbag profile import-kape|import-artifacts`: write the profiles, print the summary.

use std::path::Path;

use sealbag_common::cli::Exit;
use sealbag_common::profile::import::{write_profiles, ImportReport};

/// Writes the converted profiles into `output`, prints every note, failure
/// and the totals on stderr and the written files on stdout; exit 0 when
/// everything converted and loads back, 1 when something failed.
pub fn finish(report: &ImportReport, output: &Path) -> Result<Exit, String> {
    let outcomes = write_profiles(report, output).map_err(|e| e.to_string())?;
    eprint!("{}", report.summary());
    let mut write_failures = 0usize;
    for outcome in &outcomes {
        match &outcome.result {
            Ok(()) => println!("{}", outcome.path.display()),
            Err(e) => {
                write_failures += 1;
                eprintln!("FAILED: {}: {e}", outcome.name);
            }
        }
    }
    eprintln!(
        "{} profiles written into {}",
        outcomes.len() - write_failures,
        output.display()
    );
    Ok(if report.failed.is_empty() && write_failures == 0 {
        Exit::Complete
    } else {
        Exit::WithErrors
    })
}
