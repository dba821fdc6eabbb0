//! `[[command]]` targets: programs run with their output captured under `live/`.
//!
//! Not implemented yet: each command is recorded as skipped, so a profile
//! that asks for one says so in the manifest instead of dropping it.

use super::{EngineOptions, Sink, SinkError};
use crate::archive::{ManifestRecord, Status};
use crate::profile::Profile;
use crate::source::{EntryKind, SourcePath};

/// Runs (for now: records) every command of the profile.
pub(crate) fn run_commands(
    profile: &Profile,
    sink: &mut dyn Sink,
    options: &EngineOptions,
    count: &mut dyn FnMut(&ManifestRecord),
) -> Result<(), SinkError> {
    for command in &profile.commands {
        if options.stop.is_set() {
            break;
        }
        let mut record = ManifestRecord::new(
            &SourcePath::root(),
            &command.name,
            EntryKind::Other,
            Status::Skipped,
        );
        record.path = format!("command:{}", command.argv.join(" "));
        record.error = Some("command targets are not implemented in this version".into());
        count(&record);
        sink.add_record(&record)?;
    }
    Ok(())
}
