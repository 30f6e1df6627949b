//! Operators and sessions (SPEC §11) over real HTTP on both backends: the setup link, login
//! outcomes, the cookie, CSRF, idle and absolute expiry on a moved clock, password changes,
//! re-authentication, roles per environment, the last-admin rule, throttling, and what the
//! databases hold.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use license_store::Actor;
use license_store::both_backends;
use license_store::control::LinkPurpose;
use license_store::testkit::*;
use license_store::tokens::Role;
use serde_json::{Value, json};
use time::Duration;

use crate::support::{Browser, TestApp, block_on, session_cookie};

const PASSWORD: &str = "correct horse battery";

fn setup_link(app: &TestApp, ttl: Duration) -> String {
    app.control
        .create_link(
            &Actor::system("t"),
            app.now(),
            LinkPurpose::Setup,
            None,
            ttl,
        )
        .unwrap()
}

both_backends! {
    fn the_setup_link_creates_the_first_admin_once(db) {
        block_on(async {
            let app = TestApp::new(&[db]);
            let token = setup_link(&app, Duration::hours(1));
            let setup = |token: &str, email: &str| TestRequest::post().uri("/v1/auth/setup").set_json(json!({"token": token, "email": email, "name": "Ada", "password": PASSWORD}));
            let short = app.call(None, TestRequest::post().uri("/v1/auth/setup").set_json(json!({"token": token, "email": "ada@example.com", "name": "Ada", "password": "short"}))).await;
            assert_eq!((short.status, short.error_code()), (StatusCode::BAD_REQUEST, "INVALID_REQUEST"));
            let r = app.call(None, setup(&token, "ada@example.com")).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            assert_eq!(r.body["operator"]["roles"]["test"], "admin");
            assert_eq!(r.body["environments"], json!([{"name": "test", "role": "admin"}]));
            assert!(session_cookie(&r).is_some(), "setup signs the first admin in");
            let again = app.call(None, setup(&token, "eve@example.com")).await;
            assert_eq!((again.status, again.error_code()), (StatusCode::GONE, "LINK_INVALID"), "single use");
            // A later link while an operator exists is refused too.
            let late = setup_link(&app, Duration::hours(1));
            let r = app.call(None, setup(&late, "eve@example.com")).await;
            assert_eq!(r.error_code(), "LINK_INVALID");
            assert_eq!(app.control.operators().unwrap().len(), 1);
        });
    }
}

#[test]
fn a_setup_link_expires_after_an_hour() {
    let db = TestDb::sqlite();
    block_on(async {
        let app = TestApp::new(&[&db]);
        let token = setup_link(&app, Duration::hours(1));
        app.advance(Duration::minutes(61));
        let r = app
            .call(None, TestRequest::post().uri("/v1/auth/setup").set_json(json!({"token": token, "email": "ada@example.com", "name": "Ada", "password": PASSWORD})))
            .await;
        assert_eq!(
            (r.status, r.error_code()),
            (StatusCode::GONE, "LINK_INVALID")
        );
    });
}

both_backends! {
    fn login_outcomes_and_the_cookie(db) {
        block_on(async {
            let app = TestApp::new(&[db]);
            app.operator("ada@example.com", PASSWORD, &[("test", Role::Admin)]);
            let (ok, browser) = app.login("ADA@example.com", PASSWORD, None).await;
            assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
            let browser = browser.unwrap();
            assert_eq!(browser.cookie.len(), 64, "256 random bits");
            let set_cookie = ok.headers.get("set-cookie").unwrap().to_str().unwrap();
            for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure", "Max-Age=604800"] {
                assert!(set_cookie.contains(attribute), "{attribute} in {set_cookie}");
            }
            assert_eq!(ok.headers.get("cache-control").unwrap(), "no-store");
            assert_eq!(ok.body["csrf_token"].as_str().unwrap().len(), 32);
            assert!(ok.body["operator"].get("password_hash").is_none());

            let (wrong, c) = app.login("ada@example.com", "not the password", None).await;
            let (unknown, c2) = app.login("nobody@example.com", PASSWORD, None).await;
            assert!(c.is_none() && c2.is_none());
            assert_eq!((wrong.status, wrong.error_code()), (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS"));
            assert_eq!(wrong.body["error"]["message"], unknown.body["error"]["message"], "indistinguishable");
            assert_eq!((unknown.status, unknown.error_code()), (wrong.status, wrong.error_code()));

            let bob = app.operator("bob@example.com", PASSWORD, &[("test", Role::Viewer)]);
            let (ok, _) = app.login("bob@example.com", PASSWORD, None).await;
            assert_eq!(ok.status, StatusCode::OK);
            app.control.update_operator(&admin(), now(), bob.id, license_store::control::OperatorPatch { disabled: Some(true), ..Default::default() }).unwrap();
            let (disabled, _) = app.login("bob@example.com", PASSWORD, None).await;
            assert_eq!(disabled.error_code(), "INVALID_CREDENTIALS", "a disabled operator looks like a wrong password");

            let audit = app.as_browser(&browser, false, TestRequest::get().uri("/v1/operators/audit")).await;
            let actions: Vec<&str> = audit.body["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
            assert!(actions.contains(&"login.succeeded") && actions.contains(&"login.failed"), "{actions:?}");
            let failed = audit.body["items"].as_array().unwrap().iter().find(|e| e["action"] == "login.failed").unwrap();
            assert_eq!(failed["ip"], "0.0.0.0", "the client IP is recorded");
        });
    }
}

both_backends! {
    fn totp_enrolment_and_login_with_a_code(db) {
        block_on(async {
            let app = TestApp::new(&[db]);
            app.operator("ada@example.com", PASSWORD, &[("test", Role::Admin)]);
            let (_, browser) = app.login("ada@example.com", PASSWORD, None).await;
            let browser = browser.unwrap();
            let totp = |body: Value| TestRequest::post().uri("/v1/auth/totp").set_json(body);
            let enrol = app.as_browser(&browser, true, totp(json!({"action": "enroll"}))).await;
            assert_eq!(enrol.status, StatusCode::OK, "{:?}", enrol.body);
            assert_eq!(enrol.headers.get("cache-control").unwrap(), "no-store");
            let secret_b32 = enrol.body["secret"].as_str().unwrap().to_owned();
            assert!(enrol.body["otpauth_url"].as_str().unwrap().starts_with("otpauth://totp/Keysmith:ada@example.com?secret="));
            let secret = base32_decode(&secret_b32);
            let wrong = app.as_browser(&browser, true, totp(json!({"action": "confirm", "code": "000000"}))).await;
            assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
            let code = license_core::totp::code_at(&secret, app.now());
            let ok = app.as_browser(&browser, true, totp(json!({"action": "confirm", "code": code}))).await;
            assert_eq!(ok.status, StatusCode::NO_CONTENT, "{:?}", ok.body);

            let (needs, c) = app.login("ada@example.com", PASSWORD, None).await;
            assert_eq!((needs.status, needs.error_code(), c.is_none()), (StatusCode::UNAUTHORIZED, "TOTP_REQUIRED", true));
            let (bad, _) = app.login("ada@example.com", PASSWORD, Some("123456")).await;
            assert_eq!(bad.error_code(), "INVALID_CREDENTIALS");
            let (replay, _) = app.login("ada@example.com", PASSWORD, Some(&code)).await;
            assert_eq!(replay.error_code(), "INVALID_CREDENTIALS", "the confirming code is spent");
            app.advance(Duration::seconds(30));
            let code = license_core::totp::code_at(&secret, app.now());
            let (wrong_pw, _) = app.login("ada@example.com", "wrong password!", Some(&code)).await;
            assert_eq!(wrong_pw.error_code(), "INVALID_CREDENTIALS", "a code does not stand in for the password");
            let (good, c) = app.login("ada@example.com", PASSWORD, Some(&code)).await;
            assert_eq!((good.status, c.is_some()), (StatusCode::OK, true));
            assert_eq!(good.body["operator"]["totp_enabled"], true);
            let (again, _) = app.login("ada@example.com", PASSWORD, Some(&code)).await;
            assert_eq!(again.error_code(), "INVALID_CREDENTIALS", "a code is accepted once");

            let remove = app.as_browser(&browser, true, totp(json!({"action": "remove", "password": PASSWORD}))).await;
            assert_eq!(remove.status, StatusCode::NO_CONTENT);
            let (plain, _) = app.login("ada@example.com", PASSWORD, None).await;
            assert_eq!(plain.status, StatusCode::OK);

            // What the control database holds: no password, no cookie secret, no TOTP secret.
            if let Some(path) = control_file(&app) {
                let bytes = std::fs::read(path).unwrap();
                for needle in [PASSWORD.as_bytes(), browser.cookie.as_bytes(), secret_b32.as_bytes(), &secret[..]] {
                    assert!(!contains(&bytes, needle), "the control database holds a secret in clear");
                }
            }
        });
    }
}

both_backends! {
    fn csrf_is_checked_on_unsafe_cookie_requests_only(db) {
        block_on(async {
            let app = TestApp::new(&[db]).with_token();
            app.operator("ada@example.com", PASSWORD, &[("test", Role::Admin)]);
            let (_, browser) = app.login("ada@example.com", PASSWORD, None).await;
            let browser = browser.unwrap();
            let create = || TestRequest::post().uri("/v1/test/customers").set_json(json!({"name": "C", "email": "c@example.com"}));
            let missing = app.as_browser(&browser, false, create()).await;
            assert_eq!((missing.status, missing.error_code()), (StatusCode::FORBIDDEN, "CSRF_FAILED"));
            let forged = Browser { csrf: "0".repeat(32), ..browser.clone() };
            let wrong = app.as_browser(&forged, true, create()).await;
            assert_eq!(wrong.error_code(), "CSRF_FAILED");
            let right = app.as_browser(&browser, true, create()).await;
            assert_eq!(right.status, StatusCode::CREATED, "{:?}", right.body);
            let read = app.as_browser(&browser, false, TestRequest::get().uri("/v1/test/customers")).await;
            assert_eq!(read.status, StatusCode::OK, "GET needs no CSRF header");
            let audit = app.req("GET", "/audit?action=customer.created", None).await;
            assert_eq!(audit.body["items"][0]["actor"], "operator:ada@example.com");
            let bearer = app.req("POST", "/customers", Some(json!({"name": "D", "email": "d@example.com"}))).await;
            assert_eq!(bearer.status, StatusCode::CREATED, "bearer requests need no CSRF header");
            let both = app.as_browser(&browser, true, create().insert_header(("authorization", format!("Bearer {}", app.token)))).await;
            assert_eq!((both.status, both.error_code()), (StatusCode::BAD_REQUEST, "INVALID_REQUEST"), "cookie and bearer together");
        });
    }
}

both_backends! {
    fn sessions_end_when_idle_12_hours_or_7_days_old(db) {
        block_on(async {
            let app = TestApp::new(&[db]);
            app.operator("ada@example.com", PASSWORD, &[("test", Role::Admin)]);
            let (_, b) = app.login("ada@example.com", PASSWORD, None).await;
            let b = b.unwrap();
            app.advance(Duration::hours(11) + Duration::minutes(59));
            assert_eq!(app.me(&b).await.status, StatusCode::OK, "used within 12 h");
            app.advance(Duration::hours(11) + Duration::minutes(59));
            assert_eq!(app.me(&b).await.status, StatusCode::OK, "each use restarts the idle clock");
            app.advance(Duration::hours(12));
            assert_eq!(app.me(&b).await.status, StatusCode::UNAUTHORIZED, "12 h idle");

            let (_, b) = app.login("ada@example.com", PASSWORD, None).await;
            let b = b.unwrap();
            for _ in 0..15 {
                app.advance(Duration::hours(11));
                assert_eq!(app.me(&b).await.status, StatusCode::OK);
            }
            app.advance(Duration::hours(11));
            let r = app.me(&b).await;
            assert_eq!((r.status, r.error_code()), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"), "7 days after sign-in, however active");
        });
    }
}

both_backends! {
    fn a_password_change_ends_the_other_sessions(db) {
        block_on(async {
            let app = TestApp::new(&[db]);
            app.operator("ada@example.com", PASSWORD, &[("test", Role::Admin)]);
            let (_, laptop) = app.login("ada@example.com", PASSWORD, None).await;
            let (_, phone) = app.login("ada@example.com", PASSWORD, None).await;
            let (laptop, phone) = (laptop.unwrap(), phone.unwrap());
            let change = |current: &str| TestRequest::post().uri("/v1/auth/password").set_json(json!({"current_password": current, "new_password": "an even better passphrase"}));
            let wrong = app.as_browser(&laptop, true, change("not my password")).await;
            assert_eq!(wrong.error_code(), "INVALID_CREDENTIALS");
            let r = app.as_browser(&laptop, true, change(PASSWORD)).await;
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
            assert_eq!(app.me(&laptop).await.status, StatusCode::OK, "the session that changed it stays");
            assert_eq!(app.me(&phone).await.status, StatusCode::UNAUTHORIZED, "every other session ends");
            let (old, _) = app.login("ada@example.com", PASSWORD, None).await;
            assert_eq!(old.error_code(), "INVALID_CREDENTIALS");
            let (new, _) = app.login("ada@example.com", "an even better passphrase", None).await;
            assert_eq!(new.status, StatusCode::OK);
            let out = app.as_browser(&laptop, true, TestRequest::post().uri("/v1/auth/logout")).await;
            assert_eq!(out.status, StatusCode::NO_CONTENT);
            assert!(out.headers.get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));
            assert_eq!(app.me(&laptop).await.status, StatusCode::UNAUTHORIZED, "signed out");
        });
    }
}

both_backends! {
    fn reveal_and_preview_need_a_recent_password_when_the_setting_says_so(db) {
        block_on(async {
            let app = TestApp::new(&[db]).with_token();
            let f = Fixture::new(db);
            let lic = f.assigned(db, 1);
            let id = lic.license.license.id;
            app.operator("ada@example.com", PASSWORD, &[("test", Role::Admin)]);
            let (_, b) = app.login("ada@example.com", PASSWORD, None).await;
            let b = b.unwrap();
            let reveal = || TestRequest::post().uri(&format!("/v1/test/licenses/{id}/reveal"));
            let preview = || TestRequest::get().uri(&format!("/v1/test/licenses/{id}/preview"));
            assert_eq!(app.as_browser(&b, true, reveal()).await.status, StatusCode::OK, "setting off");
            let mut settings = db.settings().unwrap();
            settings.reveal_requires_reauth = true;
            db.put_settings(&admin(), now(), &settings).unwrap();
            let fresh = TestApp::new(&[db]);
            fresh.operator("bo@example.com", PASSWORD, &[("test", Role::Admin)]);
            let (_, b) = fresh.login("bo@example.com", PASSWORD, None).await;
            let b = b.unwrap();
            let r = fresh.as_browser(&b, true, reveal()).await;
            assert_eq!((r.status, r.headers.get("cache-control").map(|v| v.to_str().unwrap().to_owned())), (StatusCode::OK, Some("no-store".into())), "signing in counts as a password entry");
            fresh.advance(Duration::minutes(6));
            let r = fresh.as_browser(&b, true, reveal()).await;
            assert_eq!((r.status, r.error_code()), (StatusCode::FORBIDDEN, "REAUTH_REQUIRED"));
            assert_eq!(fresh.as_browser(&b, false, preview()).await.error_code(), "REAUTH_REQUIRED");
            let wrong = fresh.as_browser(&b, true, TestRequest::post().uri("/v1/auth/reauth").set_json(json!({"password": "nope nope nope"}))).await;
            assert_eq!(wrong.error_code(), "INVALID_CREDENTIALS");
            let ok = fresh.as_browser(&b, true, TestRequest::post().uri("/v1/auth/reauth").set_json(json!({"password": PASSWORD}))).await;
            assert_eq!(ok.status, StatusCode::NO_CONTENT);
            assert_eq!(fresh.as_browser(&b, true, reveal()).await.status, StatusCode::OK);
            assert_eq!(fresh.as_browser(&b, false, preview()).await.status, StatusCode::OK);
            let token = fresh.create_token("robot", Role::Admin);
            fresh.advance(Duration::minutes(6));
            let by_token = fresh.call(Some(&token), reveal()).await;
            assert_eq!(by_token.status, StatusCode::OK, "tokens are exempt");
        });
    }
}

both_backends! {
    fn a_role_holds_in_its_environment_only(db) {
        block_on(async {
            let staging = if db.is_postgres() { TestDb::postgres_named("staging").unwrap() } else { TestDb::sqlite_named("staging") };
            let app = TestApp::new(&[db, &staging]);
            app.operator("ada@example.com", PASSWORD, &[("test", Role::Admin), ("staging", Role::Viewer)]);
            app.operator("cy@example.com", PASSWORD, &[("staging", Role::Admin)]);
            let (me, b) = app.login("ada@example.com", PASSWORD, None).await;
            assert_eq!(me.body["environments"], json!([{"name": "staging", "role": "viewer"}, {"name": "test", "role": "admin"}]));
            let b = b.unwrap();
            let create = |env: &str| TestRequest::post().uri(&format!("/v1/{env}/customers")).set_json(json!({"name": "C", "email": "c@example.com"}));
            assert_eq!(app.as_browser(&b, true, create("test")).await.status, StatusCode::CREATED);
            let r = app.as_browser(&b, true, create("staging")).await;
            assert_eq!((r.status, r.error_code()), (StatusCode::FORBIDDEN, "FORBIDDEN"), "viewer in staging");
            assert_eq!(app.as_browser(&b, false, TestRequest::get().uri("/v1/staging/customers")).await.status, StatusCode::OK);
            let (_, cy) = app.login("cy@example.com", PASSWORD, None).await;
            let r = app.as_browser(&cy.unwrap(), false, TestRequest::get().uri("/v1/test/customers")).await;
            assert_eq!((r.status, r.error_code()), (StatusCode::FORBIDDEN, "FORBIDDEN"), "no role in test: no access");
        });
    }
}

both_backends! {
    fn operators_are_invited_and_the_last_admin_stays(db) {
        block_on(async {
            let app = TestApp::new(&[db]);
            let ada = app.operator("ada@example.com", PASSWORD, &[("test", Role::Admin)]);
            let (_, b) = app.login("ada@example.com", PASSWORD, None).await;
            let b = b.unwrap();
            let invite = app.as_browser(&b, true, TestRequest::post().uri("/v1/operators").set_json(json!({"email": "bo@example.com", "name": "Bo", "roles": {"test": "support"}}))).await;
            assert_eq!(invite.status, StatusCode::CREATED, "{:?}", invite.body);
            assert_eq!(invite.headers.get("cache-control").unwrap(), "no-store");
            let url = invite.body["set_password_url"].as_str().unwrap();
            let token = url.strip_prefix("https://keysmith.example.com/admin/set-password#").unwrap();
            let (no_password, _) = app.login("bo@example.com", "", None).await;
            assert_eq!(no_password.error_code(), "INVALID_CREDENTIALS");
            let set = |t: &str| TestRequest::post().uri("/v1/auth/set-password").set_json(json!({"token": t, "password": "bo's own passphrase"}));
            assert_eq!(app.call(None, set(token)).await.status, StatusCode::OK);
            assert_eq!(app.call(None, set(token)).await.error_code(), "LINK_INVALID", "single use");
            let (bo, bo_b) = app.login("bo@example.com", "bo's own passphrase", None).await;
            assert_eq!(bo.body["environments"], json!([{"name": "test", "role": "support"}]));
            let bad_env = app.as_browser(&b, true, TestRequest::post().uri("/v1/operators").set_json(json!({"email": "x@example.com", "name": "X", "roles": {"nowhere": "admin"}}))).await;
            assert_eq!((bad_env.status, bad_env.body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("roles")));
            let bo_b = bo_b.unwrap();
            let by_support = app.as_browser(&bo_b, false, TestRequest::get().uri("/v1/operators")).await;
            assert_eq!(by_support.status, StatusCode::FORBIDDEN, "operators are managed by admins");
            let no_roles = app.as_browser(&bo_b, true, TestRequest::post().uri("/v1/operators").set_json(json!({"email": "sneaky@example.com", "name": "S", "roles": {}}))).await;
            assert_eq!(no_roles.status, StatusCode::FORBIDDEN, "not even an operator with no roles");

            let patch = |id: uuid::Uuid, body: Value| TestRequest::patch().uri(&format!("/v1/operators/{id}")).set_json(body);
            let demote = app.as_browser(&b, true, patch(ada.id, json!({"roles": {"test": "viewer"}}))).await;
            assert_eq!((demote.status, demote.error_code()), (StatusCode::CONFLICT, "LAST_ADMIN"));
            let disable = app.as_browser(&b, true, patch(ada.id, json!({"disabled": true}))).await;
            assert_eq!(disable.error_code(), "LAST_ADMIN");
            let bo_id: uuid::Uuid = bo.body["operator"]["id"].as_str().unwrap().parse().unwrap();
            let promote = app.as_browser(&b, true, patch(bo_id, json!({"roles": {"test": "admin"}}))).await;
            assert_eq!(promote.status, StatusCode::OK, "{:?}", promote.body);
            let one = app.as_browser(&b, false, TestRequest::get().uri(&format!("/v1/operators/{bo_id}"))).await;
            assert_eq!((one.status, one.body["roles"]["test"].as_str()), (StatusCode::OK, Some("admin")));
            let reset = app.as_browser(&b, true, TestRequest::post().uri(&format!("/v1/operators/{bo_id}/reset-password"))).await;
            assert_eq!((reset.status, reset.headers.get("cache-control").unwrap().to_str().unwrap()), (StatusCode::OK, "no-store"));
            let stale = reset.body["set_password_url"].as_str().unwrap().rsplit_once('#').unwrap().1.to_owned();
            let reset = app.as_browser(&b, true, TestRequest::post().uri(&format!("/v1/operators/{bo_id}/reset-password"))).await;
            let link = reset.body["set_password_url"].as_str().unwrap();
            let token = link.rsplit_once('#').unwrap().1;
            let old_link = TestRequest::post().uri("/v1/auth/set-password").set_json(json!({"token": stale, "password": "an attacker's passphrase"}));
            assert_eq!(app.call(None, old_link).await.error_code(), "LINK_INVALID", "a newer link voids the older one");
            let set_new = TestRequest::post().uri("/v1/auth/set-password").set_json(json!({"token": token, "password": "bo's new passphrase"}));
            assert_eq!(app.call(None, set_new).await.status, StatusCode::OK);
            let (old, _) = app.login("bo@example.com", "bo's own passphrase", None).await;
            assert_eq!(old.error_code(), "INVALID_CREDENTIALS", "a reset replaces the password");
            let (new, _) = app.login("bo@example.com", "bo's new passphrase", None).await;
            assert_eq!(new.status, StatusCode::OK);
            let demote = app.as_browser(&b, true, patch(ada.id, json!({"roles": {"test": "viewer"}}))).await;
            assert_eq!(demote.status, StatusCode::OK, "another admin exists now");
            let list = app.as_browser(&b, false, TestRequest::get().uri("/v1/operators")).await;
            assert_eq!(list.status, StatusCode::FORBIDDEN, "ada is no admin any more");
        });
    }
}

#[test]
fn failed_logins_are_slowed_down_per_email() {
    let db = TestDb::sqlite();
    block_on(async {
        let app = TestApp::new(&[&db]);
        app.operator("ada@example.com", PASSWORD, &[("test", Role::Admin)]);
        for _ in 0..5 {
            let (r, _) = app
                .login("ada@example.com", "guess guess guess", None)
                .await;
            assert_eq!(r.error_code(), "INVALID_CREDENTIALS");
        }
        let (r, _) = app
            .login("ada@example.com", "guess guess guess", None)
            .await;
        assert_eq!(
            r.error_code(),
            "INVALID_CREDENTIALS",
            "the sixth is counted"
        );
        let (r, _) = app.login("ada@example.com", PASSWORD, None).await;
        assert_eq!(
            (r.status, r.error_code()),
            (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
            "even the right password waits"
        );
        assert_eq!(r.headers.get("retry-after").unwrap(), "1");
        let (other, _) = app.login("nobody@example.com", PASSWORD, None).await;
        assert_eq!(
            other.error_code(),
            "INVALID_CREDENTIALS",
            "another email is not held up"
        );
        app.advance(Duration::seconds(1));
        let (ok, _) = app.login("ada@example.com", PASSWORD, None).await;
        assert_eq!(ok.status, StatusCode::OK, "the delay passes; no lockout");
    });
}

fn control_file(app: &TestApp) -> Option<std::path::PathBuf> {
    app.control
        .url
        .strip_prefix("sqlite://")
        .map(std::path::PathBuf::from)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn base32_decode(s: &str) -> Vec<u8> {
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => unreachable!("not base32: {c}"),
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}
