//! Row structs: exactly the columns of each table, as Diesel reads and writes them. Conversion to
//! the typed domain values of `model` happens in one place, `model`'s `TryFrom` impls.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use crate::schema::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = products, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub struct ProductRow {
    pub id: String,
    pub name: String,
    pub search_text: String,
    pub code: String,
    pub status: String,
    pub metadata: String,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = generators, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub struct GeneratorRow {
    pub id: String,
    pub product_id: String,
    pub name: String,
    pub format: String,
    pub default_activation_limit: i32,
    pub default_validity_days: Option<i32>,
    pub expiry_basis: String,
    pub default_feature_flags: String,
    pub lease_ttl_seconds: i32,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = customers, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub struct CustomerRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub email_lower: String,
    pub search_text: String,
    pub metadata: String,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = jobs, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub params: String,
    pub total: i64,
    pub done: i64,
    pub error: Option<String>,
    pub keys_downloaded: bool,
    pub created_by: String,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub claimed_until: Option<PrimitiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = licenses, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub struct LicenseRow {
    pub id: String,
    pub product_id: String,
    pub generator_id: String,
    pub customer_id: Option<String>,
    pub status: String,
    pub status_rank: i16,
    pub activation_limit: i32,
    pub activations_active: i32,
    pub ever_activated: bool,
    pub expires_at: PrimitiveDateTime,
    pub feature_flags: String,
    pub metadata: String,
    pub suspended_reason: Option<String>,
    pub reminted_from: Option<String>,
    pub reminted_to: Option<String>,
    pub first_activated_at: Option<PrimitiveDateTime>,
    pub key_digest: Vec<u8>,
    pub key_ciphertext: Vec<u8>,
    pub key_prefix: String,
    pub key_last4: String,
    pub key_display: String,
    pub job_id: Option<String>,
    pub job_seq: Option<i64>,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    /// 1: unkeyed SHA-256 (releases before the HMAC digest); 2: HMAC-SHA-256 (SPEC §5).
    pub key_digest_version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = activations, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub struct ActivationRow {
    pub id: String,
    pub license_id: String,
    pub fingerprint: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub ip: Option<String>,
    pub metadata: String,
    pub status: String,
    pub first_seen_at: PrimitiveDateTime,
    pub last_validated_at: PrimitiveDateTime,
    pub deactivated_at: Option<PrimitiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_entries, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub struct AuditRow {
    pub id: String,
    pub at: PrimitiveDateTime,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub key_hint: Option<String>,
    pub details: String,
    pub request_id: String,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub struct EventRow {
    pub id: String,
    pub event_type: String,
    pub license_id: Option<String>,
    pub data: String,
    pub created_at: PrimitiveDateTime,
    pub fanned_out: bool,
    pub mailed: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = settings, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub struct SettingRow {
    pub name: String,
    pub value: String,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = admin_tokens, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub token_digest: Vec<u8>,
    pub token_prefix: String,
    pub created_at: PrimitiveDateTime,
    pub last_used_at: Option<PrimitiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub struct SigningKeyRow {
    pub kid: String,
    pub public_key: Vec<u8>,
    pub private_sealed: Vec<u8>,
    pub status: String,
    pub created_at: PrimitiveDateTime,
    pub retired_at: Option<PrimitiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_endpoints, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub struct WebhookRow {
    pub id: String,
    pub url: String,
    pub secret_sealed: Vec<u8>,
    pub events: String,
    pub enabled: bool,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub struct DeliveryRow {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: PrimitiveDateTime,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}
