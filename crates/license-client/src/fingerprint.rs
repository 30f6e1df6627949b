//! A stable fingerprint of this machine that does not disclose the machine's id: the operating
//! system's id (Linux `/etc/machine-id`, macOS `IOPlatformUUID`, Windows `MachineGuid`, read with
//! the `machine-uid` crate) hashed with SHA-256 together with an application-specific salt. Two
//! applications with different salts see unrelated fingerprints of the same machine, and neither
//! the license server nor its logs ever hold the raw id.

use sha2::{Digest, Sha256};

use crate::Error;

/// This machine's fingerprint for the application that chose `app_salt` (any fixed string, e.g.
/// `"com.example.photo-editor"`): 64 lower-case hex characters, the same on every run until the
/// operating system is reinstalled.
///
/// ```no_run
/// let fp = license_client::fingerprint::machine("com.example.photo-editor")?;
/// assert_eq!(fp.len(), 64);
/// # Ok::<(), license_client::Error>(())
/// ```
pub fn machine(app_salt: &str) -> Result<String, Error> {
    let id = machine_uid::get().map_err(|e| Error::Fingerprint(e.to_string()))?;
    let id = id.trim();
    if id.is_empty() {
        return Err(Error::Fingerprint("the machine id is empty".into()));
    }
    Ok(salted(app_salt, id))
}

/// The fingerprint of machine id `machine_id` for `app_salt`: SHA-256 over a domain tag, the salt
/// and the id (each length-prefixed, so no two inputs share an encoding), in hex.
pub fn salted(app_salt: &str, machine_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"keysmith/fingerprint/v1\0");
    for part in [app_salt, machine_id] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_salt_changes_the_fingerprint_and_the_raw_id_never_shows() {
        let id = "3d1219c7c4c5404aaa1f6d2a48adfda4";
        let a = salted("com.example.editor", id);
        let b = salted("com.example.viewer", id);
        assert_ne!(a, b);
        assert_eq!(a, salted("com.example.editor", id), "stable");
        assert_eq!(a.len(), 64);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(!a.contains(id));
        assert_ne!(
            salted("ab", "c"),
            salted("a", "bc"),
            "length-prefixed parts"
        );
    }

    #[test]
    fn the_machine_fingerprint_is_stable_and_hashed_or_a_typed_error() {
        match (machine("app"), machine_uid::get()) {
            (Ok(fp), Ok(raw)) => {
                assert_eq!(fp, salted("app", raw.trim()));
                assert_eq!(machine("app").ok(), Some(fp.clone()));
                assert!(!fp.contains(raw.trim()));
            }
            (Err(Error::Fingerprint(_)), Err(_)) => {}
            (got, raw) => panic!("machine() = {got:?} but the OS id is {raw:?}"),
        }
    }
}
