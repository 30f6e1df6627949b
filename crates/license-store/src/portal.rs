//! The customer portal (SPEC §14), the store's side: single-use sign-in links mailed to a
//! customer, the sessions they open, and what a signed-in customer may read and do — always
//! through [`own_license`], so a customer reaches only licenses assigned to them, and another
//! customer's license answers exactly like one that does not exist.
//!
//! Secrets (link and cookie) are 256-bit random strings stored as SHA-256 digests. A link lives
//! [`LINK_TTL`] and works once; a session ends after [`SESSION_IDLE`] without use or
//! [`SESSION_MAX`] in all, at sign-out, or when an operator takes the customer's access away.

use diesel::prelude::*;
use license_core::LicenseKey;
use serde::Serialize;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::audit::{self, Actor, Target, details};
use crate::control::{new_secret, secret_digest};
use crate::db::DbConn;
use crate::error::{StoreError, StoreResult};
use crate::license_rows::{load_license, load_view, log_change};
use crate::mail::{NewMail, queue};
use crate::mail_templates::MailKind;
use crate::model::{LicenseView, from_db, parse_id, to_db};
use crate::rows::{CustomerRow, LicenseRow};
use crate::schema::{customers, licenses, portal_links, portal_sessions};
use crate::search::LicenseFilter;
use crate::{Page, Store};

/// How long a sign-in link works.
pub const LINK_TTL: Duration = Duration::minutes(crate::mail_templates::PORTAL_LINK_MINUTES);
/// A session ends after this long without a request...
pub const SESSION_IDLE: Duration = Duration::minutes(30);
/// ...and this long after sign-in in any case.
pub const SESSION_MAX: Duration = Duration::hours(12);
/// Sign-in links mailed to one customer per hour at most; more requests are answered the same
/// way and send nothing (no mail bombing through the portal).
pub const LINKS_PER_HOUR: usize = 5;
/// A customer gets at most one link this often (a stranger asking in a loop fills no inbox).
pub const LINK_SPACING: Duration = Duration::minutes(1);
/// `last_seen_at` is written at most this often per session.
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// A signed-in customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PortalCustomer {
    pub id: Uuid,
    pub name: String,
    pub email: String,
}

impl PortalCustomer {
    fn of(r: &CustomerRow) -> StoreResult<Self> {
        Ok(Self {
            id: parse_id(&r.id)?,
            name: r.name.clone(),
            email: r.email.clone(),
        })
    }

    /// The audit actor of this customer's actions (SPEC §14: `customer:<email>`).
    pub fn actor(&self, request_id: &str, ip: Option<String>) -> Actor {
        Actor::named(format!("customer:{}", self.email), request_id).with_ip(ip)
    }
}

/// A customer's portal access as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PortalAccess {
    /// Whether the customer may sign in.
    pub access: bool,
    /// Sessions open now.
    pub sessions: i64,
    /// The latest sign-in (kept when sessions end).
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_sign_in_at: Option<OffsetDateTime>,
}

fn customer_target(id: &str) -> Target<'_> {
    Target {
        kind: "customer",
        id,
        key_hint: None,
    }
}

/// License `id` if it is assigned to `customer`; otherwise `NotFound`, whether it exists or not.
pub(crate) fn own_license(c: &mut DbConn, customer: Uuid, id: Uuid) -> StoreResult<LicenseRow> {
    let row = load_license(c, &id.to_string())?;
    if row.customer_id.as_deref() == Some(customer.to_string().as_str()) {
        Ok(row)
    } else {
        Err(StoreError::NotFound { entity: "license" })
    }
}

impl Store {
    /// Mails a sign-in link to the customer with this email, if there is one who may sign in
    /// and has not had [`LINKS_PER_HOUR`] links this hour: `link_base` followed by the secret
    /// is the link. Returns whether a link was queued; the caller answers the same either way.
    pub fn request_portal_link(
        &self,
        now: OffsetDateTime,
        email: &str,
        link_base: &str,
        request_id: &str,
        ip: Option<String>,
    ) -> StoreResult<bool> {
        let email_lower = crate::validate::email(email)?.to_lowercase();
        self.write(|c| {
            let customer: Option<CustomerRow> = customers::table
                .filter(customers::email_lower.eq(&email_lower))
                .filter(customers::portal_access.eq(true))
                .select(CustomerRow::as_select())
                .first(c)
                .optional()?;
            let Some(customer) = customer else {
                return Ok(false);
            };
            let recent: Vec<time::PrimitiveDateTime> = portal_links::table
                .filter(portal_links::customer_id.eq(&customer.id))
                .filter(portal_links::created_at.gt(to_db(now - Duration::hours(1))))
                .select(portal_links::created_at)
                .load(c)?;
            let latest = recent.iter().max().map(|t| from_db(*t));
            if recent.len() >= LINKS_PER_HOUR || latest.is_some_and(|t| now - t < LINK_SPACING) {
                return Ok(false);
            }
            let secret = new_secret(&mut rand::rng());
            diesel::insert_into(portal_links::table)
                .values((
                    portal_links::secret_digest.eq(secret_digest(&secret)),
                    portal_links::customer_id.eq(&customer.id),
                    portal_links::created_at.eq(to_db(now)),
                    portal_links::expires_at.eq(to_db(now + LINK_TTL)),
                ))
                .execute(c)?;
            let link = format!("{link_base}{secret}");
            let mail = NewMail {
                kind: MailKind::PortalLink,
                event_id: None,
                license_id: None,
                customer_id: Some(&customer.id),
                recipient: &customer.email,
            };
            queue(c, self.sealer(), now, mail, Some(link.as_bytes()))?;
            let actor = PortalCustomer::of(&customer)?.actor(request_id, ip);
            audit::record(
                c,
                now,
                &actor,
                "portal.link_sent",
                customer_target(&customer.id),
                details(json!({})),
            )?;
            Ok(true)
        })
    }

    /// Signs a customer in with a link's secret: the link is used up and a session opens.
    /// Returns the session's cookie secret. Used, expired, unknown links, and customers whose
    /// access was taken away, are `LinkInvalid`.
    pub fn redeem_portal_link(
        &self,
        now: OffsetDateTime,
        secret: &str,
        request_id: &str,
        ip: Option<String>,
    ) -> StoreResult<(String, PortalCustomer)> {
        let digest = secret_digest(secret);
        self.write(|c| {
            let link: Option<(
                String,
                time::PrimitiveDateTime,
                Option<time::PrimitiveDateTime>,
            )> = portal_links::table
                .find(&digest)
                .select((
                    portal_links::customer_id,
                    portal_links::expires_at,
                    portal_links::used_at,
                ))
                .first(c)
                .optional()?;
            let Some((customer_id, expires, None)) = link else {
                return Err(StoreError::LinkInvalid);
            };
            if from_db(expires) <= now {
                return Err(StoreError::LinkInvalid);
            }
            let customer: CustomerRow = customers::table
                .find(&customer_id)
                .filter(customers::portal_access.eq(true))
                .select(CustomerRow::as_select())
                .first(c)
                .optional()?
                .ok_or(StoreError::LinkInvalid)?;
            // Only the request that marks the link used signs in (two at once on PostgreSQL
            // both read it unused).
            let marked = diesel::update(
                portal_links::table
                    .find(&digest)
                    .filter(portal_links::used_at.is_null()),
            )
            .set(portal_links::used_at.eq(Some(to_db(now))))
            .execute(c)?;
            if marked != 1 {
                return Err(StoreError::LinkInvalid);
            }
            let session = new_secret(&mut rand::rng());
            diesel::insert_into(portal_sessions::table)
                .values((
                    portal_sessions::id.eq(crate::model::new_id()),
                    portal_sessions::secret_digest.eq(secret_digest(&session)),
                    portal_sessions::customer_id.eq(&customer.id),
                    portal_sessions::created_at.eq(to_db(now)),
                    portal_sessions::last_seen_at.eq(to_db(now)),
                    portal_sessions::expires_at.eq(to_db(now + SESSION_MAX)),
                    portal_sessions::ip.eq(&ip),
                ))
                .execute(c)?;
            diesel::update(customers::table.find(&customer.id))
                .set(customers::portal_signed_in_at.eq(Some(to_db(now))))
                .execute(c)?;
            let who = PortalCustomer::of(&customer)?;
            audit::record(
                c,
                now,
                &who.actor(request_id, ip),
                "portal.signed_in",
                customer_target(&customer.id),
                details(json!({})),
            )?;
            Ok((session, who))
        })
    }

    /// The customer signed in with cookie secret `secret`, or `None` (unknown, idle, too old,
    /// or access taken away; such a session is deleted).
    pub fn portal_session(
        &self,
        now: OffsetDateTime,
        secret: &str,
    ) -> StoreResult<Option<PortalCustomer>> {
        let c = &mut *self.conn()?;
        let row: Option<(
            String,
            time::PrimitiveDateTime,
            time::PrimitiveDateTime,
            CustomerRow,
            bool,
        )> = portal_sessions::table
            .inner_join(customers::table)
            .filter(portal_sessions::secret_digest.eq(secret_digest(secret)))
            .select((
                portal_sessions::id,
                portal_sessions::last_seen_at,
                portal_sessions::expires_at,
                CustomerRow::as_select(),
                customers::portal_access,
            ))
            .first(c)
            .optional()?;
        let Some((id, seen, expires, customer, access)) = row else {
            return Ok(None);
        };
        if !access || now - from_db(seen) >= SESSION_IDLE || from_db(expires) <= now {
            diesel::delete(portal_sessions::table.find(&id)).execute(c)?;
            return Ok(None);
        }
        if now - from_db(seen) >= TOUCH_EVERY {
            diesel::update(portal_sessions::table.find(&id))
                .set(portal_sessions::last_seen_at.eq(to_db(now)))
                .execute(c)?;
        }
        PortalCustomer::of(&customer).map(Some)
    }

    /// Signs out: the session with cookie secret `secret` ends (audited).
    pub fn end_portal_session(
        &self,
        now: OffsetDateTime,
        secret: &str,
        actor: &Actor,
        customer: Uuid,
    ) -> StoreResult<()> {
        let id = customer.to_string();
        self.write(|c| {
            diesel::delete(
                portal_sessions::table
                    .filter(portal_sessions::secret_digest.eq(secret_digest(secret))),
            )
            .execute(c)?;
            audit::record(
                c,
                now,
                actor,
                "portal.signed_out",
                customer_target(&id),
                details(json!({})),
            )
        })
    }

    /// The licenses assigned to `customer`, newest first (at most a page of 500).
    pub fn portal_licenses(&self, customer: Uuid) -> StoreResult<(Vec<LicenseView>, i64)> {
        let filter = LicenseFilter {
            customer: Some(customer),
            desc: true,
            ..LicenseFilter::default()
        };
        self.licenses(&filter, Page::new(Page::MAX_LIMIT, 0)?)
    }

    /// One of `customer`'s licenses (`NotFound` for anyone else's).
    pub fn portal_license(&self, customer: Uuid, id: Uuid) -> StoreResult<LicenseView> {
        self.conn()?.read(|c| {
            own_license(c, customer, id)?;
            load_view(c, &id.to_string())
        })
    }

    /// Reads one of `customer`'s license keys back, audited like an operator's reveal.
    pub fn portal_reveal(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        customer: Uuid,
        id: Uuid,
    ) -> StoreResult<LicenseKey> {
        self.write(|c| {
            let (row, key) = self.own_key(c, customer, id)?;
            log_change(
                c,
                now,
                actor,
                "license.revealed",
                None,
                &row,
                details(json!({})),
            )?;
            Ok(key)
        })
    }

    /// One of `customer`'s keys, for a use case that acts with it and audits that (the portal's
    /// offline activation); never shown.
    pub fn portal_key(&self, customer: Uuid, id: Uuid) -> StoreResult<LicenseKey> {
        self.conn()?.read(|c| Ok(self.own_key(c, customer, id)?.1))
    }

    fn own_key(
        &self,
        c: &mut DbConn,
        customer: Uuid,
        id: Uuid,
    ) -> StoreResult<(LicenseRow, LicenseKey)> {
        let row = own_license(c, customer, id)?;
        let key = license_core::reveal_key(self.sealer(), id, &row.key_ciphertext)
            .map_err(|_| StoreError::corrupt("key ciphertext does not open"))?;
        Ok((row, key))
    }

    /// Deletes sign-in links and sessions that can no longer be used (expired, used, idle):
    /// rows a stranger's requests add do not pile up. Returns how many went.
    pub fn purge_portal(&self, now: OffsetDateTime) -> StoreResult<usize> {
        self.write(|c| {
            let links = diesel::delete(
                portal_links::table.filter(
                    portal_links::expires_at
                        .lt(to_db(now))
                        .or(portal_links::used_at.is_not_null()),
                ),
            )
            .execute(c)?;
            let sessions = diesel::delete(
                portal_sessions::table.filter(
                    portal_sessions::expires_at
                        .lt(to_db(now))
                        .or(portal_sessions::last_seen_at.lt(to_db(now - SESSION_IDLE))),
                ),
            )
            .execute(c)?;
            Ok(links + sessions)
        })
    }

    /// A customer's portal access: allowed or not, open sessions, latest sign-in.
    pub fn portal_access(&self, customer: Uuid) -> StoreResult<PortalAccess> {
        let id = customer.to_string();
        self.conn()?.read(|c| access_of(c, &id))
    }

    /// Gives or takes away a customer's portal access; taking it away ends their sessions and
    /// voids their unused links. Audited.
    pub fn set_portal_access(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        customer: Uuid,
        access: bool,
    ) -> StoreResult<PortalAccess> {
        let id = customer.to_string();
        self.write(|c| {
            crate::customers::load_customer(c, &id)?;
            diesel::update(customers::table.find(&id))
                .set(customers::portal_access.eq(access))
                .execute(c)?;
            if !access {
                crate::customers::sign_out_everywhere(c, &id)?;
            }
            audit::record(
                c,
                now,
                actor,
                "customer.portal_access_changed",
                customer_target(&id),
                details(json!({"access": access})),
            )?;
            access_of(c, &id)
        })
    }
}

fn access_of(c: &mut DbConn, id: &str) -> StoreResult<PortalAccess> {
    let (access, last): (bool, Option<time::PrimitiveDateTime>) = customers::table
        .find(id)
        .select((customers::portal_access, customers::portal_signed_in_at))
        .first(c)
        .optional()?
        .ok_or(StoreError::NotFound { entity: "customer" })?;
    let sessions: i64 = portal_sessions::table
        .filter(portal_sessions::customer_id.eq(id))
        .count()
        .get_result(c)?;
    Ok(PortalAccess {
        access,
        sessions,
        last_sign_in_at: last.map(from_db),
    })
}

/// Whether license `id` belongs to `customer` (for routes that act through other use cases).
pub(crate) fn owns(c: &mut DbConn, customer: Uuid, license_id: &str) -> StoreResult<bool> {
    let owner: Option<Option<String>> = licenses::table
        .find(license_id)
        .select(licenses::customer_id)
        .first(c)
        .optional()?;
    Ok(owner.flatten().as_deref() == Some(customer.to_string().as_str()))
}
