//! Machine-wide configuration of `collect`, as an MDM or an administrator
//! pushes it: recipients, output or upload ticket, case id, operator,
//! profile, and the other shared flags that make sense fleet-wide.
//!
//! Each key is taken from the highest of these sources that sets it:
//!
//! 1. command-line flags;
//! 2. the operating system's place, by tool: `sealbag-linux` reads
//!    `/etc/sealbag/sealbag.toml`; `sealbag-mac` the managed preferences
//!    `/Library/Managed Preferences/org.sealbag.sealbag.plist` (what a Jamf
//!    or other MDM configuration profile for the domain `org.sealbag.sealbag`
//!    writes); `sealbag-win` the registry policy key
//!    `HKLM\SOFTWARE\Policies\sealbag` above `%ProgramData%\sealbag\sealbag.toml`;
//! 3. `sealbag.toml` in the folder of the executable;
//! 4. the embedded defaults.
//!
//! `SEALBAG_CONFIG_ROOT=DIR` makes the system places relative to `DIR`
//! (`DIR/etc/sealbag/sealbag.toml`, `DIR/Library/Managed Preferences/…`,
//! `DIR/ProgramData/sealbag/sealbag.toml`; the registry is then not read):
//! tests and dry runs of a configuration use it.
//!
//! A configuration never turns encryption off: `no_encrypt` is refused in
//! every source, only the `--no-encrypt` flag does that. Unknown keys and
//! wrong types stop the run (exit 2) with the file, line and column.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::collect::Tool;
use super::{CollectArgs, Exit};

/// The preference domain (and plist name) `sealbag-mac` reads from
/// `/Library/Managed Preferences/`.
pub const MANAGED_PREFERENCES_DOMAIN: &str = "org.sealbag.sealbag";
/// The registry key `sealbag-win` reads its policy from (under `HKEY_LOCAL_MACHINE`).
pub const REGISTRY_POLICY_KEY: &str = r"SOFTWARE\Policies\sealbag";
/// The name of every configuration file.
pub const CONFIG_FILE_NAME: &str = "sealbag.toml";
/// Environment variable that moves the system places under a folder.
pub const CONFIG_ROOT_ENV: &str = "SEALBAG_CONFIG_ROOT";
/// Largest configuration file read (a config is a few hundred bytes).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Turns the bytes of a property list into its JSON form (the mac tool's
/// bounded plist reader); `sealbag-mac` passes it in [`Platform::Macos`].
pub type PlistReader = fn(&[u8]) -> Result<serde_json::Value, String>;

/// Which system places a tool reads (by the tool, not the host: so that
/// `sealbag-mac` can be tested on Linux with fixture plists).
#[derive(Clone, Copy)]
pub enum Platform {
    /// `/etc/sealbag/sealbag.toml`.
    Linux,
    /// `/Library/Managed Preferences/org.sealbag.sealbag.plist`, read with the given reader.
    Macos(PlistReader),
    /// `%ProgramData%\sealbag\sealbag.toml`, then the registry policy key.
    Windows,
}

impl fmt::Debug for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Platform::Linux => "Linux",
            Platform::Macos(_) => "Macos",
            Platform::Windows => "Windows",
        })
    }
}

/// `sealbag-<os> config …`.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Print the configuration a `collect` with these flags would use, and
    /// where each value comes from (flag, file and line, plist, registry,
    /// default). Reads only the configuration sources.
    Show {
        /// The `collect` flags to take into account.
        #[command(flatten)]
        args: Box<CollectArgs>,
    },
}

/// What kind of value a key holds, and so how it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Texts,
    Path,
    Paths,
    /// An embedded profile name, or a path.
    Profile,
    /// `-`, an `s3://` URL, or a path.
    Output,
    Size,
    Duration,
    Rate,
    Count,
    Flag,
}

impl Kind {
    fn expected(self) -> &'static str {
        match self {
            Kind::Text => "a string",
            Kind::Texts => "an array of strings",
            Kind::Path => "a path (a string)",
            Kind::Paths => "an array of paths (strings)",
            Kind::Profile => "an embedded profile name or a path (a string)",
            Kind::Output => "a path, `-` or an `s3://` URL (a string)",
            Kind::Size => "a size such as \"512MiB\", or a number of bytes",
            Kind::Duration => "a duration such as \"30m\" (a string)",
            Kind::Rate => "megabytes per second (a number, e.g. 20 or 2.5)",
            Kind::Count => "a whole number from 1 to 256",
            Kind::Flag => "true or false",
        }
    }
}

/// The keys a configuration may set, in the order `config show` prints
/// them, with the flag each one stands for.
const KEYS: &[(&str, Kind, &str)] = &[
    ("profile", Kind::Profile, "--profile"),
    ("recipients", Kind::Texts, "--recipient"),
    ("recipients_files", Kind::Paths, "--recipients-file"),
    ("output", Kind::Output, "--output"),
    ("upload_ticket", Kind::Path, "--upload-ticket"),
    ("s3_endpoint", Kind::Text, "--s3-endpoint"),
    ("s3_region", Kind::Text, "--s3-region"),
    ("fallback_output", Kind::Path, "--fallback-output"),
    ("case", Kind::Text, "--case"),
    ("operator", Kind::Text, "--operator"),
    ("max_file_size", Kind::Size, "--max-file-size"),
    ("max_total", Kind::Size, "--max-total"),
    ("time_limit", Kind::Duration, "--time-limit"),
    ("rate_limit", Kind::Rate, "--rate-limit"),
    ("threads", Kind::Count, "--threads"),
    ("split", Kind::Size, "--split"),
    ("low_priority", Kind::Flag, "--low-priority"),
    ("allow_same_volume", Kind::Flag, "--allow-same-volume"),
    ("ioc", Kind::Paths, "--ioc"),
    ("sweep", Kind::Texts, "--sweep"),
];

/// One checked value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    Text(String),
    /// Strings.
    Texts(Vec<String>),
    /// A path.
    Path(PathBuf),
    /// Paths.
    Paths(Vec<PathBuf>),
    /// Bytes.
    Size(u64),
    /// A duration.
    Duration(Duration),
    /// Bytes per second.
    Rate(u64),
    /// A count.
    Count(u32),
    /// A switch.
    Flag(bool),
}

impl Value {
    /// The value in TOML syntax, as it could be written in `sealbag.toml`.
    fn to_toml(&self) -> String {
        fn text(s: &str) -> String {
            toml::Value::String(s.to_string()).to_string()
        }
        fn list(items: impl Iterator<Item = String>) -> String {
            let items: Vec<String> = items.collect();
            format!("[{}]", items.join(", "))
        }
        match self {
            Value::Text(s) => text(s),
            Value::Texts(v) => list(v.iter().map(|s| text(s))),
            Value::Path(p) => text(&p.to_string_lossy()),
            Value::Paths(v) => list(v.iter().map(|p| text(&p.to_string_lossy()))),
            Value::Size(bytes) => {
                for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
                    if *bytes != 0 && bytes % (1u64 << shift) == 0 {
                        return text(&format!("{}{unit}", bytes >> shift));
                    }
                }
                bytes.to_string()
            }
            Value::Duration(d) => text(&humantime::format_duration(*d).to_string()),
            Value::Rate(bytes) => {
                let mb = *bytes as f64 / 1e6;
                if mb.fract() == 0.0 {
                    format!("{mb:.1}")
                } else {
                    format!("{mb}")
                }
            }
            Value::Count(n) => n.to_string(),
            Value::Flag(b) => b.to_string(),
        }
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The command line.
    Flag,
    /// A TOML file, at this line.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line of the key.
        line: usize,
    },
    /// A property list (managed preferences).
    Plist(PathBuf),
    /// A value of the registry policy key.
    Registry,
    /// Built into the tool.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag => f.write_str("flag"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Plist(path) => write!(f, "{}", path.display()),
            Origin::Registry => write!(f, r"HKLM\{REGISTRY_POLICY_KEY}"),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// A configuration that cannot be used: where, what, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {message}\nhint: {hint}")]
#[non_exhaustive]
pub struct ConfigError {
    /// `file:line:column`, the plist, or the registry key (and value name).
    pub place: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

/// A scalar or list as a source holds it, before it is checked against its key.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A real number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// An array.
    List(Vec<Raw>),
    /// Anything else (a table, a date, data), by its type's name.
    Other(&'static str),
}

impl Raw {
    fn type_name(&self) -> &'static str {
        match self {
            Raw::Str(_) => "a string",
            Raw::Int(_) => "an integer",
            Raw::Float(_) => "a real number",
            Raw::Bool(_) => "a boolean",
            Raw::List(_) => "an array",
            Raw::Other(name) => name,
        }
    }

    fn from_toml(value: &toml::Value) -> Raw {
        match value {
            toml::Value::String(s) => Raw::Str(s.clone()),
            toml::Value::Integer(i) => Raw::Int(*i),
            toml::Value::Float(x) => Raw::Float(*x),
            toml::Value::Boolean(b) => Raw::Bool(*b),
            toml::Value::Array(items) => Raw::List(items.iter().map(Raw::from_toml).collect()),
            toml::Value::Datetime(_) => Raw::Other("a date"),
            toml::Value::Table(_) => Raw::Other("a table"),
        }
    }

    fn from_json(value: &serde_json::Value) -> Raw {
        match value {
            serde_json::Value::String(s) => Raw::Str(s.clone()),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Raw::Int(i),
                None => n.as_f64().map_or(Raw::Other("a number"), Raw::Float),
            },
            serde_json::Value::Bool(b) => Raw::Bool(*b),
            serde_json::Value::Array(items) => {
                Raw::List(items.iter().map(Raw::from_json).collect())
            }
            serde_json::Value::Object(_) => Raw::Other("a dictionary"),
            serde_json::Value::Null => Raw::Other("a null"),
        }
    }
}

/// One source that was looked at, for `config show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The file or key.
    pub label: String,
    /// What it is (`beside the binary`, `system`, `managed preferences`…).
    pub role: &'static str,
    /// Whether it exists (and was read).
    pub present: bool,
}

/// The values one source sets.
#[derive(Debug, Clone, Default)]
struct Layer {
    values: BTreeMap<&'static str, (Value, Origin)>,
}

/// One key of the effective configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key (`case`).
    pub key: &'static str,
    /// Its value and origin, if any source sets it.
    pub value: Option<(Value, Origin)>,
    /// Lower sources that set it too, overridden.
    pub overridden: Vec<Origin>,
}

/// The configuration a run uses: every key and the places looked at.
#[derive(Debug, Clone)]
pub struct Effective {
    /// The tool's name.
    pub tool: &'static str,
    /// Sources from highest to lowest precedence (flags and defaults excluded).
    pub places: Vec<Place>,
    /// Every key, in [`KEYS`] order.
    pub entries: Vec<Entry>,
}

/// Reads every configuration source of `tool` and merges them under the
/// flags of `args`.
pub fn resolve(
    tool: &Tool,
    platform: Platform,
    args: &CollectArgs,
) -> Result<Effective, ConfigError> {
    let root = std::env::var_os(CONFIG_ROOT_ENV).map(PathBuf::from);
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(CONFIG_FILE_NAME)));
    resolve_in(tool, platform, args, root.as_deref(), beside.as_deref())
}

/// [`resolve`] with the system root and the executable's config file given.
fn resolve_in(
    tool: &Tool,
    platform: Platform,
    args: &CollectArgs,
    root: Option<&Path>,
    beside: Option<&Path>,
) -> Result<Effective, ConfigError> {
    let mut places = Vec::new();
    // Highest first.
    let mut layers = vec![flags_layer(args)];
    let under = |rel: &str| -> PathBuf {
        match root {
            Some(root) => root.join(rel),
            None => Path::new("/").join(rel),
        }
    };
    match platform {
        Platform::Linux => {
            let path = under("etc/sealbag/sealbag.toml");
            let layer = read_toml_file(&path)?;
            places.push(place(&path, "system", layer.is_some()));
            layers.extend(layer);
        }
        Platform::Macos(reader) => {
            let path = under(&format!(
                "Library/Managed Preferences/{MANAGED_PREFERENCES_DOMAIN}.plist"
            ));
            let layer = read_plist_file(&path, reader)?;
            places.push(place(&path, "managed preferences", layer.is_some()));
            layers.extend(layer);
        }
        Platform::Windows => {
            match root {
                Some(_) => places.push(Place {
                    label: format!(r"HKLM\{REGISTRY_POLICY_KEY}"),
                    role: "registry policy; not read: SEALBAG_CONFIG_ROOT is set",
                    present: false,
                }),
                None => {
                    let layer = read_registry()?;
                    places.push(Place {
                        label: format!(r"HKLM\{REGISTRY_POLICY_KEY}"),
                        role: "registry policy",
                        present: layer.is_some(),
                    });
                    layers.extend(layer);
                }
            }
            let path = match root {
                Some(root) => root.join("ProgramData/sealbag/sealbag.toml"),
                None => PathBuf::from(
                    std::env::var_os("ProgramData").unwrap_or_else(|| r"C:\ProgramData".into()),
                )
                .join("sealbag")
                .join(CONFIG_FILE_NAME),
            };
            let layer = read_toml_file(&path)?;
            places.push(place(&path, "system", layer.is_some()));
            layers.extend(layer);
        }
    }
    if let Some(path) = beside {
        let layer = read_toml_file(path)?;
        places.push(place(path, "beside the binary", layer.is_some()));
        layers.extend(layer);
    }
    let mut defaults = Layer::default();
    defaults.values.insert(
        "profile",
        (
            Value::Text(tool.default_profile.to_string()),
            Origin::Default,
        ),
    );
    layers.push(defaults);

    let mut entries: Vec<Entry> = KEYS
        .iter()
        .map(|(key, _, _)| {
            let mut found = layers.iter().filter_map(|l| l.values.get(key));
            Entry {
                key,
                value: found.next().cloned(),
                overridden: found.map(|(_, origin)| origin.clone()).collect(),
            }
        })
        .collect();
    // `output` and `upload_ticket` are one choice: the higher source wins whole.
    let rank = |origin: &Origin| {
        layers
            .iter()
            .position(|l| l.values.values().any(|(_, o)| o == origin))
            .unwrap_or(usize::MAX)
    };
    let output_rank = entry(&entries, "output").and_then(|e| e.value.as_ref().map(|v| rank(&v.1)));
    let ticket_rank =
        entry(&entries, "upload_ticket").and_then(|e| e.value.as_ref().map(|v| rank(&v.1)));
    if let (Some(output), Some(ticket)) = (output_rank, ticket_rank) {
        let loser = if ticket < output {
            "output"
        } else {
            "upload_ticket"
        };
        if let Some(e) = entries.iter_mut().find(|e| e.key == loser) {
            if let Some((_, origin)) = e.value.take() {
                e.overridden.insert(0, origin);
            }
        }
    }
    Ok(Effective {
        tool: tool.name,
        places,
        entries,
    })
}

fn entry<'a>(entries: &'a [Entry], key: &str) -> Option<&'a Entry> {
    entries.iter().find(|e| e.key == key)
}

fn place(path: &Path, role: &'static str, present: bool) -> Place {
    Place {
        label: path.display().to_string(),
        role,
        present,
    }
}

/// The flags given on the command line, as a layer.
fn flags_layer(args: &CollectArgs) -> Layer {
    let mut layer = Layer::default();
    let mut set = |key: &'static str, value: Value| {
        layer.values.insert(key, (value, Origin::Flag));
    };
    if let Some(p) = &args.profile {
        set("profile", Value::Text(p.clone()));
    }
    if !args.recipients.is_empty() {
        set("recipients", Value::Texts(args.recipients.clone()));
    }
    if !args.recipients_files.is_empty() {
        set(
            "recipients_files",
            Value::Paths(args.recipients_files.clone()),
        );
    }
    if let Some(p) = &args.output {
        set("output", Value::Path(p.clone()));
    }
    if let Some(p) = &args.upload_ticket {
        set("upload_ticket", Value::Path(p.clone()));
    }
    if let Some(s) = &args.s3_endpoint {
        set("s3_endpoint", Value::Text(s.clone()));
    }
    if let Some(s) = &args.s3_region {
        set("s3_region", Value::Text(s.clone()));
    }
    if let Some(p) = &args.fallback_output {
        set("fallback_output", Value::Path(p.clone()));
    }
    if let Some(s) = &args.case_id {
        set("case", Value::Text(s.clone()));
    }
    if let Some(s) = &args.operator {
        set("operator", Value::Text(s.clone()));
    }
    if let Some(n) = args.max_file_size {
        set("max_file_size", Value::Size(n));
    }
    if let Some(n) = args.max_total {
        set("max_total", Value::Size(n));
    }
    if let Some(d) = args.time_limit {
        set("time_limit", Value::Duration(d));
    }
    if let Some(r) = args.rate_limit {
        set("rate_limit", Value::Rate(r));
    }
    if let Some(n) = args.threads {
        set("threads", Value::Count(n));
    }
    if let Some(n) = args.split {
        set("split", Value::Size(n));
    }
    if args.low_priority {
        set("low_priority", Value::Flag(true));
    }
    if args.allow_same_volume {
        set("allow_same_volume", Value::Flag(true));
    }
    if !args.hunt.ioc.is_empty() {
        set("ioc", Value::Paths(args.hunt.ioc.clone()));
    }
    if !args.hunt.sweep.is_empty() {
        set("sweep", Value::Texts(args.hunt.sweep.clone()));
    }
    layer
}

impl Effective {
    /// Writes the effective values into `args` (flags already there stay).
    pub fn apply(&self, args: &mut CollectArgs) {
        for e in &self.entries {
            let Some((value, origin)) = &e.value else {
                continue;
            };
            if *origin == Origin::Flag || *origin == Origin::Default {
                continue;
            }
            tracing::info!(key = e.key, from = %origin, "configuration: `{}` = {}", e.key, value.to_toml());
            match (e.key, value.clone()) {
                ("profile", Value::Text(s)) => args.profile = Some(s),
                ("profile", Value::Path(p)) => {
                    args.profile = Some(p.to_string_lossy().into_owned())
                }
                ("recipients", Value::Texts(v)) => args.recipients = v,
                ("recipients_files", Value::Paths(v)) => args.recipients_files = v,
                ("output", Value::Path(p)) => args.output = Some(p),
                ("output", Value::Text(s)) => args.output = Some(PathBuf::from(s)),
                ("upload_ticket", Value::Path(p)) => args.upload_ticket = Some(p),
                ("s3_endpoint", Value::Text(s)) => args.s3_endpoint = Some(s),
                ("s3_region", Value::Text(s)) => args.s3_region = Some(s),
                ("fallback_output", Value::Path(p)) => args.fallback_output = Some(p),
                ("case", Value::Text(s)) => args.case_id = Some(s),
                ("operator", Value::Text(s)) => args.operator = Some(s),
                ("max_file_size", Value::Size(n)) => args.max_file_size = Some(n),
                ("max_total", Value::Size(n)) => args.max_total = Some(n),
                ("time_limit", Value::Duration(d)) => args.time_limit = Some(d),
                ("rate_limit", Value::Rate(r)) => args.rate_limit = Some(r),
                ("threads", Value::Count(n)) => args.threads = Some(n),
                ("split", Value::Size(n)) => args.split = Some(n),
                ("low_priority", Value::Flag(b)) => args.low_priority = b,
                ("allow_same_volume", Value::Flag(b)) => args.allow_same_volume = b,
                ("ioc", Value::Paths(v)) => args.hunt.ioc = v,
                ("sweep", Value::Texts(v)) => args.hunt.sweep = v,
                (key, value) => {
                    tracing::error!("configuration: `{key}` has an unexpected value {value:?}")
                }
            }
        }
        // A destination from a higher source replaces the other kind.
        if entry(&self.entries, "output").is_some_and(|e| e.value.is_none()) {
            args.output = None;
        }
        if entry(&self.entries, "upload_ticket").is_some_and(|e| e.value.is_none()) {
            args.upload_ticket = None;
        }
    }

    /// The text `config show` prints.
    pub fn render(&self) -> String {
        let mut out = format!(
            "# {}: configuration of `collect`, highest precedence first:\n#   command-line flags\n",
            self.tool
        );
        for p in &self.places {
            let state = if p.present { "" } else { "; not present" };
            let (role, state) = if p.role.contains("not read") {
                (p.role, "")
            } else {
                (p.role, state)
            };
            out.push_str(&format!("#   {} ({role}{state})\n", p.label));
        }
        out.push_str("#   embedded defaults\n");
        let lines: Vec<(String, String)> = self
            .entries
            .iter()
            .map(|e| match &e.value {
                Some((value, origin)) => {
                    let mut from = origin.to_string();
                    for o in &e.overridden {
                        from.push_str(&format!("; overrides {o}"));
                    }
                    (format!("{} = {}", e.key, value.to_toml()), from)
                }
                None => (format!("# {} (not set)", e.key), String::new()),
            })
            .collect();
        let width = lines
            .iter()
            .filter(|(_, from)| !from.is_empty())
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0)
            .min(48);
        for (line, from) in lines {
            if from.is_empty() {
                out.push_str(&line);
            } else {
                let pad = width.saturating_sub(line.chars().count());
                out.push_str(&format!("{line}{}  # {from}", " ".repeat(pad)));
            }
            out.push('\n');
        }
        out
    }
}

/// Reads the configuration and folds it into `args`; on error prints it
/// and returns the exit code to use (2).
pub fn apply_config(tool: &Tool, platform: Platform, args: &mut CollectArgs) -> Result<(), Exit> {
    match resolve(tool, platform, args) {
        Ok(effective) => {
            effective.apply(args);
            Ok(())
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(Exit::Failed)
        }
    }
}

/// Runs `sealbag-<os> config …`.
pub fn run_config(tool: &Tool, platform: Platform, command: ConfigCommand) -> Exit {
    match command {
        ConfigCommand::Show { args } => match resolve(tool, platform, &args) {
            Ok(effective) => {
                use std::io::Write;
                // A closed pipe (`| head`) is not worth a panic.
                let _ = std::io::stdout()
                    .lock()
                    .write_all(effective.render().as_bytes());
                Exit::Complete
            }
            Err(e) => {
                eprintln!("error: {e}");
                Exit::Failed
            }
        },
    }
}

/// Reads at most [`MAX_CONFIG_BYTES`] of `path`; `None` if it does not exist.
fn read_capped(path: &Path) -> Result<Option<Vec<u8>>, ConfigError> {
    use std::io::Read;
    let place = path.display().to_string();
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError {
                place,
                message: format!("cannot read the configuration: {e}"),
                hint: "make it readable by the account that runs the collector, or remove it"
                    .into(),
            })
        }
    };
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ConfigError {
            place: place.clone(),
            message: format!("cannot read the configuration: {e}"),
            hint: "is it a regular file?".into(),
        })?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError {
            place,
            message: format!("larger than {} KiB", MAX_CONFIG_BYTES >> 10),
            hint: "a configuration is a few lines; is this the right file?".into(),
        });
    }
    Ok(Some(bytes))
}

/// Reads a `sealbag.toml`; `None` if there is none.
fn read_toml_file(path: &Path) -> Result<Option<Layer>, ConfigError> {
    let Some(bytes) = read_capped(path)? else {
        return Ok(None);
    };
    let text = String::from_utf8(bytes).map_err(|e| ConfigError {
        place: path.display().to_string(),
        message: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        hint: "save the file as UTF-8".into(),
    })?;
    parse_toml(&text, path).map(Some)
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    (line, column)
}

/// Parses the text of a `sealbag.toml` found at `path`.
fn parse_toml(text: &str, path: &Path) -> Result<Layer, ConfigError> {
    let at = |offset: usize| {
        let (line, column) = line_column(text, offset);
        format!("{}:{line}:{column}", path.display())
    };
    type Table = BTreeMap<toml::Spanned<String>, toml::Spanned<toml::Value>>;
    let table: Table = toml::from_str(text).map_err(|e| ConfigError {
        place: match e.span() {
            Some(span) => at(span.start),
            None => path.display().to_string(),
        },
        message: e.message().trim().to_string(),
        hint: "fix the TOML syntax (https://toml.io); `sealbag.toml` holds `key = value` lines"
            .into(),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut layer = Layer::default();
    for (key, value) in &table {
        let line = line_column(text, key.span().start).0;
        let (name, checked) = check(key.get_ref(), &Raw::from_toml(value.get_ref()), Some(base))
            .map_err(|(message, hint)| ConfigError {
                place: at(
                    if message.starts_with("unknown") || message.contains("not accepted") {
                        key.span().start
                    } else {
                        value.span().start
                    },
                ),
                message,
                hint,
            })?;
        layer.values.insert(
            name,
            (
                checked,
                Origin::File {
                    path: path.to_path_buf(),
                    line,
                },
            ),
        );
    }
    exclusive(&layer, &path.display().to_string())?;
    Ok(layer)
}

/// `output` and `upload_ticket` in one source is a contradiction.
fn exclusive(layer: &Layer, place: &str) -> Result<(), ConfigError> {
    if layer.values.contains_key("output") && layer.values.contains_key("upload_ticket") {
        return Err(ConfigError {
            place: place.to_string(),
            message: "sets both `output` and `upload_ticket`".into(),
            hint: "keep one: the archive goes to one place".into(),
        });
    }
    Ok(())
}

/// Reads the managed preferences plist; `None` if there is none.
fn read_plist_file(path: &Path, reader: PlistReader) -> Result<Option<Layer>, ConfigError> {
    let Some(bytes) = read_capped(path)? else {
        return Ok(None);
    };
    let place = path.display().to_string();
    let value = reader(&bytes).map_err(|e| ConfigError {
        place: place.clone(),
        message: e,
        hint: "the configuration profile's payload must be a dictionary of sealbag keys".into(),
    })?;
    let serde_json::Value::Object(map) = value else {
        return Err(ConfigError {
            place,
            message: format!(
                "the top level is {}, not a dictionary",
                Raw::from_json(&value).type_name()
            ),
            hint: "the configuration profile's payload must be a dictionary of sealbag keys".into(),
        });
    };
    let mut layer = Layer::default();
    for (key, value) in &map {
        // What MDM adds beside the payload's own keys.
        if key.starts_with("Payload") || key == "PayloadContent" {
            continue;
        }
        let (name, checked) =
            check(key, &Raw::from_json(value), None).map_err(|(message, hint)| ConfigError {
                place: format!("{place}: key `{key}`"),
                message,
                hint,
            })?;
        layer
            .values
            .insert(name, (checked, Origin::Plist(path.to_path_buf())));
    }
    exclusive(&layer, &place)?;
    Ok(Some(layer))
}

/// Reads the registry policy key; `None` if it does not exist.
fn read_registry() -> Result<Option<Layer>, ConfigError> {
    let place = format!(r"HKLM\{REGISTRY_POLICY_KEY}");
    let values = crate::live::read_policy_key(REGISTRY_POLICY_KEY).map_err(|e| ConfigError {
        place: place.clone(),
        message: e,
        hint: "fix or remove the policy key".into(),
    })?;
    let Some(values) = values else {
        return Ok(None);
    };
    let mut layer = Layer::default();
    for (name, value) in values {
        let raw = match value {
            crate::live::RegistryValue::Text(s) => Raw::Str(s),
            crate::live::RegistryValue::Texts(v) => {
                Raw::List(v.into_iter().map(Raw::Str).collect())
            }
            crate::live::RegistryValue::Number(n) => Raw::Int(n as i64),
            crate::live::RegistryValue::Other(_) => Raw::Other("an unsupported registry type"),
        };
        let (key, checked) = check(&name, &raw, None).map_err(|(message, hint)| ConfigError {
            place: format!(r"{place}\{name}"),
            message,
            hint: format!(
                "{hint} (registry types: REG_SZ for strings, REG_MULTI_SZ for lists, REG_DWORD for numbers and 0/1 switches)"
            ),
        })?;
        layer.values.insert(key, (checked, Origin::Registry));
    }
    exclusive(&layer, &place)?;
    Ok(Some(layer))
}

/// Checks one key and value; errors are (message, hint). `base` resolves
/// relative paths (a file's folder); without it paths must be absolute.
fn check(
    key: &str,
    raw: &Raw,
    base: Option<&Path>,
) -> Result<(&'static str, Value), (String, String)> {
    if key == "no_encrypt" {
        return Err((
            "`no_encrypt` is not accepted in a configuration".into(),
            "a configuration never turns encryption off; pass `--no-encrypt` on the command line, each time, for lab use".into(),
        ));
    }
    let Some(&(name, kind, flag)) = KEYS.iter().find(|(name, _, _)| *name == key) else {
        let known: Vec<&str> = KEYS.iter().map(|(n, _, _)| *n).collect();
        return Err((
            format!("unknown key `{key}`"),
            format!("the keys are: {}", known.join(", ")),
        ));
    };
    let wrong = || {
        (
            format!(
                "`{name}` must be {}, not {}",
                kind.expected(),
                raw.type_name()
            ),
            format!(
                "write it as {flag} takes it, e.g. `{}`",
                example(kind, name)
            ),
        )
    };
    let text = |raw: &Raw| match raw {
        Raw::Str(s) if !s.trim().is_empty() => Ok(s.clone()),
        Raw::Str(_) => Err((
            format!("`{name}` is empty"),
            "remove the key, or give a value".to_string(),
        )),
        _ => Err(wrong()),
    };
    let texts = |raw: &Raw| -> Result<Vec<String>, (String, String)> {
        match raw {
            Raw::List(items) => items.iter().map(text).collect(),
            Raw::Str(_) => Ok(vec![text(raw)?]),
            _ => Err(wrong()),
        }
    };
    let path = |s: String| -> Result<PathBuf, (String, String)> {
        let p = PathBuf::from(&s);
        if p.is_absolute() || s.starts_with('/') || s.starts_with('\\') {
            return Ok(p);
        }
        match base {
            Some(base) => Ok(base.join(p)),
            None => Err((
                format!("`{name}` = `{s}`: a relative path"),
                "give an absolute path".into(),
            )),
        }
    };
    let value = match kind {
        Kind::Text => Value::Text(text(raw)?),
        Kind::Texts => Value::Texts(texts(raw)?),
        Kind::Path => Value::Path(path(text(raw)?)?),
        Kind::Paths => Value::Paths(
            texts(raw)?
                .into_iter()
                .map(path)
                .collect::<Result<_, _>>()?,
        ),
        Kind::Profile => {
            let s = text(raw)?;
            if crate::profile::embedded(&s).is_some() {
                Value::Text(s)
            } else {
                Value::Path(path(s)?)
            }
        }
        Kind::Output => {
            let s = text(raw)?;
            if s == "-" || crate::upload::is_remote(&s) {
                Value::Text(s)
            } else {
                Value::Path(path(s)?)
            }
        }
        Kind::Size => match raw {
            Raw::Str(s) => Value::Size(
                crate::profile::parse_size(s)
                    .map_err(|e| (format!("`{name}`: {e}"), "e.g. `\"512MiB\"`".into()))?,
            ),
            Raw::Int(n) if *n >= 0 => Value::Size(*n as u64),
            _ => return Err(wrong()),
        },
        Kind::Duration => match raw {
            Raw::Str(s) => Value::Duration(humantime::parse_duration(s).map_err(|e| {
                (
                    format!("`{name}` = `{s}`: {e}"),
                    "write e.g. `\"90s\"`, `\"30m\"`, `\"2h\"`".into(),
                )
            })?),
            _ => return Err(wrong()),
        },
        Kind::Rate => {
            let text = match raw {
                Raw::Int(n) => n.to_string(),
                Raw::Float(x) => x.to_string(),
                Raw::Str(s) => s.clone(),
                _ => return Err(wrong()),
            };
            Value::Rate(
                super::args::parse_rate_arg(&text)
                    .map_err(|e| (format!("`{name}`: {e}"), "e.g. `rate_limit = 20`".into()))?,
            )
        }
        Kind::Count => match raw {
            Raw::Int(n) if (1..=256).contains(n) => Value::Count(*n as u32),
            _ => return Err(wrong()),
        },
        Kind::Flag => match raw {
            Raw::Bool(b) => Value::Flag(*b),
            Raw::Int(0) => Value::Flag(false),
            Raw::Int(1) => Value::Flag(true),
            _ => return Err(wrong()),
        },
    };
    if name == "split" {
        if let Value::Size(n) = value {
            if n < 64 * 1024 {
                return Err((
                    "`split`: a part must be at least 64KiB".into(),
                    "e.g. `split = \"2GiB\"`".into(),
                ));
            }
        }
    }
    Ok((name, value))
}

/// An example line for a key, for hints.
fn example(kind: Kind, name: &str) -> String {
    let value = match kind {
        Kind::Text => "\"IR-2026-042\"",
        Kind::Texts => "[\"age1…\"]",
        Kind::Path => "\"/etc/sealbag/ticket.json\"",
        Kind::Paths => "[\"/etc/sealbag/team.txt\"]",
        Kind::Profile => "\"linux-triage\"",
        Kind::Output => "\"s3://bucket/{case}/{host}-{time}.tar.zst.age\"",
        Kind::Size => "\"512MiB\"",
        Kind::Duration => "\"30m\"",
        Kind::Rate => "20",
        Kind::Count => "2",
        Kind::Flag => "true",
    };
    format!("{name} = {value}")
}

#[cfg(test)]
mod tests;
