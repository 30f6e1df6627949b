//! The people pages (part 2 of the console): Customers, Audit log, API tokens and Operators.

use serde_json::{Value, json};

use crate::harness::*;

/// A call to the production admin API with a bearer token: the status and the body.
fn with_token(server: &Server, token: &str, path: &str) -> (u16, Value) {
    let mut res = agent()
        .get(format!("{}/v1/production{path}", server.admin))
        .header("authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    let status = res.status().as_u16();
    (status, res.body_mut().read_json().unwrap_or(Value::Null))
}

/// The text of the shown-once secret in the open dialog, labelled `label`.
fn secret(b: &Browser, label: &str) -> String {
    let out = b.find("status", label);
    b.js("return arguments[0].textContent", json!([out]))
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn customers_are_created_found_edited_and_shown_with_their_licenses() {
    let Some(b) = Browser::start() else { return };
    let server = Server::start();
    let (pro, _) = server.seed("Acme Pro", "PRO", 1, 1);
    sign_in(&b, &server, "admin@example.com");
    b.click("link", "Customers");
    b.find("heading", "Customers");
    wait_region(
        &b,
        "Customer table",
        "the seeded customer",
        "rows.length === 1 && rows[0].includes('c1@pro.example.com')",
    );
    b.assert_accessible("customers");
    b.screenshots("customers");

    // Create: metadata must be a JSON object, said next to the field.
    b.click("button", "Create customer");
    b.find("heading", "Create customer");
    b.type_into("textbox", "Name", "Grace Hopper");
    b.type_into("textbox", "Email", "grace@navy.example.org");
    b.type_into("textbox", "Metadata", "not json");
    b.click("button", "Create customer");
    b.until("the metadata error next to its field", "return document.querySelector('[data-field=metadata] .field-error')?.textContent.includes('JSON object')", json!([]));
    b.type_into("textbox", "Metadata", r#"{"tier": "gold"}"#);
    b.click("button", "Create customer");
    wait_region(
        &b,
        "Customer table",
        "Grace in the list",
        "rows.length === 2 && rows.some(r => r.includes('grace@navy.example.org'))",
    );
    // The same email again, in other letters, is refused next to the email field.
    b.click("button", "Create customer");
    b.type_into("textbox", "Name", "Another Grace");
    b.type_into("textbox", "Email", "GRACE@navy.example.org");
    b.click("button", "Create customer");
    b.until("the duplicate email next to its field", "return document.querySelector('dialog [data-field=email] .field-error')?.textContent.includes('already in use')", json!([]));
    b.click("button", "Cancel");

    // Search finds her by part of her email; the search is in the URL.
    b.type_into("searchbox", "Search customers", "navy");
    wait_region(
        &b,
        "Customer table",
        "only Grace",
        "rows.length === 1 && rows[0].includes('Grace Hopper')",
    );
    assert!(b.url().contains("q=navy"), "{}", b.url());

    // Edit keeps what was not changed.
    b.click("button", "Actions for Grace Hopper");
    b.click("menuitem", "Edit");
    b.find("heading", "Edit Grace Hopper");
    b.type_into("textbox", "Name", "Grace B. Hopper");
    b.click("button", "Save");
    wait_region(
        &b,
        "Customer table",
        "the new name",
        "rows.length === 1 && rows[0].includes('Grace B. Hopper')",
    );
    let grace = &server.api("GET", "/customers?q=navy", None)["items"][0];
    assert_eq!(grace["name"], "Grace B. Hopper");
    assert_eq!(grace["metadata"], json!({"tier": "gold"}));

    // Her licenses: one minted for her, listed on License Keys filtered by customer.
    let gens = server.api("GET", &format!("/generators?product={pro}"), None);
    let lic = server.api("POST", "/licenses", Some(json!({"product_id": pro, "generator_id": gens["items"][0]["id"], "customer_id": grace["id"]})));
    b.click("link", "Licenses of Grace B. Hopper");
    b.find("heading", "License Keys");
    wait_rows(
        &b,
        "Grace's one license",
        "rows.length === 1 && rows[0].includes('grace@navy.example.org')",
    );
    assert!(
        b.url()
            .contains(&format!("customer={}", grace["id"].as_str().unwrap())),
        "{}",
        b.url()
    );
    assert!(b.text().contains("Customer: Grace B. Hopper"));
    assert!(rows(&b)[0].starts_with(lic["key_display"].as_str().unwrap()));
    b.click("button", "Show every customer");
    wait_rows(&b, "every license", "rows.length === 3");

    // Deleting a customer who holds a license explains what to do instead.
    b.click("link", "Customers");
    b.click("button", "Actions for Grace B. Hopper");
    b.click("menuitem", "Delete");
    b.click("button", "Delete customer");
    b.find("heading", "Grace B. Hopper still holds licenses");
    b.find("link", "See the licenses of Grace B. Hopper");
    b.assert_accessible("customer in use");
    b.click("button", "Close");
    // One who holds none goes.
    server.api(
        "POST",
        "/customers",
        Some(json!({"name": "Temp Customer", "email": "temp@example.com"})),
    );
    b.type_into("searchbox", "Search customers", "temp@");
    wait_region(
        &b,
        "Customer table",
        "the temporary customer",
        "rows.length === 1 && rows[0].includes('Temp Customer')",
    );
    b.click("button", "Actions for Temp Customer");
    b.click("menuitem", "Delete");
    b.click("button", "Delete customer");
    b.until(
        "the empty search result",
        "return document.body.innerText.includes('name or email contains “temp@”')",
        json!([]),
    );
    b.find("button", "Clear search");
}

#[test]
fn the_audit_log_filters_by_actor_and_action_and_links_to_the_license() {
    let Some(b) = Browser::start() else { return };
    let server = Server::start();
    server.seed("Acme Pro", "PRO", 2, 0);
    sign_in(&b, &server, "admin@example.com");

    // A console action: revoke a license.
    b.click("link", "License Keys");
    wait_rows(&b, "2 licenses", "rows.length === 2");
    let display = rows(&b)[0].split(' ').next().unwrap().to_owned();
    b.click("button", &format!("Actions for {display}"));
    b.click("menuitem", "Revoke");
    b.click("button", "Revoke license");
    wait_rows(&b, "revoked", "rows.some(r => r.includes('revoked'))");

    b.click("link", "Audit log");
    b.find("heading", "Audit log");
    wait_region(
        &b,
        "Audit entries",
        "the seeding and the revocation",
        "rows.length >= 4",
    );
    b.assert_accessible("audit log");
    b.screenshots("audit");

    // By actor: the operator's email alone means operator:<email>.
    b.type_into("textbox", "Actor", "admin@example.com");
    b.click("button", "Apply filters");
    wait_region(
        &b,
        "Audit entries",
        "the admin's revocation only",
        "rows.length === 1 && rows[0].includes('operator:admin@example.com') && rows[0].includes('license.revoked')",
    );
    assert!(
        b.url().contains("actor=operator%3Aadmin%40example.com"),
        "the filter is in the URL: {}",
        b.url()
    );
    assert_eq!(
        b.js(
            "return document.querySelector('input[name=actor]').value",
            json!([])
        ),
        "operator:admin@example.com"
    );

    // By action.
    b.click("button", "Clear filters");
    wait_region(&b, "Audit entries", "every entry again", "rows.length >= 4");
    b.type_into("textbox", "Action", "license.created");
    b.click("button", "Apply filters");
    wait_region(
        &b,
        "Audit entries",
        "the two creations by the bootstrap token",
        "rows.length === 2 && rows.every(r => r.includes('license.created') && r.includes('token:bootstrap'))",
    );
    assert!(b.url().contains("action=license.created"), "{}", b.url());

    // A time range in the browser's time zone goes out as RFC 3339; nothing after 2099.
    let since = b.find("textbox", "Since");
    b.js("arguments[0].value = '2099-01-01T00:00'", json!([since]));
    b.click("button", "Apply filters");
    b.until(
        "the empty state",
        "return document.body.innerText.includes('No audit entry matches these filters.')",
        json!([]),
    );
    assert!(
        b.url().contains("since=2099-01-0") && b.url().contains("Z"),
        "{}",
        b.url()
    );
    b.screenshots("audit-empty");

    // A license entry links to that license.
    b.open(&format!(
        "{}/admin/audit?actor=operator:admin@example.com",
        server.admin
    ));
    wait_region(&b, "Audit entries", "the revocation", "rows.length === 1");
    let hint = display.as_str();
    b.click("link", hint);
    b.find("heading", "License Keys");
    wait_rows(
        &b,
        "the revoked license",
        &format!(
            "rows.length === 1 && rows[0].startsWith('{display}') && rows[0].includes('revoked')"
        ),
    );

    // The history of one target.
    b.back();
    wait_region(
        &b,
        "Audit entries",
        "the revocation again",
        "rows.length === 1",
    );
    b.click("link", "History of license…");
    wait_region(
        &b,
        "Audit entries",
        "created and revoked",
        "rows.length === 2 && rows[0].includes('license.revoked') && rows[1].includes('license.created')",
    );
    assert!(b.url().contains("target_id="), "{}", b.url());
}

#[test]
fn an_api_token_is_shown_once_works_and_stops_working_when_revoked() {
    let Some(b) = Browser::start() else { return };
    let server = Server::start();
    sign_in(&b, &server, "admin@example.com");
    b.click("link", "API tokens");
    b.find("heading", "API tokens");
    wait_region(
        &b,
        "Token table",
        "the bootstrap token",
        "rows.length === 1 && rows[0].includes('bootstrap')",
    );
    b.assert_accessible("tokens");
    b.screenshots("tokens");

    // A name in use is refused next to the name.
    b.click("button", "Create token");
    b.find("heading", "Create token");
    b.type_into("textbox", "Name", "bootstrap");
    b.click("button", "Create token");
    b.until("the duplicate name next to its field", "return document.querySelector('dialog [data-field=name] .field-error')?.textContent.includes('already in use')", json!([]));

    b.type_into("textbox", "Name", "billing-sync");
    b.select("Role", "Manager");
    b.click("button", "Create token");
    b.find("heading", "Token billing-sync created");
    assert!(b.text().contains("shown this once"), "{}", b.text());
    b.find("button", "Copy token");
    b.assert_accessible("token secret");
    let token = secret(&b, "Token");
    assert!(token.len() >= 24, "{token}");
    b.click("button", "Done");
    wait_region(
        &b,
        "Token table",
        "the new token",
        &format!(
            "rows.some(r => r.includes('billing-sync') && r.includes('manager') && r.includes('{}…'))",
            &token[..8]
        ),
    );
    assert!(
        !b.text().contains(&token),
        "the secret is gone from the page"
    );

    let (status, body) = with_token(&server, &token, "/licenses");
    assert_eq!(status, 200, "the token works: {body}");
    assert_eq!(body["total"], 0);

    b.click("button", "Revoke billing-sync");
    b.find("heading", "Revoke billing-sync?");
    b.click("button", "Revoke token");
    wait_region(
        &b,
        "Token table",
        "only bootstrap left",
        "rows.length === 1 && rows[0].includes('bootstrap')",
    );
    let (status, body) = with_token(&server, &token, "/licenses");
    assert_eq!(status, 401, "a revoked token is refused: {body}");
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
}

#[test]
fn an_invited_operator_sets_a_password_signs_in_with_their_roles_and_can_be_disabled() {
    let Some(b) = Browser::start() else { return };
    let server = Server::start();
    sign_in(&b, &server, "admin@example.com");
    b.click("link", "Operators");
    b.find("heading", "Operators");
    wait_region(
        &b,
        "Operator table",
        "the two operators",
        "rows.length === 2 && rows.some(r => r.includes('admin@example.com') && r.includes('(you)'))",
    );
    b.assert_accessible("operators");
    b.screenshots("operators");

    // Invite with a role per environment; the link is shown once.
    b.click("button", "Invite operator");
    b.find("heading", "Invite operator");
    b.type_into("textbox", "Email", "olga@example.com");
    b.type_into("textbox", "Name", "Olga Ops");
    b.select("Role in production", "Support");
    b.select("Role in staging", "Viewer");
    b.assert_accessible("invite dialog");
    b.click("button", "Invite");
    b.find("heading", "Olga Ops invited");
    assert!(b.text().contains("shown this once"), "{}", b.text());
    let link = secret(&b, "Set-password link");
    assert!(
        link.starts_with(&format!("{}/admin/set-password#", server.admin)),
        "{link}"
    );
    b.click("button", "Done");
    wait_region(
        &b,
        "Operator table",
        "Olga, invited",
        "rows.some(r => r.includes('olga@example.com') && r.includes('invited') && r.includes('production: support') && r.includes('staging: viewer'))",
    );

    // The last admin cannot demote themself; the message says what to do, beside the role.
    b.click("button", "Actions for admin@example.com");
    b.click("menuitem", "Edit");
    b.find("heading", "Edit admin@example.com");
    b.select("Role in production", "Viewer");
    b.click("button", "Save");
    b.until("LAST_ADMIN beside the production role", "return document.querySelector('dialog [data-field=role-production] .field-error')?.textContent.includes('make another operator admin there first')", json!([]));
    b.click("button", "Cancel");

    // Olga chooses her password from the link, signs in and has her roles.
    sign_out(&b);
    b.open(&link);
    b.find("heading", "Choose your password");
    b.type_into("textbox", "Password", PASSWORD);
    b.click("button", "Set password");
    b.find("heading", "Sign in to Keysmith");
    b.type_into("textbox", "Email", "olga@example.com");
    b.type_into("textbox", "Password", PASSWORD);
    b.click("button", "Sign in");
    b.find("heading", "Dashboard");
    assert!(
        b.text().contains("Olga Ops · support"),
        "her role in production: {}",
        b.text()
    );
    let envs = b.js(
        "return [...document.getElementById('env-switch').options].map(o => o.textContent)",
        json!([]),
    );
    assert_eq!(envs, json!(["production (support)", "staging (viewer)"]));
    // Not an admin: the Operators page says so, with no action.
    b.click("link", "Operators");
    b.until(
        "the refusal",
        "return document.body.innerText.includes('Only an admin can see and manage operators.')",
        json!([]),
    );
    assert!(!b.exists("button", "Invite operator"));
    b.assert_accessible("operators as support");
    sign_out(&b);

    // The admin makes a new link (shown once), then disables her.
    sign_in(&b, &server, "admin@example.com");
    b.click("link", "Operators");
    b.click("button", "Actions for olga@example.com");
    b.click("menuitem", "Reset password");
    b.click("button", "Make link");
    b.find("heading", "Set-password link for Olga Ops");
    assert_ne!(secret(&b, "Set-password link"), link, "a new link");
    b.click("button", "Done");
    b.click("button", "Actions for olga@example.com");
    b.click("menuitem", "Disable");
    b.find("heading", "Disable olga@example.com?");
    b.click("button", "Disable operator");
    wait_region(
        &b,
        "Operator table",
        "Olga disabled",
        "rows.some(r => r.includes('olga@example.com') && r.includes('disabled'))",
    );
    b.click("button", "Actions for olga@example.com");
    b.find("menuitem", "Enable");
    b.press(&["\u{E00C}"]);
    sign_out(&b);

    // Disabled: she cannot sign in.
    b.type_into("textbox", "Email", "olga@example.com");
    b.type_into("textbox", "Password", PASSWORD);
    b.click("button", "Sign in");
    b.until(
        "the refusal",
        "return document.body.innerText.includes('email, password or code is not right')",
        json!([]),
    );
    assert!(b.exists("heading", "Sign in to Keysmith"));
}

#[test]
fn a_viewer_sees_the_people_pages_without_write_actions() {
    let Some(b) = Browser::start() else { return };
    let server = Server::start();
    server.seed("Acme Pro", "PRO", 0, 2);
    sign_in(&b, &server, "viewer@example.com");

    b.click("link", "Customers");
    wait_region(&b, "Customer table", "two customers", "rows.length === 2");
    assert!(!b.exists("button", "Create customer"));
    let menus = b.js(
        "return document.querySelectorAll('[aria-haspopup=menu]').length",
        json!([]),
    );
    assert_eq!(menus, 0, "a viewer gets no actions menu");
    b.find("link", "Licenses of Customer PRO1");
    b.screenshots("customers-viewer");

    b.click("link", "Audit log");
    wait_region(&b, "Audit entries", "the seeding", "rows.length >= 1");

    b.click("link", "API tokens");
    b.until(
        "the explanation",
        "return document.body.innerText.includes('Only an admin of production can see and manage its API tokens; your role here is viewer.')",
        json!([]),
    );
    assert!(!b.exists("button", "Create token"));
    b.assert_accessible("tokens as viewer");
    b.screenshots("tokens-viewer");

    b.click("link", "Operators");
    b.until(
        "the explanation",
        "return document.body.innerText.includes('Only an admin can see and manage operators.')",
        json!([]),
    );
    assert!(!b.exists("button", "Invite operator"));
    b.screenshots("operators-viewer");
}
