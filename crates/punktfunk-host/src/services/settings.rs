//! Host settings: built-in defaults, overlaid by `config.toml` in the config dir, overlaid by
//! environment variables and command-line flags (`PUNKTFUNK_PORT=…` / `--port …`). The management API
//! edits the file layer (atomically); flags and env still win until the host restarts without them.

use crate::services::config_dir::write_atomic;
use crate::services::stream_limits::{StreamLimits, validate_caps};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

pub const FILE_NAME: &str = "config.toml";

/// An app a GameStream client can launch on its own display.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    pub name: String,
    /// Command line, run through `sh -c` with the display's environment.
    pub cmd: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub env: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Name clients see (mDNS, console). Default: this machine's host name.
    pub host_name: String,
    /// Address for punktfunk/1 (QUIC and data plane); `::` also accepts IPv4.
    #[schema(value_type = String)]
    pub bind: IpAddr,
    /// punktfunk/1 QUIC port; 0 picks a free one.
    pub port: u16,
    /// punktfunk/1 UDP data port; default the QUIC port + 1.
    pub data_port: Option<u16>,
    /// Address of the management API and web console.
    #[schema(value_type = String)]
    pub api_bind: IpAddr,
    /// Port of the management API and web console (HTTPS); 0 picks a free one.
    pub api_port: u16,
    /// Most concurrent sessions; further clients are refused with a reason.
    pub max_sessions: usize,
    /// Seconds without client feedback after which a session is torn down.
    pub feedback_timeout_secs: f64,
    /// Compositor for virtual displays instead of detecting one: sway, headless, mutter, kwin, gamescope.
    pub compositor: Option<String>,
    /// Trust on first use: accept clients that never paired (and remember them). Off = PIN pairing.
    pub open: bool,
    /// Advertise the host on the local network (mDNS).
    pub mdns: bool,
    /// Also speak GameStream so stock Moonlight clients work.
    pub gamestream: bool,
    /// First GameStream port (nvhttp HTTP); the others are fixed offsets from it.
    pub gamestream_port_base: u16,
    /// Apps GameStream clients can launch besides "Desktop".
    pub apps: Vec<AppConfig>,
    /// Widest display a client may ask for (pixels, at most 8192); wider requests are refused.
    pub max_width: u32,
    /// Tallest display a client may ask for (pixels, at most 8192); taller requests are refused.
    pub max_height: u32,
    /// Highest refresh rate a client may ask for (Hz, at most 500).
    pub max_refresh_hz: u32,
    /// Highest bitrate a client may ask for (kbit/s, at most 1000000).
    pub max_bitrate_kbps: u32,
    /// Most punktfunk/1 devices this host remembers; new clients (trusted on first use with
    /// `open`, or paired with a PIN) are refused once this many are paired.
    pub max_paired_devices: usize,
    /// Game library titles hidden from clients (Moonlight's app list, punktfunk/1's library): title
    /// ids such as `steam:570`, or a whole store as `steam:*`. The console's Library page edits it.
    pub library_hidden: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            host_name: default_host_name(),
            bind: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            port: punktfunk_core::DEFAULT_PORT,
            data_port: None,
            api_bind: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            api_port: 3000,
            max_sessions: 4,
            feedback_timeout_secs: 5.0,
            compositor: None,
            open: false,
            mdns: true,
            gamestream: false,
            gamestream_port_base: 47989,
            apps: Vec::new(),
            max_width: 7680,
            max_height: 4320,
            max_refresh_hz: 360,
            max_bitrate_kbps: 500_000,
            max_paired_devices: 64,
            library_hidden: Vec::new(),
        }
    }
}

fn default_host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("invalid settings: {0}")]
    Invalid(String),
    #[error("saving settings: {0:#}")]
    Save(anyhow::Error),
}

impl Settings {
    /// What a client may ask a stream to be under these settings (the one check both protocols
    /// make: punktfunk/1 Hello and GameStream launch).
    pub fn stream_limits(&self) -> StreamLimits {
        StreamLimits::new(
            self.max_width,
            self.max_height,
            self.max_refresh_hz,
            self.max_bitrate_kbps,
        )
    }

    /// The stream caps exactly as set (validation checks these against the ceilings).
    pub fn stream_caps(&self) -> StreamLimits {
        StreamLimits {
            max_width: self.max_width,
            max_height: self.max_height,
            max_refresh_hz: self.max_refresh_hz,
            max_bitrate_kbps: self.max_bitrate_kbps,
        }
    }

    /// Checks what the types cannot express.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |s: String| Err(SettingsError::Invalid(s));
        if self.host_name.trim().is_empty() || self.host_name.len() > 63 {
            return invalid("host_name must be 1 to 63 characters".into());
        }
        if self.max_sessions == 0 || self.max_sessions > 64 {
            return invalid("max_sessions must be between 1 and 64".into());
        }
        if !(self.feedback_timeout_secs.is_finite()
            && (0.5..=600.0).contains(&self.feedback_timeout_secs))
        {
            return invalid("feedback_timeout_secs must be between 0.5 and 600".into());
        }
        if let Some(c) = &self.compositor
            && !["sway", "headless", "mutter", "kwin", "gamescope"].contains(&c.as_str())
        {
            return invalid(format!(
                "compositor {c:?} is not one of sway, headless, mutter, kwin, gamescope"
            ));
        }
        if self.gamestream_port_base == 0 || self.gamestream_port_base > 65535 - 21 {
            return invalid("gamestream_port_base must leave room for its 21 port offsets".into());
        }
        validate_caps(&self.stream_caps()).or_else(invalid)?;
        if self.max_paired_devices == 0 || self.max_paired_devices > 10_000 {
            return invalid("max_paired_devices must be between 1 and 10000".into());
        }
        if self.library_hidden.len() > 10_000
            || self
                .library_hidden
                .iter()
                .any(|id| id.trim().is_empty() || id.len() > 512)
        {
            return invalid(
                "library_hidden holds at most 10000 title ids of 1 to 512 characters".into(),
            );
        }
        let mut names = std::collections::BTreeSet::new();
        for app in &self.apps {
            if app.name.trim().is_empty() || app.cmd.trim().is_empty() {
                return invalid("every app needs a name and a cmd".into());
            }
            if app.name.eq_ignore_ascii_case("desktop") || !names.insert(app.name.to_lowercase()) {
                return invalid(format!("app name {:?} is taken", app.name));
            }
        }
        Ok(())
    }
}

/// The file layer, the command-line/env layer on top, and the effective result.
struct Layers {
    file: Map<String, Value>,
    overrides: Map<String, Value>,
    effective: Settings,
}

/// The host's settings, shared by everything that reads or edits them.
#[derive(Clone)]
pub struct SettingsStore {
    path: PathBuf,
    layers: Arc<Mutex<Layers>>,
}

impl SettingsStore {
    /// Reads `config.toml` from `dir` (missing = all defaults) and applies `overrides` (flag and env
    /// values by setting name). A file that does not parse is an error naming it: silently running on
    /// defaults would, e.g., turn pairing off.
    pub fn load(dir: &Path, overrides: Map<String, Value>) -> Result<SettingsStore, SettingsError> {
        let path = dir.join(FILE_NAME);
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => parse_toml(&text).map_err(|reason| SettingsError::File {
                path: path.clone(),
                reason,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => {
                return Err(SettingsError::File {
                    path,
                    reason: e.to_string(),
                });
            }
        };
        let effective = combine(&file, &overrides).map_err(|e| match e {
            SettingsError::Invalid(reason) => SettingsError::File {
                path: path.clone(),
                reason,
            },
            other => other,
        })?;
        Ok(SettingsStore {
            path,
            layers: Arc::new(Mutex::new(Layers {
                file,
                overrides,
                effective,
            })),
        })
    }

    fn layers(&self) -> std::sync::MutexGuard<'_, Layers> {
        // Layers are replaced whole, never left half-written.
        self.layers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The effective settings.
    pub fn get(&self) -> Settings {
        self.layers().effective.clone()
    }

    /// Merges `patch` (a JSON object of setting names → values; `null` resets to the default) into the
    /// file layer, validates the result, and saves it atomically. Nothing changes when it fails.
    pub fn patch(&self, patch: Value) -> Result<Settings, SettingsError> {
        let Value::Object(patch) = patch else {
            return Err(SettingsError::Invalid(
                "a settings patch must be a JSON object".into(),
            ));
        };
        let mut layers = self.layers();
        let mut file = layers.file.clone();
        for (key, value) in patch {
            if !known_key(&key) {
                return Err(SettingsError::Invalid(format!("unknown setting {key:?}")));
            }
            if value.is_null() {
                file.remove(&key);
            } else {
                file.insert(key, value);
            }
        }
        let effective = combine(&file, &layers.overrides)?;
        // The file must hold what a restart would read back: check the file layer alone too.
        combine(&file, &Map::new())?;
        let text = to_toml(&file)?;
        // Private: apps' `env` may hold secrets (tokens, passwords).
        write_atomic(&self.path, text.as_bytes(), true).map_err(SettingsError::Save)?;
        layers.file = file;
        layers.effective = effective.clone();
        Ok(effective)
    }
}

fn known_key(key: &str) -> bool {
    // Options serialise as null, so every field is a key of the default's JSON object.
    matches!(
        serde_json::to_value(Settings::default()),
        Ok(Value::Object(map)) if map.contains_key(key)
    )
}

fn parse_toml(text: &str) -> Result<Map<String, Value>, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    match serde_json::to_value(table) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("expected a table".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn to_toml(map: &Map<String, Value>) -> Result<String, SettingsError> {
    // Through `Settings` so the file gets the canonical field order and types, but only the keys the
    // user set are written: defaults stay defaults when a new version changes them.
    let typed: Settings = serde_json::from_value(Value::Object(map.clone()))
        .map_err(|e| SettingsError::Invalid(e.to_string()))?;
    let Value::Object(all) =
        serde_json::to_value(&typed).map_err(|e| SettingsError::Invalid(e.to_string()))?
    else {
        return Err(SettingsError::Invalid("settings are not an object".into()));
    };
    let mut table = toml::Table::new();
    for (key, value) in all {
        if map.contains_key(&key) {
            let value: toml::Value = serde_json::from_value(value)
                .map_err(|e| SettingsError::Invalid(format!("{key}: {e}")))?;
            table.insert(key, value);
        }
    }
    toml::to_string_pretty(&table).map_err(|e| SettingsError::Invalid(e.to_string()))
}

/// Defaults ⊕ file ⊕ overrides, typed and validated.
fn combine(
    file: &Map<String, Value>,
    overrides: &Map<String, Value>,
) -> Result<Settings, SettingsError> {
    let mut merged = file.clone();
    for (k, v) in overrides {
        merged.insert(k.clone(), v.clone());
    }
    let settings: Settings = serde_json::from_value(Value::Object(merged))
        .map_err(|e| SettingsError::Invalid(e.to_string()))?;
    settings.validate()?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "pf-settings-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn layers_apply_in_order_and_patches_persist() {
        let dir = temp_dir("layers");
        std::fs::write(dir.join(FILE_NAME), "max_sessions = 2\nport = 5000\n").unwrap();
        let mut overrides = Map::new();
        overrides.insert("port".into(), json!(6000));
        let store = SettingsStore::load(&dir, overrides.clone()).unwrap();
        let s = store.get();
        assert_eq!((s.max_sessions, s.port, s.api_port), (2, 6000, 3000));

        let s = store
            .patch(json!({"max_sessions": 3, "port": 5001, "open": true}))
            .unwrap();
        assert_eq!(
            (s.max_sessions, s.port, s.open),
            (3, 6000, true),
            "flag wins"
        );
        let reread = SettingsStore::load(&dir, Map::new()).unwrap().get();
        assert_eq!(
            (reread.max_sessions, reread.port, reread.open),
            (3, 5001, true)
        );
        let text = std::fs::read_to_string(dir.join(FILE_NAME)).unwrap();
        assert!(
            !text.contains("api_port"),
            "only user-set keys are written: {text}"
        );

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "apps' env may hold secrets");
        }

        let s = store.patch(json!({"max_sessions": null})).unwrap();
        assert_eq!(s.max_sessions, 4, "null resets to the default");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_patches_change_nothing() {
        let dir = temp_dir("bad");
        let store = SettingsStore::load(&dir, Map::new()).unwrap();
        for bad in [
            json!({"max_sessions": 0}),
            json!({"max_sessions": "four"}),
            json!({"no_such_setting": 1}),
            json!({"compositor": "weston"}),
            json!({"max_width": 16384}),
            json!({"max_bitrate_kbps": 5_000_000}),
            json!({"max_paired_devices": 0}),
            json!({"apps": [{"name": "Desktop", "cmd": "true"}]}),
            json!({"library_hidden": ["steam:570", " "]}),
            json!({"library_hidden": ["x".repeat(513)]}),
            json!({"library_hidden": "steam:570"}),
            json!([1, 2]),
        ] {
            let err = store.patch(bad.clone()).unwrap_err();
            assert!(!err.to_string().is_empty(), "{bad}");
        }
        assert_eq!(
            store.get(),
            SettingsStore::load(&dir, Map::new()).unwrap().get()
        );
        assert!(!dir.join(FILE_NAME).exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_broken_file_is_an_error_naming_it() {
        let dir = temp_dir("broken");
        std::fs::write(dir.join(FILE_NAME), "max_sessions = [").unwrap();
        let err = SettingsStore::load(&dir, Map::new())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(FILE_NAME), "{err}");
        std::fs::write(dir.join(FILE_NAME), "max_sessions = 0").unwrap();
        let err = SettingsStore::load(&dir, Map::new())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("max_sessions"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn hidden_library_titles_persist() {
        let dir = temp_dir("hidden");
        let store = SettingsStore::load(&dir, Map::new()).unwrap();
        store
            .patch(json!({"library_hidden": ["steam:570", "lutris:*"]}))
            .unwrap();
        let reread = SettingsStore::load(&dir, Map::new()).unwrap().get();
        assert_eq!(reread.library_hidden, ["steam:570", "lutris:*"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn apps_round_trip_through_toml() {
        let dir = temp_dir("apps");
        let store = SettingsStore::load(&dir, Map::new()).unwrap();
        store
            .patch(json!({"apps": [{"name": "Terminal", "cmd": "foot", "env": {"A": "1"}}]}))
            .unwrap();
        let reread = SettingsStore::load(&dir, Map::new()).unwrap().get();
        assert_eq!(reread.apps[0].name, "Terminal");
        assert_eq!(reread.apps[0].env["A"], "1");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
