//! Operator passwords: Argon2id hashes in PHC form, with at least the OWASP parameters
//! (19 MiB, 2 passes, 1 lane), and the password rules. Hashing is slow on purpose: call these on
//! the blocking pool, never on an async worker.

use argon2::password_hash::SaltString;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use rand::RngCore;

use crate::error::ApiError;

/// Memory cost in KiB (OWASP: 19 MiB).
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Passes over memory (OWASP: 2).
pub const PASSES: u32 = 2;
/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 12;
/// Longest password accepted (a bound on hashing work per request).
pub const MAX_PASSWORD: usize = 1024;

fn hasher() -> Result<Argon2<'static>, ApiError> {
    let params = Params::new(MEMORY_KIB, PASSES, 1, None)
        .map_err(|e| ApiError::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Checks the password rules; the error names `field`.
pub fn check_password(field: &str, password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&n) {
        return Err(ApiError::InvalidRequest(format!(
            "{field}: must be {MIN_PASSWORD} to {MAX_PASSWORD} characters, got {n}"
        )));
    }
    Ok(())
}

/// The Argon2id PHC string of `password` with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| ApiError::Internal(format!("argon2 salt: {e}")))?;
    hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("argon2: {e}")))
}

/// Whether `password` matches `hash` (the parameters are read from the hash). A malformed hash
/// never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash of a password nobody knows, verified against when the email is unknown so that an
/// unknown email costs the same time as a wrong password.
pub fn dummy_hash() -> Result<String, ApiError> {
    let mut random = [0u8; 24];
    rand::rng().fill_bytes(&mut random);
    let password: String = random.iter().map(|b| format!("{b:02x}")).collect();
    hash_password(&password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let h = hash_password("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery staple", &h));
        assert!(!verify_password("correct horse battery stapler", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(
            h,
            hash_password("correct horse battery staple").unwrap(),
            "salted"
        );
    }

    #[test]
    fn password_rules_name_the_field() {
        let e = check_password("new_password", "short").unwrap_err();
        assert!(e.to_string().starts_with("new_password: must be 12"));
        assert!(check_password("password", "twelve chars").is_ok());
    }
}
