//! Diesel tables of the control database, column for column as in
//! `migrations/control/{sqlite,postgres}`, and their rows.

use diesel::prelude::*;
use time::PrimitiveDateTime;

diesel::table! {
    operators (id) {
        id -> Text,
        email -> Text,
        email_lower -> Text,
        name -> Text,
        password_hash -> Nullable<Text>,
        totp_secret -> Nullable<Binary>,
        totp_pending -> Nullable<Binary>,
        totp_last_step -> Nullable<BigInt>,
        disabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_login_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    operator_roles (operator_id, environment) {
        operator_id -> Text,
        environment -> Text,
        role -> Text,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        secret_digest -> Binary,
        operator_id -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        reauth_at -> Timestamp,
        ip -> Nullable<Text>,
    }
}

diesel::table! {
    one_time_links (secret_digest) {
        secret_digest -> Binary,
        purpose -> Text,
        operator_id -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    control_audit (id) {
        id -> Text,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        target_id -> Nullable<Text>,
        details -> Text,
        request_id -> Text,
        ip -> Nullable<Text>,
    }
}

diesel::joinable!(operator_roles -> operators (operator_id));
diesel::joinable!(sessions -> operators (operator_id));
diesel::allow_tables_to_appear_in_same_query!(operators, operator_roles, sessions);

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = operators, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct OperatorRow {
    pub id: String,
    pub email: String,
    pub email_lower: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub totp_secret: Option<Vec<u8>>,
    pub totp_pending: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub disabled: bool,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub last_login_at: Option<PrimitiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = operator_roles, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub(crate) struct RoleRow {
    pub operator_id: String,
    pub environment: String,
    pub role: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct SessionRow {
    pub id: String,
    pub secret_digest: Vec<u8>,
    pub operator_id: String,
    pub created_at: PrimitiveDateTime,
    pub last_seen_at: PrimitiveDateTime,
    pub reauth_at: PrimitiveDateTime,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = one_time_links, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct LinkRow {
    pub secret_digest: Vec<u8>,
    pub purpose: String,
    pub operator_id: Option<String>,
    pub created_at: PrimitiveDateTime,
    pub expires_at: PrimitiveDateTime,
    pub used_at: Option<PrimitiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = control_audit, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct ControlAuditRow {
    pub id: String,
    pub at: PrimitiveDateTime,
    pub actor: String,
    pub action: String,
    pub target_id: Option<String>,
    pub details: String,
    pub request_id: String,
    pub ip: Option<String>,
}
