//! Where a validate request's store work runs: on the async worker when nothing can make it
//! wait (SQLite), else on a blocking thread. Both ways give the same answer; see
//! `docs/ARCHITECTURE.md` ("The validation hot path").

use license_core::{Fingerprint, ProductRef, SigningKey};
use license_store::Actor;
use license_store::activation::Answer;
use license_store::settings::{AbuseRules, Settings};
use time::OffsetDateTime;

use crate::environments::{Environment, LeaseTerms};
use crate::error::ApiError;

/// The store work of one validate request.
pub(crate) struct Ask {
    pub actor: Actor,
    pub now: OffsetDateTime,
    pub key: String,
    pub fingerprint: Option<Fingerprint>,
    pub product: Option<ProductRef>,
    pub nonce: Option<String>,
}

/// A validate answer, its lease, and the abuse rules it is counted against.
pub(crate) type Validated = (Answer, Option<String>, AbuseRules);

impl Ask {
    /// On the async worker, when nothing can make it wait: settings and signing key cached, and
    /// the store able to answer at once (`Store::validate_now`: SQLite, an idle connection, no
    /// write due). `None` otherwise; then [`Ask::blocking`] runs on a blocking thread. The read
    /// takes tens of microseconds; handing it to another thread and back would cost two thread
    /// switches per request (docs/benchmarks.md).
    pub(crate) fn right_away(&self, env: &Environment) -> Option<Result<Validated, ApiError>> {
        let settings = env.fresh_settings()?;
        let signer = match &self.fingerprint {
            Some(_) => Some(env.fresh_signer()?),
            None => None,
        };
        let answer = env.store().validate_now(
            self.now,
            &self.key,
            self.fingerprint.as_ref(),
            self.product.as_ref(),
            settings.grace(),
        )?;
        Some(
            answer
                .map_err(ApiError::from)
                .and_then(|a| self.with_lease(env, a, &settings, signer.as_deref())),
        )
    }

    /// Anywhere blocking is fine: may query settings and keys, expire the license, refresh
    /// `last_validated_at`.
    pub(crate) fn blocking(&self, env: &Environment) -> Result<Validated, ApiError> {
        let settings = env.settings()?;
        let answer = env.store().validate(
            &self.actor,
            self.now,
            &self.key,
            self.fingerprint.as_ref(),
            self.product.as_ref(),
            settings.grace(),
        )?;
        let signer = match &self.fingerprint {
            Some(_) if answer.decision.outcome.is_success() => Some(env.signer()?),
            _ => None,
        };
        self.with_lease(env, answer, &settings, signer.as_deref())
    }

    /// A successful answer for a fingerprint gets a lease.
    fn with_lease(
        &self,
        env: &Environment,
        answer: Answer,
        settings: &Settings,
        signer: Option<&SigningKey>,
    ) -> Result<Validated, ApiError> {
        let lease = match (&self.fingerprint, &answer.license, signer) {
            (Some(fp), Some(l), Some(signer)) if answer.decision.outcome.is_success() => {
                let terms = LeaseTerms {
                    ttl: answer.lease_ttl,
                    grace: settings.grace(),
                    now: self.now,
                };
                Some(env.sign_lease(signer, l, Some(fp.as_str()), self.nonce.clone(), terms)?)
            }
            _ => None,
        };
        Ok((answer, lease, settings.abuse.clone()))
    }
}
