//! The customer portal (SPEC §14) in a real browser: a customer signs in with the link from
//! their email (read from a real SMTP server, the test sink), sees their license, frees a device
//! slot that a new activation then takes, reveals their key, signs out, and finds the used link
//! refused. axe-core and screenshots at both widths on every view.

use std::time::Duration;

use license_http::smtp_sink::SmtpSink;
use serde_json::json;

use crate::harness::*;

/// The sign-in link of the newest mail to `email`.
fn link_to(sink: &SmtpSink, email: &str) -> String {
    let mails = sink.wait_for(1, Duration::from_secs(20));
    let mail = mails
        .iter()
        .rev()
        .find(|m| m.to == [email])
        .unwrap_or_else(|| panic!("no mail to {email}"));
    assert_eq!(mail.subject(), "Your sign-in link");
    let text = mail.text();
    let start = text.find("http://").unwrap();
    text[start..].split_whitespace().next().unwrap().to_owned()
}

#[test]
fn a_customer_signs_in_by_email_frees_a_device_reveals_the_key_and_signs_out() {
    let Some(b) = Browser::start() else { return };
    let sink = SmtpSink::start();
    let server = Server::with_mail(&sink.url());
    let (_, keys) = server.seed("Acme Pro", "PRO", 0, 1);
    let key = keys[0].clone();
    server.activate(&key, "old-laptop", "Old laptop");
    server.activate(&key, "desk-pc", "Desk PC");
    let third = agent()
        .post(format!("{}/v1/production/activate", server.validation))
        .send_json(json!({"key": key, "fingerprint": "new-laptop"}))
        .unwrap()
        .body_mut()
        .read_json::<serde_json::Value>()
        .unwrap();
    assert_eq!(third["code"], "LIMIT_EXCEEDED");

    // Sign in: an email, then the link from the mail.
    b.open(&format!("{}/portal/production/", server.validation));
    b.find("heading", "Sign in");
    b.click("button", "Email me a sign-in link");
    b.wait_text("Enter your email address.");
    b.assert_accessible("portal sign-in");
    b.screenshots("portal-sign-in");
    b.type_into("textbox", "Email", "c0@pro.example.com");
    b.click("button", "Email me a sign-in link");
    b.wait_text("a sign-in link is on its way");
    let link = link_to(&sink, "c0@pro.example.com");
    assert!(
        link.starts_with(&format!("{}/portal/production/sign-in#", server.validation)),
        "{link}"
    );
    b.open(&link);
    b.find("heading", "Hello Customer PRO0");
    assert!(
        !b.url().contains('#'),
        "the secret leaves the address bar: {}",
        b.url()
    );
    b.wait_text("2 of 2");
    b.assert_accessible("portal licenses");
    b.screenshots("portal-licenses");

    // Free a slot: the devices, then deactivate the old laptop.
    b.click("button", "Devices");
    b.find("button", "Deactivate Old laptop");
    b.screenshots("portal-devices");
    b.click("button", "Deactivate Old laptop");
    b.find("heading", "Deactivate Old laptop?");
    b.assert_accessible("portal deactivate dialog");
    b.click("button", "Deactivate");
    b.wait_text("Old laptop was deactivated");
    b.wait_text("1 of 2");
    server.activate(&key, "new-laptop", "New laptop");

    // The key, shown once asked for.
    b.click("button", "Show key");
    b.find("heading", "Acme Pro license key");
    b.wait_text(&key);
    b.assert_accessible("portal reveal");
    b.screenshots("portal-reveal");
    b.click("button", "Close");

    // Sign out; the used link opens nothing.
    b.click("button", "Sign out");
    b.wait_text("You are signed out.");
    b.open(&link);
    b.wait_text("This sign-in link has expired or was already used");
    b.screenshots("portal-link-used");

    // The portal's pages carry the console's security headers.
    let res = agent()
        .get(format!("{}/portal/production/", server.validation))
        .call()
        .unwrap();
    for (h, want) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
    ] {
        assert_eq!(res.headers().get(h).unwrap(), want, "{h}");
    }
    assert!(
        res.headers()
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
}
