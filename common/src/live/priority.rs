//! `--low-priority`: make the collector yield CPU and disk to the host's own
//! work. A responder collects from production machines under attack; the
//! collection may take longer, but the service keeps running.
//!
//! - Linux: nice 19 for every thread, and the `idle` I/O class (the disk
//!   serves us only when no one else wants it).
//! - macOS: nice 19, and the process I/O policy `IOPOL_THROTTLE`.
//! - Windows: `PROCESS_MODE_BACKGROUND_BEGIN`, which lowers CPU, I/O and
//!   memory priority together.

/// Lowers this process's CPU and I/O priority as far as the OS allows
/// without privileges, before the collection starts its threads. Returns
/// what was done, for the log; an error says which call failed (the
/// collection goes on at normal priority).
pub fn lower_priority() -> Result<String, String> {
    imp::lower()
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod imp {
    /// `IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT` (linux/ioprio.h).
    const IOPRIO_IDLE: libc::c_int = 3 << 13;
    /// `IOPRIO_WHO_PROCESS` (linux/ioprio.h): here, one thread id.
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;

    pub fn lower() -> Result<String, String> {
        // On Linux, nice and the I/O class belong to each thread: set them on
        // every thread that exists now (threads made later inherit them).
        let mut threads: Vec<libc::id_t> = std::fs::read_dir("/proc/self/task")
            .map(|dir| {
                dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        if threads.is_empty() {
            threads.push(0); // 0: the calling thread
        }
        for tid in threads {
            // SAFETY: setpriority takes plain integers and touches no memory of ours.
            let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, 19) };
            if rc != 0 {
                return Err(format!(
                    "setpriority(19): {}",
                    std::io::Error::last_os_error()
                ));
            }
            // SAFETY: ioprio_set(which, who, ioprio) takes three integers and
            // touches no memory of ours; an unknown syscall returns ENOSYS.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_ioprio_set,
                    IOPRIO_WHO_PROCESS,
                    tid as libc::c_int,
                    IOPRIO_IDLE,
                )
            };
            if rc != 0 {
                return Err(format!(
                    "ioprio_set(idle): {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
        Ok("nice 19, I/O class idle".into())
    }
}

#[cfg(target_os = "macos")]
#[allow(unsafe_code)]
mod imp {
    // sys/resource.h; the libc crate does not carry these.
    const IOPOL_TYPE_DISK: libc::c_int = 0;
    const IOPOL_SCOPE_PROCESS: libc::c_int = 0;
    const IOPOL_THROTTLE: libc::c_int = 3;

    extern "C" {
        /// libSystem: `int setiopolicy_np(int iotype, int scope, int policy)`.
        fn setiopolicy_np(
            iotype: libc::c_int,
            scope: libc::c_int,
            policy: libc::c_int,
        ) -> libc::c_int;
    }

    pub fn lower() -> Result<String, String> {
        // SAFETY: setpriority takes plain integers and touches no memory of ours.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) } != 0 {
            return Err(format!(
                "setpriority(19): {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: setiopolicy_np takes three integers and touches no memory of ours.
        let rc = unsafe { setiopolicy_np(IOPOL_TYPE_DISK, IOPOL_SCOPE_PROCESS, IOPOL_THROTTLE) };
        if rc != 0 {
            return Err(format!(
                "setiopolicy_np(IOPOL_THROTTLE): {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok("nice 19, I/O policy throttle".into())
    }
}

#[cfg(windows)]
#[allow(unsafe_code)]
mod imp {
    /// `PROCESS_MODE_BACKGROUND_BEGIN` (processthreadsapi.h).
    const PROCESS_MODE_BACKGROUND_BEGIN: u32 = 0x0010_0000;

    #[link(name = "kernel32")]
    extern "system" {
        fn GetCurrentProcess() -> isize;
        fn SetPriorityClass(process: isize, class: u32) -> i32;
    }

    pub fn lower() -> Result<String, String> {
        // SAFETY: GetCurrentProcess returns a pseudo-handle that needs no
        // closing; SetPriorityClass takes that handle and a constant, and
        // touches no memory of ours.
        let ok = unsafe { SetPriorityClass(GetCurrentProcess(), PROCESS_MODE_BACKGROUND_BEGIN) };
        if ok == 0 {
            return Err(format!(
                "SetPriorityClass(PROCESS_MODE_BACKGROUND_BEGIN): {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok("background mode (CPU, I/O and memory priority lowered)".into())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod imp {
    pub fn lower() -> Result<String, String> {
        Err("not supported on this operating system".into())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn low_priority_sets_nice_19_and_idle_io_on_every_thread() {
        // Run in a child process: the test runner's own threads must keep
        // their priority.
        if std::env::var_os("SEALBAG_PRIORITY_CHILD").is_none() {
            let exe = std::env::current_exe().expect("test binary");
            let status = std::process::Command::new(exe)
                .args([
                    "--exact",
                    "live::priority::tests::low_priority_sets_nice_19_and_idle_io_on_every_thread",
                    "--test-threads=1",
                ])
                .env("SEALBAG_PRIORITY_CHILD", "1")
                .status()
                .expect("rerun the test binary");
            assert!(status.success(), "the child check failed");
            return;
        }
        let spare =
            std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_millis(300)));
        let done = super::lower_priority().expect("lower priority");
        assert_eq!(done, "nice 19, I/O class idle");
        for task in std::fs::read_dir("/proc/self/task").expect("tasks") {
            let task = task.expect("task").path();
            let stat = std::fs::read_to_string(task.join("stat")).expect("stat");
            // Field 19 (1-based) after the `comm` field's closing parenthesis is nice.
            let after = &stat[stat.rfind(')').expect("comm") + 2..];
            let nice: i32 = after
                .split(' ')
                .nth(16)
                .expect("nice")
                .parse()
                .expect("int");
            assert_eq!(nice, 19, "{}", task.display());
        }
        spare.join().expect("join");
    }
}
