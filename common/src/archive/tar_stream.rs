//! A streaming POSIX tar writer (ustar with PAX extended headers).
//!
//! PAX records carry what ustar cannot: names longer than 100 bytes or not
//! valid UTF-8 (with `hdrcharset=BINARY`, which GNU tar honours), times with
//! nanoseconds (`mtime`, `atime`, `ctime`), sizes of 8 GiB and more. The
//! writer is finished explicitly and never does fallible work in `Drop`.

use std::io::{self, Read, Write};

use crate::source::{Metadata, Timestamp};

const BLOCK: usize = 512;
/// Largest size the ustar octal field holds.
const USTAR_MAX_SIZE: u64 = 0o77777777777;
/// Largest id the ustar octal field holds.
const USTAR_MAX_ID: u64 = 0o7777777;

/// The kinds of entry this writer emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
}

/// Files at least this large are sampled for whether they compress.
const SAMPLED_MIN: u64 = 1 << 20;
/// The sample: the start of the file.
const SAMPLE: usize = 64 * 1024;

/// A writer under the tar stream that may store incompressible file data
/// as it is instead of compressing it (see [`Compress`](super::layers::Compress)).
pub trait StoreIncompressible: Write {
    /// Given the start of a large file's data, decides whether to store the
    /// file uncompressed; true until [`end_stored`](Self::end_stored).
    fn begin_file_data(&mut self, _sample: &[u8]) -> io::Result<bool> {
        Ok(false)
    }
    /// The stored file's data is written: compress again.
    fn end_stored(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StoreIncompressible for Vec<u8> {}

/// Writes tar entries to `W`.
pub struct TarStream<W: StoreIncompressible> {
    out: W,
    /// The copy buffer, allocated once: a fresh zeroed 256 KiB per entry
    /// cost more than reading a small file.
    buf: Vec<u8>,
}

impl<W: StoreIncompressible> TarStream<W> {
    /// A tar stream into `out`.
    pub fn new(out: W) -> Self {
        TarStream {
            out,
            buf: Vec::new(),
        }
    }

    /// The inner writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Appends one entry; `data` must yield exactly `size` bytes.
    pub fn append(
        &mut self,
        path: &[u8],
        kind: EntryType,
        size: u64,
        metadata: Option<&Metadata>,
        link_target: Option<&[u8]>,
        data: &mut dyn Read,
    ) -> io::Result<()> {
        let mut pax: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut binary = false;
        let fits = |bytes: &[u8], room: usize| {
            bytes.len() <= room && bytes.is_ascii() && !bytes.contains(&0)
        };
        if !fits(path, 100) {
            binary |= std::str::from_utf8(path).is_err();
            pax.push(("path", path.to_vec()));
        }
        if let Some(target) = link_target {
            if !fits(target, 100) {
                binary |= std::str::from_utf8(target).is_err();
                pax.push(("linkpath", target.to_vec()));
            }
        }
        if size > USTAR_MAX_SIZE {
            pax.push(("size", size.to_string().into_bytes()));
        }
        let times = metadata.map(|m| m.times).unwrap_or_default();
        let mtime = times.modified.unwrap_or_else(Timestamp::now);
        pax.push(("mtime", mtime.to_pax().into_bytes()));
        if let Some(atime) = times.accessed {
            pax.push(("atime", atime.to_pax().into_bytes()));
        }
        if let Some(ctime) = times.changed {
            pax.push(("ctime", ctime.to_pax().into_bytes()));
        }
        let uid = metadata.and_then(|m| m.uid).unwrap_or(0);
        let gid = metadata.and_then(|m| m.gid).unwrap_or(0);
        if uid > USTAR_MAX_ID {
            pax.push(("uid", uid.to_string().into_bytes()));
        }
        if gid > USTAR_MAX_ID {
            pax.push(("gid", gid.to_string().into_bytes()));
        }
        if binary {
            pax.insert(0, ("hdrcharset", b"BINARY".to_vec()));
        }
        self.write_pax(path, &pax)?;

        let mut header = tar::Header::new_ustar();
        set_name(&mut header.as_old_mut().name, path);
        header.set_entry_type(match kind {
            EntryType::File => tar::EntryType::Regular,
            EntryType::Symlink => tar::EntryType::Symlink,
        });
        header.set_size(size.min(USTAR_MAX_SIZE));
        let default_mode = if kind == EntryType::Symlink {
            0o777
        } else {
            0o644
        };
        header.set_mode(
            metadata
                .and_then(|m| m.mode)
                .map_or(default_mode, |m| m & 0o7777),
        );
        header.set_uid(uid.min(USTAR_MAX_ID));
        header.set_gid(gid.min(USTAR_MAX_ID));
        header.set_mtime(u64::try_from(mtime.secs).unwrap_or(0).min(USTAR_MAX_SIZE));
        if let Some(target) = link_target {
            set_name(&mut header.as_old_mut().linkname, target);
        }
        header.set_cksum();
        self.out.write_all(header.as_bytes())?;

        let mut copied = 0;
        let mut stored = false;
        if kind == EntryType::File && size >= SAMPLED_MIN {
            if self.buf.len() < SAMPLE {
                self.buf.resize(SAMPLE, 0);
            }
            let sampled = read_up_to(data, &mut self.buf[..SAMPLE])?;
            stored = self.out.begin_file_data(&self.buf[..sampled])?;
            self.out.write_all(&self.buf[..sampled])?;
            copied = sampled as u64;
        }
        copied += copy_exact(data, &mut self.out, size - copied, &mut self.buf)?;
        if stored {
            self.out.end_stored()?;
        }
        if copied != size {
            return Err(io::Error::other(format!(
                "entry data ended after {copied} of {size} bytes"
            )));
        }
        self.pad(size)
    }

    fn write_pax(&mut self, path: &[u8], records: &[(&str, Vec<u8>)]) -> io::Result<()> {
        let mut body = Vec::new();
        for (key, value) in records {
            // "<len> <key>=<value>\n", where len counts its own digits.
            let rest = key.len() + value.len() + 3;
            let mut len = rest + 1;
            while len.to_string().len() + rest != len {
                len = len.to_string().len() + rest;
            }
            body.extend_from_slice(len.to_string().as_bytes());
            body.push(b' ');
            body.extend_from_slice(key.as_bytes());
            body.push(b'=');
            body.extend_from_slice(value);
            body.push(b'\n');
        }
        let mut header = tar::Header::new_ustar();
        let mut name = b"PaxHeaders/".to_vec();
        let base = path.rsplit(|b| *b == b'/').next().unwrap_or(b"");
        name.extend(
            base.iter()
                .copied()
                .filter(|b| b.is_ascii_graphic())
                .take(80),
        );
        set_name(&mut header.as_old_mut().name, &name);
        header.set_entry_type(tar::EntryType::XHeader);
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        self.out.write_all(header.as_bytes())?;
        self.out.write_all(&body)?;
        self.pad(body.len() as u64)
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % BLOCK as u64) as usize;
        if rem != 0 {
            self.out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    /// Writes the end-of-archive marker and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 2 * BLOCK])?;
        Ok(self.out)
    }
}

/// Puts as much of `bytes` as is safe into a fixed header field; the full
/// name is in the PAX record when it does not fit.
fn set_name(field: &mut [u8], bytes: &[u8]) {
    field.fill(0);
    let room = field.len();
    if bytes.len() <= room && bytes.is_ascii() && !bytes.contains(&0) {
        field[..bytes.len()].copy_from_slice(bytes);
    } else {
        for (slot, b) in field
            .iter_mut()
            .zip(
                bytes
                    .iter()
                    .map(|b| if b.is_ascii() && *b != 0 { *b } else { b'_' }),
            )
            .take(room - 1)
        {
            *slot = b;
        }
    }
}

/// Copies exactly `size` bytes (fewer if `data` ends early) through `buf`,
/// which grows to at most 256 KiB and is kept for the next entry.
/// Reads until `buf` is full or the data ends.
fn read_up_to(data: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match data.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn copy_exact(
    data: &mut dyn Read,
    out: &mut dyn Write,
    size: u64,
    buf: &mut Vec<u8>,
) -> io::Result<u64> {
    const MAX_BUF: usize = 256 * 1024;
    let wanted = usize::try_from(size).unwrap_or(MAX_BUF).min(MAX_BUF);
    if buf.len() < wanted {
        buf.resize(wanted, 0);
    }
    let mut copied = 0u64;
    while copied < size {
        let want = buf
            .len()
            .min(usize::try_from(size - copied).unwrap_or(usize::MAX));
        let n = match data.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        copied += n as u64;
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(path: &[u8], data: &[u8]) -> Vec<u8> {
        let mut tar = TarStream::new(Vec::new());
        let mut reader = data;
        tar.append(
            path,
            EntryType::File,
            data.len() as u64,
            None,
            None,
            &mut reader,
        )
        .expect("append");
        tar.finish().expect("finish")
    }

    #[test]
    fn long_and_binary_names_read_back() {
        let long = [
            b"files/".to_vec(),
            vec![b'a'; 300],
            b"/\xff\xfe.log".to_vec(),
        ]
        .concat();
        let bytes = archive(&long, b"payload");
        assert_eq!(bytes.len() % 512, 0);
        let mut reader = tar::Archive::new(&bytes[..]);
        let mut entries = reader.entries().expect("entries");
        let mut entry = entries.next().expect("one").expect("ok");
        assert_eq!(entry.path_bytes().as_ref(), &long[..]);
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read");
        assert_eq!(data, b"payload");
        let pax = String::from_utf8_lossy(&bytes[512..1024]).into_owned();
        assert!(pax.contains("hdrcharset=BINARY"), "{pax}");
    }

    #[test]
    fn pax_record_lengths_are_exact() {
        let bytes = archive(b"files/x", b"");
        let body = &bytes[512..1024];
        let text = String::from_utf8_lossy(body);
        let line = text.lines().next().expect("a record");
        let (len, _) = line.split_once(' ').expect("len");
        assert_eq!(len.parse::<usize>().expect("number"), line.len() + 1);
    }
}
