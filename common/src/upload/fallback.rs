//! `--fallback-output DIR`: the sealed archive written to a local file as
//! it is uploaded, so an upload that fails for good loses nothing.
//!
//! The ciphertext (never plaintext: it is age-encrypted before it gets
//! here) is teed into a new file in DIR (created with `create_new`, with the
//! `--reserve` file beside it, as a local output). Then:
//! - the store acknowledges the whole upload (multipart completed, block
//!   list put, PUT answered 2xx): the local copy is synced, then deleted;
//! - the upload fails mid-run: sending stops, the collection goes on into
//!   the local copy to its end (a dead network does not cut it short), the
//!   copy is synced and kept, and the run says so;
//! - the store could not be reached at all: the local copy is the only
//!   output from the first byte.
//!
//! If the local copy's disk fills while the upload is healthy, the local
//! copy is given up (deleted) and the upload goes on alone; if the upload
//! has already failed, a full disk stops the collection the way it stops a
//! local output (the reserve gives the room to finish the archive).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::Upload;
use crate::archive::OutputFile;
use crate::engine::{StopReason, StopSignal};

/// What became of an upload that had a local fallback.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    /// The object (URL without any signature).
    pub object: String,
    /// The store acknowledged the whole upload.
    pub uploaded: bool,
    /// Why the upload failed, when it did.
    pub error: Option<String>,
    /// The local copy, when it is kept (the upload failed): the file, or
    /// with `--split` the index of its parts.
    pub kept_locally: Option<PathBuf>,
}

/// The upload and its local copy; see the module documentation.
pub struct Fallback {
    object: String,
    upload: Option<Upload>,
    upload_error: Option<String>,
    local: Option<OutputFile>,
    local_path: PathBuf,
    /// The split index of the local copy, when it is split.
    local_index: Option<PathBuf>,
    /// Set by the local copy's own reserve logic when its disk fills.
    local_stop: StopSignal,
    /// The run's stop signal.
    stop: StopSignal,
}

impl Fallback {
    /// Tees into `local` (created by the caller with `local_stop` as its
    /// stop signal) while `upload` sends; `upload` is `Err` with the reason
    /// when the store could not be reached at all.
    pub fn new(
        object: String,
        upload: Result<Upload, String>,
        local: OutputFile,
        local_stop: StopSignal,
        stop: StopSignal,
    ) -> Self {
        let local_path = local.path().to_path_buf();
        let local_index = local.index_path();
        let (upload, upload_error) = match upload {
            Ok(upload) => (Some(upload), None),
            Err(reason) => {
                tracing::error!(
                    object = %object,
                    kept = %local_path.display(),
                    "UPLOAD FAILED before it started: {reason}; the sealed archive goes to the local fallback {} instead",
                    local_path.display()
                );
                (None, Some(reason))
            }
        };
        Fallback {
            object,
            upload,
            upload_error,
            local: Some(local),
            local_path,
            local_index,
            local_stop,
            stop,
        }
    }

    /// The local copy's path.
    pub fn local_path(&self) -> &Path {
        &self.local_path
    }

    /// Gives up the local copy (its disk is full or failing) while the
    /// upload goes on.
    fn drop_local(&mut self, why: &str) {
        if self.local.take().is_some() {
            remove_copy(&self.local_path);
            tracing::warn!(
                local = %self.local_path.display(),
                "the local fallback copy was given up ({why}); the upload goes on without one"
            );
        }
    }

    /// Syncs the local copy and completes the upload; deletes the copy when
    /// the store has the whole archive, keeps it otherwise. `Err` only when
    /// neither the store nor the local copy has the archive.
    pub fn finish_sealed(mut self, sha256: &str, bytes: u64) -> io::Result<Delivery> {
        let local = match self.local.take() {
            Some(local) => match local.finish_sealed(sha256, bytes) {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(local = %self.local_path.display(), "cannot finish the local fallback copy: {e}");
                    remove_copy(&self.local_path);
                    false
                }
            },
            None => false,
        };
        if let Some(upload) = self.upload.take() {
            match upload.finish_sealed(sha256, bytes) {
                Ok(uploaded) => {
                    tracing::info!(
                        object = %uploaded.object,
                        parts = uploaded.parts,
                        etag = uploaded.etag.as_deref().unwrap_or(""),
                        bytes,
                        sha256,
                        "upload complete"
                    );
                    if local {
                        remove_copy(&self.local_path);
                        tracing::info!(local = %self.local_path.display(), "the store has the whole archive: the local fallback copy was deleted");
                    }
                    return Ok(Delivery {
                        object: self.object,
                        uploaded: true,
                        error: None,
                        kept_locally: None,
                    });
                }
                Err(e) => {
                    tracing::error!(object = %self.object, "UPLOAD FAILED: {e}");
                    self.upload_error = Some(e.to_string());
                }
            }
        }
        let error = self
            .upload_error
            .unwrap_or_else(|| "the upload stopped".into());
        if !local {
            return Err(io::Error::other(format!(
                "the upload to {} failed ({error}) and the local fallback copy was given up: the archive is lost",
                self.object
            )));
        }
        let kept = self.local_index.unwrap_or(self.local_path);
        tracing::error!(
            object = %self.object,
            kept = %kept.display(),
            bytes,
            sha256,
            "the upload failed: the sealed archive is kept locally at {}",
            kept.display()
        );
        Ok(Delivery {
            object: self.object,
            uploaded: false,
            error: Some(error),
            kept_locally: Some(kept),
        })
    }
}

/// Deletes a local copy: the file, or a split copy's parts and index.
fn remove_copy(path: &Path) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(crate::archive::index_path(path));
    for n in 0.. {
        if std::fs::remove_file(crate::archive::part_path(path, n)).is_err() {
            break;
        }
    }
}

impl Write for Fallback {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(local) = self.local.as_mut() {
            let written = local.write_all(buf);
            if let Err(e) = written {
                if self.upload.is_none() {
                    return Err(e);
                }
                self.drop_local(&format!("cannot write it: {e}"));
            } else if self.local_stop.is_set() {
                if self.upload.is_some() {
                    self.drop_local("its disk is full");
                } else if !self.stop.is_set() {
                    // The only output left is full: finish the archive in the reserve.
                    self.stop.request(StopReason::DiskFull);
                }
            }
        }
        if let Some(upload) = self.upload.as_mut() {
            if let Err(e) = upload.write_all(buf) {
                self.upload = None;
                if self.local.is_none() {
                    return Err(e);
                }
                tracing::error!(
                    object = %self.object,
                    kept = %self.local_path.display(),
                    "UPLOAD FAILED: {e}; the collection goes on into the local fallback copy {}",
                    self.local_path.display()
                );
                self.upload_error = Some(e.to_string());
                if self.local_stop.is_set() && !self.stop.is_set() {
                    self.stop.request(StopReason::DiskFull);
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(local) = self.local.as_mut() {
            if let Err(e) = local.flush() {
                if self.upload.is_none() {
                    return Err(e);
                }
                self.drop_local(&format!("cannot write it: {e}"));
            }
        }
        Ok(())
    }
}
