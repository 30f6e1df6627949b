//! Input checks shared by the store's use cases; each error names the API field.

use crate::error::{StoreError, StoreResult};
use crate::model::JsonObject;

/// The largest serialised metadata object (SPEC §3).
pub const MAX_METADATA_BYTES: usize = 10 * 1024;

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
