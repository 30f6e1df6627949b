//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): HMAC-SHA-1, 6 digits, 30-second
//! steps, as every authenticator app speaks. Pure: the caller passes the time.

use ring::hmac;
use time::OffsetDateTime;

/// Length of a generated secret in bytes (160 bits, RFC 4226's recommendation).
pub const SECRET_LEN: usize = 20;
/// Seconds per step.
pub const STEP: i64 = 30;
/// Steps accepted either side of now, for clock drift between phone and server.
pub const SKEW: i64 = 1;

/// The 6-digit code of `secret` for time step `counter` (RFC 4226 §5.3).
pub fn hotp(secret: &[u8], counter: u64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let h = tag.as_ref();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    bin % 1_000_000
}

/// The code of `secret` at `now`.
pub fn code_at(secret: &[u8], now: OffsetDateTime) -> String {
    format!("{:06}", hotp(secret, step(now)))
}

fn step(now: OffsetDateTime) -> u64 {
    u64::try_from(now.unix_timestamp().div_euclid(STEP)).unwrap_or(0)
}

/// Whether `code` (6 digits; spaces ignored) is the code of `secret` at `now`, one step either
/// side. Compared in constant time per candidate.
pub fn verify(secret: &[u8], code: &str, now: OffsetDateTime) -> bool {
    matched_step(secret, code, now).is_some()
}

/// The time step whose code `code` is (within one step of `now`), or `None`. A caller that
/// remembers the last step used can refuse a code seen before (RFC 6238 §5.2: no replay).
pub fn matched_step(secret: &[u8], code: &str, now: OffsetDateTime) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now_step = step(now);
    let mut found = None;
    for d in -SKEW..=SKEW {
        let Some(counter) = now_step.checked_add_signed(d) else {
            continue;
        };
        let expected = format!("{:06}", hotp(secret, counter));
        if same(expected.as_bytes(), code.as_bytes()) {
            found = Some(counter);
        }
    }
    found
}

/// Equality that reads every byte whatever the first difference (no early exit to time).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// RFC 4648 base32 without padding: how authenticator apps take a secret.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URL an authenticator app scans (as a QR code) or takes pasted.
pub fn otpauth_url(issuer: &str, account: &str, secret: &[u8]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn hotp_matches_rfc_4226_appendix_d() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC_SECRET, counter as u64), *want, "counter {counter}");
        }
    }

    #[test]
    fn totp_matches_rfc_6238_appendix_b_sha1_last_six_digits() {
        for (t, want) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            let now = OffsetDateTime::from_unix_timestamp(t).unwrap();
            assert_eq!(code_at(RFC_SECRET, now), want, "t = {t}");
            assert!(verify(RFC_SECRET, want, now));
        }
    }

    #[test]
    fn verify_takes_one_step_of_drift_and_no_more() {
        let now = OffsetDateTime::from_unix_timestamp(1_234_567_890).unwrap();
        let code = code_at(RFC_SECRET, now);
        assert!(verify(RFC_SECRET, &code, now + time::Duration::seconds(30)));
        assert!(verify(RFC_SECRET, &code, now - time::Duration::seconds(30)));
        assert!(!verify(
            RFC_SECRET,
            &code,
            now + time::Duration::seconds(90)
        ));
        assert!(!verify(RFC_SECRET, "12345", now));
        assert!(!verify(RFC_SECRET, "abcdef", now));
        assert!(verify(
            RFC_SECRET,
            &format!("{} {}", &code[..3], &code[3..]),
            now
        ));
    }

    #[test]
    fn base32_is_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }
}
