//! The validation decision of SPEC §7 as pure functions: given what the database says about a
//! license (and the asking instance), the request and the time, which outcome code answers it and
//! which lifecycle transition, if any, the caller must apply in the same request.
//!
//! The HTTP service and any Rust service that links this crate answer from this one truth.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::state::{Action, LicenseStatus};

/// The activation limit of a license: unlimited, or 1..=10000 active activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ActivationLimit(i32);

/// An activation limit outside `-1` or `1..=10000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("activation_limit must be -1 (unlimited) or 1..=10000, got {0}")]
pub struct InvalidLimit(pub i64);

impl ActivationLimit {
    /// No limit (`-1` on the wire).
    pub const UNLIMITED: Self = Self(-1);
    /// The largest finite limit.
    pub const MAX: i64 = 10_000;

    /// Checks a wire value: `-1` or `1..=10000`.
    pub fn new(value: i64) -> Result<Self, InvalidLimit> {
        if value == -1 || (1..=Self::MAX).contains(&value) {
            Ok(Self(value as i32))
        } else {
            Err(InvalidLimit(value))
        }
    }

    /// The wire value (`-1` for unlimited).
    pub const fn get(self) -> i32 {
        self.0
    }

    /// Whether one more activation fits beside `active` current ones.
    pub const fn admits_another(self, active: u32) -> bool {
        self.0 < 0 || (active as i64) < self.0 as i64
    }
}

/// The fingerprint (instance id / hardware id) a client sends: 1–255 printable characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

/// A fingerprint that is empty, longer than 255 characters, or holds control characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("fingerprint must be 1-255 printable characters")]
pub struct InvalidFingerprint;

impl Fingerprint {
    /// Checks and wraps a fingerprint.
    pub fn new(value: &str) -> Result<Self, InvalidFingerprint> {
        let n = value.chars().count();
        if (1..=255).contains(&n) && !value.chars().any(char::is_control) {
            Ok(Self(value.to_owned()))
        } else {
            Err(InvalidFingerprint)
        }
    }

    /// The fingerprint text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the decision needs to know about a license.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseSnapshot {
    /// Current stored status.
    pub status: LicenseStatus,
    /// The license's product id.
    pub product_id: Uuid,
    /// The license's product code.
    pub product_code: String,
    /// Expiry, `None` for lifetime.
    pub expires_at: Option<OffsetDateTime>,
    /// Activation limit.
    pub activation_limit: ActivationLimit,
}

/// The `product` a validation request names: an id, or a code (compared case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductRef {
    /// A product id.
    Id(Uuid),
    /// A product code, upper-cased.
    Code(String),
}

impl ProductRef {
    /// Reads the request's `product` field: a UUID is an id, anything else a code.
    pub fn parse(value: &str) -> Self {
        match Uuid::parse_str(value.trim()) {
            Ok(id) => Self::Id(id),
            Err(_) => Self::Code(value.trim().to_ascii_uppercase()),
        }
    }

    fn matches(&self, license: &LicenseSnapshot) -> bool {
        match self {
            Self::Id(id) => *id == license.product_id,
            Self::Code(code) => *code == license.product_code,
        }
    }
}

/// Whether the asking instance holds an active activation of the license.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instance {
    /// The request carried no fingerprint.
    NotGiven,
    /// The fingerprint has an active activation.
    Active,
    /// The fingerprint has no active activation.
    NotActive,
}

/// The answer to a validate or activate request, with its SPEC §7 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `VALID`.
    Valid,
    /// `GRACE_PERIOD`: expired, but still inside the grace period, which ends at `grace_until`.
    GracePeriod {
        /// End of the grace period.
        grace_until: OffsetDateTime,
    },
    /// `ACTIVATED`: a new activation was created.
    Activated,
    /// `ALREADY_ACTIVATED`: the fingerprint was active already; no slot used.
    AlreadyActivated,
    /// `REVOKED`.
    Revoked,
    /// `REMINTED`.
    Reminted,
    /// `SUSPENDED`.
    Suspended,
    /// `INACTIVE`.
    Inactive,
    /// `EXPIRED`.
    Expired,
    /// `NOT_ASSIGNED`: available licenses must be assigned before use.
    NotAssigned,
    /// `NOT_ACTIVATED`: the fingerprint holds no active activation.
    NotActivated,
    /// `PRODUCT_MISMATCH`: the key belongs to another product.
    ProductMismatch,
    /// `LIMIT_EXCEEDED`.
    LimitExceeded {
        /// The license's limit.
        limit: i32,
        /// Active activations now.
        active: u32,
    },
    /// `NOT_FOUND`: unknown key, or (for activation) a revoked or reminted one.
    NotFound,
}

impl Outcome {
    /// The wire code.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Valid => "VALID",
            Self::GracePeriod { .. } => "GRACE_PERIOD",
            Self::Activated => "ACTIVATED",
            Self::AlreadyActivated => "ALREADY_ACTIVATED",
            Self::Revoked => "REVOKED",
            Self::Reminted => "REMINTED",
            Self::Suspended => "SUSPENDED",
            Self::Inactive => "INACTIVE",
            Self::Expired => "EXPIRED",
            Self::NotAssigned => "NOT_ASSIGNED",
            Self::NotActivated => "NOT_ACTIVATED",
            Self::ProductMismatch => "PRODUCT_MISMATCH",
            Self::LimitExceeded { .. } => "LIMIT_EXCEEDED",
            Self::NotFound => "NOT_FOUND",
        }
    }

    /// Whether the license may be used (`valid: true`).
    pub const fn is_success(&self) -> bool {
        match self {
            Self::Valid | Self::GracePeriod { .. } | Self::Activated | Self::AlreadyActivated => {
                true
            }
            Self::Revoked
            | Self::Reminted
            | Self::Suspended
            | Self::Inactive
            | Self::Expired
            | Self::NotAssigned
            | Self::NotActivated
            | Self::ProductMismatch
            | Self::LimitExceeded { .. }
            | Self::NotFound => false,
        }
    }

    /// The human message for the response body.
    pub fn message(&self) -> String {
        match self {
            Self::Valid => "License is valid".into(),
            Self::GracePeriod { .. } => "License has expired and is in its grace period".into(),
            Self::Activated => "Activation created".into(),
            Self::AlreadyActivated => "This fingerprint is already activated".into(),
            Self::Revoked => "License has been revoked".into(),
            Self::Reminted => "License has been reminted; use the new key".into(),
            Self::Suspended => "License is suspended".into(),
            Self::Inactive => "License is inactive".into(),
            Self::Expired => "License has expired".into(),
            Self::NotAssigned => "License is not assigned to a customer".into(),
            Self::NotActivated => "This fingerprint has no active activation".into(),
            Self::ProductMismatch => "License belongs to another product".into(),
            Self::LimitExceeded { limit, active } => {
                format!("Activation limit reached ({active} of {limit})")
            }
            Self::NotFound => "License not found".into(),
        }
    }
}

/// An outcome and the transition the caller must apply in the same request (lazy expiry, or the
/// first activation moving `assigned → active`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The answer.
    pub outcome: Outcome,
    /// A transition to apply through the state machine, with its audit entry and event.
    pub transition: Option<Action>,
}

impl Decision {
    fn answer(outcome: Outcome) -> Self {
        Self {
            outcome,
            transition: None,
        }
    }
}

/// Where the license stands in time: in force, in grace until a moment, or past grace.
enum Term {
    InForce,
    Grace(OffsetDateTime),
    Over,
}

fn term(license: &LicenseSnapshot, now: OffsetDateTime, grace: Duration) -> Term {
    match license.expires_at {
        None => Term::InForce,
        Some(e) if now < e => Term::InForce,
        Some(e) if now < e + grace => Term::Grace(e + grace),
        Some(_) => Term::Over,
    }
}

/// Terminal states, then time, then the live states that refuse use. `Ok` carries the term of a
/// license that may be used.
fn usable(
    license: &LicenseSnapshot,
    now: OffsetDateTime,
    grace: Duration,
) -> Result<Term, Decision> {
    use LicenseStatus as S;
    let refusal = match license.status {
        S::Revoked => return Err(Decision::answer(Outcome::Revoked)),
        S::Reminted => return Err(Decision::answer(Outcome::Reminted)),
        S::Expired => return Err(Decision::answer(Outcome::Expired)),
        S::Suspended => Some(Outcome::Suspended),
        S::Inactive => Some(Outcome::Inactive),
        S::Available => Some(Outcome::NotAssigned),
        S::Assigned | S::Active => None,
    };
    let t = term(license, now, grace);
    if let Term::Over = t {
        // Lazy expiry: the sweeper may not have run yet. `available` cannot expire (SPEC §4) but
        // a key past its term is still answered as expired.
        let expire = crate::state::transition(license.status, Action::Expire).is_ok();
        return Err(Decision {
            outcome: Outcome::Expired,
            transition: expire.then_some(Action::Expire),
        });
    }
    match refusal {
        Some(outcome) => Err(Decision::answer(outcome)),
        None => Ok(t),
    }
}

fn success(t: Term) -> Outcome {
    match t {
        Term::Grace(grace_until) => Outcome::GracePeriod { grace_until },
        Term::InForce | Term::Over => Outcome::Valid,
    }
}

/// Decides `POST /validate`. Checks, in order: product, terminal states, expiry (with grace; past
/// it the caller must expire the license), suspension, pause, assignment, and — with a
/// fingerprint — that the instance holds an active activation.
pub fn decide_validation(
    license: &LicenseSnapshot,
    product: Option<&ProductRef>,
    instance: Instance,
    now: OffsetDateTime,
    grace: Duration,
) -> Decision {
    if product.is_some_and(|p| !p.matches(license)) {
        return Decision::answer(Outcome::ProductMismatch);
    }
    let t = match usable(license, now, grace) {
        Ok(t) => t,
        Err(d) => return d,
    };
    match instance {
        Instance::NotActive => Decision::answer(Outcome::NotActivated),
        Instance::NotGiven | Instance::Active => Decision::answer(success(t)),
    }
}

/// Decides `POST /activate` for a fingerprint, given whether it is already active and how many
/// activations are active now. Revoked and reminted keys answer `NOT_FOUND` (SPEC §7). The store
/// must call this with the license row locked, so `active` cannot change before the insert.
pub fn decide_activation(
    license: &LicenseSnapshot,
    already_active: bool,
    active: u32,
    now: OffsetDateTime,
    grace: Duration,
) -> Decision {
    if license.status.is_terminal() {
        return Decision::answer(Outcome::NotFound);
    }
    if let Err(d) = usable(license, now, grace) {
        return d;
    }
    if already_active {
        return Decision::answer(Outcome::AlreadyActivated);
    }
    if !license.activation_limit.admits_another(active) {
        return Decision::answer(Outcome::LimitExceeded {
            limit: license.activation_limit.get(),
            active,
        });
    }
    Decision {
        outcome: Outcome::Activated,
        transition: (license.status == LicenseStatus::Assigned).then_some(Action::Activate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LicenseStatus as S;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);

    fn license(status: S) -> LicenseSnapshot {
        LicenseSnapshot {
            status,
            product_id: Uuid::from_u128(1),
            product_code: "ACME".into(),
            expires_at: None,
            activation_limit: ActivationLimit::new(5).unwrap(),
        }
    }

    fn validate(l: &LicenseSnapshot, instance: Instance) -> Decision {
        decide_validation(l, None, instance, NOW, Duration::days(3))
    }

    #[test]
    fn each_status_answers_its_code() {
        let cases = [
            (S::Available, "NOT_ASSIGNED"),
            (S::Assigned, "VALID"),
            (S::Active, "VALID"),
            (S::Inactive, "INACTIVE"),
            (S::Suspended, "SUSPENDED"),
            (S::Expired, "EXPIRED"),
            (S::Revoked, "REVOKED"),
            (S::Reminted, "REMINTED"),
        ];
        for (status, code) in cases {
            let d = validate(&license(status), Instance::NotGiven);
            assert_eq!(d.outcome.code(), code, "{status}");
            assert_eq!(d.transition, None);
        }
    }

    #[test]
    fn revoked_answers_the_seed_message() {
        let d = validate(&license(S::Revoked), Instance::NotGiven);
        assert_eq!(d.outcome.message(), "License has been revoked");
    }

    #[test]
    fn a_fingerprint_must_hold_an_active_activation() {
        let l = license(S::Active);
        assert_eq!(validate(&l, Instance::Active).outcome, Outcome::Valid);
        assert_eq!(
            validate(&l, Instance::NotActive).outcome,
            Outcome::NotActivated
        );
    }

    #[test]
    fn product_is_matched_by_id_or_code() {
        let l = license(S::Active);
        let check = |p: &str| {
            decide_validation(
                &l,
                Some(&ProductRef::parse(p)),
                Instance::NotGiven,
                NOW,
                Duration::ZERO,
            )
            .outcome
        };
        assert_eq!(check("acme"), Outcome::Valid);
        assert_eq!(check(&Uuid::from_u128(1).to_string()), Outcome::Valid);
        assert_eq!(check("OTHER"), Outcome::ProductMismatch);
        assert_eq!(
            check(&Uuid::from_u128(2).to_string()),
            Outcome::ProductMismatch
        );
    }

    #[test]
    fn grace_period_is_valid_until_it_ends_then_expires_lazily() {
        let mut l = license(S::Active);
        l.expires_at = Some(NOW - Duration::days(1));
        let d = validate(&l, Instance::NotGiven);
        assert_eq!(
            d.outcome,
            Outcome::GracePeriod {
                grace_until: NOW + Duration::days(2)
            }
        );
        assert!(d.outcome.is_success());
        l.expires_at = Some(NOW - Duration::days(3));
        let d = validate(&l, Instance::NotGiven);
        assert_eq!(d.outcome, Outcome::Expired);
        assert_eq!(d.transition, Some(Action::Expire));
    }

    #[test]
    fn an_available_key_past_its_term_is_expired_without_a_transition() {
        let mut l = license(S::Available);
        l.expires_at = Some(NOW - Duration::days(10));
        let d = validate(&l, Instance::NotGiven);
        assert_eq!(d.outcome, Outcome::Expired);
        assert_eq!(d.transition, None);
    }

    #[test]
    fn expiry_is_exclusive_at_the_instant() {
        let mut l = license(S::Active);
        l.expires_at = Some(NOW + Duration::seconds(1));
        let no_grace = |l: &LicenseSnapshot, now| {
            decide_validation(l, None, Instance::NotGiven, now, Duration::ZERO).outcome
        };
        assert_eq!(no_grace(&l, NOW), Outcome::Valid);
        assert_eq!(no_grace(&l, NOW + Duration::seconds(1)), Outcome::Expired);
    }

    #[test]
    fn first_activation_moves_assigned_to_active() {
        let d = decide_activation(&license(S::Assigned), false, 0, NOW, Duration::ZERO);
        assert_eq!(d.outcome, Outcome::Activated);
        assert_eq!(d.transition, Some(Action::Activate));
        let d = decide_activation(&license(S::Active), false, 1, NOW, Duration::ZERO);
        assert_eq!(d.transition, None);
    }

    #[test]
    fn activation_respects_the_limit_and_is_idempotent() {
        let l = license(S::Active);
        let d = decide_activation(&l, false, 5, NOW, Duration::ZERO);
        assert_eq!(
            d.outcome,
            Outcome::LimitExceeded {
                limit: 5,
                active: 5
            }
        );
        assert_eq!(d.outcome.message(), "Activation limit reached (5 of 5)");
        let d = decide_activation(&l, true, 5, NOW, Duration::ZERO);
        assert_eq!(d.outcome, Outcome::AlreadyActivated);
        let mut unlimited = l.clone();
        unlimited.activation_limit = ActivationLimit::UNLIMITED;
        let d = decide_activation(&unlimited, false, 10_000, NOW, Duration::ZERO);
        assert_eq!(d.outcome, Outcome::Activated);
    }

    #[test]
    fn activation_refusals_follow_the_spec() {
        let cases = [
            (S::Available, "NOT_ASSIGNED"),
            (S::Inactive, "INACTIVE"),
            (S::Suspended, "SUSPENDED"),
            (S::Expired, "EXPIRED"),
            (S::Revoked, "NOT_FOUND"),
            (S::Reminted, "NOT_FOUND"),
        ];
        for (status, code) in cases {
            let d = decide_activation(&license(status), false, 0, NOW, Duration::ZERO);
            assert_eq!(d.outcome.code(), code, "{status}");
            assert!(!d.outcome.is_success());
        }
    }

    #[test]
    fn limits_and_fingerprints_are_checked() {
        assert!(ActivationLimit::new(-1).is_ok());
        assert!(ActivationLimit::new(10_000).is_ok());
        for bad in [0, -2, 10_001] {
            let e = ActivationLimit::new(bad).unwrap_err();
            assert!(e.to_string().contains("activation_limit"), "{e}");
        }
        assert!(Fingerprint::new("host-1").is_ok());
        assert!(Fingerprint::new(&"x".repeat(255)).is_ok());
        assert!(Fingerprint::new("").is_err());
        assert!(Fingerprint::new(&"x".repeat(256)).is_err());
        assert!(Fingerprint::new("a\nb").is_err());
    }
}
