//! Paths inside a source: absolute, `/`-separated, raw bytes.

use std::fmt;

/// An absolute path inside a [`Source`](crate::Source), as raw bytes.
///
/// Names on disks are not always UTF-8 (Linux names are bytes, NTFS names are
/// UTF-16 that may hold unpaired surrogates, kept here as WTF-8), so a path is
/// bytes and only its display is lossy. Components are separated by `/`; the
/// root is `/`. A `SourcePath` never holds empty, `.` or `..` components.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourcePath(Vec<u8>);

impl SourcePath {
    /// The root of the source, `/`.
    pub fn root() -> Self {
        SourcePath(b"/".to_vec())
    }

    /// Builds a path from `/`-separated bytes, dropping empty and `.`
    /// components; `None` if a component is `..` (a source path never climbs).
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let mut path = SourcePath::root();
        for component in bytes.split(|b| *b == b'/') {
            match component {
                b"" | b"." => continue,
                b".." => return None,
                name => path = path.join(name),
            }
        }
        Some(path)
    }

    /// This path with one more component; `name` must not contain `/`.
    pub fn join(&self, name: &[u8]) -> Self {
        let mut bytes = Vec::with_capacity(self.0.len() + 1 + name.len());
        bytes.extend_from_slice(&self.0);
        if bytes.last() != Some(&b'/') {
            bytes.push(b'/');
        }
        bytes.extend_from_slice(name);
        SourcePath(bytes)
    }

    /// The raw bytes, starting with `/`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes without the leading `/` (empty for the root): the form used
    /// below `files/` in the archive.
    pub fn relative(&self) -> &[u8] {
        &self.0[1..]
    }

    /// True for `/`.
    pub fn is_root(&self) -> bool {
        self.0.len() == 1
    }

    /// The components, root excluded.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.relative()
            .split(|b| *b == b'/')
            .filter(|c| !c.is_empty())
    }

    /// The last component (the file name); empty for the root.
    pub fn file_name(&self) -> &[u8] {
        self.components().last().unwrap_or(b"")
    }

    /// The path as text, with invalid UTF-8 replaced (for messages only).
    pub fn display(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }

    /// The path as UTF-8 text, if it is valid UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl fmt::Debug for SourcePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.display())
    }
}

impl fmt::Display for SourcePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalises_and_refuses_parent() {
        let path = SourcePath::parse(b"//var/./log//auth.log").expect("valid");
        assert_eq!(path.as_bytes(), b"/var/log/auth.log");
        assert_eq!(path.relative(), b"var/log/auth.log");
        assert_eq!(path.file_name(), b"auth.log");
        assert!(SourcePath::parse(b"/var/../etc").is_none());
        assert!(SourcePath::parse(b"/").expect("root").is_root());
    }

    #[test]
    fn join_keeps_raw_bytes() {
        let path = SourcePath::root().join(b"tmp").join(b"\xff\xfe");
        assert_eq!(path.as_bytes(), b"/tmp/\xff\xfe");
        assert_eq!(path.components().count(), 2);
    }
}
