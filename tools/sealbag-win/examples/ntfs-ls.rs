//! Lists every entry of an NTFS image with size and SHA-256 (a debugging aid):
//! `cargo run -p sealbag-win --example ntfs-ls -- IMAGE`.

use std::io::Read;

use sealbag_common::source::EntryKind;
use sealbag_common::{Source, SourcePath};

fn main() {
    let Some(image) = std::env::args_os().nth(1) else {
        eprintln!("usage: ntfs-ls IMAGE");
        std::process::exit(2);
    };
    let volume = match sealbag_win::open_image(std::path::Path::new(&image), None) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let source = &volume.source;
    let mut stack = vec![SourcePath::root()];
    while let Some(dir) = stack.pop() {
        let entries = match source.read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("{e}");
                continue;
            }
        };
        for entry in entries {
            let path = dir.join(&entry.name);
            match source.metadata(&path) {
                Ok(m) if m.kind == EntryKind::Directory => {
                    println!("d\t-\t{path}");
                    stack.push(path);
                }
                Ok(m) => {
                    let mut bytes = Vec::new();
                    let read = source
                        .open(&path, None)
                        .map_err(|e| e.to_string())
                        .and_then(|mut o| {
                            o.reader.read_to_end(&mut bytes).map_err(|e| e.to_string())
                        });
                    match read {
                        Ok(_) => println!("{}\t{}\t{path}", m.kind.name(), bytes.len()),
                        Err(e) => println!("{}\terror: {e}\t{path}", m.kind.name()),
                    }
                }
                Err(e) => println!("?\t{e}\t{path}"),
            }
        }
    }
}
