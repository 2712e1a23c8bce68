//! `wirework serve` settings. Each comes from, in order of precedence: a
//! command-line flag, an environment variable, `wirework.toml` (or the file
//! `--config` names), a default.

use anyhow::Context;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings an operator may give, each as a flag, an environment variable or
/// a key of the settings file (one struct for all three: clap reads the first
/// two, serde the file). All optional; see [`ServeConfig`] for the defaults.
#[derive(Debug, Default, Clone, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "WIREWORK_LISTEN")]
    pub listen: Option<String>,
    /// The data directory (default ./wirework-data).
    #[arg(long, env = "WIREWORK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Largest webhook body in bytes (default 1 MiB).
    #[arg(long, env = "WIREWORK_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// How long a sync webhook waits for its execution before answering 202 (default 10000).
    #[arg(long, env = "WIREWORK_SYNC_TIMEOUT_MS")]
    pub sync_timeout_ms: Option<u64>,
    /// How long a client may take to send a request's head, or a webhook's
    /// body (answered 408 after it); idle connections are closed after it
    /// too (default 30000).
    #[arg(long, env = "WIREWORK_REQUEST_TIMEOUT_MS")]
    pub request_timeout_ms: Option<u64>,
    /// How long a graceful shutdown lets open requests and running steps finish (default 10000).
    #[arg(long, env = "WIREWORK_SHUTDOWN_GRACE_MS")]
    pub shutdown_grace_ms: Option<u64>,
    /// A file holding the 32-byte credential key, 64 hex characters (default: secret.key in the data directory).
    #[arg(long, env = "WIREWORK_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// Days finished executions are kept (default 30).
    #[arg(long, env = "WIREWORK_RETENTION_DAYS")]
    pub retention_days: Option<u64>,
    /// Seconds an event that no execution waits for is kept for a wait that
    /// begins later, per exact name (default 600; 0: not kept).
    #[arg(long, env = "WIREWORK_EVENT_WINDOW_SECS")]
    pub event_window_secs: Option<u64>,
    /// Seconds between fetches of the revocation lists of the registries
    /// plugins were installed from (default 300; 0: only at start and on
    /// `POST /api/v1/plugins/refresh`).
    #[arg(long, env = "WIREWORK_REGISTRY_REFRESH_SECS")]
    pub registry_refresh_secs: Option<u64>,
    /// Where precompiled components are kept (default: cache/ in the data
    /// directory); hosts of one version may share one.
    #[arg(long, env = "WIREWORK_COMPONENT_CACHE")]
    pub component_cache: Option<PathBuf>,
    /// The URL callers reach this host at, e.g. https://hooks.example.com
    /// behind a proxy: webhook triggers see request URLs under it (Twilio
    /// signs the URL it called). Default: http:// and the request's Host header.
    #[arg(long, env = "WIREWORK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The most fuel any plugin call may use, whatever its manifest asks
    /// (default 100000000000).
    #[arg(long, env = "WIREWORK_MAX_CALL_FUEL")]
    pub max_call_fuel: Option<u64>,
    /// The longest any plugin call may run, in ms, whatever its manifest or
    /// node asks; a node's `timeout_ms` above it is refused at deploy (default 600000).
    #[arg(long, env = "WIREWORK_MAX_CALL_WALL_MS")]
    pub max_call_wall_ms: Option<u64>,
    /// The most linear memory any plugin call may have, in MiB (default 1024).
    #[arg(long, env = "WIREWORK_MAX_CALL_MEMORY_MIB")]
    pub max_call_memory_mib: Option<u64>,
    /// Fuel an execution's calls may use in all; past it the execution
    /// fails, saying so (default: no budget).
    #[arg(long, env = "WIREWORK_EXECUTION_FUEL_BUDGET")]
    pub execution_fuel_budget: Option<u64>,
    /// The built web studio served at / (default: studio/ beside the binary,
    /// else the repository's studio/dist).
    #[arg(long, env = "WIREWORK_STUDIO_DIR")]
    pub studio_dir: Option<PathBuf>,
    /// An operator variable, `$vars.<name>` in expressions: `--var region=eu`
    /// (repeatable; `WIREWORK_VARS="region=eu,tier=gold"`; `vars = ["region=eu"]` in the file).
    #[arg(long = "var", env = "WIREWORK_VARS", value_delimiter = ',', value_name = "NAME=VALUE")]
    #[serde(rename = "vars")]
    pub var: Option<Vec<String>>,
}

/// The settings the server runs with (`Debug` leaves out the secrets).
#[derive(Clone)]
pub struct ServeConfig {
    /// Address to listen on (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// The data directory (default `./wirework-data`).
    pub data_dir: PathBuf,
    /// Largest webhook body (default 1 MiB); larger ones are answered 413.
    pub max_body_bytes: usize,
    /// Sync webhooks answer 202 after this (default 10 s).
    pub sync_timeout: Duration,
    /// The time a client has to send a request's head (idle connections are
    /// closed after it) and a webhook's body (default 30 s).
    pub request_timeout: Duration,
    /// Graceful shutdown lets open requests, then running steps, finish for
    /// this long each (default 10 s).
    pub shutdown_grace: Duration,
    /// The credential key file (default: `secret.key` in the data directory,
    /// made at first start). `WIREWORK_SECRET_KEY` (64 hex characters) wins over it.
    pub secret_key_file: Option<PathBuf>,
    /// Finished executions are pruned after this (default 30 days).
    pub retention: Duration,
    /// Events nothing waits for are kept this long for a later wait (default 10 min).
    pub event_window: Duration,
    /// Revocation lists are fetched this often (default 5 min; `None`: only
    /// at start and on request).
    pub registry_refresh: Option<Duration>,
    /// Where precompiled components are kept (`None`: `cache/` in the data directory).
    pub component_cache: Option<PathBuf>,
    /// The URL callers reach this host at (`None`: `http://` and the Host header).
    pub public_url: Option<String>,
    /// Caps on every plugin call.
    pub call_caps: crate::instance::CallCaps,
    /// Fuel an execution may use in all (`None`: no budget).
    pub execution_fuel_budget: Option<u64>,
    /// The built studio to serve at `/` (`None`: looked for, see
    /// [`crate::server::studio::StudioFiles::locate`]).
    pub studio_dir: Option<PathBuf>,
    /// The operator's variables (`$vars` in expressions), a JSON object of texts.
    pub vars: serde_json::Value,
    /// The first admin token (`WIREWORK_ADMIN_TOKEN`).
    pub admin_token: Option<String>,
    /// The credential key given in the environment (`WIREWORK_SECRET_KEY`).
    pub secret_key_hex: Option<String>,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |set: bool| if set { "<set>" } else { "<unset>" };
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("sync_timeout", &self.sync_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("secret_key_file", &self.secret_key_file)
            .field("retention", &self.retention)
            .field("event_window", &self.event_window)
            .field("registry_refresh", &self.registry_refresh)
            .field("component_cache", &self.component_cache)
            .field("public_url", &self.public_url)
            .field("call_caps", &self.call_caps)
            .field("execution_fuel_budget", &self.execution_fuel_budget)
            .field("studio_dir", &self.studio_dir)
            .field("vars", &self.vars)
            .field("admin_token", &hidden(self.admin_token.is_some()))
            .field("secret_key_hex", &hidden(self.secret_key_hex.is_some()))
            .finish()
    }
}

impl ServeConfig {
    /// Settings from `overrides` over the file at `file` (if it exists; an
    /// explicitly named file must) over defaults.
    pub fn resolve(file: Option<&Path>, overrides: Settings) -> anyhow::Result<ServeConfig> {
        let from_file = match file {
            Some(path) => read_file(path)?,
            None if Path::new("wirework.toml").exists() => read_file(Path::new("wirework.toml"))?,
            None => Settings::default(),
        };
        let listen = overrides.listen.or(from_file.listen).unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen.parse().with_context(|| format!("`{listen}` is not an address like 127.0.0.1:8080"))?;
        let secret = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let public_url = overrides.public_url.or(from_file.public_url);
        let defaults = crate::instance::CallCaps::default();
        let call_caps = crate::instance::CallCaps {
            fuel: overrides.max_call_fuel.or(from_file.max_call_fuel).unwrap_or(defaults.fuel),
            wall_ms: overrides.max_call_wall_ms.or(from_file.max_call_wall_ms).unwrap_or(defaults.wall_ms),
            memory_mib: overrides.max_call_memory_mib.or(from_file.max_call_memory_mib).unwrap_or(defaults.memory_mib),
        };
        let bad_cap = |name: &str, value: u64, max: u64| {
            (value == 0 || value > max).then(|| anyhow::anyhow!("{name} must be between 1 and {max}, not {value}"))
        };
        let max = wirework_registry::manifest::MAX_LIMITS;
        for (name, value, max) in [
            ("max_call_fuel", call_caps.fuel, max.fuel),
            ("max_call_wall_ms", call_caps.wall_ms, max.wall_ms),
            ("max_call_memory_mib", call_caps.memory_mib, max.memory_mib),
        ] {
            if let Some(error) = bad_cap(name, value, max) {
                return Err(error);
            }
        }
        if let Some(text) = &public_url {
            let url = url::Url::parse(text).with_context(|| format!("public URL `{text}` is not a URL"))?;
            if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
                anyhow::bail!(
                    "public URL `{text}`: give scheme, host and an optional path, e.g. https://hooks.example.com"
                );
            }
        }
        Ok(ServeConfig {
            listen,
            data_dir: overrides
                .data_dir
                .or(from_file.data_dir)
                .unwrap_or_else(|| PathBuf::from(crate::data_dir::DEFAULT_DATA_DIR)),
            max_body_bytes: overrides.max_body_bytes.or(from_file.max_body_bytes).unwrap_or(1024 * 1024),
            sync_timeout: Duration::from_millis(
                overrides.sync_timeout_ms.or(from_file.sync_timeout_ms).unwrap_or(10_000),
            ),
            request_timeout: Duration::from_millis(
                overrides.request_timeout_ms.or(from_file.request_timeout_ms).unwrap_or(30_000).max(1),
            ),
            shutdown_grace: Duration::from_millis(
                overrides.shutdown_grace_ms.or(from_file.shutdown_grace_ms).unwrap_or(10_000),
            ),
            secret_key_file: overrides.secret_key_file.or(from_file.secret_key_file),
            retention: Duration::from_secs(
                overrides.retention_days.or(from_file.retention_days).unwrap_or(30).saturating_mul(24 * 3600),
            ),
            event_window: Duration::from_secs(
                overrides.event_window_secs.or(from_file.event_window_secs).unwrap_or(600),
            ),
            registry_refresh: match overrides.registry_refresh_secs.or(from_file.registry_refresh_secs).unwrap_or(300) {
                0 => None,
                secs => Some(Duration::from_secs(secs)),
            },
            component_cache: overrides.component_cache.or(from_file.component_cache),
            public_url,
            call_caps,
            execution_fuel_budget: overrides.execution_fuel_budget.or(from_file.execution_fuel_budget),
            studio_dir: overrides.studio_dir.or(from_file.studio_dir),
            vars: parse_vars(overrides.var.or(from_file.var).unwrap_or_default())?,
            admin_token: secret("WIREWORK_ADMIN_TOKEN"),
            secret_key_hex: secret("WIREWORK_SECRET_KEY"),
        })
    }
}

/// `name=value` pairs as a JSON object; a name is a letter or `_` then
/// letters, digits and `_`, as expressions spell it (`$vars.region`).
fn parse_vars(pairs: Vec<String>) -> anyhow::Result<serde_json::Value> {
    let mut vars = serde_json::Map::new();
    for pair in pairs.iter().filter(|p| !p.trim().is_empty()) {
        let (name, value) =
            pair.split_once('=').with_context(|| format!("variable `{pair}`: write it as name=value"))?;
        let name = name.trim();
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            anyhow::bail!("variable name `{name}`: a letter or _, then letters, digits or _");
        }
        if vars.insert(name.to_string(), serde_json::Value::String(value.to_string())).is_some() {
            anyhow::bail!("variable `{name}` is given twice");
        }
    }
    Ok(serde_json::Value::Object(vars))
}

fn read_file(path: &Path) -> anyhow::Result<Settings> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("wirework.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nmax_body_bytes = 10\nsync_timeout_ms = 5\n").unwrap();
        let overrides = Settings { max_body_bytes: Some(20), ..Default::default() };
        let config = ServeConfig::resolve(Some(&file), overrides).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.max_body_bytes, 20);
        assert_eq!(config.sync_timeout, Duration::from_millis(5));
        assert_eq!(config.shutdown_grace, Duration::from_secs(10));
        assert_eq!(config.request_timeout, Duration::from_secs(30));
    }

    #[test]
    fn unknown_settings_and_bad_addresses_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.toml");
        std::fs::write(&file, "listn = \"x\"\n").unwrap();
        let err = format!("{:#}", ServeConfig::resolve(Some(&file), Settings::default()).unwrap_err());
        assert!(err.contains("listn"), "{err}");
        let overrides = Settings { listen: Some("nowhere".into()), ..Default::default() };
        let err = format!("{:#}", ServeConfig::resolve(Some(&dir.path().join("none.toml")), overrides).unwrap_err());
        assert!(err.contains("none.toml"), "{err}");
    }

    #[test]
    fn operator_variables_come_from_flags_or_the_file_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("wirework.toml");
        std::fs::write(&file, "vars = [\"region=eu\", \"channel=#sales=team\"]\n").unwrap();
        let config = ServeConfig::resolve(Some(&file), Settings::default()).unwrap();
        assert_eq!(config.vars, serde_json::json!({"region": "eu", "channel": "#sales=team"}));
        let flags = Settings { var: Some(vec!["tier=gold".into()]), ..Default::default() };
        let config = ServeConfig::resolve(Some(&file), flags).unwrap();
        assert_eq!(config.vars, serde_json::json!({"tier": "gold"}), "flags replace the file's list");
        for bad in ["region", "1st=x", "a-b=x", "a=1,a=2"] {
            let flags = Settings { var: Some(bad.split(',').map(String::from).collect()), ..Default::default() };
            let err = format!("{:#}", ServeConfig::resolve(Some(&file), flags).unwrap_err());
            assert!(err.contains("variable"), "{bad}: {err}");
        }
    }
}
