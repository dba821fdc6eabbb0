//! The importers over the real definitions in `../shared/corpus/`: exact
//! counts of converted and failed definitions (each failure with its reason),
//! every written profile loaded back, and a hand-picked dozen checked glob by
//! glob against what the definition file says it takes.

use std::path::PathBuf;

use sealbag_common::profile::import::{
    import_artifacts, import_kape, write_profiles, Converted, ImportReport,
};
use sealbag_common::profile::Profile;

/// The corpus folder: `../shared/corpus` beside the checkout, or `$SEALBAG_CORPUS`.
fn corpus(sub: &str) -> Option<PathBuf> {
    let beside = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus"
    ));
    let candidates = [
        std::env::var_os("SEALBAG_CORPUS").map(PathBuf::from),
        Some(beside),
    ];
    for base in candidates.into_iter().flatten() {
        let dir = base.join(sub);
        if dir.is_dir() {
            return Some(dir);
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("corpus folder `{sub}` is missing (CI=true): ../shared/corpus must be beside the checkout");
    }
    eprintln!(
        "SKIP: corpus folder `{sub}` not found (../shared/corpus beside the checkout, or set SEALBAG_CORPUS); test NOT run"
    );
    None
}

fn find<'a>(report: &'a ImportReport, name: &str) -> &'a Converted {
    report
        .converted
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("profile `{name}` converted"))
}

/// `(target name, paths)` of a converted profile.
fn targets(c: &Converted) -> Vec<(&str, Vec<&str>)> {
    c.targets
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.paths.iter().map(String::as_str).collect(),
            )
        })
        .collect()
}

fn paths_of<'a>(c: &'a Converted, target: &str) -> Vec<&'a str> {
    c.targets
        .iter()
        .find(|t| t.name == target)
        .unwrap_or_else(|| panic!("target `{target}` in `{}`", c.name))
        .paths
        .iter()
        .map(String::as_str)
        .collect()
}

/// Writes every converted profile and loads each one back.
fn write_and_load_all(report: &ImportReport) {
    let dir = tempfile::tempdir().expect("tempdir");
    let outcomes = write_profiles(report, dir.path()).expect("output folder");
    assert_eq!(outcomes.len(), report.converted.len());
    for outcome in &outcomes {
        assert!(
            outcome.result.is_ok(),
            "{}: {:?}",
            outcome.name,
            outcome.result
        );
        let profile = Profile::load(&outcome.path.display().to_string())
            .unwrap_or_else(|e| panic!("{} loads: {e}", outcome.path.display()));
        assert_eq!(profile.name, outcome.name);
    }
}

#[test]
fn kapefiles_targets_convert_with_exact_counts() {
    let Some(targets_dir) = corpus("kapefiles/Targets") else {
        return;
    };
    let report = import_kape(&[targets_dir]).expect("readable");
    assert_eq!(report.converted.len() + report.failed.len(), 377);
    let failed: Vec<(&str, &str)> = report
        .failed
        .iter()
        .map(|f| (f.source.as_str(), f.reason.as_str()))
        .collect();
    assert_eq!(failed.len(), 3, "{failed:#?}");
    assert_eq!(report.converted.len(), 374);
    // Each failure is a regular expression globs cannot express.
    assert_eq!(
        failed[0].0,
        "!Disabled/DirectoryTraversal_SQLiteDatabases.tkape"
    );
    assert!(
        failed[0]
            .1
            .contains("`FileMask: regex:*.+\\.(db*|sqlite*|)` is a regular expression"),
        "{}",
        failed[0].1
    );
    assert_eq!(
        failed[1].0,
        "!Disabled/DirectoryTraversal_WordDocuments.tkape"
    );
    assert!(
        failed[1].1.contains("|wp*|tmd)` is a regular expression"),
        "{}",
        failed[1].1
    );
    assert_eq!(failed[2].0, "Windows/ExchangeCve-2021-26855.tkape");
    assert!(failed[2].1.starts_with("no entry could be converted: entry 1 `Exchange Server Modified Compiled Files` (line 8) dropped: `FileMask: Regex:*.\\b[a-zA-Z0-9_-]{8}\\b.compiled`"), "{}", failed[2].1);
    for f in &report.failed {
        assert!(!f.reason.trim().is_empty(), "{f:?}");
    }
    let with_notes = report
        .converted
        .iter()
        .filter(|c| !c.notes.is_empty())
        .count();
    assert_eq!(with_notes, 82);
    assert!(report.converted.iter().all(|c| c.os == "windows"));
    write_and_load_all(&report);
}

/// A dozen KAPE targets picked to cover each rule: plain Path + FileMask
/// (RegistryHivesSystem, Prefetch, EventLogs), `%user%` (RegistryHivesUser),
/// `Recursive` (RecycleBin_InfoFiles), NTFS metadata with AlwaysAddToQueue
/// and SaveAsFileName (`$MFT`, `$J`), literal braces in a path
/// (EventTraceLogs' WDI `{*`), compound targets (RegistryHives, KapeTriage
/// with its `Notepad` include next to `Notepad++`), the `%users%`
/// misspelling (BrowserCache), a converted regex FileMask in `!Disabled`
/// (DirectoryTraversal_PDFDocuments). Expected globs are read off the
/// `.tkape` files by hand.
#[test]
fn kapefiles_hand_picked_targets_take_what_their_files_say() {
    let Some(targets_dir) = corpus("kapefiles/Targets") else {
        return;
    };
    let report = import_kape(&[targets_dir]).expect("readable");

    let system = find(&report, "registry-hives-system");
    assert_eq!(system.source, "Windows/RegistryHivesSystem.tkape");
    assert_eq!(
        paths_of(system, "SAM registry hive"),
        [
            "/Windows/System32/config/SAM",
            "/Windows.old/Windows/System32/config/SAM"
        ]
    );
    assert_eq!(
        paths_of(system, "RegBack registry transaction files"),
        [
            "/Windows/System32/config/RegBack/*.LOG*",
            "/Windows.old/Windows/System32/config/RegBack/*.LOG*"
        ]
    );
    assert_eq!(
        paths_of(system, "System Restore Points Registry Hives (XP)"),
        ["/System Volume Information/_restore*/RP*/snapshot/_REGISTRY_*"]
    );
    // 41 entries under 20 distinct names (`grep Name: … | sort -u`).
    assert_eq!(system.targets.len(), 20);

    let user = find(&report, "registry-hives-user");
    assert_eq!(
        paths_of(user, "NTUSER.DAT registry hive XP"),
        ["/Documents and Settings/*/NTUSER.DAT*"]
    );
    assert_eq!(
        paths_of(user, "UsrClass.dat registry hive"),
        ["/Users/*/AppData/Local/Microsoft/Windows/UsrClass.dat*"]
    );

    let prefetch = find(&report, "prefetch");
    assert_eq!(
        targets(prefetch),
        [(
            "Prefetch",
            vec![
                "/Windows/prefetch/*.pf",
                "/Windows.old/Windows/prefetch/*.pf"
            ]
        )]
    );

    let logs = find(&report, "event-logs");
    assert_eq!(
        targets(logs),
        [
            ("Event logs XP", vec!["/Windows/System32/config/*.evt"]),
            (
                "Event logs Win7+",
                vec![
                    "/Windows/System32/winevt/logs/*.evtx",
                    "/Windows.old/Windows/System32/winevt/logs/*.evtx"
                ]
            ),
        ]
    );

    let recycle = find(&report, "recycle-bin-info-files");
    assert_eq!(
        paths_of(recycle, "Recycle Bin - Windows Vista+"),
        ["/$Recycle.Bin/**/$I*"]
    );
    assert_eq!(
        paths_of(recycle, "RECYCLER - WinXP"),
        ["/RECYCLE*/**/INFO2"]
    );

    let mft = find(&report, "mft");
    assert_eq!(targets(mft), [("$MFT", vec!["/$MFT"])]);
    assert!(mft.targets[0]
        .comments
        .iter()
        .any(|c| c.starts_with("KAPE AlwaysAddToQueue")));

    let j = find(&report, "j");
    assert_eq!(paths_of(j, "$J"), ["/$Extend/$UsnJrnl:$J", "/$Extend/$J"]);
    assert_eq!(
        j.notes
            .iter()
            .filter(|n| n.contains("SaveAsFileName"))
            .count(),
        4
    );
    assert_eq!(
        j.notes
            .iter()
            .filter(|n| n.contains("alternate data stream"))
            .count(),
        2
    );

    let trace = find(&report, "event-trace-logs");
    assert!(
        trace
            .targets
            .iter()
            .flat_map(|t| &t.paths)
            .any(|p| p == "/Windows/System32/WDI/[{]*/**/*"),
        "{:?}",
        targets(trace)
    );

    let hives = find(&report, "registry-hives");
    assert!(hives.targets.is_empty());
    assert_eq!(
        hives.include,
        [
            "registry-hives-system",
            "registry-hives-user",
            "registry-hives-msix-apps"
        ]
    );

    let triage = find(&report, "kape-triage");
    assert_eq!(triage.include.len(), 18);
    assert!(triage.include.contains(&"notepad".to_string()));
    assert!(report
        .converted
        .iter()
        .any(|c| c.name == "notepad-plus-plus"));
    assert!(triage.notes.is_empty(), "{:?}", triage.notes);

    let cache = find(&report, "browser-cache");
    assert!(cache.notes.iter().any(|n| n.contains("`%users%`")));
    assert!(cache
        .targets
        .iter()
        .flat_map(|t| &t.paths)
        .any(|p| p == "/Users/*/AppData/Local/BraveSoftware/Brave-Browser/User Data/Default/Cache/Cache_Data/**/*"));

    let pdf = find(&report, "disabled-directory-traversal-pdf-documents");
    assert_eq!(
        targets(pdf),
        [("PDF and PDF-like Documents", vec!["/**/*.{pdf,xps,oxps}"])]
    );
}

#[test]
fn forensicartifacts_convert_with_exact_counts() {
    let Some(data) = corpus("forensicartifacts/data") else {
        return;
    };
    let report = import_artifacts(&[data]).expect("readable");
    assert_eq!(report.converted.len() + report.failed.len(), 731);
    assert_eq!(report.converted.len(), 524);
    assert_eq!(report.failed.len(), 207);
    let with_notes = report
        .converted
        .iter()
        .filter(|c| !c.notes.is_empty())
        .count();
    assert_eq!(with_notes, 120);
    let count = |prefix: &str| {
        report
            .failed
            .iter()
            .filter(|f| f.reason.starts_with(prefix))
            .count()
    };
    assert_eq!(
        count("no FILE, PATH or ARTIFACT_GROUP source; not convertible: "),
        205
    );
    assert_eq!(count("nothing left to collect: "), 2);
    let counts: Vec<(&str, usize)> = report
        .not_convertible
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        counts,
        [
            ("COMMAND", 10),
            ("REGISTRY_KEY", 57),
            ("REGISTRY_VALUE", 116),
            ("WMI", 27)
        ]
    );
    let os = |o: &str| report.converted.iter().filter(|c| c.os == o).count();
    assert_eq!(
        (os("windows"), os("linux"), os("macos"), os("any")),
        (114, 167, 137, 106)
    );
    write_and_load_all(&report);
}

/// Hand-picked artifacts: Windows FILE sources with `%%environ_systemroot%%`
/// (WindowsActiveDirectoryDatabaseFile, WindowsEventLogs), per-user
/// variables (WindowsActivitiesCacheDatabase), a plain Linux file
/// (LinuxPasswdFile), a multi-OS group (BrowserHistory), a registry-only
/// artifact (WindowsActiveDesktop). Expected globs read off the YAML by hand.
#[test]
fn forensicartifacts_hand_picked() {
    let Some(data) = corpus("forensicartifacts/data") else {
        return;
    };
    let report = import_artifacts(&[data]).expect("readable");
    let ntds = find(&report, "windows-active-directory-database-file");
    assert_eq!(ntds.os, "windows");
    assert_eq!(
        targets(ntds),
        [(
            "WindowsActiveDirectoryDatabaseFile",
            vec![
                "/Windows/ntds/ntds.dit",
                "/Windows/ServicePackFiles/*/ntds.dit*",
                "/Windows/SoftwareDistribution/Download/*/*/ntds.dit*",
                "/Windows/System32/ntds.dit",
            ]
        )]
    );
    let cache = find(&report, "windows-activities-cache-database");
    assert_eq!(
        cache.targets[0].paths,
        [
            "/Users/*/AppData/Local/ConnectedDevicesPlatform/L.*/ActivitiesCache.db",
            "/Documents and Settings/*/Local Settings/Application Data/ConnectedDevicesPlatform/L.*/ActivitiesCache.db",
        ]
    );
    let passwd = find(&report, "linux-passwd-file");
    assert_eq!(
        (passwd.os, targets(passwd)),
        ("linux", vec![("LinuxPasswdFile", vec!["/etc/passwd"])])
    );
    let evtx = find(&report, "windows-event-logs");
    assert_eq!(
        evtx.targets[0].paths,
        [
            "/Windows/System32/config/*.evt",
            "/Windows/System32/winevt/Logs/*.evtx"
        ]
    );
    let history = find(&report, "browser-history");
    assert!(history.targets.is_empty());
    assert_eq!(
        &history.include[..3],
        [
            "chromium-based-browsers-history-database-file",
            "firefox-history",
            "firefox-downloads"
        ]
    );
    let failed = report
        .failed
        .iter()
        .find(|f| f.name == "WindowsActiveDesktop")
        .expect("registry only");
    assert_eq!(
        failed.reason,
        "no FILE, PATH or ARTIFACT_GROUP source; not convertible: 1 REGISTRY_KEY"
    );
}
