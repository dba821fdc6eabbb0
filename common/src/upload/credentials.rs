//! S3 credentials, as the AWS tools find them: the environment, the shared
//! credentials file, then the instance's metadata role (IMDSv2). Never a
//! command-line flag, which any user of the host could read in the process list.

use std::path::PathBuf;
use std::time::Duration;

use rusty_s3::Credentials;

/// Where the credentials came from (for the log; never the secret).
pub(crate) fn resolve() -> Result<(Credentials, String), String> {
    if let Some(found) = from_env() {
        return Ok((found, "environment".into()));
    }
    if let Some((found, path)) = from_shared_file()? {
        return Ok((found, format!("shared credentials file {}", path.display())));
    }
    if std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
        return Err(NONE_FOUND.into());
    }
    match from_imds() {
        Ok(found) => Ok((found, "instance metadata (IMDSv2)".into())),
        Err(e) => Err(format!("{NONE_FOUND}\n(instance metadata: {e})")),
    }
}

const NONE_FOUND: &str = "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or a profile in ~/.aws/credentials (AWS_PROFILE), or run on an instance with a role\nhint: to leave no credential on the host, use `--upload-ticket` (see docs/deploy.md)";

fn from_env() -> Option<Credentials> {
    let key = std::env::var("AWS_ACCESS_KEY_ID").ok()?;
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").ok()?;
    Some(match std::env::var("AWS_SESSION_TOKEN") {
        Ok(token) if !token.is_empty() => Credentials::new_with_token(key, secret, token),
        _ => Credentials::new(key, secret),
    })
}

fn from_shared_file() -> Result<Option<(Credentials, PathBuf)>, String> {
    let path = match std::env::var_os("AWS_SHARED_CREDENTIALS_FILE") {
        Some(p) => PathBuf::from(p),
        None => match std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE")) {
            Some(home) => PathBuf::from(home).join(".aws").join("credentials"),
            None => return Ok(None),
        },
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    let (mut key, mut secret, mut token) = (None, None, None);
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == profile;
            continue;
        }
        if !inside {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().to_string();
            match k.trim() {
                "aws_access_key_id" => key = Some(v),
                "aws_secret_access_key" => secret = Some(v),
                "aws_session_token" => token = Some(v),
                _ => {}
            }
        }
    }
    match (key, secret) {
        (Some(key), Some(secret)) => Ok(Some((
            match token {
                Some(token) => Credentials::new_with_token(key, secret, token),
                None => Credentials::new(key, secret),
            },
            path,
        ))),
        _ => Ok(None),
    }
}

/// IMDSv2: a session token first (PUT), then the role's credentials.
fn from_imds() -> Result<Credentials, String> {
    let base = std::env::var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .unwrap_or_else(|_| "http://169.254.169.254".into());
    let base = base.trim_end_matches('/');
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .into();
    let token = agent
        .put(&format!("{base}/latest/api/token"))
        .header("x-aws-ec2-metadata-token-ttl-seconds", "21600")
        .send_empty()
        .map_err(|e| format!("no metadata service: {e}"))?
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    let get = |path: &str| -> Result<String, String> {
        agent
            .get(&format!("{base}{path}"))
            .header("x-aws-ec2-metadata-token", token.trim())
            .call()
            .map_err(|e| format!("{path}: {e}"))?
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .map_err(|e| e.to_string())
    };
    let roles = get("/latest/meta-data/iam/security-credentials/")?;
    let role = roles
        .lines()
        .next()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or("the instance has no role")?;
    let json = get(&format!(
        "/latest/meta-data/iam/security-credentials/{role}"
    ))?;
    let value: serde_json::Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    let field = |k: &str| {
        value
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or(format!("the role's credentials lack `{k}`"))
    };
    Ok(Credentials::new_with_token(
        field("AccessKeyId")?,
        field("SecretAccessKey")?,
        field("Token")?,
    ))
}
