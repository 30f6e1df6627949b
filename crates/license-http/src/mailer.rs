//! Sending email (SPEC §14): `KEYSMITH_SMTP_URL` and `KEYSMITH_MAIL_FROM` read and checked at
//! start-up, an SMTP transport (lettre: pooled connections, rustls), and one function that sends
//! a rendered mail and reduces any failure to a class an operator can act on — never the
//! server's text, which may echo addresses or content.
//!
//! URLs: `smtp://user:pass@host:port` uses STARTTLS and refuses a server without it (default
//! port 587); `smtps://` is TLS from the first byte (465). `?tls=none` sends in the clear, for a
//! relay on the same machine or a test; `?tls=opportunistic` upgrades when the server offers it.

use std::time::{Duration, Instant};

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use license_store::mail_templates::RenderedMail;

use crate::config_error::{ConfigError, bad};

/// Connections to the relay used at once: the mail worker's senders, and the transport's pool.
pub const SENDERS: usize = 16;

/// How long one SMTP command may take before the attempt counts as a timeout.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// The mail settings of `KEYSMITH_SMTP_URL` and `KEYSMITH_MAIL_FROM` (both or neither).
#[derive(Clone, PartialEq, Eq)]
pub struct MailConfig {
    url: String,
    from: String,
}

impl std::fmt::Debug for MailConfig {
    // The URL may hold the relay's password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("url", &license_store::db::redact_url(&self.url))
            .field("from", &self.from)
            .finish()
    }
}

impl MailConfig {
    /// Reads and checks both variables; `None` when `KEYSMITH_SMTP_URL` is unset (no email).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let url = get("KEYSMITH_SMTP_URL").filter(|v| !v.trim().is_empty());
        let from = get("KEYSMITH_MAIL_FROM").filter(|v| !v.trim().is_empty());
        let (url, from) = match (url, from) {
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(bad(
                    "KEYSMITH_MAIL_FROM",
                    "must be set with KEYSMITH_SMTP_URL: the sender, like Acme Licensing <licenses@acme.example>",
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "KEYSMITH_SMTP_URL",
                    "must be set with KEYSMITH_MAIL_FROM: smtp://user:pass@host:587 or smtps://host",
                ));
            }
            (Some(u), Some(f)) => (u.trim().to_owned(), f.trim().to_owned()),
        };
        let config = Self { url, from };
        Mailer::new(&config)?;
        Ok(Some(config))
    }

    /// For tests and the `mail test` command: a relay URL and a sender.
    pub fn new(url: &str, from: &str) -> Result<Self, ConfigError> {
        let config = Self {
            url: url.to_owned(),
            from: from.to_owned(),
        };
        Mailer::new(&config)?;
        Ok(config)
    }
}

/// An SMTP relay and the sender address.
#[derive(Clone)]
pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

/// Why a mail was not sent, as a class (stored with the attempt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// `connect`, `timeout`, `tls`, `address`, `smtp <code>`, `message`.
    pub class: String,
    /// Whether trying again cannot help (a 5xx answer, an address that cannot be written).
    pub permanent: bool,
    /// The relay's or the library's own words: for the operator's terminal (`keysmith mail
    /// test`), never stored or logged, as it may echo addresses.
    pub detail: String,
}

impl Mailer {
    /// The transport for `config`; errors name the variable.
    pub fn new(config: &MailConfig) -> Result<Self, ConfigError> {
        const VAR: &str = "KEYSMITH_SMTP_URL";
        let from: Mailbox = config.from.parse().map_err(|_| {
            bad(
                "KEYSMITH_MAIL_FROM",
                format!(
                    "{:?} is not an address like Acme <licenses@acme.example>",
                    config.from
                ),
            )
        })?;
        let url = url::Url::parse(&config.url).map_err(|_| {
            bad(
                VAR,
                "is not a URL like smtp://user:pass@host:587 or smtps://host",
            )
        })?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad(VAR, "names no host"))?
            .trim_matches(['[', ']'])
            .to_owned();
        let tls_mode = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        if let Some((k, _)) = url.query_pairs().find(|(k, _)| k != "tls") {
            return Err(bad(VAR, format!("unknown parameter {k:?} (only tls=)")));
        }
        let params = || {
            TlsParameters::new(host.clone())
                .map_err(|_| bad(VAR, format!("cannot set up TLS for host {host:?}")))
        };
        let (tls, default_port) = match (url.scheme(), tls_mode.as_deref()) {
            ("smtps", None) => (Tls::Wrapper(params()?), 465),
            ("smtp", None | Some("required")) => (Tls::Required(params()?), 587),
            ("smtp", Some("opportunistic")) => (Tls::Opportunistic(params()?), 587),
            ("smtp", Some("none")) => (Tls::None, 25),
            ("smtp" | "smtps", Some(other)) => {
                return Err(bad(
                    VAR,
                    format!("tls={other:?} is not required, opportunistic or none (smtp:// only)"),
                ));
            }
            (scheme, _) => {
                return Err(bad(
                    VAR,
                    format!("scheme {scheme:?} is not smtp:// (STARTTLS) or smtps:// (TLS)"),
                ));
            }
        };
        let clear_possible = matches!(tls_mode.as_deref(), Some("none" | "opportunistic"));
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if clear_possible && !url.username().is_empty() && !loopback {
            return Err(bad(
                VAR,
                "a password would cross the network in clear (tls=none or opportunistic): \
                 use STARTTLS (smtp:// without tls=) or smtps://",
            ));
        }
        let mut builder = SmtpTransport::builder_dangerous(host.as_str())
            .port(url.port().unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT))
            .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(SENDERS as u32));
        if !url.username().is_empty() {
            let decode = |s: &str| {
                percent_decode(s).ok_or_else(|| bad(VAR, "user or password is not valid UTF-8"))
            };
            let user = decode(url.username())?;
            let pass = decode(url.password().unwrap_or_default())?;
            builder = builder.credentials(Credentials::new(user, pass));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }

    /// Sends `mail` to `to`: plain text and HTML as alternatives.
    pub fn send(&self, to: &str, mail: &RenderedMail) -> Result<(), SendError> {
        // An address, never a mailbox with a display name: `a<b@evil.example>` is refused.
        let to = to
            .parse::<lettre::Address>()
            .map(|a| Mailbox::new(None, a))
            .map_err(|e| SendError {
                class: "address".into(),
                permanent: true,
                detail: format!("{e}"),
            })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(AutoSubmitted)
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| SendError {
                class: "message".into(),
                permanent: true,
                detail: e.to_string(),
            })?;
        self.transport.send(&message).map(|_| ()).map_err(classify)
    }

    /// Sends and measures: the attempt as the store records it.
    pub fn attempt(&self, to: &str, mail: &RenderedMail) -> license_store::mail::MailAttempt {
        let started = Instant::now();
        let result = self.send(to, mail);
        let latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        match result {
            Ok(()) => license_store::mail::MailAttempt {
                latency_ms,
                error: None,
                permanent: false,
            },
            Err(e) => license_store::mail::MailAttempt {
                latency_ms,
                error: Some(e.class),
                permanent: e.permanent,
            },
        }
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn classify(e: lettre::transport::smtp::Error) -> SendError {
    let (class, permanent) = if e.is_timeout() {
        ("timeout".to_owned(), false)
    } else if e.is_tls() {
        ("tls".to_owned(), false)
    } else if let Some(code) = e.status() {
        (format!("smtp {code}"), e.is_permanent())
    } else {
        ("connect".to_owned(), false)
    };
    SendError {
        class,
        permanent,
        detail: e.to_string(),
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834): no out-of-office replies to the robot.
#[derive(Debug, Clone, Copy)]
struct AutoSubmitted;

impl lettre::message::header::Header for AutoSubmitted {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Result<Option<MailConfig>, ConfigError> {
        let url = url.to_owned();
        MailConfig::from_lookup(move |k| match k {
            "KEYSMITH_SMTP_URL" => Some(url.clone()),
            "KEYSMITH_MAIL_FROM" => Some("Acme <licenses@acme.example>".into()),
            _ => None,
        })
    }

    #[test]
    fn good_urls_are_accepted_and_the_password_never_shows() {
        for url in [
            "smtp://user:p%40ss@mail.example.com:587",
            "smtps://mail.example.com",
            "smtp://127.0.0.1:2525?tls=none",
            "smtp://user:pass@127.0.0.1:2525?tls=none",
            "smtp://mail.example.com?tls=opportunistic",
        ] {
            let c = config(url).unwrap().unwrap();
            assert!(!format!("{c:?}").contains("p%40ss"), "{c:?}");
        }
    }

    #[test]
    fn bad_urls_are_start_up_errors_naming_the_variable() {
        for url in [
            "mail.example.com",
            "http://mail.example.com",
            "smtp://",
            "smtp://mail.example.com?tls=maybe",
            "smtps://mail.example.com?tls=none",
            "smtp://mail.example.com?verify=no",
            "smtp://user:secret@mail.example.com?tls=none",
            "smtp://user:secret@mail.example.com?tls=opportunistic",
        ] {
            let e = config(url).unwrap_err();
            assert_eq!(e.variable, "KEYSMITH_SMTP_URL", "{url}: {e}");
        }
        let e = MailConfig::from_lookup(|k| {
            (k == "KEYSMITH_SMTP_URL").then(|| "smtp://mail.example.com".to_owned())
        })
        .unwrap_err();
        assert_eq!(e.variable, "KEYSMITH_MAIL_FROM");
        assert_eq!(MailConfig::from_lookup(|_| None), Ok(None));
    }

    #[test]
    fn percent_decoding_reads_escapes_and_refuses_broken_ones() {
        assert_eq!(percent_decode("p%40ss%20w").as_deref(), Some("p@ss w"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("bad%4"), None);
        assert_eq!(percent_decode("bad%zz"), None);
    }
}
