//! Schemas of request fields that several bodies share, each the OpenAPI form of one rule the
//! store or a handler enforces. Fields stay `String` and name these with `value_type`.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// A display name in a request (product, generator, customer, operator; an activation's device name and platform): 1–200
/// characters, not only blanks, no control characters — the rule of the store's
/// `validate::name`.
#[derive(Debug)]
pub(crate) struct Name;

impl utoipa::PartialSchema for Name {
    fn schema() -> RefOr<Schema> {
        text_schema(1, 200, r"^(?=[\s\S]*\S)[^\x00-\x1F\x7F-\x9F]+$")
    }
}

impl utoipa::ToSchema for Name {}

/// An email address in a request: the rule of the store's `validate::email` (at most 254
/// characters, one `@` after a non-empty local part, a `.` in the domain, no blanks or control
/// characters). A schema only, like [`Name`].
#[derive(Debug)]
pub(crate) struct Email;

impl utoipa::PartialSchema for Email {
    fn schema() -> RefOr<Schema> {
        text_schema(
            0,
            254,
            r"^[^\s@\x00-\x1F\x7F-\x9F]+@[^\s@\x00-\x1F\x7F-\x9F]*\.[^\s@\x00-\x1F\x7F-\x9F]*$",
        )
    }
}

impl utoipa::ToSchema for Email {}

fn text_schema(min: usize, max: usize, pattern: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length((min > 0).then_some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .into()
}
