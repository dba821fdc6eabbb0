//! `[[command]]` targets: programs run with their output captured under `live/`.
//!
//! Each command is run directly (absolute program path, no shell, no `PATH`
//! lookup) with standard input closed, and its standard output and error
//! captured into the members `live/<name>.stdout` and `live/<name>.stderr`,
//! each capped at [`OUTPUT_CAP`] bytes (the rest is read and thrown away,
//! and the record says how much). A command still running at its timeout is
//! killed. Exit status, duration and truncation land in each record's
//! `extra`. A program that cannot be started is an error record; the run
//! goes on.
//!
//! Commands describe the machine running sealbag, so they run only when the
//! source *is* that machine ([`EngineOptions::run_commands`]); a command for
//! another OS (`os = "macos"` on Linux) is recorded as skipped.
//!
//! Limits: the timeout kills the program itself, not programs it started; if
//! such a grandchild keeps the output pipes open, capture stops
//! [`PIPE_GRACE`] after the kill and the record says so.

use std::io::{self, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::generated::{Generated, GeneratedBuffer};
use super::{EngineOptions, Sink, SinkError};
use crate::archive::{ManifestRecord, Status};
use crate::profile::{CommandTarget, Profile, TargetOs};
use crate::source::{EntryKind, SourcePath, Timestamp};

/// Most bytes kept of one command's standard output (and, separately, error).
pub const OUTPUT_CAP: u64 = 64 << 20;

/// How long output is still awaited after the program exited or was killed.
pub const PIPE_GRACE: Duration = Duration::from_secs(2);

/// How often a running command is polled.
const POLL: Duration = Duration::from_millis(10);

/// Runs every command of the profile that applies, recording each.
pub(crate) fn run_commands(
    profile: &Profile,
    sink: &mut dyn Sink,
    options: &EngineOptions,
    count: &mut dyn FnMut(&ManifestRecord),
) -> Result<(), SinkError> {
    for command in &profile.commands {
        if options.stop.is_set() {
            break;
        }
        let skip = if !options.run_commands {
            Some("not run: commands run only when collecting the live system".to_string())
        } else {
            match command.os {
                Some(os) if os != TargetOs::Any && Some(os) != current_os() => Some(format!(
                    "not run: for {} only, and this is {}",
                    os_name(os),
                    std::env::consts::OS
                )),
                _ => None,
            }
        };
        if let Some(reason) = skip {
            let mut record = command_record(command, Status::Skipped);
            record.error = Some(reason);
            count(&record);
            sink.add_record(&record)?;
            continue;
        }
        tracing::info!(command = %command.name, "running command");
        match run_one(command, options) {
            Ok(ran) => store(command, ran, sink, count)?,
            Err(error) => {
                tracing::warn!(command = %command.name, %error, "cannot run command");
                let mut record = command_record(command, Status::Error);
                record.error = Some(error);
                count(&record);
                sink.add_record(&record)?;
            }
        }
    }
    Ok(())
}

fn current_os() -> Option<TargetOs> {
    match std::env::consts::OS {
        "linux" => Some(TargetOs::Linux),
        "macos" => Some(TargetOs::Macos),
        "windows" => Some(TargetOs::Windows),
        _ => None,
    }
}

fn os_name(os: TargetOs) -> &'static str {
    match os {
        TargetOs::Linux => "linux",
        TargetOs::Windows => "windows",
        TargetOs::Macos => "macos",
        TargetOs::Any => "any",
    }
}

fn command_record(command: &CommandTarget, status: Status) -> ManifestRecord {
    let mut record =
        ManifestRecord::new(&SourcePath::root(), &command.name, EntryKind::Other, status);
    record.path = format!("command:{}", command.argv.join(" "));
    record
}

/// The member name for a command: its name with anything but `[A-Za-z0-9._-]` as `_`.
fn member_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match stem.trim_start_matches('.') {
        "" => "command".into(),
        s => s.into(),
    }
}

/// One captured stream, filled by its reader thread.
struct Capture {
    buffer: Option<GeneratedBuffer>,
    /// Bytes the program wrote (kept or not).
    total: u64,
    error: Option<String>,
    done: bool,
}

/// The finished capture of one stream.
struct Captured {
    generated: Option<Generated>,
    total: u64,
    kept: u64,
    problem: Option<String>,
}

struct Ran {
    started: Timestamp,
    duration: Duration,
    status: Option<ExitStatus>,
    timed_out: bool,
    stopped: bool,
    stdout: Captured,
    stderr: Captured,
}

fn spawn_reader(
    mut pipe: impl Read + Send + 'static,
) -> io::Result<(Arc<Mutex<Capture>>, std::thread::JoinHandle<()>)> {
    let capture = Arc::new(Mutex::new(Capture {
        buffer: Some(GeneratedBuffer::new(OUTPUT_CAP as usize + (1 << 20))?),
        total: 0,
        error: None,
        done: false,
    }));
    let shared = Arc::clone(&capture);
    let handle = std::thread::Builder::new()
        .name("sealbag-command-output".into())
        .spawn(move || {
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                let n = match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        if let Ok(mut c) = shared.lock() {
                            c.error = Some(format!("reading the output: {e}"));
                        }
                        break;
                    }
                };
                let Ok(mut c) = shared.lock() else { break };
                let room = OUTPUT_CAP.saturating_sub(c.total);
                let keep = (n as u64).min(room) as usize;
                c.total += n as u64;
                if keep > 0 {
                    let failed = match c.buffer.as_mut() {
                        Some(buffer) => buffer.write_all(&chunk[..keep]).err(),
                        None => None,
                    };
                    if let Some(e) = failed {
                        c.error = Some(format!("keeping the output: {e}"));
                        c.buffer = None;
                    }
                }
            }
            if let Ok(mut c) = shared.lock() {
                c.done = true;
            }
        })?;
    Ok((capture, handle))
}

fn run_one(command: &CommandTarget, options: &EngineOptions) -> Result<Ran, String> {
    let (program, args) = command
        .argv
        .split_first()
        .ok_or_else(|| "empty `argv`".to_string())?;
    let started = Timestamp::now();
    let clock = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => format!("{program}: program not found"),
            _ => format!("{program}: cannot start: {e}"),
        })?;
    let readers = match (child.stdout.take(), child.stderr.take()) {
        (Some(out), Some(err)) => spawn_reader(out).and_then(|o| Ok((o, spawn_reader(err)?))),
        _ => Err(io::Error::other("output pipes missing")),
    };
    let ((out, out_thread), (err, err_thread)) = match readers {
        Ok(r) => r,
        Err(e) => {
            kill(&mut child);
            return Err(format!("{program}: cannot capture its output: {e}"));
        }
    };
    let mut timed_out = false;
    let mut stopped = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(command = %command.name, "cannot poll: {e}");
                kill(&mut child);
                break None;
            }
        }
        if clock.elapsed() >= command.timeout {
            timed_out = true;
            kill(&mut child);
            break child.wait().ok();
        }
        if options.stop.is_set() {
            stopped = true;
            kill(&mut child);
            break child.wait().ok();
        }
        std::thread::sleep(POLL);
    };
    let duration = clock.elapsed();
    // The pipes close when every holder exits; wait a little for that.
    let grace = Instant::now();
    while !(is_done(&out) && is_done(&err)) && grace.elapsed() < PIPE_GRACE {
        std::thread::sleep(POLL);
    }
    let stdout = finish_capture(&out);
    let stderr = finish_capture(&err);
    // A thread still blocked on a pipe a grandchild holds is left to end with it.
    for (capture, thread) in [(&out, out_thread), (&err, err_thread)] {
        if is_done(capture) {
            let _ = thread.join();
        }
    }
    Ok(Ran {
        started,
        duration,
        status,
        timed_out,
        stopped,
        stdout,
        stderr,
    })
}

fn kill(child: &mut Child) {
    // Fails only when the program already exited, which is what we want.
    let _ = child.kill();
}

fn is_done(capture: &Arc<Mutex<Capture>>) -> bool {
    capture.lock().map(|c| c.done).unwrap_or(true)
}

fn finish_capture(capture: &Arc<Mutex<Capture>>) -> Captured {
    let Ok(mut c) = capture.lock() else {
        return Captured {
            generated: None,
            total: 0,
            kept: 0,
            problem: Some("output reader failed".into()),
        };
    };
    let mut problem = c.error.clone();
    if !c.done {
        problem = Some(format!(
            "output pipe still open {}s after the program ended (a program it started holds it); capture cut there",
            PIPE_GRACE.as_secs()
        ));
    }
    let generated = match c.buffer.take().map(GeneratedBuffer::finish) {
        Some(Ok(g)) => Some(g),
        Some(Err(e)) => {
            problem = Some(format!("keeping the output: {e}"));
            None
        }
        None => None,
    };
    Captured {
        kept: generated.as_ref().map_or(0, |g| g.len),
        generated,
        total: c.total,
        problem,
    }
}

fn store(
    command: &CommandTarget,
    ran: Ran,
    sink: &mut dyn Sink,
    count: &mut dyn FnMut(&ManifestRecord),
) -> Result<(), SinkError> {
    let stem = member_stem(&command.name);
    let mut facts = serde_json::Map::new();
    facts.insert("argv".into(), command.argv.clone().into());
    facts.insert(
        "duration_ms".into(),
        (ran.duration.as_millis().min(u128::from(u64::MAX)) as u64).into(),
    );
    facts.insert(
        "timeout_ms".into(),
        (command.timeout.as_millis() as u64).into(),
    );
    facts.insert("timed_out".into(), ran.timed_out.into());
    if let Some(status) = ran.status {
        facts.insert("exit_code".into(), status.code().into());
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            if let Some(signal) = status.signal() {
                facts.insert("signal".into(), signal.into());
            }
        }
    }
    for (suffix, captured) in [("stdout", &ran.stdout), ("stderr", &ran.stderr)] {
        let name = format!("live/{stem}.{suffix}");
        let mut record = command_record(command, Status::Ok);
        let mut extra: std::collections::BTreeMap<String, serde_json::Value> =
            facts.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        extra.insert("stream".into(), suffix.into());
        extra.insert("bytes_written".into(), captured.total.into());
        let truncated = captured.total > captured.kept;
        extra.insert("truncated".into(), truncated.into());
        record.method = Some("command".into());
        record.times.modified = Some(ran.started);
        let mut problems = Vec::new();
        if ran.timed_out {
            problems.push(format!(
                "killed at its {}s timeout",
                command.timeout.as_secs_f64()
            ));
        }
        if ran.stopped {
            problems.push("killed: the run was stopped".into());
        }
        if truncated {
            problems.push(format!(
                "{suffix} cut at {} of {} bytes (cap {} MiB)",
                captured.kept,
                captured.total,
                OUTPUT_CAP >> 20
            ));
        }
        if let Some(p) = &captured.problem {
            problems.push(p.clone());
        }
        match &captured.generated {
            Some(generated) => {
                let mut reader = generated.reader()?;
                sink.add_member(name.as_bytes(), generated.len, &mut reader)?;
                record.path = name.clone();
                record.set_archive_path(name.as_bytes());
                record.size = Some(generated.len);
                record.sha256 = Some(generated.sha256.clone());
            }
            None => record.status = Status::Error,
        }
        if !problems.is_empty() {
            if record.status == Status::Ok {
                record.status = Status::Partial;
            }
            record.error = Some(problems.join("; "));
        }
        record.extra = extra;
        count(&record);
        sink.add_record(&record)?;
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Memory {
        members: Vec<(String, Vec<u8>)>,
        records: Vec<ManifestRecord>,
    }

    impl Sink for Memory {
        fn add_file(
            &mut self,
            _: &super::super::StoredEntry<'_>,
            _: &mut dyn Read,
        ) -> Result<(), SinkError> {
            unreachable!("commands store members only")
        }
        fn add_symlink(
            &mut self,
            _: &super::super::StoredEntry<'_>,
            _: &[u8],
        ) -> Result<(), SinkError> {
            unreachable!("commands store members only")
        }
        fn add_member(&mut self, n: &[u8], size: u64, d: &mut dyn Read) -> Result<(), SinkError> {
            let mut bytes = Vec::new();
            d.read_to_end(&mut bytes)?;
            assert_eq!(bytes.len() as u64, size);
            self.members
                .push((String::from_utf8_lossy(n).into_owned(), bytes));
            Ok(())
        }
        fn add_record(&mut self, record: &ManifestRecord) -> Result<(), SinkError> {
            self.records.push(record.clone());
            Ok(())
        }
    }

    fn run(toml: &str, live: bool) -> Memory {
        let profile = Profile::from_toml(toml, "t.toml").expect("profile");
        let options = EngineOptions {
            run_commands: live,
            ..EngineOptions::default()
        };
        let mut sink = Memory::default();
        run_commands(&profile, &mut sink, &options, &mut |_| {}).expect("run");
        sink
    }

    fn member<'a>(sink: &'a Memory, name: &str) -> &'a [u8] {
        &sink
            .members
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no member {name}"))
            .1
    }

    #[test]
    fn captures_output_and_exit_status() {
        let sink = run(
            r#"name = "t"
[[command]]
name = "echo"
argv = ["/bin/echo", "hello", "world"]
[[command]]
name = "fails-loudly"
argv = ["/bin/sh", "-c", "echo err >&2; exit 3"]
"#,
            true,
        );
        assert_eq!(member(&sink, "live/echo.stdout"), b"hello world\n");
        assert_eq!(member(&sink, "live/echo.stderr"), b"");
        assert_eq!(member(&sink, "live/fails-loudly.stdout"), b"");
        assert_eq!(member(&sink, "live/fails-loudly.stderr"), b"err\n");
        assert_eq!(sink.records.len(), 4);
        let echo = &sink.records[0];
        assert_eq!(echo.status, Status::Ok);
        assert_eq!(echo.path, "live/echo.stdout");
        assert_eq!(
            echo.sha256.as_deref(),
            // sha256 of "hello world\n"
            Some("a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447")
        );
        assert_eq!(echo.extra["exit_code"], 0);
        let loud = &sink.records[3];
        assert_eq!(loud.extra["exit_code"], 3);
        assert_eq!(loud.extra["stream"], "stderr");
        assert_eq!(loud.extra["timed_out"], false);
        assert_eq!(
            loud.status,
            Status::Ok,
            "a non-zero exit is evidence, not a failure"
        );
    }

    #[test]
    fn kills_at_the_timeout() {
        let clock = Instant::now();
        let sink = run(
            "name = \"t\"\n[[command]]\nname = \"sleepy\"\nargv = [\"/bin/sleep\", \"30\"]\ntimeout = \"1s\"\n",
            true,
        );
        assert!(
            clock.elapsed() < Duration::from_secs(10),
            "{:?}",
            clock.elapsed()
        );
        let record = &sink.records[0];
        assert_eq!(record.status, Status::Partial);
        assert_eq!(record.extra["timed_out"], true);
        assert_eq!(record.extra["signal"], 9);
        assert!(
            record.error.as_deref().unwrap_or("").contains("timeout"),
            "{:?}",
            record.error
        );
        let ms = record.extra["duration_ms"].as_u64().unwrap_or(0);
        assert!((1000..5000).contains(&ms), "{ms}");
    }

    #[test]
    fn missing_program_other_os_and_not_live() {
        let other = if cfg!(target_os = "macos") {
            "linux"
        } else {
            "macos"
        };
        let toml = format!(
            "name = \"t\"\n[[command]]\nname = \"gone\"\nargv = [\"/nonexistent/prog\"]\n\
             [[command]]\nname = \"elsewhere\"\nargv = [\"/bin/echo\"]\nos = \"{other}\"\n"
        );
        let sink = run(&toml, true);
        assert!(sink.members.is_empty());
        assert_eq!(sink.records.len(), 2);
        assert_eq!(sink.records[0].status, Status::Error);
        assert_eq!(
            sink.records[0].error.as_deref(),
            Some("/nonexistent/prog: program not found")
        );
        assert_eq!(sink.records[1].status, Status::Skipped);
        assert!(sink.records[1]
            .error
            .as_deref()
            .unwrap_or("")
            .contains(&format!("for {other} only")));

        let sink = run(&toml, false);
        assert!(sink.members.is_empty());
        assert!(sink.records.iter().all(|r| r.status == Status::Skipped
            && r.error.as_deref().unwrap_or("").contains("live system")));
    }

    #[test]
    fn output_beyond_the_cap_is_counted_not_kept() {
        // 64 MiB + 3 bytes of zeros through head(1).
        let toml = format!(
            "name = \"t\"\n[[command]]\nname = \"flood\"\nargv = [\"/bin/sh\", \"-c\", \"head -c {} /dev/zero\"]\n",
            OUTPUT_CAP + 3
        );
        let sink = run(&toml, true);
        assert_eq!(member(&sink, "live/flood.stdout").len() as u64, OUTPUT_CAP);
        let record = &sink.records[0];
        assert_eq!(record.status, Status::Partial);
        assert_eq!(record.extra["truncated"], true);
        assert_eq!(record.extra["bytes_written"], OUTPUT_CAP + 3);
    }

    #[test]
    fn names_members_safely() {
        assert_eq!(member_stem("ps aux"), "ps_aux");
        assert_eq!(member_stem("../../etc"), "_.._etc");
        assert_eq!(member_stem(""), "command");
    }
}
