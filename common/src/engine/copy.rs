//! Reads a file for the archive: exactly the listed size, hashed on the way.
//!
//! A tar header promises a size before the data follows, but a live file may
//! shrink, grow or fail half-way. This reader always gives exactly the
//! promised number of bytes (zero-filling what could not be read), hashes
//! what it gives, and remembers what went wrong so the manifest can say it.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

use super::stop::StopSignal;
use crate::archive::Status;

/// How the copy of one file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOutcome {
    /// SHA-256 (hex) of the bytes given to the archive.
    pub sha256: String,
    /// Bytes that really came from the source.
    pub bytes_read: u64,
    /// `Ok`, or `Partial` when bytes were zero-filled.
    pub status: Status,
    /// Why the copy is partial.
    pub error: Option<String>,
    /// A remark that does not make the copy partial (the file grew).
    pub note: Option<String>,
}

/// Sees every byte the copy gives to the archive, in order: more hashes
/// and a scan buffer for indicator matching, in the same read.
pub trait Tap {
    /// Called with each run of bytes given (zero-fill included).
    fn update(&mut self, bytes: &[u8]);
}

/// Wraps a source reader; see the module documentation.
pub struct CopyReader<'a> {
    inner: &'a mut dyn Read,
    size: u64,
    given: u64,
    bytes_read: u64,
    hasher: Sha256,
    failure: Option<String>,
    stop: &'a StopSignal,
    tap: Option<&'a mut dyn Tap>,
    /// Whether the end of the source is known: the last read asked for one
    /// byte more than was left and got exactly what was left (grown: `Some(true)`).
    end_seen: Option<bool>,
}

impl<'a> CopyReader<'a> {
    /// Reads `size` bytes of `inner`, watching `stop`.
    pub fn new(inner: &'a mut dyn Read, size: u64, stop: &'a StopSignal) -> Self {
        CopyReader {
            inner,
            size,
            given: 0,
            bytes_read: 0,
            hasher: Sha256::new(),
            failure: None,
            stop,
            tap: None,
            end_seen: None,
        }
    }

    /// Also gives every byte to `tap` (IOC hashes, a YARA buffer).
    pub fn with_tap(mut self, tap: &'a mut dyn Tap) -> Self {
        self.tap = Some(tap);
        self
    }

    /// Ends the copy: checks whether the file grew, and reports.
    pub fn finish(self) -> CopyOutcome {
        let mut note = None;
        if self.failure.is_none() && self.given == self.size {
            // The last read usually tells (one system call fewer per file);
            // otherwise ask for one more byte.
            let grew = match self.end_seen {
                Some(grew) => grew,
                None => {
                    let mut probe = [0u8; 1];
                    matches!(read_retrying(self.inner, &mut probe), Ok(n) if n > 0)
                }
            };
            if grew {
                note = Some(format!(
                    "grew while read; the first {} bytes (its size when listed) were kept",
                    self.size
                ));
            }
        }
        let status = if self.failure.is_some() {
            Status::Partial
        } else {
            Status::Ok
        };
        CopyOutcome {
            sha256: crate::profile::hex(&self.hasher.finalize()),
            bytes_read: self.bytes_read,
            status,
            error: self.failure,
            note,
        }
    }

    fn fail(&mut self, why: String) {
        if self.failure.is_none() {
            self.failure = Some(format!(
                "{why}; bytes {}..{} zero-filled",
                self.bytes_read, self.size
            ));
        }
    }
}

fn read_retrying(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

impl Read for CopyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let remaining = self.size - self.given;
        if remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let remaining = usize::try_from(remaining).unwrap_or(usize::MAX);
        let want = buf.len().min(remaining);
        // Room for one byte more than is left: ask for it, to learn in the
        // same call whether the file ends where it was listed to.
        let ask = if buf.len() > remaining {
            remaining + 1
        } else {
            want
        };
        if self.failure.is_none() {
            if let Some(reason) = self.stop.reason() {
                self.fail(format!("collection stopped: {}", reason.describe()));
            }
        }
        let n = if self.failure.is_some() {
            buf[..want].fill(0);
            want
        } else {
            match read_retrying(self.inner, &mut buf[..ask]) {
                Ok(0) => {
                    self.fail(format!(
                        "shrank while read: listed as {} bytes, ended after {}",
                        self.size, self.bytes_read
                    ));
                    buf[..want].fill(0);
                    want
                }
                Ok(n) => {
                    let n = if ask > remaining && n > remaining {
                        // The extra byte is not given: the file grew.
                        self.end_seen = Some(true);
                        remaining
                    } else {
                        if ask > remaining && n == remaining {
                            self.end_seen = Some(false);
                        }
                        n
                    };
                    self.bytes_read += n as u64;
                    n
                }
                Err(e) => {
                    self.fail(format!("read error at offset {}: {e}", self.bytes_read));
                    buf[..want].fill(0);
                    want
                }
            }
        };
        self.hasher.update(&buf[..n]);
        if let Some(tap) = self.tap.as_mut() {
            tap.update(&buf[..n]);
        }
        self.given += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(data: &[u8], size: u64) -> (Vec<u8>, CopyOutcome) {
        let stop = StopSignal::new();
        let mut src: &[u8] = data;
        let mut reader = CopyReader::new(&mut src, size, &stop);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).expect("never fails");
        (out, reader.finish())
    }

    #[test]
    fn exact_file_is_ok() {
        let (out, outcome) = copy(b"hello", 5);
        assert_eq!(out, b"hello");
        assert_eq!(outcome.status, Status::Ok);
        assert_eq!(
            outcome.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(outcome.note, None);
    }

    #[test]
    fn shrunk_file_is_zero_filled_and_partial() {
        let (out, outcome) = copy(b"hel", 5);
        assert_eq!(out, b"hel\0\0");
        assert_eq!(outcome.status, Status::Partial);
        assert_eq!(outcome.bytes_read, 3);
        assert!(outcome.error.expect("error").contains("shrank"));
    }

    #[test]
    fn grown_file_keeps_listed_size_with_note() {
        let (out, outcome) = copy(b"hello world", 5);
        assert_eq!(out, b"hello");
        assert_eq!(outcome.status, Status::Ok);
        assert!(outcome.note.expect("note").contains("grew"));
    }

    #[test]
    fn a_small_file_is_read_whole_and_its_end_seen_in_one_call() {
        struct Counting<'a>(&'a [u8], usize);
        impl Read for Counting<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.1 += 1;
                self.0.read(buf)
            }
        }
        let stop = StopSignal::new();
        for (data, grew) in [(&b"hello"[..], false), (&b"hello!"[..], true)] {
            let mut src = Counting(data, 0);
            let mut reader = CopyReader::new(&mut src, 5, &stop);
            let mut buf = [0u8; 64];
            assert_eq!(reader.read(&mut buf).expect("read"), 5);
            assert_eq!(&buf[..5], b"hello");
            assert_eq!(reader.read(&mut buf).expect("read"), 0);
            let outcome = reader.finish();
            assert_eq!(outcome.note.is_some(), grew);
            assert_eq!(outcome.bytes_read, 5);
            assert_eq!(src.1, 1, "no second read to probe the end");
        }
    }

    #[test]
    fn read_error_is_partial() {
        struct Broken(u8);
        impl Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("bad sector"));
                }
                self.0 -= 1;
                buf[0] = b'x';
                Ok(1)
            }
        }
        let stop = StopSignal::new();
        let mut src = Broken(2);
        let mut reader = CopyReader::new(&mut src, 4, &stop);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).expect("never fails");
        assert_eq!(out, b"xx\0\0");
        let outcome = reader.finish();
        assert_eq!(outcome.status, Status::Partial);
        assert!(outcome
            .error
            .expect("error")
            .contains("read error at offset 2: bad sector"));
    }
}
