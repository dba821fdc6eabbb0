//! The committed `docs/profiles/<name>.md` pages are what `sealbag profile
//! docs` writes today. Only pages of profiles embedded in this build are
//! compared (profiles added elsewhere get their page when regenerated).

use std::path::PathBuf;

#[test]
fn committed_profile_pages_are_current() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/profiles"));
    let mut compared = 0;
    for entry in std::fs::read_dir(&dir).expect("docs/profiles exists") {
        let path = entry.expect("entry").path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".md"))
        else {
            continue;
        };
        if sealbag_common::profile::embedded(name).is_none() {
            continue;
        }
        let committed = std::fs::read_to_string(&path).expect("readable page");
        let current = sealbag::docs::page(name).expect("embedded profile loads");
        assert!(
            committed == current,
            "{} is stale\nhint: run `sealbag profile docs --output docs/profiles`",
            path.display()
        );
        compared += 1;
    }
    // linux-minimal and linux-triage are on every branch.
    assert!(compared >= 2, "only {compared} pages compared");
}

#[test]
fn page_lists_every_glob_of_linux_minimal() {
    let page = sealbag::docs::page("linux-minimal").expect("embedded");
    let profile = sealbag_common::profile::Profile::load("linux-minimal").expect("embedded");
    assert!(page.starts_with("# Profile `linux-minimal`\n"));
    for target in &profile.targets {
        assert!(page.contains(&format!("## Target `{}`", target.name)));
        for glob in &target.paths {
            assert!(
                page.contains(&format!("- `{}`\n", glob.as_str())),
                "{}",
                glob.as_str()
            );
        }
    }
}

#[test]
fn the_example_in_docs_profiles_md_loads() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/profiles.md"
    ))
    .expect("docs/profiles.md");
    let start = doc.find("```toml\n").expect("an example") + "```toml\n".len();
    let end = start + doc[start..].find("```").expect("closed");
    let profile = sealbag_common::profile::Profile::from_toml(&doc[start..end], "docs/profiles.md")
        .unwrap_or_else(|e| panic!("example loads: {e}"));
    assert_eq!(profile.name, "my-triage");
    // Its own `bodyfile` entry, plus whatever the included profile brings
    // (which already reads `processes`, so that one is taken once).
    let included = sealbag_common::profile::Profile::load("linux-minimal").expect("embedded");
    let own_new = ["etc timeline"]
        .iter()
        .filter(|name| !included.live.iter().any(|l| l.name == **name))
        .count();
    assert_eq!(profile.live.len(), included.live.len() + own_new);
    assert!(profile
        .live
        .iter()
        .any(|l| l.name == "etc timeline" && l.kind == "bodyfile"));
    assert_eq!(profile.commands.len(), 1);
}
