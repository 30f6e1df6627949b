//! What every binary does before serving: the master key, then every environment (migrations,
//! first signing key, bootstrap token), with a log line for each thing created.

use time::OffsetDateTime;

use crate::config::Config;
use crate::env::Environments;
use crate::master;

/// Loads (or creates) the master key and opens every configured environment.
pub fn open_environments(config: &Config) -> Result<Environments, String> {
    let (master, created) = master::load_or_create(&config.master_key_file)?;
    if created {
        tracing::info!(
            path = %config.master_key_file.display(),
            "created master key (32 random bytes, mode 0600); back it up: without it stored keys \
             cannot be revealed and signing keys cannot be opened"
        );
    }
    let (envs, report) = Environments::open(config, &master, OffsetDateTime::now_utc())?;
    for env in &report.signing_keys_created {
        tracing::info!(environment = %env, "created the environment's first lease signing key");
    }
    for env in &report.bootstrap_tokens {
        tracing::info!(environment = %env, "installed KEYSMITH_ADMIN_TOKEN as admin token 'bootstrap'");
    }
    for e in &config.environments {
        tracing::info!(
            environment = %e.name,
            database = %license_store::db::redact_url(&e.database_url),
            "environment ready"
        );
    }
    Ok(envs)
}
