//! License keys (SPEC §5): formats and their entropy, minting from a caller-supplied RNG,
//! normalisation, the check chunk, digests and the masked display form.
//!
//! The plaintext key exists only in [`LicenseKey`], whose `Debug` and `Display` print the last
//! four characters and nothing more, so a key cannot leak into a log by accident.

use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Crockford base32: digits and upper-case letters without `I L O U`.
pub const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The least randomness a new format must carry (SPEC §5).
pub const MIN_ENTROPY_BITS: f64 = 80.0;

/// How many leading characters of a key may be shown in logs, audit entries and search.
pub const PREFIX_LEN: usize = 8;

/// How a generator mints keys (a generator's `format` object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyFormat {
    /// UUID v4, upper case, hyphenated (122 random bits).
    Uuid {},
    /// Product code, then `chunks` random Crockford chunks of `chunk_len`, joined by `-`; with
    /// `check`, one more chunk holding a checksum of everything before it.
    Chunked {
        /// Number of random chunks, 1..=16.
        chunks: u8,
        /// Characters per chunk, 2..=8.
        chunk_len: u8,
        /// Whether a check chunk is appended.
        #[serde(default)]
        check: bool,
    },
    /// `#` a digit, `@` a letter A–Z, `*` a Crockford character; `A-Z`, `0-9` and `-` literal.
    Pattern {
        /// The template, 1..=128 characters.
        pattern: String,
    },
}

/// Why a key format or product code cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormatError {
    /// The format carries fewer than [`MIN_ENTROPY_BITS`] (SPEC code `WEAK_KEY_FORMAT`).
    #[error("key format carries {bits:.1} random bits; at least 80 are required")]
    Weak {
        /// The randomness the format carries.
        bits: f64,
    },
    /// A field of the format is out of range or malformed.
    #[error("format.{field}: {reason}")]
    Invalid {
        /// The offending field of the format object (`chunks`, `chunk_len`, `pattern`).
        field: &'static str,
        /// What is wrong, in words an operator can act on.
        reason: String,
    },
    /// The product code is not 2–8 characters of `A-Z0-9`.
    #[error("product code must be 2-8 characters of A-Z and 0-9, got {0:?}")]
    ProductCode(String),
}

impl KeyFormat {
    /// The random bits one key of this format carries.
    pub fn entropy_bits(&self) -> f64 {
        match self {
            Self::Uuid {} => 122.0,
            Self::Chunked {
                chunks, chunk_len, ..
            } => 5.0 * f64::from(*chunks) * f64::from(*chunk_len),
            Self::Pattern { pattern } => pattern
                .bytes()
                .map(|c| match c {
                    b'#' => 10f64.log2(),
                    b'@' => 26f64.log2(),
                    b'*' => 5.0,
                    _ => 0.0,
                })
                .sum(),
        }
    }

    /// Whether the format carries less randomness than a new format must (generators made under
    /// the older 64-bit floor keep working, flagged `weak`).
    pub fn is_weak(&self) -> bool {
        self.entropy_bits() < MIN_ENTROPY_BITS
    }

    /// The literal lead every key of this format starts with, as the display form shows it:
    /// the product code of chunked keys, a pattern's literal characters before its first
    /// placeholder (at most eight, without a trailing `-`), nothing for UUIDs.
    pub fn lead(&self, product_code: &str) -> String {
        let lead: String = match self {
            Self::Uuid {} => String::new(),
            Self::Chunked { .. } => product_code.to_owned(),
            Self::Pattern { pattern } => pattern
                .chars()
                .take_while(|c| !matches!(c, '#' | '@' | '*'))
                .take(PREFIX_LEN)
                .collect(),
        };
        lead.trim_end_matches('-').to_owned()
    }

    /// Checks the format's fields and its entropy.
    pub fn validate(&self) -> Result<(), FormatError> {
        match self {
            Self::Uuid {} => {}
            Self::Chunked {
                chunks, chunk_len, ..
            } => {
                if !(1..=16).contains(chunks) {
                    return Err(invalid("chunks", format!("must be 1..=16, got {chunks}")));
                }
                if !(2..=8).contains(chunk_len) {
                    return Err(invalid(
                        "chunk_len",
                        format!("must be 2..=8, got {chunk_len}"),
                    ));
                }
            }
            Self::Pattern { pattern } => {
                if pattern.is_empty() || pattern.len() > 128 {
                    return Err(invalid("pattern", "must be 1..=128 characters".into()));
                }
                if let Some(c) = pattern.chars().find(|c| !is_pattern_char(*c)) {
                    return Err(invalid(
                        "pattern",
                        format!("{c:?} is not allowed; use # @ * and literal A-Z 0-9 -"),
                    ));
                }
            }
        }
        let bits = self.entropy_bits();
        if bits < MIN_ENTROPY_BITS {
            return Err(FormatError::Weak { bits });
        }
        Ok(())
    }

    /// Mints one key. `product_code` is the prefix of chunked keys and ignored by the others.
    /// The format must have passed [`KeyFormat::validate`]; `product_code` must be valid.
    pub fn generate(&self, product_code: &str, rng: &mut impl RngCore) -> LicenseKey {
        let mut key = String::with_capacity(64);
        match self {
            Self::Uuid {} => {
                let mut bytes = [0u8; 16];
                rng.fill_bytes(&mut bytes);
                let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
                let mut buf = uuid::Uuid::encode_buffer();
                key.push_str(id.hyphenated().encode_upper(&mut buf));
            }
            Self::Chunked {
                chunks,
                chunk_len,
                check,
            } => {
                key.push_str(product_code);
                for _ in 0..*chunks {
                    key.push('-');
                    for _ in 0..*chunk_len {
                        key.push(char::from(CROCKFORD[rng.random_range(0..32)]));
                    }
                }
                if *check {
                    let sum = check_chunk(&key, usize::from(*chunk_len));
                    key.push('-');
                    key.push_str(&sum);
                }
            }
            Self::Pattern { pattern } => {
                for c in pattern.bytes() {
                    let out = match c {
                        b'#' => b'0' + rng.random_range(0..10u8),
                        b'@' => b'A' + rng.random_range(0..26u8),
                        b'*' => CROCKFORD[rng.random_range(0..32)],
                        other => other,
                    };
                    key.push(char::from(out));
                }
            }
        }
        LicenseKey(key)
    }
}

fn invalid(field: &'static str, reason: String) -> FormatError {
    FormatError::Invalid { field, reason }
}

fn is_pattern_char(c: char) -> bool {
    matches!(c, '#' | '@' | '*' | '-' | 'A'..='Z' | '0'..='9')
}

/// Checks a product code: 2–8 characters of `A-Z0-9`.
pub fn validate_product_code(code: &str) -> Result<(), FormatError> {
    let ok = (2..=8).contains(&code.len())
        && code
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(FormatError::ProductCode(code.to_owned()))
    }
}

/// Largest prime below 32^n, for check chunks of n = 2..=8 characters.
const CHECK_MODULI: [u64; 7] = [
    1_021,
    32_749,
    1_048_573,
    33_554_393,
    1_073_741_789,
    34_359_738_337,
    1_099_511_627_689,
];

/// The check chunk of `len` (2..=8) characters for `body` (the normalised key before it).
///
/// The body is read as a number in base 37 (`0-9` = 0–9, `A-Z` = 10–35, `-` = 36) modulo a prime
/// `p < 32^len`, written in `len` Crockford digits. Because `p` is prime and larger than 37, every
/// single-character substitution changes the value (`(b - a)·37^k ≢ 0 mod p`), and so does every
/// swap of two adjacent different characters (`(b - a)·36·37^k ≢ 0 mod p`): a typo never passes.
pub fn check_chunk(body: &str, len: usize) -> String {
    let len = len.clamp(2, 8);
    let p = CHECK_MODULI[len - 2];
    let mut acc = 0u64;
    for c in body.bytes() {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            b'-' => 36,
            // Normalised keys hold nothing else; anything else still moves the sum.
            other => other % 37,
        };
        acc = (acc * 37 + u64::from(v)) % p;
    }
    let mut out = vec![b'0'; len];
    for slot in out.iter_mut().rev() {
        *slot = CROCKFORD[(acc % 32) as usize];
        acc /= 32;
    }
    out.into_iter().map(char::from).collect()
}

/// Whether the last `-` segment of `key` is the correct check chunk of the rest. Offline clients
/// call this to catch typos before they ever reach the server; `key` is normalised first.
pub fn check_chunk_is_valid(key: &str) -> bool {
    let key = crockford_form(&normalize(key));
    match key.rsplit_once('-') {
        Some((body, sum)) if (2..=8).contains(&sum.len()) => check_chunk(body, sum.len()) == sum,
        _ => false,
    }
}

/// The fewest characters a key of an accepted format can have: 80 random bits at five bits a
/// character (Crockford, `*`); digits and letters carry less.
pub const MIN_KEY_LEN: usize = 16;

/// Whether a search text could be a full key (SPEC §5: such a search is an exact digest match,
/// audited and throttled): at least [`MIN_KEY_LEN`] characters of `A-Z`, `0-9` and `-` once
/// normalised. Emails, names and short fragments are not.
pub fn is_key_shaped(q: &str) -> bool {
    let n = normalize(q);
    n.len() >= MIN_KEY_LEN
        && n.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

/// The first normalisation step of every lookup: trim and upper-case.
pub fn normalize(raw: &str) -> String {
    raw.trim().to_ascii_uppercase()
}

/// The Crockford reading of a normalised key: in every `-` segment after the first (the first is
/// the product code, which may legitimately hold `O`, `I` or `L`), `O` reads as `0` and `I`/`L`
/// as `1`. Chunked keys are minted without those letters, so this only undoes typos.
pub fn crockford_form(normalized: &str) -> String {
    match normalized.split_once('-') {
        Some((head, rest)) => {
            let mut out = String::with_capacity(normalized.len());
            out.push_str(head);
            out.push('-');
            out.extend(rest.chars().map(|c| match c {
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            }));
            out
        }
        None => normalized.to_owned(),
    }
}

/// A key's digest: the form in which a key is looked up (at rest, HMAC-SHA-256 under the
/// environment's [`DigestKey`](crate::digest::DigestKey)).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyDigest(pub [u8; 32]);

impl KeyDigest {
    /// Plain SHA-256 of a normalised key: for in-memory buckets (rate limits) only, never
    /// stored — a stored digest is keyed ([`DigestKey`](crate::digest::DigestKey)).
    pub fn unkeyed(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    /// The digest as bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Rebuilds a digest from stored bytes; `None` unless exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

impl std::fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyDigest({self})")
    }
}

impl std::fmt::Display for KeyDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// A full license key. Secret: `Debug` and `Display` show only the last four characters.
#[derive(Clone, PartialEq, Eq)]
pub struct LicenseKey(String);

impl LicenseKey {
    /// Wraps a key as typed by a client, normalised (trim, upper-case).
    pub fn from_input(raw: &str) -> Self {
        Self(normalize(raw))
    }

    /// The full key. Call only where SPEC §5 allows the key to leave the server (the response
    /// that creates it, `reveal`, a job's key download) or to encrypt it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The first eight characters, the most any log or audit entry may hold.
    pub fn prefix(&self) -> &str {
        head(&self.0, PREFIX_LEN)
    }

    /// The last four characters.
    pub fn last4(&self) -> &str {
        let start = self.0.len().saturating_sub(4);
        self.0.get(start..).unwrap_or_default()
    }

    /// The masked display form of SPEC §5: the format's literal `lead` (see
    /// [`KeyFormat::lead`]), a mask, and the last four characters — `ACME-····-7B2D`, or
    /// `····-3C21` without a lead. Never a random character of the head.
    pub fn display_with(&self, lead: &str) -> String {
        if lead.is_empty() {
            format!("····-{}", self.last4())
        } else {
            format!("{lead}-····-{}", self.last4())
        }
    }
}

fn head(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

impl std::fmt::Debug for LicenseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LicenseKey(····-{})", self.last4())
    }
}

impl std::fmt::Display for LicenseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "····-{}", self.last4())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{SeedableRng, rngs::StdRng};

    fn chunked(chunks: u8, chunk_len: u8, check: bool) -> KeyFormat {
        KeyFormat::Chunked {
            chunks,
            chunk_len,
            check,
        }
    }

    #[test]
    fn spec_example_format_parses_and_has_80_bits() {
        let f: KeyFormat =
            serde_json::from_str(r#"{"kind":"chunked","chunks":4,"chunk_len":4,"check":true}"#)
                .unwrap();
        assert_eq!(f, chunked(4, 4, true));
        assert_eq!(f.entropy_bits(), 80.0);
        assert_eq!(f.validate(), Ok(()));
    }

    #[test]
    fn unknown_format_fields_are_rejected() {
        let r = serde_json::from_str::<KeyFormat>(r#"{"kind":"uuid","length":3}"#);
        assert!(r.is_err());
        let uuid: KeyFormat = serde_json::from_str(r#"{"kind":"uuid"}"#).unwrap();
        assert_eq!(serde_json::to_string(&uuid).unwrap(), r#"{"kind":"uuid"}"#);
    }

    #[test]
    fn weak_formats_are_rejected() {
        let weak = KeyFormat::Pattern {
            pattern: "PRO-####-@@@@-****".into(),
        };
        assert!(matches!(weak.validate(), Err(FormatError::Weak { bits }) if bits < 64.0));
        assert!(matches!(
            chunked(3, 4, true).validate(),
            Err(FormatError::Weak { .. })
        ));
        // 75 bits passed the old 64-bit floor; a new format needs 80 (SPEC §5).
        let old_floor = chunked(3, 5, true);
        assert!(old_floor.is_weak());
        assert!(
            matches!(old_floor.validate(), Err(FormatError::Weak { bits }) if (bits - 75.0).abs() < 1e-9)
        );
        assert!(
            !chunked(4, 4, true).is_weak(),
            "the SPEC example carries 80 bits"
        );
        let strong = KeyFormat::Pattern {
            pattern: "PRO-****-****-****-****".into(),
        };
        assert_eq!(strong.validate(), Ok(()));
        assert_eq!(KeyFormat::Uuid {}.validate(), Ok(()));
    }

    #[test]
    fn out_of_range_fields_name_the_field() {
        let e = chunked(20, 4, false).validate().unwrap_err();
        assert!(e.to_string().starts_with("format.chunks:"), "{e}");
        let e = chunked(16, 1, false).validate().unwrap_err();
        assert!(e.to_string().starts_with("format.chunk_len:"), "{e}");
        let e = KeyFormat::Pattern {
            pattern: "pro-*************".into(),
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().starts_with("format.pattern:"), "{e}");
    }

    #[test]
    fn product_codes_are_checked() {
        assert!(validate_product_code("ACME").is_ok());
        assert!(validate_product_code("A1").is_ok());
        for bad in ["A", "acme", "ACME-1", "ABCDEFGHI", ""] {
            assert!(validate_product_code(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn generated_keys_have_the_shape_of_their_format() {
        let mut rng = StdRng::seed_from_u64(7);
        let uuid = KeyFormat::Uuid {}.generate("ACME", &mut rng);
        let parsed = uuid::Uuid::parse_str(uuid.expose()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(uuid.expose(), uuid.expose().to_uppercase());

        let k = chunked(4, 4, true).generate("ACME", &mut rng);
        let parts: Vec<&str> = k.expose().split('-').collect();
        assert_eq!(parts.len(), 6);
        assert_eq!(parts[0], "ACME");
        for p in &parts[1..] {
            assert_eq!(p.len(), 4);
            assert!(p.bytes().all(|c| CROCKFORD.contains(&c)), "{p}");
        }
        assert!(check_chunk_is_valid(k.expose()));

        let p = KeyFormat::Pattern {
            pattern: "PRO-####-@@@@-****-****-****".into(),
        }
        .generate("ACME", &mut rng);
        let s = p.expose();
        assert!(s.starts_with("PRO-"));
        assert!(s[4..8].bytes().all(|c| c.is_ascii_digit()));
        assert!(s[9..13].bytes().all(|c| c.is_ascii_uppercase()));
    }

    #[test]
    fn same_seed_same_key() {
        let f = chunked(4, 4, true);
        let a = f.generate("ACME", &mut StdRng::seed_from_u64(1));
        let b = f.generate("ACME", &mut StdRng::seed_from_u64(1));
        assert_eq!(a, b);
    }

    #[test]
    fn display_shows_the_literal_lead_a_mask_and_the_last_four_only() {
        let k = LicenseKey::from_input("ACME-7KQ2-9XHM-3PZD-WN4C-7B2D");
        assert_eq!(
            k.display_with(&chunked(4, 4, true).lead("ACME")),
            "ACME-····-7B2D"
        );
        assert_eq!(k.prefix(), "ACME-7KQ");
        assert_eq!(k.last4(), "7B2D");
        let u = LicenseKey::from_input("8f14e45f-ceea-467a-9a2b-5b1c0e7d3c21");
        assert_eq!(
            u.display_with(&KeyFormat::Uuid {}.lead("ACME")),
            "····-3C21"
        );
        let pattern = |p: &str| KeyFormat::Pattern { pattern: p.into() }.lead("ACME");
        assert_eq!(pattern("PRO-####-@@@@-****"), "PRO");
        assert_eq!(pattern("####-PRO"), "", "a placeholder first: no lead");
        assert_eq!(
            pattern("ABCDEFGHIJ-****"),
            "ABCDEFGH",
            "at most eight characters"
        );
        // No random character of the head ever shows, whatever the format.
        let mut rng = StdRng::seed_from_u64(11);
        for f in [
            chunked(4, 4, true),
            chunked(16, 8, false),
            KeyFormat::Uuid {},
            KeyFormat::Pattern {
                pattern: "****-****-****-****".into(),
            },
        ] {
            let key = f.generate("ACME", &mut rng);
            let shown = key.display_with(&f.lead("ACME"));
            let head = shown.split("····").next().unwrap();
            assert!(head.is_empty() || head == "ACME-", "{shown}");
        }
    }

    #[test]
    fn debug_and_display_show_only_the_last_four() {
        let k = LicenseKey::from_input("ACME-7KQ2-9XHM-3PZD-WN4C-7B2D");
        assert_eq!(format!("{k:?}"), "LicenseKey(····-7B2D)");
        assert_eq!(format!("{k}"), "····-7B2D");
    }

    #[test]
    fn normalisation_trims_upper_cases_and_reads_crockford_typos() {
        assert_eq!(normalize("  solo-7ko2-ixhm \n"), "SOLO-7KO2-IXHM");
        assert_eq!(crockford_form("SOLO-7KO2-IXHM"), "SOLO-7K02-1XHM");
        // The product code keeps its O and L.
        assert!(crockford_form("SOLO-O").starts_with("SOLO-0"));
    }

    #[test]
    fn only_key_shaped_searches_count_as_exact_key_searches() {
        assert!(is_key_shaped(" acme-7kq2-9xhm-3pzd-wn4c-7b2d "));
        assert!(is_key_shaped("8f14e45f-ceea-467a-9a2b-5b1c0e7d3c21"));
        for q in [
            "ACME-7KQ2",
            "ada@example.com",
            "Acme Studio Pro Edition",
            "7B2D",
            "",
        ] {
            assert!(!is_key_shaped(q), "{q}");
        }
    }

    #[test]
    fn the_unkeyed_digest_is_plain_sha256() {
        assert_eq!(
            KeyDigest::unkeyed("ABC").to_string(),
            "b5d4045c3f466fa91fe2cc6abe79232a1a57cdf104f7a26e716e0a1e2789df78"
        );
    }

    #[test]
    fn check_chunk_catches_every_single_character_typo() {
        let alphabet: Vec<char> = ('0'..='9').chain('A'..='Z').chain(['-']).collect();
        let mut rng = StdRng::seed_from_u64(3);
        for (chunks, len) in [(4, 4), (8, 2), (2, 8), (5, 3)] {
            let key = chunked(chunks, len, true).generate("ACME", &mut rng);
            let key: Vec<char> = key.expose().chars().collect();
            for i in 0..key.len() {
                for &c in &alphabet {
                    if c == key[i] {
                        continue;
                    }
                    let mut typo = key.clone();
                    typo[i] = c;
                    let typo: String = typo.into_iter().collect();
                    // A typo that Crockford reading undoes is no typo at all.
                    if crockford_form(&typo) == key.iter().collect::<String>() {
                        continue;
                    }
                    assert!(!check_chunk_is_valid(&typo), "{typo} passed");
                }
            }
        }
    }

    #[test]
    fn check_chunk_moduli_are_primes_below_the_chunk_range() {
        for (i, p) in CHECK_MODULI.iter().enumerate() {
            let n = i as u32 + 2;
            assert!(*p < 32u64.pow(n) && *p > 37);
            let mut d = 2u64;
            while d * d <= *p {
                assert!(p % d != 0, "{p} divisible by {d}");
                d += 1;
            }
        }
    }

    proptest! {
        #[test]
        fn adjacent_swaps_are_caught(seed in any::<u64>(), pos in 0usize..24) {
            let key = chunked(4, 4, true).generate("ACME", &mut StdRng::seed_from_u64(seed));
            let mut chars: Vec<char> = key.expose().chars().collect();
            let i = pos % (chars.len() - 1);
            prop_assume!(chars[i] != chars[i + 1]);
            chars.swap(i, i + 1);
            let swapped: String = chars.into_iter().collect();
            prop_assert!(!check_chunk_is_valid(&swapped));
        }

        #[test]
        fn minted_keys_are_their_own_normal_form(seed in any::<u64>(), check in any::<bool>()) {
            let mut rng = StdRng::seed_from_u64(seed);
            for f in [KeyFormat::Uuid {}, chunked(4, 4, check)] {
                let k = f.generate("SOLO", &mut rng);
                prop_assert_eq!(normalize(&k.expose().to_lowercase()), k.expose());
            }
        }
    }
}
