//! Configuration from `KEYSMITH_*` environment variables (SPEC §2), read once in `main` and
//! validated up front: an error names the variable and says what is wrong.

use std::net::SocketAddr;
use std::path::PathBuf;

pub use crate::config_error::ConfigError;
use crate::config_error::bad;
use crate::net::ClientIps;

/// One environment: its name and database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvConfig {
    /// `[a-z][a-z0-9-]{0,31}`.
    pub name: String,
    /// `sqlite://...` or `postgres://...`.
    pub database_url: String,
}

/// Validation requests per minute; `None` turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Per key digest (default 120).
    pub per_key: Option<u32>,
    /// Per client IP (default 1200).
    pub per_ip: Option<u32>,
    /// Lookups of unknown keys per client IP (default 60).
    pub unknown_per_ip: Option<u32>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_key: Some(120),
            per_ip: Some(1200),
            unknown_per_ip: Some(60),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything the services read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub data_dir: PathBuf,
    pub environments: Vec<EnvConfig>,
    pub admin_addr: SocketAddr,
    pub validation_addr: SocketAddr,
    /// Secret installed as the `bootstrap` admin token where an environment has none.
    pub admin_token: Option<String>,
    pub master_key_file: PathBuf,
    pub log: String,
    pub log_format: LogFormat,
    pub rates: RateLimits,
    /// The public base URL of the validation API, for code samples (default from the address).
    pub public_validation_url: String,
    /// Whether this process runs the lifecycle worker (`KEYSMITH_WORKER`, `on` by default).
    pub worker: bool,
    /// Whether the validation service serves the customer portal (`KEYSMITH_PORTAL`, `on` by
    /// default).
    pub portal: bool,
    /// Email through SMTP (`KEYSMITH_SMTP_URL`, `KEYSMITH_MAIL_FROM`); `None`: no email.
    pub mail: Option<crate::mailer::MailConfig>,
    /// Origins a browser frontend may call the admin API from (`KEYSMITH_ADMIN_CORS_ORIGINS`,
    /// comma-separated; none by default).
    pub admin_cors_origins: Vec<String>,
    /// The control database of operators and sessions (`KEYSMITH_CONTROL_DATABASE_URL`,
    /// default `sqlite://{data_dir}/control.db`).
    pub control_database_url: String,
    /// The public base URL of the admin service (`KEYSMITH_PUBLIC_ADMIN_URL`, default
    /// `http://{admin_addr}`): setup and invitation links; `https` makes session cookies `Secure`.
    pub public_admin_url: String,
    /// `KEYSMITH_WEBHOOK_ALLOW_PRIVATE=1`: webhooks may go to loopback, private and other
    /// non-public addresses (development, tests). Off by default.
    pub webhook_allow_private: bool,
    /// `KEYSMITH_WEBHOOK_CA_FILE`: a PEM bundle trusted for https webhook endpoints instead of
    /// the public webpki roots (a private PKI). Unset: the webpki roots.
    pub webhook_ca_file: Option<PathBuf>,
    /// `KEYSMITH_METRICS_ADDR`: a listener of its own for `/metrics` (besides the admin one).
    pub metrics_addr: Option<SocketAddr>,
    /// Proxies whose `X-Forwarded-For`/`Forwarded` headers name the client
    /// (`KEYSMITH_TRUSTED_PROXIES`, comma-separated CIDRs; none by default).
    pub trusted_proxies: ClientIps,
}

/// Names an environment cannot have: `/v1/auth` and `/v1/operators` are the admin API's own.
pub const RESERVED_ENV_NAMES: [&str; 2] = ["auth", "operators"];

/// Whether `name` is a valid environment name (`[a-z][a-z0-9-]{0,31}`).
pub fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn addr(var: &str, value: Option<String>, default: &str) -> Result<SocketAddr, ConfigError> {
    let v = value.unwrap_or_else(|| default.to_owned());
    v.parse().map_err(|_| {
        bad(
            var,
            format!("{v:?} is not a socket address like 127.0.0.1:8080"),
        )
    })
}

fn rate(var: &str, value: Option<String>, default: u32) -> Result<Option<u32>, ConfigError> {
    let n = match value {
        None => default,
        Some(v) => v.trim().parse::<u32>().map_err(|_| {
            bad(
                var,
                format!("{v:?} is not a whole number of requests per minute (0 turns it off)"),
            )
        })?,
    };
    Ok((n > 0).then_some(n))
}

/// The variable that holds environment `name`'s database URL: `KEYSMITH_DATABASE_URL_<NAME>`
/// (upper-cased, `-` as `_`).
pub fn database_url_var(name: &str) -> String {
    format!(
        "KEYSMITH_DATABASE_URL_{}",
        name.to_uppercase().replace('-', "_")
    )
}

/// The environments named in `KEYSMITH_ENVIRONMENTS`, each with its database URL.
fn environments(
    data_dir: &std::path::Path,
    names: &str,
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<EnvConfig>, ConfigError> {
    let mut environments = Vec::new();
    for name in names.split(',').map(str::trim) {
        if !valid_env_name(name) {
            return Err(bad(
                "KEYSMITH_ENVIRONMENTS",
                format!("{name:?} is not an environment name ([a-z][a-z0-9-]{{0,31}})"),
            ));
        }
        if RESERVED_ENV_NAMES.contains(&name) {
            return Err(bad(
                "KEYSMITH_ENVIRONMENTS",
                format!("{name:?} is reserved for the admin API's own routes; choose another name"),
            ));
        }
        if environments.iter().any(|e: &EnvConfig| e.name == name) {
            return Err(bad(
                "KEYSMITH_ENVIRONMENTS",
                format!("{name:?} is listed twice"),
            ));
        }
        let var = database_url_var(name);
        let database_url = get(&var).unwrap_or_else(|| {
            format!("sqlite://{}", data_dir.join(format!("{name}.db")).display())
        });
        license_store::Target::parse(&database_url).map_err(|e| bad(&var, e.to_string()))?;
        environments.push(EnvConfig {
            name: name.to_owned(),
            database_url,
        });
    }
    Ok(environments)
}

/// `KEYSMITH_CONTROL_DATABASE_URL`: its own database, never one an environment uses (their
/// migrations would meet in one schema).
fn control_url(
    data_dir: &std::path::Path,
    environments: &[EnvConfig],
    get: &impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    const VAR: &str = "KEYSMITH_CONTROL_DATABASE_URL";
    let url =
        get(VAR).unwrap_or_else(|| format!("sqlite://{}", data_dir.join("control.db").display()));
    license_store::Target::parse(&url).map_err(|e| bad(VAR, e.to_string()))?;
    if let Some(e) = environments.iter().find(|e| e.database_url == url) {
        return Err(bad(
            VAR,
            format!(
                "is the database of environment {}; give the control database its own",
                e.name
            ),
        ));
    }
    Ok(url)
}

/// A switch: `on` (the default) or `off`.
fn on_off(var: &str, value: Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => Err(bad(var, format!("{other:?} is not on or off"))),
    }
}

/// A public base URL (`http://` or `https://`, no trailing slash kept).
fn public_url(var: &str, value: Option<String>, default: &str) -> Result<String, ConfigError> {
    let url = value.unwrap_or_else(|| default.to_owned());
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(bad(
            var,
            format!("{url:?} is not an http:// or https:// URL"),
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// `KEYSMITH_ADMIN_CORS_ORIGINS`: comma-separated origins such as `https://admin.example.com`.
fn cors_origins(list: &str) -> Result<Vec<String>, ConfigError> {
    let mut origins = Vec::new();
    for o in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
            return Err(bad(
                "KEYSMITH_ADMIN_CORS_ORIGINS",
                format!("{o:?} is not an origin like https://admin.example.com"),
            ));
        }
        origins.push(o.to_owned());
    }
    Ok(origins)
}

impl Config {
    /// Reads the configuration through `get` (the process environment in `main`, a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let data_dir = PathBuf::from(get("KEYSMITH_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let environments = environments(
            &data_dir,
            &get("KEYSMITH_ENVIRONMENTS").unwrap_or_else(|| "production,staging".into()),
            &get,
        )?;
        let admin_addr = addr(
            "KEYSMITH_ADMIN_ADDR",
            get("KEYSMITH_ADMIN_ADDR"),
            "127.0.0.1:8080",
        )?;
        let validation_addr = addr(
            "KEYSMITH_VALIDATION_ADDR",
            get("KEYSMITH_VALIDATION_ADDR"),
            "127.0.0.1:8081",
        )?;
        let admin_token = get("KEYSMITH_ADMIN_TOKEN");
        if let Some(t) = &admin_token
            && t.len() < 32
        {
            return Err(bad(
                "KEYSMITH_ADMIN_TOKEN",
                "must be at least 32 characters (128 bits or more of randomness)",
            ));
        }
        let master_key_file = get("KEYSMITH_MASTER_KEY_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("master.key"));
        let log_format = match get("KEYSMITH_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(bad(
                    "KEYSMITH_LOG_FORMAT",
                    format!("{other:?} is not text or json"),
                ));
            }
        };
        let rates = RateLimits {
            per_key: rate("KEYSMITH_RATE_PER_KEY", get("KEYSMITH_RATE_PER_KEY"), 120)?,
            per_ip: rate("KEYSMITH_RATE_PER_IP", get("KEYSMITH_RATE_PER_IP"), 1200)?,
            unknown_per_ip: rate(
                "KEYSMITH_RATE_UNKNOWN_PER_IP",
                get("KEYSMITH_RATE_UNKNOWN_PER_IP"),
                60,
            )?,
        };
        let public_validation_url = get("KEYSMITH_PUBLIC_VALIDATION_URL")
            .unwrap_or_else(|| format!("http://{validation_addr}"))
            .trim_end_matches('/')
            .to_owned();
        let admin_cors_origins =
            cors_origins(&get("KEYSMITH_ADMIN_CORS_ORIGINS").unwrap_or_default())?;
        let control_database_url = control_url(&data_dir, &environments, &get)?;
        let public_admin_url = public_url(
            "KEYSMITH_PUBLIC_ADMIN_URL",
            get("KEYSMITH_PUBLIC_ADMIN_URL"),
            &format!("http://{admin_addr}"),
        )?;
        let worker = on_off("KEYSMITH_WORKER", get("KEYSMITH_WORKER"))?;
        let portal = on_off("KEYSMITH_PORTAL", get("KEYSMITH_PORTAL"))?;
        let mail = crate::mailer::MailConfig::from_lookup(get)?;
        let webhook_allow_private = match get("KEYSMITH_WEBHOOK_ALLOW_PRIVATE")
            .as_deref()
            .map(str::trim)
        {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => {
                return Err(bad(
                    "KEYSMITH_WEBHOOK_ALLOW_PRIVATE",
                    format!("{other:?} is not 0 or 1"),
                ));
            }
        };
        let metrics_addr = match get("KEYSMITH_METRICS_ADDR") {
            None => None,
            v => Some(addr("KEYSMITH_METRICS_ADDR", v, "")?),
        };
        let trusted_proxies =
            ClientIps::parse(&get("KEYSMITH_TRUSTED_PROXIES").unwrap_or_default())
                .map_err(|e| bad("KEYSMITH_TRUSTED_PROXIES", e))?;
        Ok(Self {
            webhook_allow_private,
            webhook_ca_file: get("KEYSMITH_WEBHOOK_CA_FILE").map(PathBuf::from),
            metrics_addr,
            trusted_proxies,
            control_database_url,
            public_admin_url,
            worker,
            portal,
            mail,
            admin_cors_origins,
            data_dir,
            environments,
            admin_addr,
            validation_addr,
            admin_token,
            master_key_file,
            log: get("KEYSMITH_LOG").unwrap_or_else(|| "info".into()),
            log_format,
            rates,
            public_validation_url,
        })
    }

    /// Where webhooks may go: `KEYSMITH_WEBHOOK_ALLOW_PRIVATE` and the certificates of
    /// `KEYSMITH_WEBHOOK_CA_FILE` (read now; an unreadable or empty bundle is an error naming
    /// the variable).
    pub fn webhook_policy(&self) -> Result<crate::egress::WebhookPolicy, ConfigError> {
        let policy = crate::egress::WebhookPolicy {
            allow_private: self.webhook_allow_private,
            ca_certs: None,
        };
        let Some(path) = &self.webhook_ca_file else {
            return Ok(policy);
        };
        const VAR: &str = "KEYSMITH_WEBHOOK_CA_FILE";
        let pem = std::fs::read(path)
            .map_err(|e| bad(VAR, format!("cannot read {}: {e}", path.display())))?;
        policy
            .with_ca_pem(&pem)
            .map_err(|e| bad(VAR, format!("{}: {e}", path.display())))
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn nothing_set_gives_two_sqlite_environments_under_data() {
        let c = config(&[]).unwrap();
        let names: Vec<&str> = c.environments.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["production", "staging"]);
        assert_eq!(
            c.environments[0].database_url,
            "sqlite://./data/production.db"
        );
        assert_eq!(c.admin_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.validation_addr.to_string(), "127.0.0.1:8081");
        assert_eq!(c.master_key_file, PathBuf::from("./data/master.key"));
        assert_eq!(c.rates, RateLimits::default());
        assert!(
            !c.webhook_allow_private,
            "webhooks go to public addresses only"
        );
        assert_eq!(c.metrics_addr, None);
        assert_eq!(c.trusted_proxies, ClientIps::default());
    }

    #[test]
    fn webhook_and_metrics_settings() {
        let c = config(&[
            ("KEYSMITH_WEBHOOK_ALLOW_PRIVATE", "1"),
            ("KEYSMITH_METRICS_ADDR", "127.0.0.1:9100"),
        ])
        .unwrap();
        assert!(c.webhook_allow_private);
        assert!(c.webhook_policy().unwrap().allow_private);
        assert_eq!(c.metrics_addr.unwrap().to_string(), "127.0.0.1:9100");
        let c = config(&[("KEYSMITH_WEBHOOK_CA_FILE", "/nonexistent/ca.pem")]).unwrap();
        let e = c.webhook_policy().unwrap_err();
        assert_eq!(e.variable, "KEYSMITH_WEBHOOK_CA_FILE");
    }

    #[test]
    fn trusted_proxies_are_a_cidr_list() {
        let c = config(&[(
            "KEYSMITH_TRUSTED_PROXIES",
            "10.0.0.0/8, 2001:db8::/32,192.0.2.1",
        )])
        .unwrap();
        for ip in ["10.1.1.1", "2001:db8::9", "192.0.2.1"] {
            assert!(c.trusted_proxies.is_trusted(ip.parse().unwrap()), "{ip}");
        }
        assert!(!c.trusted_proxies.is_trusted("192.0.2.2".parse().unwrap()));
    }

    #[test]
    fn per_environment_urls_and_zero_rates() {
        let c = config(&[
            ("KEYSMITH_ENVIRONMENTS", "production,eu-west"),
            ("KEYSMITH_DATABASE_URL_EU_WEST", "postgres://u@db/eu"),
            ("KEYSMITH_RATE_PER_KEY", "0"),
        ])
        .unwrap();
        assert_eq!(c.environments[1].database_url, "postgres://u@db/eu");
        assert_eq!(c.rates.per_key, None);
    }

    #[test]
    fn errors_name_the_variable() {
        let cases = [
            (("KEYSMITH_ENVIRONMENTS", "Prod"), "KEYSMITH_ENVIRONMENTS"),
            (("KEYSMITH_ADMIN_ADDR", "localhost"), "KEYSMITH_ADMIN_ADDR"),
            (("KEYSMITH_RATE_PER_IP", "-5"), "KEYSMITH_RATE_PER_IP"),
            (("KEYSMITH_LOG_FORMAT", "xml"), "KEYSMITH_LOG_FORMAT"),
            (("KEYSMITH_ADMIN_TOKEN", "short"), "KEYSMITH_ADMIN_TOKEN"),
            (("KEYSMITH_WORKER", "maybe"), "KEYSMITH_WORKER"),
            (
                ("KEYSMITH_WEBHOOK_ALLOW_PRIVATE", "yes"),
                "KEYSMITH_WEBHOOK_ALLOW_PRIVATE",
            ),
            (
                ("KEYSMITH_METRICS_ADDR", "metrics"),
                "KEYSMITH_METRICS_ADDR",
            ),
            (
                ("KEYSMITH_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal"),
                "KEYSMITH_TRUSTED_PROXIES",
            ),
            (
                ("KEYSMITH_TRUSTED_PROXIES", "10.0.0.0/40"),
                "KEYSMITH_TRUSTED_PROXIES",
            ),
            (
                ("KEYSMITH_ADMIN_CORS_ORIGINS", "admin.example.com"),
                "KEYSMITH_ADMIN_CORS_ORIGINS",
            ),
            (
                ("KEYSMITH_DATABASE_URL_PRODUCTION", "mysql://x"),
                "KEYSMITH_DATABASE_URL_PRODUCTION",
            ),
        ];
        for ((k, v), var) in cases {
            let e = config(&[(k, v)]).unwrap_err();
            assert_eq!(e.variable, var, "{e}");
            assert!(e.to_string().starts_with(var));
        }
    }
}
