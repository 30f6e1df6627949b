//! The cache file: what a client keeps between runs, in one JSON file under the cache folder —
//! the license key, the last lease, the environment's public keys, and the latest time ever seen.
//!
//! Reading never fails and never panics: a file that is missing, too large, not JSON, or of
//! another format or environment is no cache at all. Nothing read here is trusted yet — the lease
//! is verified against the keys before any use, so a tampered lease is caught by its signature.
//! Writing is atomic (a temporary file in the same folder, then a rename) and the file is created
//! with mode 0600 on Unix, because it holds the customer's license key.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use license_core::{LicenseKey, PublicKey};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The `format` field of every cache file this version writes and reads.
pub(crate) const FORMAT: &str = "keysmith.license-cache.v1";

/// A cache file larger than this is not one of ours.
const MAX_BYTES: u64 = 256 * 1024;

/// What the client keeps between runs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cached {
    /// The key this instance was activated with (the customer's own secret, on their machine).
    pub key: Option<LicenseKey>,
    /// The last lease the server issued to this instance, not yet verified.
    pub lease: Option<String>,
    /// End of the grace period, as the server last said (display only; the lease decides).
    pub grace_until: Option<OffsetDateTime>,
    /// The environment's published keys, active and retired.
    pub keys: Vec<PublicKey>,
    /// The latest time ever observed (local clock readings and lease `iat`), unix seconds.
    pub latest_seen: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format: String,
    environment: String,
    key: Option<String>,
    lease: Option<String>,
    grace_until: Option<i64>,
    keys: Vec<FileKey>,
    latest_seen: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKey {
    kid: String,
    x: String,
}

/// The cache file of `environment` under `dir`.
pub(crate) fn path(dir: &Path, environment: &str) -> PathBuf {
    dir.join(format!("keysmith-{environment}.json"))
}

/// Reads the cache, or `None` when there is no usable one.
pub(crate) fn load(path: &Path, environment: &str) -> Option<Cached> {
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1).read_to_end(&mut bytes).ok()?;
    if bytes.len() as u64 > MAX_BYTES {
        return None;
    }
    let f: File = serde_json::from_slice(&bytes).ok()?;
    if f.format != FORMAT || f.environment != environment {
        return None;
    }
    Some(Cached {
        key: f
            .key
            .filter(|k| !k.trim().is_empty())
            .map(|k| LicenseKey::from_input(&k)),
        lease: f.lease,
        grace_until: f
            .grace_until
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()),
        keys: f
            .keys
            .iter()
            .filter_map(|k| PublicKey::from_b64(&k.kid, &k.x))
            .collect(),
        latest_seen: f.latest_seen,
    })
}

/// Writes the cache atomically: a temporary file (mode 0600 on Unix) in the same folder, synced,
/// then renamed over the old one, so a crash leaves either the old file or the new one.
pub(crate) fn save(path: &Path, environment: &str, cached: &Cached) -> io::Result<()> {
    let file = File {
        format: FORMAT.to_owned(),
        environment: environment.to_owned(),
        key: cached.key.as_ref().map(|k| k.expose().to_owned()),
        lease: cached.lease.clone(),
        grace_until: cached.grace_until.map(OffsetDateTime::unix_timestamp),
        keys: cached
            .keys
            .iter()
            .map(|k| FileKey {
                kid: k.kid.clone(),
                x: k.x_b64(),
            })
            .collect(),
        latest_seen: cached.latest_seen,
    };
    let json = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".keysmith-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(&json)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Creates the cache folder (mode 0700 on Unix) if it does not exist.
pub(crate) fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Cached {
        Cached {
            key: Some(LicenseKey::from_input("acme-7kq2-9xhm")),
            lease: Some("v1.e30.AAAA".into()),
            grace_until: OffsetDateTime::from_unix_timestamp(1_800_000_000).ok(),
            keys: vec![PublicKey {
                kid: "kid-1".into(),
                x: [7; 32],
            }],
            latest_seen: 1_799_999_000,
        }
    }

    #[test]
    fn a_saved_cache_loads_back_with_the_normalised_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "production");
        save(&p, "production", &sample()).unwrap();
        let got = load(&p, "production").unwrap();
        assert_eq!(got.key.unwrap().expose(), "ACME-7KQ2-9XHM");
        assert_eq!(got.lease, sample().lease);
        assert_eq!(got.grace_until, sample().grace_until);
        assert_eq!(got.keys, sample().keys);
        assert_eq!(got.latest_seen, 1_799_999_000);
    }

    #[cfg(unix)]
    #[test]
    fn the_cache_file_is_readable_by_its_owner_only_and_no_temporary_file_is_left() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "production");
        save(&p, "production", &sample()).unwrap();
        save(&p, "production", &Cached::default()).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            [std::ffi::OsString::from("keysmith-production.json")]
        );
    }

    #[test]
    fn a_cache_of_another_environment_or_format_is_no_cache() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "production");
        save(&p, "staging", &sample()).unwrap();
        assert!(load(&p, "production").is_none());
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace(FORMAT, "keysmith.license-cache.v0");
        std::fs::write(&p, text).unwrap();
        assert!(load(&p, "staging").is_none());
    }

    #[test]
    fn truncated_garbage_and_oversized_files_are_no_cache() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "production");
        save(&p, "production", &sample()).unwrap();
        let whole = std::fs::read(&p).unwrap();
        for cut in 0..whole.len() {
            std::fs::write(&p, &whole[..cut]).unwrap();
            assert!(load(&p, "production").is_none(), "cut at {cut}");
        }
        std::fs::write(&p, [0xff, 0xfe, 0x00, 0x7b]).unwrap();
        assert!(load(&p, "production").is_none());
        let mut huge = b"{\"format\":\"".to_vec();
        huge.resize(usize::try_from(MAX_BYTES).unwrap() + 10, b'a');
        std::fs::write(&p, huge).unwrap();
        assert!(load(&p, "production").is_none());
        assert!(load(&dir.path().join("absent.json"), "production").is_none());
    }
}
