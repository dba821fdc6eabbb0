//! A progress line on a terminal; silence when headless (MDM, EDR).

use indicatif::{ProgressBar, ProgressStyle};

use crate::archive::{ManifestRecord, Status};
use crate::engine::Observer;
use crate::profile::format_size;

/// Shows files and bytes collected so far.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A spinner on stderr if `show`, else nothing.
    pub fn new(show: bool) -> Self {
        let bar = show.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        Progress { bar }
    }

    /// Removes the line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn on_record(&self, record: &ManifestRecord) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if record.status == Status::Ok || record.status == Status::Partial {
                bar.inc_length(record.size.unwrap_or(0));
            }
            bar.set_message(format!(
                "{} entries, {} — {}",
                bar.position(),
                format_size(bar.length().unwrap_or(0)),
                record.path
            ));
        }
    }
}
