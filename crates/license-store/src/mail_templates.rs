//! The emails Keysmith sends (SPEC §14): one kind per occasion, each with a subject, a plain-text
//! and an HTML template. Built-in defaults apply unless the environment's settings override a
//! kind; a template may use only its kind's placeholders (checked when the settings are saved),
//! and HTML values are always escaped ([`license_core::template`]).

use std::collections::BTreeMap;

use license_core::template::{Escape, Template, TemplateError};
use serde::{Deserialize, Serialize};

use crate::error::{StoreError, StoreResult};

/// How long a portal sign-in link works, in minutes (SPEC §14).
pub const PORTAL_LINK_MINUTES: i64 = 15;

/// Why an email is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MailKind {
    /// The license key, to its customer on assignment (setting `email_key_on_assign`).
    KeyAssigned,
    /// A license expires in 30, 14 or 7 days.
    ExpiringSoon,
    /// A license expired.
    Expired,
    /// A license was suspended.
    Suspended,
    /// A license was revoked.
    Revoked,
    /// A customer's sign-in link to the portal.
    PortalLink,
}

impl MailKind {
    /// Every kind.
    pub const ALL: [MailKind; 6] = [
        Self::KeyAssigned,
        Self::ExpiringSoon,
        Self::Expired,
        Self::Suspended,
        Self::Revoked,
        Self::PortalLink,
    ];

    /// The kind's name (`key_assigned`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::KeyAssigned => "key_assigned",
            Self::ExpiringSoon => "expiring_soon",
            Self::Expired => "expired",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
            Self::PortalLink => "portal_link",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The mail an outbox event sends to the license's customer, if any.
    pub fn for_event(event_type: &str) -> Option<Self> {
        Some(match event_type {
            "license.assigned" => Self::KeyAssigned,
            "license.expiring_soon" => Self::ExpiringSoon,
            "license.expired" => Self::Expired,
            "license.suspended" => Self::Suspended,
            "license.revoked" => Self::Revoked,
            _ => return None,
        })
    }

    /// The placeholders its templates may use.
    pub const fn placeholders(self) -> &'static [&'static str] {
        match self {
            Self::KeyAssigned => &[
                "customer_name",
                "product_name",
                "key",
                "expires",
                "portal_url",
            ],
            Self::ExpiringSoon => &[
                "customer_name",
                "product_name",
                "key_display",
                "expires",
                "days",
                "portal_url",
            ],
            Self::Expired | Self::Revoked => &[
                "customer_name",
                "product_name",
                "key_display",
                "expires",
                "portal_url",
            ],
            // No reason: an operator's or the abuse detector's note is not the customer's to read.
            Self::Suspended => &["customer_name", "product_name", "key_display", "portal_url"],
            Self::PortalLink => &["customer_name", "link", "minutes"],
        }
    }

    /// The built-in template.
    pub fn default_template(self) -> MailTemplate {
        let (subject, text, html) = match self {
            Self::KeyAssigned => (
                "Your {{ product_name }} license key",
                "Hello {{ customer_name }},\n\nhere is your license key for {{ product_name }}:\n\n    {{ key }}\n\nIt is valid until {{ expires }}. Keep it private: anyone with the key can use your license.\n\nYour licenses: {{ portal_url }}\n",
                "<p>Hello {{ customer_name }},</p><p>here is your license key for <b>{{ product_name }}</b>:</p><p style=\"font-family:monospace;font-size:1.2em\">{{ key }}</p><p>It is valid until {{ expires }}. Keep it private: anyone with the key can use your license.</p><p><a href=\"{{ portal_url }}\">Your licenses</a></p>",
            ),
            Self::ExpiringSoon => (
                "Your {{ product_name }} license expires in {{ days }} days",
                "Hello {{ customer_name }},\n\nyour {{ product_name }} license {{ key_display }} expires on {{ expires }}, in {{ days }} days.\n\nYour licenses: {{ portal_url }}\n",
                "<p>Hello {{ customer_name }},</p><p>your <b>{{ product_name }}</b> license {{ key_display }} expires on {{ expires }}, in {{ days }} days.</p><p><a href=\"{{ portal_url }}\">Your licenses</a></p>",
            ),
            Self::Expired => (
                "Your {{ product_name }} license has expired",
                "Hello {{ customer_name }},\n\nyour {{ product_name }} license {{ key_display }} expired on {{ expires }}.\n\nYour licenses: {{ portal_url }}\n",
                "<p>Hello {{ customer_name }},</p><p>your <b>{{ product_name }}</b> license {{ key_display }} expired on {{ expires }}.</p><p><a href=\"{{ portal_url }}\">Your licenses</a></p>",
            ),
            Self::Suspended => (
                "Your {{ product_name }} license is suspended",
                "Hello {{ customer_name }},\n\nyour {{ product_name }} license {{ key_display }} has been suspended. Please contact us to have it restored, or if you think this is a mistake.\n\nYour licenses: {{ portal_url }}\n",
                "<p>Hello {{ customer_name }},</p><p>your <b>{{ product_name }}</b> license {{ key_display }} has been suspended. Please contact us to have it restored, or if you think this is a mistake.</p><p><a href=\"{{ portal_url }}\">Your licenses</a></p>",
            ),
            Self::Revoked => (
                "Your {{ product_name }} license has been revoked",
                "Hello {{ customer_name }},\n\nyour {{ product_name }} license {{ key_display }} has been revoked and no longer works.\n\nYour licenses: {{ portal_url }}\n",
                "<p>Hello {{ customer_name }},</p><p>your <b>{{ product_name }}</b> license {{ key_display }} has been revoked and no longer works.</p><p><a href=\"{{ portal_url }}\">Your licenses</a></p>",
            ),
            Self::PortalLink => (
                "Your sign-in link",
                "Hello {{ customer_name }},\n\nsign in to see your licenses with this link, valid for {{ minutes }} minutes and usable once:\n\n{{ link }}\n\nIf you did not ask for it, ignore this email.\n",
                "<p>Hello {{ customer_name }},</p><p>sign in to see your licenses with this link, valid for {{ minutes }} minutes and usable once:</p><p><a href=\"{{ link }}\">Sign in</a></p><p>If you did not ask for it, ignore this email.</p>",
            ),
        };
        MailTemplate {
            subject: subject.into(),
            text: text.into(),
            html: html.into(),
        }
    }
}

/// One kind's templates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailTemplate {
    /// The subject line (placeholders allowed; one line of up to 200 characters, not only
    /// blanks, no control characters).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^(?=[\s\S]*\S)[^\x00-\x1F\x7F-\x9F]+$"
        )
    )]
    pub subject: String,
    /// The plain-text part (up to 8,192 characters, not only blanks).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 8192, pattern = r"\S")
    )]
    pub text: String,
    /// The HTML part (values are escaped; the markup is the operator's; up to 8,192
    /// characters, not only blanks).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 8192, pattern = r"\S")
    )]
    pub html: String,
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenderedMail {
    /// The subject.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

fn template_error(field: &'static str, e: TemplateError) -> StoreError {
    StoreError::invalid(field, e.to_string())
}

impl MailTemplate {
    /// Checks each part against the kind's placeholders; errors name the field
    /// (`mail_templates.suspended.html`).
    pub fn validate(&self, kind: MailKind) -> StoreResult<()> {
        self.parse(kind).map(|_| ())
    }

    fn parse(&self, kind: MailKind) -> StoreResult<[Template; 3]> {
        let allowed = kind.placeholders();
        let field = |part: &str| -> &'static str {
            FIELDS
                .iter()
                .find(|(k, p, _)| *k == kind && *p == part)
                .map_or("mail_templates", |(_, _, f)| f)
        };
        if self.subject.trim().is_empty()
            || self.subject.chars().count() > 200
            || self.subject.chars().any(char::is_control)
        {
            return Err(StoreError::invalid(
                field("subject"),
                "must be one line of 1..=200 characters, not only blanks, no control characters",
            ));
        }
        for (part, v) in [("text", &self.text), ("html", &self.html)] {
            if v.trim().is_empty() {
                return Err(StoreError::invalid(field(part), "must not be empty"));
            }
        }
        Ok([
            Template::parse(&self.subject, allowed)
                .map_err(|e| template_error(field("subject"), e))?,
            Template::parse(&self.text, allowed).map_err(|e| template_error(field("text"), e))?,
            Template::parse(&self.html, allowed).map_err(|e| template_error(field("html"), e))?,
        ])
    }

    /// Renders with `vars` (missing ones render empty): the subject and text as they are, the
    /// HTML with every value escaped.
    pub fn render(
        &self,
        kind: MailKind,
        vars: &BTreeMap<&str, String>,
    ) -> StoreResult<RenderedMail> {
        let [subject, text, html] = self.parse(kind)?;
        let value = |name: &str| vars.get(name).map(String::as_str);
        Ok(RenderedMail {
            // A value cannot break the subject onto a second header line.
            subject: subject
                .render(value, Escape::None)
                .replace(['\r', '\n'], " "),
            text: text.render(value, Escape::None),
            html: html.render(value, Escape::Html),
        })
    }
}

/// Field names of every template part, for errors (`&'static str` like every other field).
const FIELDS: [(MailKind, &str, &str); 18] = [
    (
        MailKind::KeyAssigned,
        "subject",
        "mail_templates.key_assigned.subject",
    ),
    (
        MailKind::KeyAssigned,
        "text",
        "mail_templates.key_assigned.text",
    ),
    (
        MailKind::KeyAssigned,
        "html",
        "mail_templates.key_assigned.html",
    ),
    (
        MailKind::ExpiringSoon,
        "subject",
        "mail_templates.expiring_soon.subject",
    ),
    (
        MailKind::ExpiringSoon,
        "text",
        "mail_templates.expiring_soon.text",
    ),
    (
        MailKind::ExpiringSoon,
        "html",
        "mail_templates.expiring_soon.html",
    ),
    (
        MailKind::Expired,
        "subject",
        "mail_templates.expired.subject",
    ),
    (MailKind::Expired, "text", "mail_templates.expired.text"),
    (MailKind::Expired, "html", "mail_templates.expired.html"),
    (
        MailKind::Suspended,
        "subject",
        "mail_templates.suspended.subject",
    ),
    (MailKind::Suspended, "text", "mail_templates.suspended.text"),
    (MailKind::Suspended, "html", "mail_templates.suspended.html"),
    (
        MailKind::Revoked,
        "subject",
        "mail_templates.revoked.subject",
    ),
    (MailKind::Revoked, "text", "mail_templates.revoked.text"),
    (MailKind::Revoked, "html", "mail_templates.revoked.html"),
    (
        MailKind::PortalLink,
        "subject",
        "mail_templates.portal_link.subject",
    ),
    (
        MailKind::PortalLink,
        "text",
        "mail_templates.portal_link.text",
    ),
    (
        MailKind::PortalLink,
        "html",
        "mail_templates.portal_link.html",
    ),
];

/// The templates an environment overrides; a kind left out uses its default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailTemplates {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_assigned: Option<MailTemplate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiring_soon: Option<MailTemplate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired: Option<MailTemplate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended: Option<MailTemplate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<MailTemplate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub portal_link: Option<MailTemplate>,
}

impl MailTemplates {
    fn slot(&self, kind: MailKind) -> Option<&MailTemplate> {
        match kind {
            MailKind::KeyAssigned => self.key_assigned.as_ref(),
            MailKind::ExpiringSoon => self.expiring_soon.as_ref(),
            MailKind::Expired => self.expired.as_ref(),
            MailKind::Suspended => self.suspended.as_ref(),
            MailKind::Revoked => self.revoked.as_ref(),
            MailKind::PortalLink => self.portal_link.as_ref(),
        }
    }

    /// The template in force for `kind`: the override, else the default.
    pub fn get(&self, kind: MailKind) -> MailTemplate {
        self.slot(kind)
            .cloned()
            .unwrap_or_else(|| kind.default_template())
    }

    /// Checks every override.
    pub fn validate(&self) -> StoreResult<()> {
        MailKind::ALL
            .into_iter()
            .try_for_each(|k| match self.slot(k) {
                Some(t) => t.validate(k),
                None => Ok(()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_template_parses_with_its_placeholders() {
        for kind in MailKind::ALL {
            kind.default_template().validate(kind).unwrap();
            assert_eq!(MailKind::parse(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn an_override_with_a_foreign_placeholder_names_its_field() {
        let t = MailTemplates {
            suspended: Some(MailTemplate {
                subject: "Suspended".into(),
                text: "Your key is {{ key }}".into(),
                html: "<p>x</p>".into(),
            }),
            ..MailTemplates::default()
        };
        let e = t.validate().unwrap_err().to_string();
        assert!(e.starts_with("mail_templates.suspended.text:"), "{e}");
    }

    #[test]
    fn a_value_cannot_add_a_header_line_to_the_subject() {
        let mut vars = BTreeMap::new();
        vars.insert(
            "product_name",
            "Pro\r\nBcc: everyone@example.com".to_owned(),
        );
        let m = MailKind::Revoked
            .default_template()
            .render(MailKind::Revoked, &vars)
            .unwrap();
        assert!(!m.subject.contains(['\r', '\n']), "{}", m.subject);
    }
}
