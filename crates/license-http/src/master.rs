//! The master key file: 32 random bytes, created with mode 0600 on first start.

use std::io::Write;
use std::path::Path;

use license_core::MasterKey;
use license_core::seal::MASTER_KEY_LEN;

/// Reads the master key at `path`, creating it (and its folder) if it does not exist. Returns
/// the key and whether it was created.
pub fn load_or_create(path: &Path) -> Result<(MasterKey, bool), String> {
    match std::fs::read(path) {
        Ok(bytes) => MasterKey::from_slice(&bytes).map(|k| (k, false)).ok_or_else(|| {
            format!(
                "KEYSMITH_MASTER_KEY_FILE: {} holds {} bytes; a master key is exactly {MASTER_KEY_LEN}",
                path.display(),
                bytes.len()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    format!("KEYSMITH_DATA_DIR: cannot create {}: {e}", dir.display())
                })?;
            }
            let key = MasterKey::generate(&mut rand::rng());
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(|e| {
                format!("KEYSMITH_MASTER_KEY_FILE: cannot create {}: {e}", path.display())
            })?;
            file.write_all(key.expose())
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("KEYSMITH_MASTER_KEY_FILE: cannot write {}: {e}", path.display()))?;
            Ok((key, true))
        }
        Err(e) => Err(format!("KEYSMITH_MASTER_KEY_FILE: cannot read {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_mode_0600_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        let (a, created) = load_or_create(&path).unwrap();
        assert!(created);
        let (b, created_again) = load_or_create(&path).unwrap();
        assert!(!created_again);
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, b"short").unwrap();
        assert!(load_or_create(&path).unwrap_err().contains("exactly 32"));
    }
}
