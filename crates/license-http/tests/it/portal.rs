//! The customer portal and email (SPEC §14) in-process, over both backends: sign-in links read
//! from a real SMTP server (the test sink), single use and 15 minutes (the test clock moves),
//! ownership (another customer's license and device answer 404), a device freed in the portal
//! taken by a new activation, access taken away, and the mails of the lifecycle.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use license_http::mailer::{MailConfig, Mailer};
use license_http::smtp_sink::SmtpSink;
use license_http::workers::mail_delivery;
use license_store::both_backends;
use license_store::customers::NewCustomer;
use license_store::testkit::{Fixture, TestDb, admin, key_of, now};
use serde_json::{Value, json};

use crate::support::{PUBLIC_VALIDATION_URL, Reply, TestApp, block_on};

fn mailer(sink: &SmtpSink) -> Mailer {
    Mailer::new(&MailConfig::new(&sink.url(), "Keysmith <licenses@example.com>").unwrap()).unwrap()
}

/// Runs the mail worker's pass over every environment once.
fn send_mail(app: &TestApp, mailer: &Mailer) -> usize {
    app.environments()
        .iter()
        .map(|env| mail_delivery::pass(env, mailer, PUBLIC_VALIDATION_URL, &|| app.now()))
        .sum()
}

/// A signed-in customer: the cookie header and the CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

fn cookie_of(r: &Reply) -> String {
    let set = r.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Secure"),
        "{set}"
    );
    assert!(set.contains("Path=/v1/test/portal"), "{set}");
    set.split(';').next().unwrap().to_owned()
}

/// The sign-in link of the newest mail to `email`.
fn link_in(sink: &SmtpSink, email: &str) -> String {
    let mail = sink
        .messages()
        .into_iter()
        .rev()
        .find(|m| m.to == [email.to_owned()])
        .unwrap();
    let text = mail.text();
    let start = text.find("https://").unwrap();
    text[start..].split_whitespace().next().unwrap().to_owned()
}

async fn sign_in(app: &TestApp, sink: &SmtpSink, mailer: &Mailer, email: &str) -> Session {
    let r = app
        .post("/v1/test/portal/login", json!({"email": email}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    send_mail(app, mailer);
    let link = link_in(sink, email);
    let token = link.split_once('#').unwrap().1;
    let r = app
        .post("/v1/test/portal/session", json!({"token": token}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers.get("cache-control").unwrap(), "no-store");
    Session {
        cookie: cookie_of(&r),
        csrf: r.body["csrf_token"].as_str().unwrap().to_owned(),
    }
}

async fn portal(app: &TestApp, s: &Session, method: &str, path: &str) -> Reply {
    let uri = format!("/v1/test/portal{path}");
    let req = match method {
        "GET" => TestRequest::get(),
        "POST" => TestRequest::post(),
        "DELETE" => TestRequest::delete(),
        other => panic!("{other}"),
    }
    .uri(&uri)
    .insert_header(("cookie", s.cookie.clone()))
    .insert_header(("x-keysmith-csrf", s.csrf.clone()));
    app.send(req).await
}

/// Creates a customer through the admin API; returns its id.
async fn db_customer(app: &TestApp, name: &str) -> String {
    let c = app
        .req("POST", "/customers", Some(json!({"name": name, "email": format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple())})))
        .await;
    c.body["id"].as_str().unwrap().to_owned()
}

both_backends! {
    fn a_sign_in_link_is_mailed_works_once_and_not_after_15_minutes(db) {
        block_on(async {
            let f = Fixture::new(&db.store);
            f.assigned(&db.store, 2);
            let app = TestApp::new(&[db]).with_token();
            let sink = SmtpSink::start();
            let mailer = mailer(&sink);
            let email = f.customer.email.clone();

            // Known and unknown emails get the same answer; only the known one gets a mail.
            let known = app.post("/v1/test/portal/login", json!({"email": email.to_uppercase()})).await;
            let unknown = app.post("/v1/test/portal/login", json!({"email": "nobody@example.com"})).await;
            assert_eq!((known.status, unknown.status), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
            assert_eq!(known.body, unknown.body);
            assert_eq!(send_mail(&app, &mailer), 1);
            let mails = sink.messages();
            assert_eq!(mails.len(), 1);
            assert_eq!(mails[0].to, std::slice::from_ref(&email));
            assert_eq!(mails[0].subject(), "Your sign-in link");
            let link = link_in(&sink, &email);
            assert!(link.starts_with(&format!("{PUBLIC_VALIDATION_URL}/portal/test/sign-in#")), "{link}");
            assert!(mails[0].html().contains(&link), "{}", mails[0].html());
            let token = link.split_once('#').unwrap().1.to_owned();

            let first = app.post("/v1/test/portal/session", json!({"token": token})).await;
            assert_eq!(first.status, StatusCode::OK, "{}", first.text());
            assert_eq!(first.body["customer"]["email"], json!(email));
            let again = app.post("/v1/test/portal/session", json!({"token": token})).await;
            assert_eq!((again.status, again.error_code()), (StatusCode::GONE, "LINK_INVALID"));
            let s = Session { cookie: cookie_of(&first), csrf: first.body["csrf_token"].as_str().unwrap().into() };
            let me = portal(&app, &s, "GET", "/me").await;
            assert_eq!(me.status, StatusCode::OK);
            assert_eq!(me.headers.get("cache-control").unwrap(), "no-store");

            // A link older than 15 minutes opens nothing (a second link comes a minute later at the
            // soonest).
            app.advance(time::Duration::seconds(61));
            app.post("/v1/test/portal/login", json!({"email": email})).await;
            send_mail(&app, &mailer);
            let late = link_in(&sink, &email);
            assert_ne!(late, link);
            app.advance(time::Duration::minutes(16));
            let r = app.post("/v1/test/portal/session", json!({"token": late.split_once('#').unwrap().1})).await;
            assert_eq!((r.status, r.error_code()), (StatusCode::GONE, "LINK_INVALID"));
            // ...and a session idle for longer than 30 minutes has ended.
            app.advance(time::Duration::minutes(20));
            assert_eq!(portal(&app, &s, "GET", "/me").await.status, StatusCode::UNAUTHORIZED);
        });
    }
}

both_backends! {
    fn a_customer_never_reaches_another_customers_license_or_device(db) {
        block_on(async {
            let f = Fixture::new(&db.store);
            let mine = f.assigned(&db.store, 3);
            let bob = db.store.create_customer(&admin(), now(), NewCustomer {
                name: "Bob".into(),
                email: format!("bob-{}@example.com", uuid::Uuid::new_v4().simple()),
                metadata: None,
            }).unwrap();
            let mut n = f.new_license();
            n.customer_id = Some(bob.id);
            let theirs = db.store.create_license(&admin(), now(), n).unwrap();
            let other = TestDb::sqlite_named("other");
            let app = TestApp::new(&[db, &other]).with_token();
            let a = app.post("/v1/test/activate", json!({"key": key_of(&theirs), "fingerprint": "bobs-pc"})).await;
            assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
            let bobs_device = a.body["activation"]["id"].as_str().unwrap().to_owned();
            let sink = SmtpSink::start();
            let mailer = mailer(&sink);
            let s = sign_in(&app, &sink, &mailer, &f.customer.email).await;

            let list = portal(&app, &s, "GET", "/licenses").await;
            assert_eq!(list.status, StatusCode::OK);
            let ids: Vec<&Value> = list.body["items"].as_array().unwrap().iter().map(|l| &l["id"]).collect();
            assert_eq!(ids, [&json!(mine.license.license.id)]);
            assert!(list.body["items"][0].get("metadata").is_none() && list.body["items"][0].get("customer").is_none());

            let theirs_id = theirs.license.license.id;
            let guessed = uuid::Uuid::new_v4();
            for (method, path) in [
                ("POST", format!("/licenses/{theirs_id}/reveal")),
                ("GET", format!("/licenses/{theirs_id}/activations")),
                ("GET", format!("/licenses/{theirs_id}/offline-file?fingerprint=x")),
                ("POST", format!("/activations/{bobs_device}/deactivate")),
                ("POST", format!("/licenses/{guessed}/reveal")),
                ("POST", format!("/activations/{guessed}/deactivate")),
            ] {
                let r = portal(&app, &s, method, &path).await;
                assert_eq!((r.status, r.error_code()), (StatusCode::NOT_FOUND, "NOT_FOUND"), "{method} {path}");
            }
            let still = app.post("/v1/test/validate", json!({"key": key_of(&theirs), "fingerprint": "bobs-pc"})).await;
            assert_eq!(still.body["code"], "VALID", "Bob's device is untouched");

            // Unsafe requests need the session's CSRF token; with it, the key is the customer's.
            let no_csrf = app.send(TestRequest::post()
                .uri(&format!("/v1/test/portal/licenses/{}/reveal", mine.license.license.id))
                .insert_header(("cookie", s.cookie.clone()))).await;
            assert_eq!((no_csrf.status, no_csrf.error_code()), (StatusCode::FORBIDDEN, "CSRF_FAILED"));
            let key = portal(&app, &s, "POST", &format!("/licenses/{}/reveal", mine.license.license.id)).await;
            assert_eq!(key.body["key"], json!(key_of(&mine)));
            assert_eq!(key.headers.get("cache-control").unwrap(), "no-store");

            // The session belongs to its environment: another environment does not know it.
            let elsewhere = app.send(TestRequest::get().uri("/v1/other/portal/me")
                .insert_header(("cookie", s.cookie.clone()))).await;
            assert_eq!(elsewhere.status, StatusCode::UNAUTHORIZED);
        });
    }
}

both_backends! {
    fn a_device_freed_in_the_portal_is_taken_by_a_new_activation(db) {
        block_on(async {
            let f = Fixture::new(&db.store);
            let lic = f.assigned(&db.store, 1);
            let id = lic.license.license.id;
            let app = TestApp::new(&[db]).with_token();
            let key = key_of(&lic).to_owned();
            let old = app.post("/v1/test/activate", json!({"key": key, "fingerprint": "old-laptop", "name": "Old laptop"})).await;
            assert_eq!(old.status, StatusCode::CREATED);
            let refused = app.post("/v1/test/activate", json!({"key": key, "fingerprint": "new-laptop"})).await;
            assert_eq!(refused.body["code"], "LIMIT_EXCEEDED");

            let sink = SmtpSink::start();
            let mailer = mailer(&sink);
            let s = sign_in(&app, &sink, &mailer, &f.customer.email).await;
            let devices = portal(&app, &s, "GET", &format!("/licenses/{id}/activations")).await;
            assert_eq!(devices.body["total"], 1);
            assert_eq!(devices.body["items"][0]["name"], "Old laptop");
            let device = devices.body["items"][0]["id"].as_str().unwrap().to_owned();
            let off = portal(&app, &s, "POST", &format!("/activations/{device}/deactivate")).await;
            assert_eq!((off.status, &off.body["status"]), (StatusCode::OK, &json!("deactivated")));
            let new = app.post("/v1/test/activate", json!({"key": key, "fingerprint": "new-laptop"})).await;
            assert_eq!(new.status, StatusCode::CREATED, "{}", new.text());

            // An offline file takes a slot like any activation: none is free now.
            let full = portal(&app, &s, "GET", &format!("/licenses/{id}/offline-file?fingerprint=air-gapped-1")).await;
            assert_eq!((full.status, full.error_code()), (StatusCode::CONFLICT, "OFFLINE_FILE_REFUSED"), "{}", full.text());
            assert_eq!(full.body["error"]["reason"], "LIMIT_EXCEEDED");
            let no_device = portal(&app, &s, "GET", &format!("/licenses/{id}/offline-file")).await;
            assert_eq!(no_device.status, StatusCode::BAD_REQUEST, "an offline file is for one machine");
            let devices = portal(&app, &s, "GET", &format!("/licenses/{id}/activations")).await;
            let new_laptop = devices.body["items"][0]["id"].as_str().unwrap().to_owned();
            portal(&app, &s, "POST", &format!("/activations/{new_laptop}/deactivate")).await;
            // The offline file: a lease for the given device, verifiable with the published keys.
            let file = portal(&app, &s, "GET", &format!("/licenses/{id}/offline-file?fingerprint=air-gapped-1")).await;
            assert_eq!(file.status, StatusCode::OK, "{}", file.text());
            assert_eq!(file.headers.get("cache-control").unwrap(), "no-store");
            assert!(file.headers.get("content-disposition").unwrap().to_str().unwrap().starts_with("attachment"));
            let keys = app.public_keys("test").await;
            let expect = license_core::lease::Expect { fingerprint: Some("air-gapped-1"), env: Some("test") };
            let claims = license_core::lease::verify(file.body["lease"].as_str().unwrap(), &keys, time::OffsetDateTime::now_utc(), expect).unwrap();
            assert_eq!(claims.lid, id);
            let devices = portal(&app, &s, "GET", &format!("/licenses/{id}/activations")).await;
            assert_eq!(devices.body["items"][0]["fingerprint"], "air-gapped-1");
            assert_eq!(devices.body["items"][0]["name"], "Offline machine");
            let again = portal(&app, &s, "GET", &format!("/licenses/{id}/offline-file?fingerprint=air-gapped-1")).await;
            assert_eq!(again.status, StatusCode::OK, "the same machine again uses no new slot");

            // Every portal action is audited as the customer.
            let actor = format!("customer:{}", f.customer.email);
            let audit = app.req("GET", &format!("/audit?actor={actor}&limit=50"), None).await;
            let actions: Vec<&str> = audit.body["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
            for a in ["portal.link_sent", "portal.signed_in", "activation.deactivated", "license.offline_file_issued"] {
                assert!(actions.contains(&a), "{a} in {actions:?}");
            }

            // Sign-out ends the session.
            assert_eq!(portal(&app, &s, "DELETE", "/session").await.status, StatusCode::NO_CONTENT);
            assert_eq!(portal(&app, &s, "GET", "/me").await.status, StatusCode::UNAUTHORIZED);
        });
    }
}

both_backends! {
    fn an_operator_takes_portal_access_away_and_sees_the_customers_mail(db) {
        block_on(async {
            let f = Fixture::new(&db.store);
            f.assigned(&db.store, 1);
            let app = TestApp::new(&[db]).with_token();
            let sink = SmtpSink::start();
            let mailer = mailer(&sink);
            let s = sign_in(&app, &sink, &mailer, &f.customer.email).await;
            let c = f.customer.id;
            let access = app.req("GET", &format!("/customers/{c}/portal"), None).await;
            assert_eq!((access.body["access"].clone(), access.body["sessions"].clone()), (json!(true), json!(1)));

            let off = app.req("PUT", &format!("/customers/{c}/portal"), Some(json!({"access": false}))).await;
            assert_eq!(off.body["access"], false, "{}", off.text());
            assert_eq!(off.body["sessions"], 0);
            assert_eq!(portal(&app, &s, "GET", "/me").await.status, StatusCode::UNAUTHORIZED);
            let again = app.post("/v1/test/portal/login", json!({"email": f.customer.email})).await;
            assert_eq!(again.status, StatusCode::ACCEPTED);
            assert_eq!(send_mail(&app, &mailer), 0, "no link for a customer without access");

            // A new email address signs the old one out of the portal.
            app.req("PUT", &format!("/customers/{c}/portal"), Some(json!({"access": true}))).await;
            app.advance(time::Duration::seconds(61));
            let s = sign_in(&app, &sink, &mailer, &f.customer.email).await;
            let moved = app.req("PATCH", &format!("/customers/{c}"), Some(json!({"email": "new-address@example.com"}))).await;
            assert_eq!(moved.status, StatusCode::OK, "{}", moved.text());
            assert_eq!(portal(&app, &s, "GET", "/me").await.status, StatusCode::UNAUTHORIZED);

            let mail = app.req("GET", &format!("/customers/{c}/mail"), None).await;
            assert_eq!(mail.body["total"], 2);
            let m = &mail.body["items"][1];
            assert_eq!((m["kind"].as_str(), m["status"].as_str(), m["attempts"].as_i64()), (Some("portal_link"), Some("sent"), Some(1)));
        });
    }
}

both_backends! {
    fn lifecycle_mails_hold_the_key_only_on_assignment_and_go_once(db) {
        block_on(async {
            let f = Fixture::new(&db.store);
            let app = TestApp::new(&[db]).with_token();
            let sink = SmtpSink::start();
            let mailer = mailer(&sink);
            let mut settings = app.req("GET", "/settings", None).await.body;
            settings["email_key_on_assign"] = json!(true);
            let put = app.req("PUT", "/settings", Some(settings)).await;
            assert_eq!(put.status, StatusCode::OK, "{}", put.text());

            let created = app.req("POST", "/licenses", Some(json!({
                "product_id": f.product.id, "generator_id": f.generator.id,
                "metadata": {"internal_note": "INTERNAL-SECRET-NOTE"},
            }))).await;
            let (id, key) = (created.body["id"].as_str().unwrap().to_owned(), created.body["key"].as_str().unwrap().to_owned());
            let assigned = app.req("POST", &format!("/licenses/{id}/assign"), Some(json!({"customer_id": f.customer.id}))).await;
            assert_eq!(assigned.status, StatusCode::OK);
            assert_eq!(send_mail(&app, &mailer), 1);
            assert_eq!(send_mail(&app, &mailer), 0, "one mail per event");
            let m = &sink.messages()[0];
            assert_eq!(m.to, std::slice::from_ref(&f.customer.email));
            assert_eq!(m.subject(), "Your Acme Pro license key");
            assert!(m.text().contains(&key) && m.html().contains(&key), "{}", m.text());
            assert!(m.header("Auto-Submitted").is_some());
            for secret in ["INTERNAL-SECRET-NOTE", &app.token] {
                assert!(!m.data.contains(secret), "the mail holds {secret}");
            }

            let revoked = app.req("POST", &format!("/licenses/{id}/revoke"), None).await;
            assert_eq!(revoked.status, StatusCode::OK);
            assert_eq!(send_mail(&app, &mailer), 1);
            let m = &sink.messages()[1];
            assert_eq!(m.subject(), "Your Acme Pro license has been revoked");
            assert!(!m.data.contains(&key), "a notice never holds the key");
            assert!(m.text().contains(&revoked.body["key_display"].as_str().unwrap().to_owned()), "{}", m.text());

            // A key mail queued for one customer is given up if the license moved on before it
            // went out: the next owner gets their own, the first gets nothing.
            let ann = db_customer(&app, "ann").await;
            let moving = app.req("POST", "/licenses", Some(json!({"product_id": f.product.id, "generator_id": f.generator.id}))).await;
            let moving_id = moving.body["id"].as_str().unwrap().to_owned();
            app.req("POST", &format!("/licenses/{moving_id}/assign"), Some(json!({"customer_id": ann}))).await;
            let moved = app.req("PATCH", &format!("/licenses/{moving_id}"), Some(json!({"customer_id": f.customer.id}))).await;
            assert_eq!(moved.status, StatusCode::OK, "{}", moved.text());
            assert_eq!(send_mail(&app, &mailer), 2, "both tried");
            let to: Vec<Vec<String>> = sink.messages()[2..].iter().map(|m| m.to.clone()).collect();
            assert_eq!(to, [vec![f.customer.email.clone()]], "only the license's owner gets its key");
            let gone = app.req("GET", &format!("/customers/{ann}/mail"), None).await;
            assert_eq!((gone.body["items"][0]["status"].as_str(), gone.body["items"][0]["last_error"].as_str()), (Some("failed"), Some("gone")));

            // With the setting off, an assignment sends nothing.
            let mut settings = app.req("GET", "/settings", None).await.body;
            settings["email_key_on_assign"] = json!(false);
            app.req("PUT", "/settings", Some(settings)).await;
            let other = f.new_license();
            let l = app.req("POST", "/licenses", Some(json!({"product_id": other.product_id, "generator_id": other.generator_id}))).await;
            app.req("POST", &format!("/licenses/{}/assign", l.body["id"].as_str().unwrap()), Some(json!({"customer_id": f.customer.id}))).await;
            assert_eq!(send_mail(&app, &mailer), 0);
        });
    }
}

#[test]
fn portal_off_serves_neither_pages_nor_api_and_without_mail_sign_in_says_so() {
    block_on(async {
        let db = TestDb::sqlite();
        let f = Fixture::new(&db.store);
        let app = TestApp::new(&[&db]);
        let page = app.get("/portal/test/").await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.headers.get("x-frame-options").unwrap(), "DENY");

        let off = TestApp::new(&[&db]).portal(false, true);
        assert_eq!(off.get("/portal/test/").await.status, StatusCode::NOT_FOUND);
        let login = off
            .post("/v1/test/portal/login", json!({"email": f.customer.email}))
            .await;
        assert_eq!(login.status, StatusCode::NOT_FOUND);
        let validate = off
            .post("/v1/test/validate", json!({"key": "NOPE-NOPE"}))
            .await;
        assert_eq!(
            validate.body["code"], "NOT_FOUND",
            "the validation API stays"
        );

        let no_mail = TestApp::new(&[&db]).portal(true, false);
        let login = no_mail
            .post("/v1/test/portal/login", json!({"email": f.customer.email}))
            .await;
        assert_eq!(
            (login.status, login.error_code()),
            (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE")
        );
        assert!(
            login.text().contains("sign-in by email is not set up"),
            "{}",
            login.text()
        );
    });
}
