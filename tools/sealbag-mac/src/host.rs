//! Facts about the collecting Mac, for the chain of custody.
//!
//! Read from files (`SystemVersion.plist`, the `/etc/localtime` link) so the
//! code is portable; a missing file leaves the field empty.

use sealbag_common::archive::HostFacts;

/// `ProductName ProductVersion (ProductBuildVersion)` from a `SystemVersion.plist`.
pub fn product_version(plist_bytes: &[u8]) -> Option<String> {
    let parsed = crate::plist::parse_bytes(plist_bytes).ok()?;
    let get = |key: &str| parsed.value.get(key).and_then(|v| v.as_str());
    let version = get("ProductVersion")?;
    let name = get("ProductName").unwrap_or("macOS");
    Some(match get("ProductBuildVersion") {
        Some(build) => format!("{name} {version} ({build})"),
        None => format!("{name} {version}"),
    })
}

fn read_small(path: &str) -> Option<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(1 << 20).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

fn timezone() -> Option<String> {
    if let Ok(tz) = std::env::var("TZ") {
        if !tz.is_empty() {
            return Some(tz);
        }
    }
    let target = std::fs::read_link("/etc/localtime").ok()?;
    let text = target.to_string_lossy().into_owned();
    Some(
        text.split_once("zoneinfo/")
            .map_or(text.clone(), |(_, zone)| zone.to_string()),
    )
}

/// Everything this machine tells about itself without privileges or FFI.
pub fn facts() -> HostFacts {
    HostFacts {
        hostname: gethostname::gethostname().to_string_lossy().into_owned(),
        os: std::env::consts::OS.into(),
        os_release: read_small("/System/Library/CoreServices/SystemVersion.plist")
            .and_then(|b| product_version(&b)),
        kernel: None,
        timezone: timezone(),
        boot_time: None,
        user: std::env::var("USER").ok(),
    }
}

/// Facts for a collection from an image: the examiner's machine is not the
/// evidence, so only the OS family and the image's name are set.
pub fn image_facts(image: &std::path::Path) -> HostFacts {
    HostFacts {
        hostname: image
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        os: "macos".into(),
        os_release: None,
        kernel: None,
        timezone: None,
        boot_time: None,
        user: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_system_version() {
        let plist = br#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>ProductBuildVersion</key><string>23A344</string>
<key>ProductName</key><string>macOS</string>
<key>ProductVersion</key><string>14.0</string>
</dict></plist>"#;
        assert_eq!(product_version(plist), Some("macOS 14.0 (23A344)".into()));
        assert_eq!(product_version(b"garbage"), None);
    }
}
