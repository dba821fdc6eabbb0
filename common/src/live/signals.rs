//! Ctrl-C and SIGTERM: call a function on a normal thread when either
//! arrives, so the run can finish its archive.
//!
//! On Unix a self-pipe: the signal handler only writes one byte (`write` is
//! async-signal-safe), and a thread waiting on the pipe calls the function.
//! This replaces the `ctrlc` crate there, whose macOS backend (libdispatch
//! through `dispatch2`/`objc2`) needs Apple's SDK to link, which a Linux
//! build host does not have. On Windows `ctrlc` is kept (console control
//! handler).

/// Calls `handler` (on its own thread) at each SIGINT or SIGTERM (Windows:
/// Ctrl-C, Ctrl-Break, console close). Only one handler per process.
pub fn on_interrupt(handler: impl Fn() + Send + 'static) -> Result<(), String> {
    imp::install(handler)
}

#[cfg(unix)]
#[allow(unsafe_code)]
mod imp {
    use std::sync::atomic::{AtomicI32, Ordering};

    /// The pipe's write end; -1 until installed.
    static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

    extern "C" fn on_signal(_: libc::c_int) {
        let fd = PIPE_WRITE.load(Ordering::Relaxed);
        if fd >= 0 {
            // write(2) may set errno, which the interrupted code may be
            // about to read: keep it as it was.
            let saved = std::io::Error::last_os_error().raw_os_error();
            let byte = 1u8;
            // SAFETY: write(2) is async-signal-safe; `byte` lives for the
            // call; a full pipe (non-blocking) just drops this wake-up.
            unsafe {
                libc::write(fd, (&byte as *const u8).cast(), 1);
            }
            if let Some(errno) = saved {
                set_errno(errno);
            }
        }
    }

    /// Restores errno in the signal handler (async-signal-safe: a store to
    /// the thread's errno location).
    fn set_errno(value: libc::c_int) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        // SAFETY: __errno_location returns this thread's errno slot.
        unsafe {
            *libc::__errno_location() = value;
        }
        #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
        // SAFETY: __error returns this thread's errno slot.
        unsafe {
            *libc::__error() = value;
        }
        #[cfg(not(any(
            target_os = "linux",
            target_os = "android",
            target_os = "macos",
            target_os = "ios",
            target_os = "freebsd"
        )))]
        let _ = value;
    }

    pub fn install(handler: impl Fn() + Send + 'static) -> Result<(), String> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(format!("pipe: {}", std::io::Error::last_os_error()));
        }
        let [read_end, write_end] = fds;
        for fd in fds {
            // SAFETY: fcntl on descriptors we just created and own.
            unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        // SAFETY: as above; the write end must never block in the handler.
        unsafe {
            let flags = libc::fcntl(write_end, libc::F_GETFL);
            libc::fcntl(write_end, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        if PIPE_WRITE
            .compare_exchange(-1, write_end, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            // SAFETY: closing our own unused descriptors.
            unsafe {
                libc::close(read_end);
                libc::close(write_end);
            }
            return Err("a Ctrl-C/SIGTERM handler is already installed".into());
        }
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || loop {
                let mut byte = 0u8;
                // SAFETY: reads at most one byte into `byte`, which outlives the call.
                let n = unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) };
                if n == 1 {
                    handler();
                } else if n < 0
                    && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                {
                    continue;
                } else {
                    return;
                }
            })
            .map_err(|e| format!("cannot start the signal thread: {e}"))?;
        for signal in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: a zeroed sigaction is valid (empty mask, no flags);
            // the handler only touches an atomic and calls write(2).
            let rc = unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut())
            };
            if rc != 0 {
                return Err(format!(
                    "sigaction({signal}): {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(windows)]
mod imp {
    pub fn install(handler: impl Fn() + Send + 'static) -> Result<(), String> {
        ctrlc::set_handler(handler).map_err(|e| e.to_string())
    }
}

#[cfg(not(any(unix, windows)))]
mod imp {
    pub fn install(_: impl Fn() + Send + 'static) -> Result<(), String> {
        Err("not supported on this operating system".into())
    }
}
