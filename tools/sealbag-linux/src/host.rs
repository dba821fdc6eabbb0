//! Facts about the collecting Linux machine, for the chain of custody.
//!
//! Read from `/proc` and `/etc` directly; a missing file leaves the field empty.

use sealbag_common::archive::HostFacts;
use sealbag_common::source::Timestamp;

/// Reads a small text file, trimmed; `None` if absent or unreadable.
fn read_small(path: &str) -> Option<String> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    file.take(64 * 1024).read_to_string(&mut text).ok()?;
    let text = text.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// `PRETTY_NAME` from os-release text.
pub fn pretty_name(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|line| {
        let value = line.strip_prefix("PRETTY_NAME=")?;
        Some(value.trim_matches('"').to_string())
    })
}

/// Boot time from `/proc/stat` text (`btime SECONDS`).
pub fn boot_time(proc_stat: &str) -> Option<Timestamp> {
    proc_stat.lines().find_map(|line| {
        let secs = line.strip_prefix("btime ")?.trim().parse::<i64>().ok()?;
        Some(Timestamp::new(secs, 0))
    })
}

/// The configured time zone: `TZ`, `/etc/timezone`, or the `/etc/localtime` link.
fn timezone() -> Option<String> {
    if let Ok(tz) = std::env::var("TZ") {
        if !tz.is_empty() {
            return Some(tz);
        }
    }
    if let Some(tz) = read_small("/etc/timezone") {
        return Some(tz);
    }
    let target = std::fs::read_link("/etc/localtime").ok()?;
    let text = target.to_string_lossy().into_owned();
    Some(
        text.split_once("zoneinfo/")
            .map_or(text.clone(), |(_, zone)| zone.to_string()),
    )
}

/// Everything this machine tells about itself.
pub fn facts() -> HostFacts {
    let uid = read_small("/proc/self/status").and_then(|status| {
        status.lines().find_map(|l| {
            l.strip_prefix("Uid:")
                .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
        })
    });
    HostFacts {
        hostname: gethostname::gethostname().to_string_lossy().into_owned(),
        os: "linux".into(),
        os_release: read_small("/etc/os-release")
            .or_else(|| read_small("/usr/lib/os-release"))
            .and_then(|t| pretty_name(&t)),
        kernel: read_small("/proc/sys/kernel/osrelease"),
        timezone: timezone(),
        boot_time: read_small("/proc/stat").and_then(|t| boot_time(&t)),
        user: uid.map(|u| format!("uid {u}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_os_release_and_btime() {
        assert_eq!(
            pretty_name("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
            Some("Debian GNU/Linux 12 (bookworm)".into())
        );
        assert_eq!(pretty_name("NAME=x"), None);
        assert_eq!(
            boot_time("cpu 1 2\nbtime 1700000000\nprocesses 5\n"),
            Some(Timestamp::new(1_700_000_000, 0))
        );
        assert_eq!(boot_time("btime lots"), None);
    }
}
