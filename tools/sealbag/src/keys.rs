//! `sealbag keygen`: an age X25519 identity, in age-keygen's format.

use std::io::Write;
use std::path::Path;

use age::secrecy::ExposeSecret;
use sealbag_common::archive::read_identities;
use sealbag_common::source::Timestamp;

/// Writes a new identity to `output` (never overwriting) or stdout, and
/// returns its public key.
pub fn generate(output: Option<&Path>) -> Result<String, String> {
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let created = Timestamp::now().to_string();
    let created = created.split('.').next().unwrap_or(&created).to_string() + "Z";
    let text = format!(
        "# created: {created}\n# public key: {public}\n{}\n",
        identity.to_string().expose_secret()
    );
    match output {
        Some(path) => {
            let mut options = std::fs::File::options();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    format!("{}: already exists; sealbag never overwrites a key\nhint: print its public key with `sealbag keygen -y {}`", path.display(), path.display())
                } else {
                    format!("cannot create {}: {e}", path.display())
                }
            })?;
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        None => {
            print!("{text}");
        }
    }
    Ok(public)
}

/// The public keys of the identities in `path`.
pub fn public_keys(path: &Path) -> Result<Vec<String>, String> {
    Ok(read_identities(path)?
        .iter()
        .map(|i| i.to_public().to_string())
        .collect())
}
