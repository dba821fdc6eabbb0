//! Refuses to write the archive onto the volume being collected.
//!
//! Free space on a suspect's disk may still hold deleted files; every block
//! the archive takes there may overwrite some. A live collection therefore
//! refuses an output on the collected volume unless `--allow-same-volume`
//! says the responder accepts that. A `--root` tree only gets a warning: it
//! is usually a mounted image or a copy, and the collector cannot tell
//! which. Images are files and never the problem.

use std::path::Path;

use crate::source::SourceInfo;

/// A volume, as far as the collector can tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Volume {
    /// A Unix device number (`st_dev`).
    #[cfg_attr(not(unix), allow(dead_code))]
    Device(u64),
    /// A Windows drive letter, upper case.
    Drive(char),
}

/// Checks `output` against the source; `Err` is the message to show.
pub(crate) fn guard(output: &Path, source: &SourceInfo, allowed: bool) -> Result<(), String> {
    let strict = match source.kind.as_str() {
        "live" | "ntfs-live" => true,
        "tree" => false,
        _ => return Ok(()),
    };
    let (Some(out), Some(collected)) = (output_volume(output), source_volume(&source.location))
    else {
        return Ok(());
    };
    if out != collected {
        return Ok(());
    }
    let what = format!(
        "the archive {} would be written onto the volume being collected ({})",
        output.display(),
        source.location
    );
    if allowed {
        tracing::warn!("{what}; allowed by --allow-same-volume");
        Ok(())
    } else if strict {
        Err(format!(
            "{what}: its blocks may overwrite deleted evidence in free space\n\
             hint: write to other storage (`--output /mnt/usb/case.tar.zst.age`), stream it \
             (`--output - | ssh …`), or pass `--allow-same-volume` to accept the risk"
        ))
    } else {
        tracing::warn!("{what}; if that tree is evidence mounted read-write, write elsewhere");
        Ok(())
    }
}

/// The volume that will hold `output` (a file not yet created).
fn output_volume(output: &Path) -> Option<Volume> {
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    volume_of(&parent)
}

/// The volume of a source location: `\\.\C:` names a drive; anything else
/// is a path.
fn source_volume(location: &str) -> Option<Volume> {
    if let Some(device) = location.strip_prefix(r"\\.\") {
        return drive_letter(device);
    }
    volume_of(Path::new(location))
}

/// `C:…` → `C`.
fn drive_letter(text: &str) -> Option<Volume> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(letter), Some(':')) if letter.is_ascii_alphabetic() => {
            Some(Volume::Drive(letter.to_ascii_uppercase()))
        }
        _ => None,
    }
}

#[cfg(unix)]
fn volume_of(path: &Path) -> Option<Volume> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| Volume::Device(m.dev()))
}

#[cfg(windows)]
fn volume_of(path: &Path) -> Option<Volume> {
    let absolute = std::path::absolute(path).ok()?;
    let text = absolute.to_string_lossy();
    let text = text.strip_prefix(r"\\?\").unwrap_or(&text);
    drive_letter(text)
}

#[cfg(not(any(unix, windows)))]
fn volume_of(_: &Path) -> Option<Volume> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(kind: &str, location: &str) -> SourceInfo {
        SourceInfo {
            kind: kind.into(),
            location: location.into(),
            case_sensitive: true,
        }
    }

    #[test]
    fn drive_letters_come_from_device_names_and_paths() {
        assert_eq!(source_volume(r"\\.\c:"), Some(Volume::Drive('C')));
        assert_eq!(drive_letter(r"D:\cases\x.age"), Some(Volume::Drive('D')));
        assert_eq!(drive_letter("/tmp"), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_live_collection_refuses_its_own_volume_unless_allowed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let output = dir.path().join("out.age");
        let live = info("live", &dir.path().display().to_string());
        let refused = guard(&output, &live, false).expect_err("same volume");
        assert!(refused.contains("--allow-same-volume"), "{refused}");
        assert!(refused.contains("out.age"), "{refused}");
        guard(&output, &live, true).expect("allowed");
        guard(&output, &info("tree", &live.location), false).expect("a tree only warns");
        guard(&output, &info("ntfs-image", &live.location), false).expect("images are files");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn another_device_is_accepted() {
        // /proc is its own file system on every Linux machine.
        let live = info("live", "/proc");
        guard(Path::new("/tmp/x.age"), &live, false).expect("other device");
    }
}
