//! The master key file: 32 random bytes, created with mode 0600 (its folder 0700) on first
//! start; a key file that group or others may read is refused with the `chmod` that fixes it.

use std::io::Write;
use std::path::Path;

use license_core::MasterKey;
use license_core::seal::MASTER_KEY_LEN;

/// Creates `dir` and its missing parents with mode 0700 (what Keysmith creates, only its own
/// user may list or enter).
pub fn private_dir(dir: &Path) -> Result<(), String> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .map_err(|e| format!("KEYSMITH_DATA_DIR: cannot create {}: {e}", dir.display()))
}

/// Refuses a key file that group or others may read or write.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| {
            format!(
                "KEYSMITH_MASTER_KEY_FILE: cannot read {}: {e}",
                path.display()
            )
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "KEYSMITH_MASTER_KEY_FILE: {} has mode {mode:04o}: group or others can read the master \
             key; run `chmod 600 {}` and start again",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> Result<(), String> {
    Ok(())
}

/// Reads the master key at `path`, creating it (and its folder) if it does not exist. Returns
/// the key and whether it was created.
pub fn load_or_create(path: &Path) -> Result<(MasterKey, bool), String> {
    if path.exists() {
        check_private(path)?;
    }
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
                private_dir(dir)?;
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

    #[cfg(unix)]
    #[test]
    fn a_key_file_readable_by_others_is_refused_with_the_chmod_that_fixes_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        load_or_create(&path).unwrap();
        let folder = std::fs::metadata(path.parent().unwrap()).unwrap();
        assert_eq!(folder.permissions().mode() & 0o777, 0o700);
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = load_or_create(&path).unwrap_err();
            assert!(e.starts_with("KEYSMITH_MASTER_KEY_FILE"), "{e}");
            assert!(e.contains(&format!("chmod 600 {}", path.display())), "{e}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(load_or_create(&path).is_ok(), "owner-only read is fine");
    }
}
