//! Diesel table definitions, column for column as in `migrations/{sqlite,postgres}`. Only types
//! both backends share through `MultiConnection` are used: UUIDs and JSON as `Text`, digests and
//! ciphertexts as `Binary`, times as UTC `Timestamp`.

diesel::table! {
    products (id) {
        id -> Text,
        name -> Text,
        search_text -> Text,
        code -> Text,
        status -> Text,
        metadata -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    generators (id) {
        id -> Text,
        product_id -> Text,
        name -> Text,
        format -> Text,
        default_activation_limit -> Integer,
        default_validity_days -> Nullable<Integer>,
        expiry_basis -> Text,
        default_feature_flags -> Text,
        lease_ttl_seconds -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    customers (id) {
        id -> Text,
        name -> Text,
        email -> Text,
        email_lower -> Text,
        search_text -> Text,
        metadata -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        portal_access -> Bool,
        portal_signed_in_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    jobs (id) {
        id -> Text,
        kind -> Text,
        status -> Text,
        params -> Text,
        total -> BigInt,
        done -> BigInt,
        error -> Nullable<Text>,
        keys_downloaded -> Bool,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    licenses (id) {
        id -> Text,
        product_id -> Text,
        generator_id -> Text,
        customer_id -> Nullable<Text>,
        status -> Text,
        status_rank -> SmallInt,
        activation_limit -> Integer,
        activations_active -> Integer,
        ever_activated -> Bool,
        expires_at -> Timestamp,
        feature_flags -> Text,
        metadata -> Text,
        suspended_reason -> Nullable<Text>,
        reminted_from -> Nullable<Text>,
        reminted_to -> Nullable<Text>,
        first_activated_at -> Nullable<Timestamp>,
        key_digest -> Binary,
        key_ciphertext -> Binary,
        key_prefix -> Text,
        key_last4 -> Text,
        key_display -> Text,
        job_id -> Nullable<Text>,
        job_seq -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        customer_sort -> Text,
        product_sort -> Text,
        key_digest_version -> Integer,
    }
}

diesel::table! {
    activations (id) {
        id -> Text,
        license_id -> Text,
        fingerprint -> Text,
        name -> Nullable<Text>,
        platform -> Nullable<Text>,
        ip -> Nullable<Text>,
        metadata -> Text,
        status -> Text,
        first_seen_at -> Timestamp,
        last_validated_at -> Timestamp,
        deactivated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_entries (id) {
        id -> Text,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        target_type -> Text,
        target_id -> Text,
        key_hint -> Nullable<Text>,
        details -> Text,
        request_id -> Text,
        ip -> Nullable<Text>,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        event_type -> Text,
        license_id -> Nullable<Text>,
        data -> Text,
        created_at -> Timestamp,
        fanned_out -> Bool,
        mailed -> Bool,
    }
}

diesel::table! {
    settings (name) {
        name -> Text,
        value -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    admin_tokens (id) {
        id -> Text,
        name -> Text,
        role -> Text,
        token_digest -> Binary,
        token_prefix -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        public_key -> Binary,
        private_sealed -> Binary,
        status -> Text,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        url -> Text,
        secret_sealed -> Binary,
        events -> Text,
        enabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        endpoint_id -> Text,
        event_id -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Text,
        delivery_id -> Text,
        at -> Timestamp,
        status_code -> Nullable<Integer>,
        latency_ms -> Integer,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    expiry_reminders (license_id, days, expires_at) {
        license_id -> Text,
        days -> Integer,
        expires_at -> Timestamp,
        sent_at -> Timestamp,
    }
}

diesel::table! {
    mail_deliveries (id) {
        id -> Text,
        kind -> Text,
        event_id -> Nullable<Text>,
        license_id -> Nullable<Text>,
        customer_id -> Nullable<Text>,
        recipient -> Text,
        payload_sealed -> Nullable<Binary>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    mail_attempts (id) {
        id -> Text,
        delivery_id -> Text,
        at -> Timestamp,
        latency_ms -> Integer,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    portal_links (secret_digest) {
        secret_digest -> Binary,
        customer_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    portal_sessions (id) {
        id -> Text,
        secret_digest -> Binary,
        customer_id -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        ip -> Nullable<Text>,
    }
}

diesel::joinable!(generators -> products (product_id));
diesel::joinable!(mail_attempts -> mail_deliveries (delivery_id));
diesel::joinable!(portal_sessions -> customers (customer_id));
diesel::joinable!(expiry_reminders -> licenses (license_id));
diesel::joinable!(licenses -> products (product_id));
diesel::joinable!(licenses -> generators (generator_id));
diesel::joinable!(licenses -> customers (customer_id));
diesel::joinable!(licenses -> jobs (job_id));
diesel::joinable!(activations -> licenses (license_id));
diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_deliveries -> events (event_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));

diesel::allow_tables_to_appear_in_same_query!(
    products,
    generators,
    customers,
    jobs,
    licenses,
    activations,
    audit_entries,
    events,
    settings,
    admin_tokens,
    signing_keys,
    webhook_endpoints,
    webhook_deliveries,
    webhook_attempts,
    expiry_reminders,
    mail_deliveries,
    mail_attempts,
    portal_links,
    portal_sessions,
);
