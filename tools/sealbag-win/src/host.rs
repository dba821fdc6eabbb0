//! Facts about the collecting machine, for the chain of custody.

use sealbag_common::archive::HostFacts;

/// Facts for a collection from an image: the examiner's machine is not the
/// evidence, so only the OS family of the evidence is set.
pub fn image_facts() -> HostFacts {
    HostFacts {
        hostname: String::new(),
        os: "windows".into(),
        os_release: None,
        kernel: None,
        timezone: None,
        boot_time: None,
        user: None,
    }
}

/// Facts about the running Windows host.
pub fn live_facts() -> HostFacts {
    HostFacts {
        hostname: gethostname::gethostname().to_string_lossy().into_owned(),
        os: "windows".into(),
        os_release: None,
        kernel: None,
        timezone: std::env::var("TZ").ok(),
        boot_time: None,
        user: std::env::var("USERNAME").ok(),
    }
}
