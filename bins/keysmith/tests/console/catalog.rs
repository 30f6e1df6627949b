//! Products, Generators (format editor), bulk generation with live progress and the one-time
//! keys CSV, Background jobs, Import (dry run, then apply), Activations and Ctrl/Cmd+K search —
//! the catalogue side of the operator's day, in a real browser.

use serde_json::{Value, json};

use crate::harness::*;

/// The key of every row of a job's keys CSV (`seq,license_id,key`).
fn keys_of(csv: &str) -> Vec<String> {
    csv.lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().to_owned())
        .collect()
}

#[test]
fn from_a_new_product_to_two_thousand_keys_imported_and_activated() {
    let Some(b) = Browser::start() else { return };
    let server = Server::start();
    sign_in(&b, &server, "admin@example.com");

    // Products: the empty state, create, then the list.
    b.click("link", "Products");
    b.find("heading", "Products");
    b.wait_text("No products yet");
    b.click("button", "Create product");
    b.type_into("textbox", "Name", "Acme Studio");
    b.type_into("textbox", "Code", "x");
    b.click("button", "Create product");
    b.until("the code rule next to its field", "return document.querySelector('dialog [data-field=code] .field-error')?.textContent.length > 0", json!([]));
    b.type_into("textbox", "Code", "STUDIO");
    b.click("button", "Create product");
    b.wait_table(
        "the product",
        "rows.length === 1 && rows[0].includes('STUDIO')",
    );
    b.assert_accessible("products");
    b.screenshots("products");

    // Generators: the format editor refuses a weak format with the API's words, then shows
    // the entropy and an example of a strong one.
    b.click("link", "Generators");
    b.click("button", "Create generator");
    b.type_into("textbox", "Name", "Studio keys");
    b.select("Key format", "Pattern");
    b.type_into("textbox", "Pattern", "STU-####-####");
    b.until("the weak verdict", "const v = document.querySelector('dialog output.verdict'); return v && v.classList.contains('bad') && v.textContent.includes('at least 80')", json!([]));
    b.select("Key format", "Chunked");
    let verdict = b.until("the strong verdict", "const v = document.querySelector('dialog output.verdict'); return v && v.classList.contains('ok') && v.textContent", json!([]));
    let verdict = verdict.as_str().unwrap();
    assert!(
        verdict.starts_with("80 bits of randomness") && verdict.contains("Example: STUDIO-"),
        "{verdict}"
    );
    b.assert_accessible("generator editor");
    b.screenshots("generator-editor");
    b.type_into("textbox", "Default activation limit", "5");
    b.click("button", "Create generator");
    b.wait_table("the generator", "rows.length === 1 && rows[0].includes('Studio keys') && rows[0].includes('4 × 4 characters + check')");
    b.assert_accessible("generators");
    b.screenshots("generators");

    // A product with a generator cannot be deleted: the console says why and what to do.
    b.click("link", "Products");
    b.click("button", "Actions for Acme Studio");
    b.click("menuitem", "Delete");
    b.click("button", "Delete product");
    b.find("heading", "Acme Studio is in use");
    assert!(b.text().contains("archive the product"), "{}", b.text());
    b.click("button", "Understood");

    // Bulk generation: 2,000 keys, progress to 100 %, the keys CSV once.
    b.click("link", "Generators");
    b.click("button", "Actions for Studio keys");
    b.click("menuitem", "Generate licenses");
    b.type_into("textbox", "How many", "2000");
    b.click("button", "Start generating");
    b.find("heading", "Background jobs");
    b.until("the job to complete", "const p = document.querySelector('.job progress'); return p && p.max === 2000 && p.value === 2000 && document.body.innerText.includes('Completed: 2,000 licenses minted.')", json!([]));
    b.assert_accessible("job");
    b.screenshots("job");
    let job = b.url().split("job=").nth(1).unwrap().to_owned();
    b.click("button", "Download keys CSV");
    b.find("heading", "Download the keys now?");
    b.click("button", "Download keys CSV");
    let csv = b.downloaded(&format!("job-{job}-keys.csv"));
    let keys = keys_of(&csv);
    assert_eq!(keys.len(), 2000, "every minted key, once");
    assert!(keys.iter().all(|k| k.starts_with("STUDIO-")));
    b.wait_text("The keys were downloaded already");
    let again = b.js(
        "return fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.status)",
        json!([format!("/v1/production/jobs/{job}/keys.csv")]),
    );
    assert_eq!(again, 410, "the second download is refused");
    b.wait_table(
        "the job in the list",
        "rows.some(r => r.includes('completed') && r.includes('admin@example.com') && r.includes('Downloaded'))",
    );

    // Import: a dry run shows each row's fate (an unknown key fails, nothing applies), then
    // the corrected file applies.
    b.click("link", "Import");
    let bad = format!(
        "key,customer_email,customer_name\n{},imp1@example.com,Imp One\nSTUDIO-NOPE-NOPE-NOPE-NOPE-NOPE,x@example.com,\n",
        keys[0]
    );
    b.type_into("textbox", "Or paste the CSV", &bad);
    b.click("button", "Check (dry run)");
    b.wait_text("Dry run: 1 of 2 rows have errors");
    b.wait_table("the failing row", "rows.length === 2 && rows[0].includes('imp1@example.com') && rows[1].includes('x@example.com')");
    let apply_disabled = b.js("return [...document.querySelectorAll('button')].find(x => x.textContent === 'Apply import').disabled", json!([]));
    assert_eq!(apply_disabled, true, "nothing applies while a row fails");
    b.assert_accessible("import report");
    b.screenshots("import");
    let good = format!(
        "key,customer_email,customer_name\n{},imp1@example.com,Imp One\n{},imp2@example.com,Imp Two\n",
        keys[0], keys[1]
    );
    b.type_into("textbox", "Or paste the CSV", &good);
    b.click("button", "Check (dry run)");
    b.wait_text("Dry run: all 2 rows are fine");
    let before = server.api("GET", "/licenses?q=imp1%40example.com", None);
    assert_eq!(before["total"], 0, "a dry run changes nothing");
    b.click("button", "Apply import");
    b.wait_text("Applied: 2 assigned");
    let after = server.api("GET", "/licenses?q=imp1%40example.com", None);
    assert_eq!(
        (
            after["total"].as_i64(),
            after["items"][0]["status"].as_str()
        ),
        (Some(1), Some("assigned"))
    );

    // Activations across licenses: one device on two licenses, found by its fingerprint, and
    // deactivated.
    server.activate(&keys[0], "laptop-a", "Laptop A");
    server.activate(&keys[0], "desk-shared", "Shared desk");
    server.activate(&keys[1], "desk-shared", "Shared desk");
    b.click("link", "Activations");
    b.wait_table("three activations", "rows.length === 3");
    b.assert_accessible("activations");
    b.screenshots("activations");
    b.type_into("searchbox", "Fingerprint", "desk-shared");
    b.press(&["\u{E007}"]);
    b.wait_table(
        "one device, two licenses",
        "rows.length === 2 && rows.every(r => r.includes('desk-shared'))",
    );
    assert!(b.url().contains("fingerprint=desk-shared"));
    b.select("Status", "All statuses");
    b.type_into("searchbox", "Fingerprint", "laptop-a");
    b.press(&["\u{E007}"]);
    b.wait_table(
        "the laptop",
        "rows.length === 1 && rows[0].includes('Laptop A')",
    );
    b.click("button", "Actions for Laptop A");
    b.click("menuitem", "Deactivate");
    b.click("button", "Deactivate device");
    b.wait_table(
        "deactivated",
        "rows.length === 1 && rows[0].includes('deactivated')",
    );

    // Ctrl+K: a customer by email, and a license by its full key (which never reaches the URL).
    b.chord(&["\u{E009}", "k"]);
    b.find("heading", "Search");
    b.type_into("searchbox", "Search this environment", "imp2@");
    b.click("button", "Imp Two…");
    b.until(
        "the customers page",
        "return location.pathname === '/admin/customers' && location.search.includes('imp2')",
        json!([]),
    );
    b.chord(&["\u{E009}", "k"]);
    b.type_into("searchbox", "Search this environment", &keys[1]);
    b.press(&["\u{E007}"]);
    let display = after_display(&server, &keys[1]);
    b.find("heading", &format!("Preview {display}"));
    assert!(
        !b.url().contains(&keys[1]),
        "a full key never reaches the address bar"
    );
    b.assert_accessible("search");

    // A webhook endpoint added in the browser, pinged, the ping delivered and verified.
    let hook = crate::hooks::ping_through_a_new_endpoint(&b, &server);
    assert!(!hook.secret.is_empty());

    // The audit log page shows all of it under the operator's email, and no full key.
    b.open(&format!(
        "{}/admin/audit?actor=operator:admin@example.com",
        server.admin
    ));
    let expected = [
        "product.created",
        "generator.created",
        "job.created",
        "job.keys_downloaded",
        "license.assigned",
        "activation.deactivated",
        "license.key_searched",
        "webhook.created",
        "webhook.pinged",
    ];
    wait_region(
        &b,
        "Audit entries",
        "the day's actions",
        &format!(
            "{} && rows.every(r => r.includes('admin@example.com'))",
            expected
                .map(|a| format!("rows.some(r => r.includes('{a}'))"))
                .join(" && ")
        ),
    );
    assert!(
        !keys.iter().take(2).any(|k| b.text().contains(k.as_str())),
        "no full key in the audit"
    );
    b.assert_accessible("audit");
    let audit = server.api(
        "GET",
        "/audit?actor=operator%3Aadmin%40example.com&limit=500",
        None,
    );
    let text = audit.to_string();
    assert!(
        !keys.iter().take(2).any(|k| text.contains(k.as_str())),
        "no full key in the audit"
    );
}

/// The masked display of a license found by its full key.
fn after_display(server: &Server, key: &str) -> String {
    let found: Value = server.api("GET", &format!("/licenses?q={key}"), None);
    found["items"][0]["key_display"]
        .as_str()
        .unwrap()
        .to_owned()
}
