//! The License Keys page (part 1 of the console), sign-in, setup and the security headers.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

#[test]
fn the_operator_day_in_a_real_browser() {
    let Some(b) = Browser::start() else { return };
    let server = Server::start();
    let (pro, pro_keys) = server.seed("Acme Pro", "PRO", 3, 2);
    server.seed("Acme Trial", "TRIAL", 1, 1);

    // Sign-in, the shell, the dashboard.
    b.open(&format!("{}/admin/licenses", server.admin));
    b.find("heading", "Sign in to Keysmith");
    b.assert_accessible("sign-in");
    b.screenshots("sign-in");
    b.type_into("textbox", "Email", "admin@example.com");
    b.type_into("textbox", "Password", "not the passphrase");
    b.click("button", "Sign in");
    b.until(
        "the refusal",
        "return document.body.innerText.includes('email, password or code is not right')",
        json!([]),
    );
    b.type_into("textbox", "Password", PASSWORD);
    b.click("button", "Sign in");
    b.find("heading", "License Keys");
    assert!(
        b.url().ends_with("/admin/licenses"),
        "sign-in returns to the page asked for"
    );
    assert!(
        b.text().contains("PRODUCTION"),
        "production is unmistakable"
    );
    wait_rows(&b, "7 licenses", "rows.length === 7");
    b.assert_accessible("license keys");
    b.screenshots("licenses");

    // Use case 1: assign an available Pro license to a new customer.
    b.select("Product", "Acme Pro");
    b.select("Status", "Available");
    wait_rows(
        &b,
        "3 available Pro licenses",
        "rows.length === 3 && rows.every(r => r.includes('available'))",
    );
    assert!(
        b.url().contains(&format!("product={pro}")) && b.url().contains("status=available"),
        "the filters are in the URL: {}",
        b.url()
    );
    let first = rows(&b)[0].split(' ').next().unwrap().to_owned();
    b.click("button", &format!("Actions for {first}"));
    b.click("menuitem", "Assign");
    b.find("heading", &format!("Assign {first}"));
    b.type_into("textbox", "Name", "Grace Hopper");
    b.type_into("textbox", "Email", "grace@navy.example.org");
    b.click("button", "Assign");
    wait_rows(&b, "one fewer available", "rows.length === 2");
    b.select("Status", "Assigned");
    b.until("Grace's license", "return [...document.querySelectorAll('table.licenses tbody tr')].some(r => r.innerText.includes('grace@navy.example.org'))", json!([]));

    // Use case 3: a leaked key found by partial search, revoked.
    b.select("Status", "All Statuses");
    wait_rows(
        &b,
        "every Pro license again",
        "rows.length === 5 && !location.search.includes('status=')",
    );
    let leaked = &pro_keys[4];
    let fragment = &leaked[leaked.len() - 4..];
    b.press(&["/"]);
    assert_eq!(
        b.js("return document.activeElement.type", json!([])),
        "search",
        "/ focuses the search box"
    );
    b.type_into("searchbox", "Search licenses", fragment);
    wait_rows(
        &b,
        "the leaked key",
        &format!("rows.length >= 1 && rows.every(r => r.includes('{fragment}'))"),
    );
    assert!(b.url().contains(&format!("q={fragment}")));
    let display = rows(&b)[0].split(' ').next().unwrap().to_owned();
    b.click("button", &format!("Actions for {display}"));
    b.click("menuitem", "Revoke");
    b.find("heading", &format!("Revoke {display}?"));
    b.click("button", "Revoke license");
    wait_rows(&b, "revoked", "rows[0].includes('revoked')");

    // Use case 2: "limit reached" — preview shows the devices; deactivate one.
    let assigned_key = &pro_keys[3];
    for fp in ["laptop-1", "desktop-2"] {
        let mut r = agent()
            .post(format!("{}/v1/production/activate", server.validation))
            .send_json(json!({"key": assigned_key, "fingerprint": fp}))
            .unwrap();
        assert!(
            r.status().is_success(),
            "{}",
            r.body_mut().read_to_string().unwrap()
        );
    }
    let mut full = agent()
        .post(format!("{}/v1/production/activate", server.validation))
        .send_json(json!({"key": assigned_key, "fingerprint": "phone-3"}))
        .unwrap();
    assert_eq!(
        full.body_mut().read_json::<Value>().unwrap()["code"],
        "LIMIT_EXCEEDED"
    );
    b.type_into(
        "searchbox",
        "Search licenses",
        &assigned_key[assigned_key.len() - 4..],
    );
    wait_rows(
        &b,
        "the full license",
        "rows.length >= 1 && rows[0].includes('2 / 2')",
    );
    let display = rows(&b)[0].split(' ').next().unwrap().to_owned();
    b.click("button", &format!("Actions for {display}"));
    b.click("menuitem", "Preview");
    b.find("heading", &format!("Preview {display}"));
    b.find("link", "Download offline file");
    b.find("button", "Copy curl sample");
    b.assert_accessible("preview dialog");
    b.screenshots("preview");
    b.click("button", "Deactivate instance laptop-1");
    b.click("button", "Deactivate instance");
    b.until("laptop deactivated", "return [...document.querySelectorAll('dialog table tbody tr')].some(r => r.innerText.includes('laptop-1') && r.innerText.includes('deactivated'))", json!([]));
    b.press(&["\u{E00C}"]);
    b.until(
        "the dialog closed by Esc",
        "return !document.querySelector('dialog[open]')",
        json!([]),
    );
    let mut again = agent()
        .post(format!("{}/v1/production/activate", server.validation))
        .send_json(json!({"key": assigned_key, "fingerprint": "phone-3"}))
        .unwrap();
    assert_eq!(
        again.body_mut().read_json::<Value>().unwrap()["code"],
        "ACTIVATED",
        "the freed slot takes the new device"
    );

    // Bookmarks and Back restore a filtered, sorted view.
    let bookmark = format!(
        "{}/admin/licenses?product={pro}&status=assigned&sort=expires&order=asc",
        server.admin
    );
    b.open(&bookmark);
    wait_rows(
        &b,
        "the bookmarked view",
        "rows.length >= 1 && rows.every(r => r.includes('assigned') && r.includes('Acme Pro'))",
    );
    assert_eq!(
        b.js(
            "return document.getElementById('filter-status').value",
            json!([])
        ),
        "assigned"
    );
    assert!(b.text().contains("Sort: Expires, ascending"));
    b.click("button", "Sort: Expires, ascending");
    b.click("radio", "Created");
    b.click("radio", "Descending (Z→A, 9→0, newest or farthest first)");
    b.click("button", "Apply sort");
    b.until(
        "the new sort",
        "return location.search.indexOf('sort=') === -1",
        json!([]),
    );
    b.back();
    b.until(
        "Back restores the sort",
        "return document.body.innerText.includes('Sort: Expires, ascending')",
        json!([]),
    );

    // Create License shows the key once, with a copy button.
    b.open(&format!("{}/admin/licenses", server.admin));
    b.click("button", "Create License");
    b.find("heading", "Create License");
    b.type_into("textbox", "Activation limit", "0");
    b.click("button", "Create license");
    b.until("the limit error next to its field", "return document.querySelector('[data-field=activation_limit] .field-error')?.textContent.includes('activation_limit')", json!([]));
    b.type_into("textbox", "Activation limit", "5");
    b.click("button", "Create license");
    b.find("heading", "License created");
    b.find("button", "Copy license key");
    b.click("button", "Done");

    // The account page and the dashboard.
    b.click("link", "Account");
    b.find("heading", "Account");
    b.assert_accessible("account");
    b.screenshots("account");
    b.click("link", "Dashboard");
    b.find("heading", "Licenses by status");
    b.assert_accessible("dashboard");
    b.screenshots("dashboard");

    // Staging looks different, and switching keeps the page.
    b.click("link", "License Keys");
    b.find("heading", "License Keys");
    b.select("Environment", "staging");
    b.until(
        "staging",
        "return document.body.innerText.includes('STAGING — not production')",
        json!([]),
    );
    assert!(b.url().ends_with("/admin/licenses"));
    b.find("heading", "License Keys");
    b.screenshots("licenses-staging");
}

#[test]
fn a_viewer_is_offered_no_destructive_action() {
    let Some(b) = Browser::start() else { return };
    let server = Server::start();
    server.seed("Acme Pro", "PRO", 1, 1);
    sign_in(&b, &server, "viewer@example.com");
    b.click("link", "License Keys");
    wait_rows(&b, "licenses", "rows.length === 2");
    assert!(!b.exists("button", "Create License"));
    assert!(!b.exists("link", "Export CSV"));
    let menus = b.js(
        "return document.querySelectorAll('[aria-haspopup=menu]').length",
        json!([]),
    );
    assert_eq!(menus, 0, "a viewer gets no actions menu");
    b.screenshots("licenses-viewer");
}

#[test]
fn an_unknown_console_address_says_so() {
    let Some(b) = Browser::start() else { return };
    let server = Server::start();
    sign_in(&b, &server, "admin@example.com");
    b.open(&format!("{}/admin/no-such-page", server.admin));
    b.find("heading", "Page not found");
    b.click("link", "Go to the dashboard");
    b.find("heading", "Dashboard");
}

#[test]
fn console_responses_carry_the_security_headers() {
    let server = Server::start();
    for path in [
        "/admin/",
        "/admin/licenses?status=active",
        "/admin/app.js",
        "/admin/style.css",
    ] {
        let res = agent()
            .get(format!("{}{path}", server.admin))
            .call()
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}");
        let h = res.headers();
        let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(
            csp.contains("default-src 'self'")
                && csp.contains("script-src 'self'")
                && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(h.get("x-frame-options").unwrap(), "DENY", "{path}");
    }
    let missing = agent()
        .get(format!("{}/admin/nope.js", server.admin))
        .call()
        .unwrap();
    assert_eq!(
        missing.status().as_u16(),
        404,
        "a missing file is not the page shell"
    );
}

#[test]
fn trial_expiry_and_an_audit_of_distribution_with_export() {
    let Some(b) = Browser::start() else { return };
    let server = Server::start();
    let (pro, _) = server.seed("Acme Pro", "PRO", 2, 3);
    let (trial, _) = server.seed("Acme Trial", "TRIAL", 0, 1);
    // A trial that ends in two seconds; a validation after that expires it (lazily, SPEC §4).
    let gens = server.api("GET", &format!("/generators?product={trial}"), None);
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let c = server.api(
        "POST",
        "/customers",
        Some(json!({"name": "Tia Trial", "email": "tia@trial.example.com"})),
    );
    let lic = server.api("POST", "/licenses", Some(json!({"product_id": trial, "generator_id": gens["items"][0]["id"], "customer_id": c["id"],
        "expires_at": soon.format(&time::format_description::well_known::Rfc3339).unwrap()})));
    std::thread::sleep(Duration::from_millis(2500));
    let mut r = agent()
        .post(format!("{}/v1/production/validate", server.validation))
        .send_json(json!({"key": lic["key"]}))
        .unwrap();
    assert_eq!(
        r.body_mut().read_json::<Value>().unwrap()["code"],
        "EXPIRED"
    );

    sign_in(&b, &server, "admin@example.com");
    // Use case 4: expired trials, found with filters, revoked; a paid license assigned instead.
    b.open(&format!(
        "{}/admin/licenses?product={trial}&status=expired",
        server.admin
    ));
    wait_rows(
        &b,
        "the expired trial",
        "rows.length === 1 && rows[0].includes('expired') && rows[0].includes('tia@trial.example.com')",
    );
    let display = rows(&b)[0].split(' ').next().unwrap().to_owned();
    b.click("button", &format!("Actions for {display}"));
    assert!(
        !b.exists("menuitem", "Edit"),
        "an expired license cannot be edited"
    );
    b.click("menuitem", "Revoke");
    b.click("button", "Revoke license");
    wait_rows(&b, "gone from expired", "rows.length === 0");
    b.find("button", "Clear search and filters");
    b.select("Status", "All Statuses");
    b.select("Product", "Acme Pro");
    b.select("Status", "Available");
    wait_rows(&b, "a paid license", "rows.length === 2");
    let paid = rows(&b)[0].split(' ').next().unwrap().to_owned();
    b.click("button", &format!("Actions for {paid}"));
    b.click("menuitem", "Assign");
    b.type_into("searchbox", "Find customer", "tia@");
    b.until("Tia in the list", "return [...document.querySelectorAll('dialog select option')].some(o => o.textContent.includes('tia@trial.example.com'))", json!([]));
    b.select("Customer", "Tia Trial");
    b.click("button", "Assign");
    wait_rows(&b, "one available left", "rows.length === 1");

    // Use case 5: how many active-or-assigned Pro licenses, and the export of that view.
    b.select("Status", "Assigned");
    wait_rows(&b, "assigned Pro", "rows.length === 4");
    b.until(
        "the total",
        "return document.body.innerText.includes('Showing 1–4 of 4')",
        json!([]),
    );
    let href = b.find("link", "Export CSV");
    let csv = b.js(
        "return fetch(arguments[0].href).then(r => r.text())",
        json!([href]),
    );
    let csv = csv.as_str().unwrap();
    assert!(csv.starts_with("id,key_display,status,"), "{csv}");
    assert_eq!(
        csv.lines().count(),
        1 + 4,
        "the export holds the view: {csv}"
    );
    assert!(
        csv.lines().skip(1).all(|l| l.contains(",assigned,PRO,")),
        "{csv}"
    );
    assert!(b.url().contains(&format!("product={pro}")));
    b.screenshots("licenses-filtered");
}

#[test]
fn the_first_admin_sets_up_from_the_one_time_link() {
    let Some(b) = Browser::start() else { return };
    let server = Server::bare();
    let log = server.log();
    let at = log.find("/admin/setup#").unwrap();
    let start = log[..at].rfind("http://").unwrap();
    let link: String = log[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    b.open(&link);
    b.find("heading", "Create the first admin");
    b.assert_accessible("setup");
    b.screenshots("setup");
    b.type_into("textbox", "Email", "first@example.com");
    b.type_into("textbox", "Name", "First Admin");
    b.type_into("textbox", "Password", "short");
    b.click("button", "Create admin and sign in");
    b.until("the password rule next to its field", "return document.querySelector('[data-field=password] .field-error')?.textContent.includes('12')", json!([]));
    b.type_into("textbox", "Password", PASSWORD);
    b.click("button", "Create admin and sign in");
    b.find("heading", "Dashboard");
    assert!(!b.url().contains('#'), "the secret leaves the address bar");
    b.find("heading", "Licenses by status");
    assert!(
        b.text().contains("No licenses yet"),
        "the empty state says what to do next"
    );
    b.click("button", "Sign out");
    b.find("heading", "Sign in to Keysmith");
}
