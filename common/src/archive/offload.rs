//! A pipeline stage: the writes of an inner writer run on their own thread.
//!
//! The collecting thread reads, hashes and frames files while zstd's
//! workers compress; encryption and the output's I/O would otherwise share
//! the collecting thread. `Offload` hands full buffers to a thread that owns
//! the inner writer, through a small bounded channel, so memory stays
//! bounded (a few buffers in flight) and both CPUs stay busy.

use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

/// Size of one buffer handed to the writing thread.
const CHUNK: usize = 256 * 1024;
/// Buffers in flight between the threads.
const DEPTH: usize = 4;

/// Writes to `W` on another thread; see the module documentation.
pub struct Offload<W: Write + Send + 'static> {
    buffer: Vec<u8>,
    sender: Option<SyncSender<Vec<u8>>>,
    handle: Option<JoinHandle<io::Result<W>>>,
}

impl<W: Write + Send + 'static> Offload<W> {
    /// Starts the writing thread with `inner`.
    pub fn new(inner: W) -> io::Result<Self> {
        Self::named(inner, "sealbag-writer")
    }

    /// Like [`new`](Self::new), naming the thread (seen in `top -H`, `perf`).
    pub fn named(inner: W, name: &str) -> io::Result<Self> {
        let (sender, receiver) = sync_channel::<Vec<u8>>(DEPTH);
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut inner = inner;
                for chunk in receiver {
                    inner.write_all(&chunk)?;
                }
                inner.flush()?;
                Ok(inner)
            })?;
        Ok(Offload {
            buffer: Vec::with_capacity(CHUNK),
            sender: Some(sender),
            handle: Some(handle),
        })
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        let sent = match &self.sender {
            Some(sender) => sender.send(chunk).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            // The writing thread stopped: its error says why.
            Err(self.join_error())
        }
    }

    fn join_error(&mut self) -> io::Error {
        self.sender = None;
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            Some(Ok(Ok(_))) => io::Error::other("the writing thread ended early"),
            Some(Err(_)) => io::Error::other("the writing thread panicked"),
            None => io::Error::other("the output already failed"),
        }
    }

    /// Sends what is buffered, waits for the thread, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.send()?;
        self.sender = None;
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the writing thread panicked")),
            None => Err(io::Error::other("the output already failed")),
        }
    }
}

impl<W: Write + Send + 'static> Write for Offload<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buffer.len();
        let n = buf.len().min(room);
        self.buffer.extend_from_slice(&buf[..n]);
        if self.buffer.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_every_byte_in_order() {
        let mut offload = Offload::new(Vec::new()).expect("thread");
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        for piece in data.chunks(7_777) {
            offload.write_all(piece).expect("write");
        }
        assert_eq!(offload.finish().expect("finish"), data);
    }

    #[test]
    fn reports_the_inner_error() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut offload = Offload::new(Full).expect("thread");
        let mut result = Ok(());
        for _ in 0..64 {
            result = offload.write_all(&[0u8; CHUNK]);
            if result.is_err() {
                break;
            }
        }
        let error = result
            .err()
            .or_else(|| offload.finish().err())
            .expect("an error");
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
    }
}
