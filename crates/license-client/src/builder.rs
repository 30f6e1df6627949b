//! Configuring a [`Client`]: where the validation API is, which environment, where the cache
//! lives, the instance's fingerprint, the clock, timeouts and retries — checked once in
//! [`Builder::build`], which names what is missing or wrong.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use license_core::Fingerprint;

use crate::Error;
use crate::cache;
use crate::client::Client;
use crate::clock::{Clock, SystemClock};
use crate::http::{RetryPolicy, Timeouts, Transport};

/// Configures a [`Client`]; start with [`Client::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until build() is called"]
pub struct Builder {
    validation_url: String,
    environment: String,
    cache_dir: Option<PathBuf>,
    fingerprint: Option<String>,
    product: Option<String>,
    clock: Arc<dyn Clock>,
    timeouts: Timeouts,
    policy: RetryPolicy,
}

impl Builder {
    /// A configuration with the defaults: the system clock, 5 s to connect, 10 s for a request,
    /// three attempts backing off from 250 ms to 4 s, `Retry-After` waited out up to 10 s.
    pub(crate) fn new(validation_url: String, environment: String) -> Self {
        Builder {
            validation_url,
            environment,
            cache_dir: None,
            fingerprint: None,
            product: None,
            clock: Arc::new(SystemClock),
            timeouts: Timeouts {
                connect: Duration::from_secs(5),
                read: Duration::from_secs(10),
            },
            policy: RetryPolicy {
                attempts: 3,
                base_delay: Duration::from_millis(250),
                max_delay: Duration::from_secs(4),
                max_wait: Duration::from_secs(10),
            },
        }
    }

    /// The folder for the cache file (required): one file per environment,
    /// `keysmith-<environment>.json`, created with mode 0600 on Unix. The folder is created
    /// (mode 0700) if missing. It holds the license key, so use a per-user folder of the program.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// This instance's fingerprint (required): 1–255 printable characters, stable across runs.
    /// [`fingerprint::machine`](crate::fingerprint::machine) gives one for this machine.
    pub fn fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        self.fingerprint = Some(fingerprint.into());
        self
    }

    /// The product this program is (its id or code). Validation then refuses keys of other
    /// products with `PRODUCT_MISMATCH`.
    pub fn product(mut self, id_or_code: impl Into<String>) -> Self {
        self.product = Some(id_or_code.into());
        self
    }

    /// The time source (default: the system clock). Tests pass a
    /// [`ManualClock`](crate::ManualClock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Name resolution plus connection (and TLS handshake) timeout; default 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.connect = timeout;
        self
    }

    /// Timeout for sending a request and for receiving the answer's headers, then its body;
    /// default 10 s.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.read = timeout;
        self
    }

    /// How many times an idempotent call (validate, activate, keys) is retried after a
    /// connection error, timeout, 5xx or 429; default 2 (three attempts). Pauses double from
    /// 250 ms up to 4 s, with jitter.
    pub fn retries(mut self, retries: u32) -> Self {
        self.policy.attempts = retries.saturating_add(1);
        self
    }

    /// The longest `Retry-After` the client waits out before retrying; default 10 s. A server
    /// asking for longer gets no request from this client until that time has passed, and the
    /// call answers from the cache meanwhile.
    pub fn max_retry_wait(mut self, wait: Duration) -> Self {
        self.policy.max_wait = wait;
        self
    }

    /// Checks the configuration, creates the cache folder and reads the cache (an unreadable or
    /// corrupt cache is no cache). Makes no network call.
    pub fn build(self) -> Result<Client, Error> {
        let url = self.validation_url.trim().trim_end_matches('/').to_owned();
        check_url(&url)?;
        check_environment(&self.environment)?;
        let dir = self.cache_dir.ok_or_else(|| {
            Error::Config(
                "cache_dir: required; pass a folder this program may write, such as its per-user data folder".into(),
            )
        })?;
        let fingerprint = self.fingerprint.ok_or_else(|| {
            Error::Config(
                "fingerprint: required; pass fingerprint::machine(\"your.app.id\")? or a stable id of your own".into(),
            )
        })?;
        let fingerprint = Fingerprint::new(&fingerprint)
            .map_err(|e| Error::Config(format!("fingerprint: {e}")))?;
        if let Some(p) = &self.product
            && (p.trim().is_empty() || p.chars().count() > 64)
        {
            return Err(Error::Config(
                "product: must be the product's id or code (1-64 characters)".into(),
            ));
        }
        cache::create_dir(&dir).map_err(|source| Error::Cache {
            path: dir.clone(),
            source,
        })?;
        let cache_path = cache::path(&dir, &self.environment);
        let cached = cache::load(&cache_path, &self.environment).unwrap_or_default();
        let http = Transport::new(
            &url,
            &self.environment,
            self.timeouts,
            self.policy,
            self.clock.clone(),
        );
        Ok(Client::assemble(
            url,
            self.environment,
            fingerprint,
            self.product,
            cache_path,
            cached,
            self.clock,
            http,
        ))
    }
}

fn check_url(url: &str) -> Result<(), Error> {
    let lower = url.to_ascii_lowercase();
    let rest = if let Some(rest) = lower.strip_prefix("http://") {
        rest
    } else if let Some(rest) = lower.strip_prefix("https://") {
        if cfg!(not(feature = "tls")) {
            return Err(Error::Config(
                "validation_url: https needs the `tls` feature of license-client".into(),
            ));
        }
        rest
    } else {
        return Err(Error::Config(format!(
            "validation_url: must start with https:// or http://, got {url:?}"
        )));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(Error::Config(format!(
            "validation_url: names no host: {url:?}"
        )));
    }
    Ok(())
}

fn check_environment(env: &str) -> Result<(), Error> {
    let mut chars = env.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && env.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "environment: must match [a-z][a-z0-9-]{{0,31}} (e.g. \"production\"), got {env:?}"
        )))
    }
}
