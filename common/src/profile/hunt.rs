//! The `[ioc]` and `[sweep]` sections: what to hunt for while collecting.
//!
//! ```toml
//! [ioc]
//! files = ["iocs/case-042.txt", "iocs/opencti-bundle.json"]  # hash and name lists
//! yara = ["rules/"]                                          # needs a build with `yara`
//!
//! [sweep]
//! paths = ["/home", "/tmp", "/var/tmp"]   # walked; only files that hit are collected
//! max_file_size = "256MiB"                # default 512 MiB
//! ```
//!
//! Relative file names are taken from the profile's own folder (from the
//! current folder for embedded profiles). `--ioc`, `--yara` and `--sweep`
//! add to these.

use std::path::{Path, PathBuf};

use super::schema::{RawIoc, RawSweep};
use super::{at, parse_size, ProfileError};
use crate::glob::Glob;

/// `[ioc]`: indicator lists and YARA rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IocSection {
    /// Indicator lists (plain, CSV or STIX 2.1), resolved paths.
    pub files: Vec<PathBuf>,
    /// YARA rule files or folders, resolved paths.
    pub yara: Vec<PathBuf>,
}

/// `[sweep]`: trees walked for files that hit.
#[derive(Debug, Clone, Default)]
pub struct SweepSection {
    /// The trees (globs; a matched directory is swept whole).
    pub paths: Vec<Glob>,
    /// Files larger than this are not read (default: 512 MiB).
    pub max_file_size: Option<u64>,
}

pub(crate) fn build_ioc(dir: Option<&Path>, raw: Option<&RawIoc>) -> IocSection {
    let resolve = |p: &toml::Spanned<String>| {
        let path = Path::new(p.get_ref());
        match dir {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    };
    match raw {
        None => IocSection::default(),
        Some(raw) => IocSection {
            files: raw.files.iter().map(resolve).collect(),
            yara: raw.yara.iter().map(resolve).collect(),
        },
    }
}

pub(crate) fn build_sweep(
    text: &str,
    origin: &str,
    raw: Option<&RawSweep>,
) -> Result<SweepSection, ProfileError> {
    let Some(raw) = raw else {
        return Ok(SweepSection::default());
    };
    let paths = raw
        .paths
        .iter()
        .map(|p| Glob::parse(p.get_ref()).map_err(|e| at(text, origin, p.span(), e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let max_file_size = match &raw.max_file_size {
        None => None,
        Some(size) => {
            Some(parse_size(size.get_ref()).map_err(|e| at(text, origin, size.span(), e))?)
        }
    };
    Ok(SweepSection {
        paths,
        max_file_size,
    })
}

/// Adds an included profile's sections to the including one's (which wins
/// for the size cap).
pub(crate) fn merge(
    ioc: &mut IocSection,
    sweep: &mut SweepSection,
    included_ioc: IocSection,
    included_sweep: SweepSection,
) {
    for file in included_ioc.files {
        if !ioc.files.contains(&file) {
            ioc.files.push(file);
        }
    }
    for file in included_ioc.yara {
        if !ioc.yara.contains(&file) {
            ioc.yara.push(file);
        }
    }
    for glob in included_sweep.paths {
        if !sweep.paths.iter().any(|g| g.as_str() == glob.as_str()) {
            sweep.paths.push(glob);
        }
    }
    sweep.max_file_size = sweep.max_file_size.or(included_sweep.max_file_size);
}

#[cfg(test)]
mod tests {
    use super::super::Profile;

    #[test]
    fn sections_parse_resolve_and_locate_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("base.toml"),
            "name = \"base\"\n[ioc]\nfiles = [\"base.txt\"]\n[sweep]\npaths = [\"/tmp\"]\nmax_file_size = \"1MiB\"\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("top.toml"),
            "name = \"top\"\ninclude = [\"base.toml\"]\n[ioc]\nfiles = [\"top.csv\", \"/abs/x.json\"]\nyara = [\"rules\"]\n[sweep]\npaths = [\"/home\", \"/tmp\"]\n",
        )
        .expect("write");
        let profile =
            Profile::load(&dir.path().join("top.toml").display().to_string()).expect("load");
        assert_eq!(
            profile.ioc.files,
            [
                dir.path().join("top.csv"),
                std::path::PathBuf::from("/abs/x.json"),
                dir.path().join("base.txt")
            ]
        );
        assert_eq!(profile.ioc.yara, [dir.path().join("rules")]);
        let sweep: Vec<&str> = profile.sweep.paths.iter().map(|g| g.as_str()).collect();
        assert_eq!(sweep, ["/home", "/tmp"]);
        assert_eq!(profile.sweep.max_file_size, Some(1 << 20));

        let err = Profile::from_toml("name = \"x\"\n[sweep]\npaths = [\"home\"]\n", "x.toml")
            .expect_err("relative");
        assert_eq!((err.line, err.column), (Some(3), Some(10)));
        let err = Profile::from_toml("name = \"x\"\n[ioc]\nfile = [\"a\"]\n", "x.toml")
            .expect_err("unknown key");
        assert_eq!(err.line, Some(3));
    }
}
