//! The answer to "may this program run?" (SPEC §13), and the codes a lease error answers with.

use license_core::lease::{Claims, LeaseError};
use time::OffsetDateTime;

/// What [`check`](crate::Client::check), [`validate`](crate::Client::validate) and
/// [`activate`](crate::Client::activate) answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Licensed. `claims` are the verified lease (license and product ids, entitlements in
    /// `claims.ent`, `exp`); `refreshed` is true when the server was asked just now, false when
    /// the answer came from the cached lease without any network.
    Valid {
        /// The verified lease.
        claims: Claims,
        /// Whether this answer comes from the server just now.
        refreshed: bool,
    },
    /// The license has expired but is inside the environment's grace period: still licensed
    /// until `until`; a good moment to remind the customer to renew.
    GracePeriod {
        /// End of the grace period.
        until: OffsetDateTime,
    },
    /// The server could not be reached (connection error, timeout, 5xx, rate limiting) and the
    /// cached lease still verifies for this fingerprint and environment: licensed until
    /// `lease_valid_until`.
    Offline {
        /// When the cached lease stops being trusted (its `exp`).
        lease_valid_until: OffsetDateTime,
    },
    /// Not licensed. `code` is the server's SPEC §7 code (`REVOKED`, `EXPIRED`, `SUSPENDED`,
    /// `NOT_FOUND`, `LIMIT_EXCEEDED`, `NOT_ACTIVATED`, ...) or, when the server could not be asked,
    /// why the cached lease is not trusted (`LEASE_EXPIRED`, `LEASE_BAD_SIGNATURE`, ... — see
    /// [`lease_code`]). `NOT_ACTIVATED` also answers when this instance holds no key at all.
    Invalid {
        /// The reason, in upper snake case.
        code: String,
    },
    /// The local clock is more than an hour behind the latest time this client has seen (its own
    /// earlier readings and the server's lease times): it was set back, so no lease is trusted.
    ClockTampered,
}

impl Status {
    /// Whether the program may run: [`Valid`](Self::Valid), [`GracePeriod`](Self::GracePeriod)
    /// and [`Offline`](Self::Offline) are licensed; [`Invalid`](Self::Invalid) and
    /// [`ClockTampered`](Self::ClockTampered) are not.
    pub fn is_licensed(&self) -> bool {
        match self {
            Self::Valid { .. } | Self::GracePeriod { .. } | Self::Offline { .. } => true,
            Self::Invalid { .. } | Self::ClockTampered => false,
        }
    }

    pub(crate) fn invalid(code: &str) -> Self {
        Self::Invalid {
            code: code.to_owned(),
        }
    }
}

/// The `Invalid` code of a lease that does not verify: `LEASE_` and the error in upper snake
/// case (`LEASE_MALFORMED`, `LEASE_UNKNOWN_KEY`, `LEASE_BAD_SIGNATURE`,
/// `LEASE_ENVIRONMENT_MISMATCH`, `LEASE_FINGERPRINT_MISMATCH`, `LEASE_ISSUED_IN_FUTURE`,
/// `LEASE_EXPIRED`).
pub const fn lease_code(error: LeaseError) -> &'static str {
    match error {
        LeaseError::Malformed => "LEASE_MALFORMED",
        LeaseError::UnknownKey => "LEASE_UNKNOWN_KEY",
        LeaseError::BadSignature => "LEASE_BAD_SIGNATURE",
        LeaseError::EnvironmentMismatch => "LEASE_ENVIRONMENT_MISMATCH",
        LeaseError::FingerprintMismatch => "LEASE_FINGERPRINT_MISMATCH",
        LeaseError::IssuedInFuture => "LEASE_ISSUED_IN_FUTURE",
        LeaseError::Expired => "LEASE_EXPIRED",
    }
}

/// The `Invalid` code of a fresh lease whose nonce is not the one this client sent: a recorded
/// answer replayed.
pub const NONCE_MISMATCH: &str = "LEASE_NONCE_MISMATCH";

/// The `Invalid` code when this instance holds no key (never activated, deactivated, or the
/// cache was unreadable), and the server's code for a fingerprint without an active activation.
pub const NOT_ACTIVATED: &str = "NOT_ACTIVATED";
