//! A small, safe template language for the emails an operator edits (SPEC §14): literal text and
//! `{{ name }}` placeholders, nothing else — no loops, no code, no file access. The placeholders a
//! template may use are fixed by its caller, so a typo is an error when the template is saved,
//! not a blank in a customer's inbox. In HTML, every value is escaped.
//!
//! ```
//! use license_core::template::{Escape, Template};
//!
//! let t = Template::parse("Hello {{ name }}!", &["name"]).unwrap();
//! let html = t.render(|v| (v == "name").then_some("<Ann>"), Escape::Html);
//! assert_eq!(html, "Hello &lt;Ann&gt;!");
//! assert!(Template::parse("{{ nmae }}", &["name"]).is_err());
//! ```

use std::fmt::Write as _;

/// The longest template accepted, in characters.
pub const MAX_TEMPLATE_CHARS: usize = 8192;

/// How values are written into the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Plain text (a subject or the text part): values as they are.
    None,
    /// HTML: `& < > " '` escaped in every value.
    Html,
}

/// Why a template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// Longer than [`MAX_TEMPLATE_CHARS`].
    #[error("is longer than {MAX_TEMPLATE_CHARS} characters")]
    TooLong,
    /// A `{{` without its `}}`.
    #[error("has a '{{{{' at byte {0} that is never closed with '}}}}'")]
    Unclosed(usize),
    /// A placeholder this template may not use.
    #[error("uses {{{{ {name} }}}}, which is not one of: {allowed}")]
    UnknownPlaceholder {
        /// The name written.
        name: String,
        /// The names it may use, comma-separated.
        allowed: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Value(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `src`, allowing only the placeholders in `allowed`.
    pub fn parse(src: &str, allowed: &[&str]) -> Result<Self, TemplateError> {
        if src.len() > MAX_TEMPLATE_CHARS && src.chars().count() > MAX_TEMPLATE_CHARS {
            return Err(TemplateError::TooLong);
        }
        let mut parts = Vec::new();
        let mut rest = src;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or(TemplateError::Unclosed(offset + open))?;
            let name = after[..close].trim();
            if !allowed.contains(&name) {
                return Err(TemplateError::UnknownPlaceholder {
                    name: name.chars().take(40).collect(),
                    allowed: allowed.join(", "),
                });
            }
            parts.push(Part::Value(name.to_owned()));
            let consumed = open + 2 + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    /// Writes the template with each placeholder's value from `value` (an unknown one renders
    /// empty), escaped as `escape` says. Literal text is written as the operator wrote it.
    pub fn render<'a>(&self, value: impl Fn(&str) -> Option<&'a str>, escape: Escape) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Value(name) => {
                    let v = value(name).unwrap_or_default();
                    match escape {
                        Escape::None => out.push_str(v),
                        Escape::Html => html_escape(&mut out, v),
                    }
                }
            }
        }
        out
    }
}

fn html_escape(out: &mut String, v: &str) {
    for ch in v.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vars(name: &str) -> Option<&'static str> {
        match name {
            "name" => Some("Ann <ann@example.com> & \"co\""),
            "key" => Some("ACME-1234"),
            _ => None,
        }
    }

    #[test]
    fn placeholders_with_or_without_spaces_are_filled() {
        let t = Template::parse("Hi {{name}}, key {{ key }}.", &["name", "key"]).unwrap();
        assert_eq!(
            t.render(vars, Escape::None),
            "Hi Ann <ann@example.com> & \"co\", key ACME-1234."
        );
    }

    #[test]
    fn html_escapes_every_value_but_not_the_operators_markup() {
        let t = Template::parse("<p>{{ name }}</p>", &["name"]).unwrap();
        assert_eq!(
            t.render(vars, Escape::Html),
            "<p>Ann &lt;ann@example.com&gt; &amp; &quot;co&quot;</p>"
        );
    }

    #[test]
    fn unknown_placeholders_and_unclosed_braces_are_refused() {
        assert_eq!(
            Template::parse("{{ password }}", &["name"]),
            Err(TemplateError::UnknownPlaceholder {
                name: "password".into(),
                allowed: "name".into()
            })
        );
        assert_eq!(
            Template::parse("ok {{ name", &["name"]),
            Err(TemplateError::Unclosed(3))
        );
        assert_eq!(
            Template::parse(&"x".repeat(MAX_TEMPLATE_CHARS + 1), &[]),
            Err(TemplateError::TooLong)
        );
    }

    proptest! {
        #[test]
        fn text_without_braces_renders_as_itself(s in "[^{}]{0,200}") {
            let t = Template::parse(&s, &[]).unwrap();
            prop_assert_eq!(t.render(|_| None, Escape::Html), s);
        }

        #[test]
        fn an_html_value_never_opens_a_tag(v in ".{0,100}") {
            let t = Template::parse("{{ v }}", &["v"]).unwrap();
            let out = t.render(|_| Some(v.as_str()), Escape::Html);
            prop_assert!(!out.contains('<') && !out.contains('>') && !out.contains('"'));
        }
    }
}
