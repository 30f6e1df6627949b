//! Input checks shared by the store's use cases; each error names the API field. The one public
//! check, [`representable`], is also the HTTP layer's rule for the times it parses.

use time::OffsetDateTime;

use crate::error::{StoreError, StoreResult};
use crate::limits::{MAX_METADATA_BYTES, YEARS};
use crate::model::JsonObject;

/// Whether the store can keep `t`: its UTC year is in 1970..9000 ([`YEARS`]). Later times would
/// reach the stored lifetime marker; times too far out to convert to UTC are refused too.
pub fn representable(t: OffsetDateTime) -> bool {
    t.checked_to_offset(time::UtcOffset::UTC)
        .is_some_and(|u| YEARS.contains(&u.year()))
}

/// An expiry a caller sets: in the future, and [`representable`].
pub(crate) fn expiry(
    field: &'static str,
    t: OffsetDateTime,
    now: OffsetDateTime,
) -> StoreResult<()> {
    if t <= now {
        return Err(StoreError::invalid(field, "must be in the future"));
    }
    if !representable(t) {
        return Err(StoreError::invalid(
            field,
            "must be before the year 9000 (omit it for a lifetime license)",
        ));
    }
    Ok(())
}

/// An activation limit for `field`: -1 (unlimited) or 1..=10000.
pub(crate) fn activation_limit(field: &'static str, v: i64) -> StoreResult<i32> {
    license_core::ActivationLimit::new(v)
        .map(license_core::ActivationLimit::get)
        .map_err(|e| StoreError::invalid(field, e.to_string().replace("activation_limit ", "")))
}

pub(crate) fn name(field: &'static str, value: &str) -> StoreResult<String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > 200 {
        return Err(StoreError::invalid(field, "must be 1-200 characters"));
    }
    if v.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            field,
            "must not hold control characters",
        ));
    }
    Ok(v.to_owned())
}

/// A token's name: a [`name`] without `:` (the audit actor is `token:<name>`) that is not one
/// of the reserved actor names (SPEC §3), so no token can pass for Keysmith itself.
pub(crate) fn token_name(value: &str) -> StoreResult<String> {
    let v = name("name", value)?;
    if v.contains(':') {
        return Err(StoreError::invalid("name", "must not contain ':'"));
    }
    if crate::audit::RESERVED_ACTORS.contains(&v.to_lowercase().as_str()) {
        return Err(StoreError::invalid(
            "name",
            format!("{v:?} is reserved for Keysmith's own audit entries"),
        ));
    }
    Ok(v)
}

pub(crate) fn object(field: &'static str, value: &JsonObject) -> StoreResult<()> {
    let size = serde_json::Value::Object(value.clone()).to_string().len();
    if size > MAX_METADATA_BYTES {
        return Err(StoreError::invalid(
            field,
            format!("must serialise to at most 10 KiB, got {size} bytes"),
        ));
    }
    Ok(())
}

pub(crate) fn email(value: &str) -> StoreResult<String> {
    let v = value.trim();
    let ok = v.len() <= 254
        && !v.chars().any(|c| c.is_whitespace() || c.is_control())
        && v.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        });
    if ok {
        Ok(v.to_owned())
    } else {
        Err(StoreError::invalid(
            "email",
            format!("{v:?} is not an email address"),
        ))
    }
}

/// Lower-cased text for case-insensitive substring search, the same on both backends (SQLite's
/// `LIKE` ignores ASCII case, PostgreSQL's does not).
pub(crate) fn search_text(parts: &[&str]) -> String {
    parts.join(" ").to_lowercase()
}

/// A `LIKE` pattern matching `needle` anywhere, with `%`, `_` and `\` escaped.
pub(crate) fn contains_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::representable;

    #[test]
    fn representable_times_are_utc_years_1970_to_8999() {
        assert!(representable(datetime!(1970-01-01 00:00 UTC)));
        assert!(representable(datetime!(8999-12-31 23:59:59 UTC)));
        assert!(!representable(datetime!(9000-01-01 00:00 UTC)));
        assert!(!representable(datetime!(1969-12-31 23:59:59 UTC)));
        // The UTC year decides, not the local one.
        assert!(!representable(datetime!(8999-12-31 23:00 -02:00)));
        assert!(representable(datetime!(1969-12-31 23:00 -02:00)));
    }
}
