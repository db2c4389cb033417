//! Typed configuration (SPEC section 5): a YAML file, every key defaulted, then
//! environment overrides (`AMQP_URL`, `DATABASE_URL`, `LEADROUTER_SECTION__KEY`).
//!
//! Errors name the key (and the environment variable when the value came from one), so
//! an operator can fix a bad deployment from the first log line. URLs are kept in
//! [`SecretUrl`], whose `Debug`/`Display` hide the password: the config is logged at
//! start and must never leak credentials.
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Prefix of the per-key environment overrides: `LEADROUTER_AMQP__PREFETCH=64`.
pub const ENV_PREFIX: &str = "LEADROUTER_";

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub amqp: AmqpConfig,
    pub database: DatabaseConfig,
    pub rules: RulesConfig,
    pub http: HttpConfig,
    pub alerts: AlertsConfig,
    pub logging: LoggingConfig,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmqpConfig {
    pub url: SecretUrl,
    pub queue: String,
    pub dead_letter_queue: String,
    /// Topic exchange for outbound events.
    pub events_exchange: String,
    /// `basic.qos` prefetch count (AMQP limits it to 16 bits).
    pub prefetch: u16,
    /// Most leads decided and committed in one transaction. Default: half the prefetch
    /// window, so the broker keeps delivering the next batch while one commits.
    pub batch_size: Option<u16>,
    /// Larger bodies are dead-lettered.
    pub max_message_bytes: usize,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        Self {
            url: SecretUrl::new("amqp://guest:guest@127.0.0.1:5672/%2f"),
            queue: "leads.inbound".into(),
            dead_letter_queue: "leads.dead".into(),
            events_exchange: "leads.events".into(),
            prefetch: 512,
            batch_size: None,
            max_message_bytes: crate::lead::DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: SecretUrl,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: SecretUrl::new("postgres://postgres@127.0.0.1:5432/leadrouter"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// Resolved by [`Config::load`]: a relative path is taken from the config file's
    /// directory (the working directory when there is no file or it came from the env).
    pub path: PathBuf,
    /// Reload on change (SIGHUP always reloads).
    pub watch: bool,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("rules/routing.yaml"),
            watch: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Serves `/metrics`, `/healthz`, `/readyz`.
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub unassigned_after: Duration,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub sweep_every: Duration,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            unassigned_after: Duration::from_secs(24 * 3600),
            sweep_every: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    pub format: LogFormat,
    /// A `tracing` filter: `info`, or directives like `info,leadrouter=debug,sqlx=warn`.
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("unknown configuration variable {var}: no such key `{key}`")]
    UnknownEnv { var: String, key: String },
    #[error("invalid value for `{key}`{}: {message}", env_suffix(var))]
    Invalid {
        key: String,
        var: Option<String>,
        message: String,
    },
}

fn env_suffix(var: &Option<String>) -> String {
    var.as_ref()
        .map(|v| format!(" (from {v})"))
        .unwrap_or_default()
}

impl Config {
    /// Loads the file (if any), then applies the process environment, then validates.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(path, std::env::vars_os())
    }

    /// [`Config::load`] with an explicit environment, so tests never touch the process env.
    pub fn load_with_env<I, K, V>(path: Option<&Path>, env: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let mut config = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                let mut c = Self::from_yaml(&text).map_err(|message| ConfigError::Parse {
                    path: p.to_owned(),
                    message,
                })?;
                // Paths written in (or defaulted by) the file are relative to it, so a
                // deployment directory can be moved as a whole.
                let base = p.parent().unwrap_or(Path::new(""));
                if c.rules.path.is_relative() {
                    c.rules.path = base.join(&c.rules.path);
                }
                c
            }
            None => Config::default(),
        };
        let sources = config.apply_env_tracked(env)?;
        config.validate_with_sources(&sources)?;
        Ok(config)
    }

    /// Parses YAML text (no env, no path resolution, no validation).
    pub fn from_yaml(text: &str) -> Result<Config, String> {
        // An empty file (or one with only comments) means "all defaults"; serde_yaml
        // would report it as an unexpected end of stream.
        let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        if value.is_null() {
            return Ok(Config::default());
        }
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }

    /// Applies `AMQP_URL`, `DATABASE_URL` and `LEADROUTER_SECTION__KEY` overrides.
    /// The `LEADROUTER_` form is applied last, so it wins over the short URL names.
    /// Variables with the prefix but without `__` are not config keys (e.g. a
    /// `LEADROUTER_CONFIG` a launcher might use) and are left alone.
    pub fn apply_env<I, K, V>(&mut self, env: I) -> Result<(), ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.apply_env_tracked(env).map(drop)
    }

    /// Applies the overrides and returns which variable set each key (the last one
    /// applied), so validation errors can name it.
    fn apply_env_tracked<I, K, V>(&mut self, env: I) -> Result<HashMap<String, String>, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let mut short = Vec::new();
        let mut keyed = Vec::new();
        for (k, v) in env {
            let Some(var) = k.as_ref().to_str() else {
                continue;
            };
            let target = match var {
                "AMQP_URL" => Some(("amqp".to_owned(), "url".to_owned())),
                "DATABASE_URL" => Some(("database".to_owned(), "url".to_owned())),
                _ => None,
            };
            let is_keyed = target.is_none();
            let (section, key) = match target {
                Some(t) => t,
                None => {
                    let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
                        continue;
                    };
                    let Some((section, key)) = rest.split_once("__") else {
                        continue;
                    };
                    (section.to_ascii_lowercase(), key.to_ascii_lowercase())
                }
            };
            let value =
                v.as_ref()
                    .to_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ConfigError::Invalid {
                        key: format!("{section}.{key}"),
                        var: Some(var.to_owned()),
                        message: "value is not valid UTF-8".into(),
                    })?;
            let item = (var.to_owned(), section, key, value);
            if is_keyed {
                keyed.push(item)
            } else {
                short.push(item)
            }
        }
        // Deterministic order whatever order the environment iterates in.
        keyed.sort();
        let mut sources = HashMap::new();
        for (var, section, key, value) in short.into_iter().chain(keyed) {
            self.set(&section, &key, &value, &var)?;
            sources.insert(format!("{section}.{key}"), var);
        }
        Ok(sources)
    }

    fn set(&mut self, section: &str, key: &str, value: &str, var: &str) -> Result<(), ConfigError> {
        let name = format!("{section}.{key}");
        let invalid = |message: String| ConfigError::Invalid {
            key: name.clone(),
            var: Some(var.to_owned()),
            message,
        };
        match (section, key) {
            ("amqp", "url") => self.amqp.url = SecretUrl::new(value),
            ("amqp", "queue") => self.amqp.queue = value.to_owned(),
            ("amqp", "dead_letter_queue") => self.amqp.dead_letter_queue = value.to_owned(),
            ("amqp", "events_exchange") => self.amqp.events_exchange = value.to_owned(),
            ("amqp", "prefetch") => {
                self.amqp.prefetch = value.trim().parse().map_err(|_| {
                    invalid(format!(
                        "expected an integer from 1 to {}, got {value:?}",
                        u16::MAX
                    ))
                })?
            }
            ("amqp", "batch_size") => {
                self.amqp.batch_size = Some(value.trim().parse().map_err(|_| {
                    invalid(format!(
                        "expected an integer from 1 to {}, got {value:?}",
                        u16::MAX
                    ))
                })?)
            }
            ("amqp", "max_message_bytes") => {
                self.amqp.max_message_bytes = value
                    .trim()
                    .parse()
                    .map_err(|_| invalid(format!("expected a positive integer, got {value:?}")))?
            }
            ("database", "url") => self.database.url = SecretUrl::new(value),
            // An env-provided path is relative to the working directory, like any
            // path given on a command line.
            ("rules", "path") => self.rules.path = PathBuf::from(value),
            ("rules", "watch") => self.rules.watch = parse_bool(value).map_err(invalid)?,
            ("http", "listen") => {
                self.http.listen = value.trim().parse().map_err(|_| {
                    invalid(format!(
                        "expected a socket address like 127.0.0.1:9464, got {value:?}"
                    ))
                })?
            }
            ("alerts", "unassigned_after") => {
                self.alerts.unassigned_after = parse_duration(value).map_err(invalid)?
            }
            ("alerts", "sweep_every") => {
                self.alerts.sweep_every = parse_duration(value).map_err(invalid)?
            }
            ("logging", "format") => {
                self.logging.format = match value.trim().to_ascii_lowercase().as_str() {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => return Err(invalid(format!("expected `text` or `json`, got {value:?}"))),
                }
            }
            ("logging", "level") => self.logging.level = value.to_owned(),
            _ => {
                return Err(ConfigError::UnknownEnv {
                    var: var.to_owned(),
                    key: name,
                });
            }
        }
        Ok(())
    }

    /// Checks values serde cannot: ranges, URL schemes, filter syntax.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_with_sources(&HashMap::new())
    }

    fn validate_with_sources(&self, sources: &HashMap<String, String>) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_owned(),
            var: sources.get(key).cloned(),
            message,
        };
        check_scheme(&self.amqp.url, &["amqp", "amqps"]).map_err(|m| invalid("amqp.url", m))?;
        check_scheme(&self.database.url, &["postgres", "postgresql"])
            .map_err(|m| invalid("database.url", m))?;
        for (key, v) in [
            ("amqp.queue", &self.amqp.queue),
            ("amqp.dead_letter_queue", &self.amqp.dead_letter_queue),
            ("amqp.events_exchange", &self.amqp.events_exchange),
        ] {
            if v.trim().is_empty() {
                return Err(invalid(key, "must not be empty".into()));
            }
            // AMQP short strings are at most 255 bytes.
            if v.len() > 255 {
                return Err(invalid(
                    key,
                    format!("is {} bytes, at most 255 allowed", v.len()),
                ));
            }
        }
        if self.amqp.queue == self.amqp.dead_letter_queue {
            return Err(invalid(
                "amqp.dead_letter_queue",
                "must differ from amqp.queue".into(),
            ));
        }
        if self.amqp.prefetch == 0 {
            return Err(invalid("amqp.prefetch", "must be at least 1".into()));
        }
        if let Some(size) = self.amqp.batch_size
            && (size == 0 || size > self.amqp.prefetch)
        {
            return Err(invalid(
                "amqp.batch_size",
                format!(
                    "must be from 1 to amqp.prefetch ({}), got {size}",
                    self.amqp.prefetch
                ),
            ));
        }
        if self.amqp.max_message_bytes == 0 {
            return Err(invalid(
                "amqp.max_message_bytes",
                "must be at least 1".into(),
            ));
        }
        if self.rules.path.as_os_str().is_empty() {
            return Err(invalid("rules.path", "must not be empty".into()));
        }
        // A zero period would make the sweeper's interval timer panic.
        if self.alerts.sweep_every.is_zero() {
            return Err(invalid(
                "alerts.sweep_every",
                "must be greater than 0".into(),
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&self.logging.level) {
            return Err(invalid(
                "logging.level",
                format!("not a valid log filter ({e})"),
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Config {
    /// The effective configuration as YAML, passwords redacted (safe to log).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_yaml::to_string(self) {
            Ok(s) => f.write_str(s.trim_end()),
            Err(_) => write!(f, "{self:?}"),
        }
    }
}

fn check_scheme(url: &SecretUrl, schemes: &[&str]) -> Result<(), String> {
    let s = url.expose();
    let scheme = s.split_once("://").map(|(sch, _)| sch.to_ascii_lowercase());
    match scheme {
        Some(sch) if schemes.contains(&sch.as_str()) => Ok(()),
        _ => Err(format!("expected a {} URL, got {url}", schemes.join("/"))),
    }
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("expected true or false, got {s:?}")),
    }
}

/// Parses `24h`, `1m`, `30s`, `500ms`, `2d`, or a sum like `1h30m`.
/// A bare number is refused: `60` could mean seconds or minutes.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    let err = || format!("expected a duration like 30s, 1m, 24h or 500ms, got {s:?}");
    if text.is_empty() {
        return Err(err());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        if digits == 0 {
            return Err(err());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Some(Duration::from_millis(n)),
            "s" => Some(Duration::from_secs(n)),
            "m" => n.checked_mul(60).map(Duration::from_secs),
            "h" => n.checked_mul(3600).map(Duration::from_secs),
            "d" => n.checked_mul(86_400).map(Duration::from_secs),
            _ => return Err(err()),
        };
        total = part
            .and_then(|p| total.checked_add(p))
            .ok_or_else(|| format!("duration {s:?} is too large"))?;
    }
    Ok(total)
}

/// Formats a duration the way [`parse_duration`] reads it (`1h30m`, `500ms`, `0s`).
pub fn format_duration(d: Duration) -> String {
    let mut out = String::new();
    let mut secs = d.as_secs();
    // Hours at most (`24h`, as the spec writes it), though `d` is accepted on input.
    for (unit, size) in [("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    let ms = d.subsec_millis();
    if ms > 0 {
        out.push_str(&format!("{ms}ms"));
    }
    if out.is_empty() {
        // Zero, or a sub-millisecond duration: round the latter up so it stays non-zero.
        out.push_str(if d.is_zero() { "0s" } else { "1ms" });
    }
    out
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    // A visitor rather than `String::deserialize` then parse: an error raised inside
    // the visitor gets the full key path (`alerts.sweep_every`) from serde_yaml.
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration like 30s, 1m, 24h or 500ms")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
            parse_duration(v).map_err(E::custom)
        }
    }
    d.deserialize_str(V)
}

fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

/// A URL that may hold a password. `Debug`, `Display` and `Serialize` show it redacted;
/// [`SecretUrl::expose`] is the one way to the real text, and is meant for connecting.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for handing to a client library. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({:?})", self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretUrl)
    }
}

/// Replaces the password in `scheme://user:password@host/...` with `***`. Written by
/// hand rather than with a URL parser so that even a malformed URL (the case most
/// likely to be logged in an error) never shows its password. A `password=` query
/// parameter (libpq style) is redacted too.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return redact_query(url);
    };
    let auth_start = scheme_end + 3;
    let auth_end = url[auth_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| auth_start + i);
    let authority = &url[auth_start..auth_end];
    let redacted_auth = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}:***{}", &userinfo[..colon], &authority[at..]),
                None => authority.to_owned(),
            }
        }
        None => authority.to_owned(),
    };
    format!(
        "{}{}{}",
        &url[..auth_start],
        redacted_auth,
        redact_query(&url[auth_end..])
    )
}

fn redact_query(rest: &str) -> String {
    let Some(q) = rest.find('?') else {
        return rest.to_owned();
    };
    let (path, query) = rest.split_at(q + 1);
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_owned(),
        })
        .collect();
    format!("{path}{}", parts.join("&"))
}

impl AmqpConfig {
    /// The batch size in force: `batch_size`, or half the prefetch window.
    pub fn effective_batch_size(&self) -> usize {
        let size = self.batch_size.unwrap_or(self.prefetch / 2);
        usize::from(size.max(1))
    }
}

impl Config {
    /// What the broker layer needs from this configuration.
    pub fn broker_settings(&self) -> crate::broker::BrokerSettings {
        crate::broker::BrokerSettings {
            url: self.amqp.url.expose().to_owned(),
            names: crate::broker::BrokerNames {
                inbound: self.amqp.queue.clone(),
                dead_letter: self.amqp.dead_letter_queue.clone(),
                events_exchange: self.amqp.events_exchange.clone(),
            },
            prefetch: self.amqp.prefetch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    fn write_config(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leadrouter.yaml");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        (dir, path)
    }

    #[test]
    fn defaults_match_the_spec() {
        let c = Config::load_with_env(None, no_env()).unwrap();
        assert_eq!(c.amqp.url.expose(), "amqp://guest:guest@127.0.0.1:5672/%2f");
        assert_eq!(c.amqp.queue, "leads.inbound");
        assert_eq!(c.amqp.dead_letter_queue, "leads.dead");
        assert_eq!(c.amqp.events_exchange, "leads.events");
        assert_eq!(c.amqp.prefetch, 512);
        assert_eq!(c.amqp.max_message_bytes, 262_144);
        assert_eq!(
            c.database.url.expose(),
            "postgres://postgres@127.0.0.1:5432/leadrouter"
        );
        assert_eq!(c.rules.path, PathBuf::from("rules/routing.yaml"));
        assert!(c.rules.watch);
        assert_eq!(
            c.http.listen,
            "127.0.0.1:9464".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(c.alerts.unassigned_after, Duration::from_secs(86_400));
        assert_eq!(c.alerts.sweep_every, Duration::from_secs(60));
        assert_eq!(c.logging.format, LogFormat::Text);
        assert_eq!(c.logging.level, "info");
    }

    #[test]
    fn file_values_and_partial_sections() {
        let (_dir, path) = write_config(
            "amqp:\n  prefetch: 64\n  queue: q.in\nalerts:\n  unassigned_after: 2h\n  sweep_every: 500ms\nlogging: {format: json, level: debug}\n",
        );
        let c = Config::load_with_env(Some(&path), no_env()).unwrap();
        assert_eq!(c.amqp.prefetch, 64);
        assert_eq!(c.amqp.queue, "q.in");
        assert_eq!(
            c.amqp.dead_letter_queue, "leads.dead",
            "unset keys keep their default"
        );
        assert_eq!(c.alerts.unassigned_after, Duration::from_secs(7200));
        assert_eq!(c.alerts.sweep_every, Duration::from_millis(500));
        assert_eq!(c.logging.format, LogFormat::Json);
        assert_eq!(c.logging.level, "debug");
    }

    #[test]
    fn empty_file_means_defaults() {
        let (_dir, path) = write_config("# nothing here\n");
        let c = Config::load_with_env(Some(&path), no_env()).unwrap();
        assert_eq!(c.amqp.prefetch, 512);
    }

    #[test]
    fn unknown_keys_are_refused_with_their_path() {
        let (_dir, path) = write_config("amqp:\n  prefech: 10\n");
        let e = Config::load_with_env(Some(&path), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("prefech"), "{e}");
        assert!(e.contains("leadrouter.yaml"), "{e}");

        let (_dir, path) = write_config("amqps:\n  url: x\n");
        let e = Config::load_with_env(Some(&path), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("amqps"), "{e}");
    }

    #[test]
    fn batch_size_defaults_to_half_the_prefetch_window() {
        let (_dir, path) = write_config("amqp:\n  prefetch: 300\n");
        let c = Config::load_with_env(Some(&path), no_env()).unwrap();
        assert_eq!(c.amqp.effective_batch_size(), 150);
        let (_dir, path) = write_config("amqp:\n  prefetch: 1\n");
        let c = Config::load_with_env(Some(&path), no_env()).unwrap();
        assert_eq!(c.amqp.effective_batch_size(), 1);
        let env = env(&[("LEADROUTER_AMQP__BATCH_SIZE", "512")]);
        let c = Config::load_with_env(None, env).unwrap();
        assert_eq!(c.amqp.effective_batch_size(), 512);
    }

    #[test]
    fn bad_file_values_name_the_key() {
        let (_dir, path) = write_config("amqp:\n  prefetch: lots\n");
        let e = Config::load_with_env(Some(&path), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("amqp.prefetch"), "{e}");

        let (_dir, path) = write_config("alerts:\n  sweep_every: 10 minutes\n");
        let e = Config::load_with_env(Some(&path), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("alerts.sweep_every"), "{e}");

        let (_dir, path) = write_config("http:\n  listen: localhost\n");
        let e = Config::load_with_env(Some(&path), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("http.listen"), "{e}");

        let (_dir, path) = write_config("amqp:\n  prefetch: 0\n");
        let e = Config::load_with_env(Some(&path), no_env())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("amqp.prefetch") && e.contains("at least 1"),
            "{e}"
        );
        assert!(
            !e.contains("LEADROUTER_"),
            "a file value is not blamed on the env: {e}"
        );

        let (_dir, path) = write_config("amqp:\n  prefetch: 64\n  batch_size: 128\n");
        let e = Config::load_with_env(Some(&path), no_env())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("amqp.batch_size") && e.contains("amqp.prefetch (64)"),
            "{e}"
        );

        let (_dir, path) = write_config("amqp:\n  max_message_bytes: 0\n");
        let e = Config::load_with_env(Some(&path), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("amqp.max_message_bytes"), "{e}");

        let (_dir, path) = write_config("logging:\n  format: xml\n");
        let e = Config::load_with_env(Some(&path), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("logging.format"), "{e}");
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let e = Config::load_with_env(Some(Path::new("/nonexistent/leadrouter.yaml")), no_env())
            .unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }), "{e}");
    }

    #[test]
    fn env_overrides_win_over_the_file() {
        let (_dir, path) = write_config("amqp:\n  prefetch: 64\nrules:\n  watch: true\n");
        let c = Config::load_with_env(
            Some(&path),
            env(&[
                ("LEADROUTER_AMQP__PREFETCH", "8"),
                ("LEADROUTER_RULES__WATCH", "false"),
                ("LEADROUTER_HTTP__LISTEN", "0.0.0.0:9000"),
                ("LEADROUTER_ALERTS__UNASSIGNED_AFTER", "90m"),
                ("LEADROUTER_LOGGING__FORMAT", "JSON"),
                ("AMQP_URL", "amqp://u:p@broker:5672/%2f"),
                ("DATABASE_URL", "postgres://app:pw@db/leads"),
                ("PATH", "/usr/bin"),
                ("LEADROUTER_CONFIG", "ignored: no `__`, not a key"),
            ]),
        )
        .unwrap();
        assert_eq!(c.amqp.prefetch, 8);
        assert!(!c.rules.watch);
        assert_eq!(c.http.listen, "0.0.0.0:9000".parse::<SocketAddr>().unwrap());
        assert_eq!(c.alerts.unassigned_after, Duration::from_secs(5400));
        assert_eq!(c.logging.format, LogFormat::Json);
        assert_eq!(c.amqp.url.expose(), "amqp://u:p@broker:5672/%2f");
        assert_eq!(c.database.url.expose(), "postgres://app:pw@db/leads");
    }

    #[test]
    fn prefixed_url_var_wins_over_the_short_one() {
        let c = Config::load_with_env(
            None,
            env(&[
                ("LEADROUTER_DATABASE__URL", "postgres://a@x/one"),
                ("DATABASE_URL", "postgres://b@y/two"),
            ]),
        )
        .unwrap();
        assert_eq!(c.database.url.expose(), "postgres://a@x/one");
    }

    #[test]
    fn unknown_env_key_is_an_error_naming_it() {
        let e = Config::load_with_env(None, env(&[("LEADROUTER_AMQP__PREFECH", "1")])).unwrap_err();
        assert!(matches!(e, ConfigError::UnknownEnv { .. }));
        assert!(e.to_string().contains("LEADROUTER_AMQP__PREFECH"), "{e}");

        let e = Config::load_with_env(None, env(&[("LEADROUTER_NOPE__X", "1")])).unwrap_err();
        assert!(e.to_string().contains("LEADROUTER_NOPE__X"), "{e}");
    }

    #[test]
    fn bad_env_values_name_key_and_var() {
        for (var, val, key) in [
            ("LEADROUTER_AMQP__PREFETCH", "many", "amqp.prefetch"),
            ("LEADROUTER_AMQP__PREFETCH", "0", "amqp.prefetch"),
            ("LEADROUTER_AMQP__PREFETCH", "70000", "amqp.prefetch"),
            ("LEADROUTER_RULES__WATCH", "maybe", "rules.watch"),
            ("LEADROUTER_HTTP__LISTEN", "nowhere", "http.listen"),
            ("LEADROUTER_ALERTS__SWEEP_EVERY", "0s", "alerts.sweep_every"),
            ("LEADROUTER_ALERTS__SWEEP_EVERY", "5", "alerts.sweep_every"),
            ("LEADROUTER_LOGGING__FORMAT", "xml", "logging.format"),
            ("LEADROUTER_AMQP__QUEUE", "", "amqp.queue"),
        ] {
            let e = Config::load_with_env(None, env(&[(var, val)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{var}={val}: {e}");
            assert!(e.contains(var), "{var}={val}: {e}");
        }
    }

    #[test]
    fn bad_url_schemes_are_refused_without_leaking_the_password() {
        let e = Config::load_with_env(None, env(&[("DATABASE_URL", "mysql://root:hunter2@db/x")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("database.url"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn relative_rules_path_is_relative_to_the_config_file() {
        let (dir, path) = write_config("rules:\n  path: r/routing.yaml\n");
        let c = Config::load_with_env(Some(&path), no_env()).unwrap();
        assert_eq!(c.rules.path, dir.path().join("r/routing.yaml"));

        // The default too, when a file is given.
        let (dir, path) = write_config("{}\n");
        let c = Config::load_with_env(Some(&path), no_env()).unwrap();
        assert_eq!(c.rules.path, dir.path().join("rules/routing.yaml"));

        // Absolute paths stay.
        let (_dir, path) = write_config("rules:\n  path: /etc/lr/rules.yaml\n");
        let c = Config::load_with_env(Some(&path), no_env()).unwrap();
        assert_eq!(c.rules.path, PathBuf::from("/etc/lr/rules.yaml"));

        // The env gives a path relative to the working directory.
        let (_dir, path) = write_config("{}\n");
        let c = Config::load_with_env(Some(&path), env(&[("LEADROUTER_RULES__PATH", "x/y.yaml")]))
            .unwrap();
        assert_eq!(c.rules.path, PathBuf::from("x/y.yaml"));
    }

    #[test]
    fn debug_and_display_redact_passwords() {
        let c = Config::load_with_env(
            None,
            env(&[
                ("AMQP_URL", "amqp://svc:s3cret@mq:5672/%2f"),
                ("DATABASE_URL", "postgres://app:pa55@db:5432/lr"),
            ]),
        )
        .unwrap();
        for text in [format!("{c:?}"), c.to_string()] {
            assert!(!text.contains("s3cret"), "{text}");
            assert!(!text.contains("pa55"), "{text}");
            assert!(text.contains("svc:***@mq"), "{text}");
            assert!(text.contains("app:***@db"), "{text}");
        }
        // Display is YAML the loader reads back (with redacted URLs).
        let back = Config::from_yaml(&c.to_string()).unwrap();
        assert_eq!(back.alerts, c.alerts);
        assert_eq!(back.http, c.http);
    }

    #[test]
    fn redact_url_cases() {
        assert_eq!(
            redact_url("postgres://u:p@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact_url("amqp://u:p@ss@h/%2f"), "amqp://u:***@h/%2f");
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=p&x=1"),
            "postgres://h/db?user=u&password=***&x=1"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration(" 2d ").unwrap(),
            Duration::from_secs(172_800)
        );
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        for bad in [
            "",
            "5",
            "h",
            "1x",
            "1.5h",
            "-1s",
            "1 h",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(format_duration(Duration::from_secs(86_400)), "24h");
        for d in ["1h30m", "500ms", "0s", "48h", "1m1s", "1s250ms"] {
            assert_eq!(format_duration(parse_duration(d).unwrap()), d);
        }
    }

    #[test]
    fn logging_level_must_be_a_valid_filter() {
        let c = Config::load_with_env(
            None,
            env(&[("LEADROUTER_LOGGING__LEVEL", "info,leadrouter=debug")]),
        )
        .unwrap();
        assert_eq!(c.logging.level, "info,leadrouter=debug");
        let e = Config::load_with_env(None, env(&[("LEADROUTER_LOGGING__LEVEL", "info,=[")]))
            .unwrap_err();
        assert!(e.to_string().contains("logging.level"), "{e}");
    }
}
