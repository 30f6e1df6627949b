//! Email and the customer portal from the operator's side (SPEC §14), in a real browser: a
//! customer's page with their portal access (taken away here) and the emails an SMTP sink
//! received; the settings' email section (key on assignment, templates, preview, save, errors).

use std::time::Duration;

use license_http::smtp_sink::SmtpSink;
use serde_json::json;

use crate::harness::*;

/// The secret of the first portal sign-in link in `text`.
fn link_secret(text: &str) -> String {
    let at = text.find("sign-in#").unwrap() + "sign-in#".len();
    text[at..at + 64].to_owned()
}

#[test]
fn a_customers_page_shows_their_emails_and_takes_portal_access_away() {
    let Some(b) = Browser::start() else { return };
    let sink = SmtpSink::start();
    let server = Server::with_mail(&sink.url());
    let mut settings = server.api("GET", "/settings", None);
    settings["email_key_on_assign"] = json!(true);
    server.api("PUT", "/settings", Some(settings));

    // A license assigned to her mails her key; she asks for a portal link and signs in.
    server.seed("Acme Pro", "PRO", 0, 1);
    let customer = server.api("GET", "/customers?q=c0%40pro", None)["items"][0].clone();
    let id = customer["id"].as_str().unwrap().to_owned();
    let res = agent()
        .post(format!("{}/v1/production/portal/login", server.validation))
        .send_json(json!({"email": "c0@pro.example.com"}))
        .unwrap();
    assert_eq!(res.status(), 202);
    let mails = sink.wait_for(2, Duration::from_secs(30));
    assert_eq!(mails.len(), 2, "the key and the sign-in link arrive");
    let link = mails
        .iter()
        .find(|m| m.text().contains("sign-in#"))
        .unwrap();
    let res = agent()
        .post(format!(
            "{}/v1/production/portal/session",
            server.validation
        ))
        .send_json(json!({"token": link_secret(&link.text())}))
        .unwrap();
    assert!(
        res.status().is_success(),
        "portal sign-in: {}",
        res.status()
    );

    // From the row menu to her page: access allowed, one session, both emails sent.
    sign_in(&b, &server, "admin@example.com");
    b.click("link", "Customers");
    wait_region(&b, "Customer table", "the customer", "rows.length === 1");
    b.click("button", "Actions for Customer PRO0");
    b.click("menuitem", "Portal and emails");
    b.find("heading", "Customer PRO0");
    assert!(
        b.url().ends_with(&format!("/admin/customers/{id}")),
        "{}",
        b.url()
    );
    b.find("heading", "Customer portal");
    b.wait_text("Allowed");
    assert!(
        !b.text().contains("No open session"),
        "she signed in: {}",
        b.text()
    );
    wait_region(
        &b,
        "Emails to Customer PRO0",
        "both emails, sent",
        "rows.length === 2 && rows.some(r => r.includes('License key, on assignment')) && rows.some(r => r.includes('Portal sign-in link')) && rows.every(r => r.includes('sent') && r.includes('c0@pro.example.com'))",
    );
    b.assert_accessible("customer page");
    b.screenshots("customer");
    let emails = b.find("heading", "Emails");
    b.js("arguments[0].scrollIntoView()", json!([emails]));
    b.screenshots("customer-emails");

    // Taking access away asks first, then ends her session.
    b.click("button", "Take away portal access");
    b.find("heading", "Take away Customer PRO0's portal access?");
    b.assert_accessible("take away portal access");
    b.click("button", "Take away access");
    b.toast("Customer PRO0 can no longer sign in to the portal");
    b.wait_text("Taken away");
    b.find("button", "Give portal access back");
    let access = server.api("GET", &format!("/customers/{id}/portal"), None);
    assert_eq!(access["access"], false);
    assert_eq!(access["sessions"], 0, "her session ended");
    b.screenshots("customer-access-taken");

    // A reload keeps the page; giving access back needs no confirmation.
    b.open(&b.url());
    b.click("button", "Give portal access back");
    b.toast("Customer PRO0 can sign in to the portal again");
    b.find("button", "Take away portal access");
    let access = server.api("GET", &format!("/customers/{id}/portal"), None);
    assert_eq!(access["access"], true);
}

#[test]
fn a_viewer_sees_a_customers_page_read_only_and_a_missing_one_says_so() {
    let Some(b) = Browser::start() else { return };
    let server = Server::start();
    server.seed("Acme Pro", "PRO", 0, 1);
    sign_in(&b, &server, "viewer@example.com");
    b.click("link", "Customers");
    b.click("link", "Customer PRO0");
    b.find("heading", "Customer portal");
    b.wait_text("No open session");
    assert!(!b.exists("button", "Take away portal access"));
    b.wait_text("Managers and admins can take away or give back portal access.");
    b.wait_text("No emails to Customer PRO0 yet.");
    b.assert_accessible("customer page as viewer");
    b.screenshots("customer-viewer");

    b.open(&format!(
        "{}/admin/customers/00000000-0000-4000-8000-000000000000",
        server.admin
    ));
    b.find("heading", "Customer not found");
    b.find("link", "See all customers");
}

#[test]
fn settings_edit_and_preview_an_email_template_and_show_its_errors_beside_it() {
    let Some(b) = Browser::start() else { return };
    let server = Server::start();
    // An override saved earlier, on another kind, must survive the console's save.
    let mut settings = server.api("GET", "/settings", None);
    let revoked = json!({"subject": "Revoked: {{ product_name }}", "text": "Sorry {{ customer_name }}.", "html": "<p>Sorry {{ customer_name }}.</p>"});
    settings["mail_templates"] = json!({"revoked": revoked});
    settings["grace_period_days"] = json!(7);
    server.api("PUT", "/settings", Some(settings));

    sign_in(&b, &server, "admin@example.com");
    b.click("link", "Settings");
    b.find("heading", "Settings");
    b.click(
        "checkbox",
        "Email the license key to its customer when a license is assigned",
    );
    b.select("Email", "License suspended");
    assert!(b.url().contains("template=suspended"), "{}", b.url());
    b.wait_text("This email uses the built-in template.");
    b.wait_text("{{ key_display }}");
    b.type_into(
        "textbox",
        "Subject",
        "Paused: {{ product_name }} for {{ customer_name }}",
    );
    b.wait_text("This email uses your own template.");
    b.click("button", "Preview");
    b.wait_text("Paused: Acme Pro for Ada Lovelace");
    b.until(
        "the HTML version in a frame without any permission",
        "const f = document.querySelector('iframe[title=\"HTML version\"]'); return f && f.hasAttribute('sandbox') && f.sandbox.length === 0 && f.srcdoc.includes('Ada Lovelace')",
        json!([]),
    );
    b.assert_accessible("settings email preview");
    b.js(
        "document.querySelector('iframe[title=\"HTML version\"]').scrollIntoView({block: 'end'})",
        json!([]),
    );
    b.screenshots("settings-email");

    b.click("button", "Save settings");
    b.toast("Settings saved");
    let saved = server.api("GET", "/settings", None);
    assert_eq!(saved["email_key_on_assign"], true);
    assert_eq!(saved["grace_period_days"], 7);
    assert_eq!(
        saved["mail_templates"]["suspended"]["subject"],
        "Paused: {{ product_name }} for {{ customer_name }}"
    );
    assert_eq!(saved["mail_templates"]["revoked"], revoked, "kept");
    assert!(
        saved["mail_templates"].get("key_assigned").is_none(),
        "an untouched kind stays on its default: {saved}"
    );

    // A placeholder the kind does not have: the API's words beside the field, even after the
    // editor moved on to another kind.
    b.select("Email", "License key, on assignment");
    b.type_into("textbox", "Plain text", "Your key: {{ serial }}");
    b.click("button", "Preview");
    let error = b.field_error("Plain text");
    assert!(error.contains("serial"), "{error}");
    b.select("Email", "License revoked");
    b.click("button", "Save settings");
    let error = b.field_error("Plain text");
    assert!(error.contains("{{ serial }}"), "{error}");
    assert_eq!(
        b.js(
            "return document.querySelectorAll('.toast-ok').length",
            json!([])
        ),
        json!(0),
        "the earlier \"Settings saved\" is withdrawn beside the error"
    );
    assert!(b.url().contains("template=key_assigned"), "{}", b.url());
    b.assert_accessible("settings email error");
    b.screenshots("settings-email-error");

    // Reset to default brings back the built-in text; saving then drops the override.
    b.click("button", "Reset to default");
    b.wait_text("This email uses the built-in template.");
    b.select("Email", "License suspended");
    b.click("button", "Reset to default");
    b.click("button", "Save settings");
    b.toast("Settings saved");
    let saved = server.api("GET", "/settings", None);
    assert_eq!(saved["mail_templates"], json!({"revoked": revoked}));
}
