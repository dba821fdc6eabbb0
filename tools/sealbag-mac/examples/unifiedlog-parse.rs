//! Parses the unified logs under a folder to JSON lines, as a profile's
//! `parse = "unifiedlog"` does, and says how fast.
//!
//! ```sh
//! cargo run --release -p sealbag-mac --example unifiedlog-parse -- DIR [--repeat N] [--quiet]
//! ```
//!
//! `DIR` is a `.logarchive`, or a tree holding `private/var/db/diagnostics`
//! and `private/var/db/uuidtext` (every file under `DIR` is offered to the
//! parser, which picks the unified-log files by their place). The lines go
//! to stdout (not with `--quiet`); the report and the rate go to stderr.
//! `--repeat N` parses N times (for `bench/unifiedlog.sh`).

use std::io::Write;
use std::time::Instant;

use sealbag_common::engine::{walk, StopSignal, WalkEvent};
use sealbag_common::glob::Glob;
use sealbag_common::source::EntryKind;
use sealbag_common::FsSource;
use sealbag_mac::unifiedlog::{parse_logs, SourceProvider};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut repeat = 1u32;
    let mut quiet = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--repeat" => {
                repeat = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--repeat needs a number"))?
                    .parse()?
            }
            "--quiet" => quiet = true,
            _ => dir = Some(arg),
        }
    }
    let dir =
        dir.ok_or_else(|| anyhow::anyhow!("usage: unifiedlog-parse DIR [--repeat N] [--quiet]"))?;
    let source = FsSource::tree(std::path::Path::new(&dir));
    let stop = StopSignal::new();
    let mut files = Vec::new();
    let glob = Glob::parse("/**")?;
    for pattern in glob.alternatives() {
        walk(&source, pattern, true, &stop, &mut |event| {
            if let WalkEvent::Match(path, meta) = event {
                if meta.kind == EntryKind::File {
                    files.push(path);
                }
            }
        });
    }
    let provider = SourceProvider::new(&source, &files);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let clock = Instant::now();
    let mut entries = 0u64;
    let mut bytes = 0u64;
    let mut report = None;
    for _ in 0..repeat {
        let r = parse_logs(&provider, None, &stop, &mut |line| {
            bytes += line.len() as u64;
            if quiet {
                Ok(())
            } else {
                out.write_all(line).map_err(|e| e.to_string())
            }
        })
        .map_err(anyhow::Error::msg)?;
        entries += r.entries;
        report = Some(r);
    }
    out.flush()?;
    let elapsed = clock.elapsed().as_secs_f64();
    eprintln!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "FIGURE: {entries} entries ({} MiB of JSON) in {elapsed:.3} s: {:.0} entries/s",
        bytes >> 20,
        entries as f64 / elapsed
    );
    Ok(())
}
