//! The OpenAPI document is generated from the code, served at `/openapi.json`, and checked in at
//! `docs/openapi/validation.json`; this test fails when the checked-in copy is stale.

use license_store::testkit::TestDb;

use crate::support::*;

#[test]
fn checked_in_validation_openapi_is_current() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/openapi/validation.json"
    );
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    let generated = license_http::validation_openapi();
    assert!(
        on_disk.trim_end() == generated.trim_end(),
        "docs/openapi/validation.json is stale: run `cargo run -p keysmith -- openapi validation > docs/openapi/validation.json`"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated).unwrap();
    for route in [
        "/v1/{env}/validate",
        "/v1/{env}/activate",
        "/v1/{env}/deactivate",
        "/v1/{env}/keys",
        "/healthz",
        "/readyz",
    ] {
        assert!(
            doc["paths"].get(route).is_some(),
            "{route} missing from the OpenAPI document"
        );
    }
    assert!(
        doc["paths"].get("/metrics").is_none(),
        "the validation service serves no /metrics"
    );
    let db = TestDb::sqlite();
    block_on(async {
        let app = TestApp::new(&[&db]);
        let served = app.get("/openapi.json").await;
        assert_eq!(served.body, doc);
    });
}

#[test]
fn checked_in_admin_openapi_is_current_and_lists_every_route() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi/admin.json");
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    let generated = license_http::admin_openapi();
    assert!(
        on_disk.trim_end() == generated.trim_end(),
        "docs/openapi/admin.json is stale: run `cargo run -p keysmith -- openapi admin > docs/openapi/admin.json`"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for route in [
        "/v1/{env}/products",
        "/v1/{env}/products/{id}",
        "/v1/{env}/generators",
        "/v1/{env}/generators/{id}",
        "/v1/{env}/generators/{id}/generate",
        "/v1/{env}/customers",
        "/v1/{env}/customers/{id}",
        "/v1/{env}/licenses",
        "/v1/{env}/licenses/{id}",
        "/v1/{env}/licenses/{id}/activations",
        "/v1/{env}/licenses/{id}/assign",
        "/v1/{env}/licenses/{id}/suspend",
        "/v1/{env}/licenses/{id}/unsuspend",
        "/v1/{env}/licenses/{id}/inactivate",
        "/v1/{env}/licenses/{id}/reactivate",
        "/v1/{env}/licenses/{id}/revoke",
        "/v1/{env}/licenses/{id}/remint",
        "/v1/{env}/licenses/{id}/reveal",
        "/v1/{env}/licenses/{id}/preview",
        "/v1/{env}/licenses/export.csv",
        "/v1/{env}/licenses/export.json",
        "/v1/{env}/licenses/import",
        "/v1/{env}/activations",
        "/v1/{env}/activations/{id}/deactivate",
        "/v1/{env}/generators/format-preview",
        "/v1/{env}/stats",
        "/v1/{env}/audit",
        "/v1/{env}/events",
        "/v1/{env}/webhooks",
        "/v1/{env}/webhooks/{id}",
        "/v1/{env}/settings",
        "/v1/{env}/tokens",
        "/v1/{env}/tokens/{id}",
        "/v1/{env}/jobs",
        "/v1/{env}/jobs/{id}",
        "/v1/{env}/jobs/{id}/keys.csv",
        "/v1/auth/login",
        "/v1/auth/logout",
        "/v1/auth/me",
        "/v1/auth/password",
        "/v1/auth/totp",
        "/v1/auth/reauth",
        "/v1/auth/setup",
        "/v1/auth/set-password",
        "/v1/operators",
        "/v1/operators/{id}",
        "/v1/operators/{id}/reset-password",
        "/v1/operators/audit",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(
            paths.contains_key(route),
            "{route} missing from the admin OpenAPI document"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Every success answer of the API (not 204) documents its body.
    for (path, item) in paths.iter().filter(|(p, _)| p.starts_with("/v1/")) {
        for (method, op) in item.as_object().unwrap() {
            for (code, response) in op["responses"].as_object().unwrap() {
                if code.starts_with('2') && code != "204" {
                    assert!(
                        response.get("content").is_some(),
                        "{method} {path} {code} has no response schema"
                    );
                }
            }
        }
    }
    let session = &doc["components"]["securitySchemes"]["session"];
    assert_eq!(
        (
            session["type"].as_str(),
            session["in"].as_str(),
            session["name"].as_str()
        ),
        (Some("apiKey"), Some("cookie"), Some("keysmith_session"))
    );
}

/// Every documented path answers each documented method (a route exists: not "route not
/// found", not 405) and every other method with 405 and an `Allow` naming exactly the
/// documented ones — on both services. A route the server has under a documented path but the
/// document lacks, or the other way round, fails here.
#[test]
fn the_servers_routes_and_methods_are_the_documents() {
    use actix_web::http::{Method, StatusCode};
    use actix_web::test::TestRequest;
    let db = TestDb::sqlite();
    block_on(async {
        let app = TestApp::new(&[&db]);
        for (name, json) in [
            ("validation", license_http::validation_openapi()),
            ("admin", license_http::admin_openapi()),
        ] {
            let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
            let mut checked = 0;
            let paths = doc["paths"].as_object().unwrap();
            // Methods of every template a concrete path fits (`/operators/audit` also fits
            // `/operators/{id}`): such a method is that other route's, not a 405.
            let fits = |template: &str, path: &str| {
                let (t, p): (Vec<&str>, Vec<&str>) =
                    (template.split('/').collect(), path.split('/').collect());
                t.len() == p.len() && t.iter().zip(&p).all(|(a, b)| a == b || a.starts_with('{'))
            };
            for (template, item) in paths {
                let path = template
                    .replace("{env}", "test")
                    .replace("{id}", &uuid::Uuid::now_v7().to_string());
                let documented: Vec<String> = item
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(|m| m.to_uppercase())
                    .collect();
                let elsewhere: Vec<String> = paths
                    .iter()
                    .filter(|(t, _)| *t != template && fits(t, &path))
                    .flat_map(|(_, i)| i.as_object().unwrap().keys().map(|m| m.to_uppercase()))
                    .collect();
                for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
                    if !documented.iter().any(|m| m == method)
                        && elsewhere.iter().any(|m| m == method)
                    {
                        continue;
                    }
                    let req = TestRequest::default()
                        .method(Method::from_bytes(method.as_bytes()).unwrap())
                        .uri(&path);
                    let r = if name == "admin" {
                        app.call(None, req).await
                    } else {
                        app.send(req).await
                    };
                    if documented.iter().any(|m| m == method) {
                        assert_ne!(
                            r.status,
                            StatusCode::METHOD_NOT_ALLOWED,
                            "{name}: {method} {template} is documented"
                        );
                        assert_ne!(
                            r.body["error"]["message"], "route not found",
                            "{name}: {method} {template} is documented but not served"
                        );
                    } else {
                        assert_eq!(
                            r.status,
                            StatusCode::METHOD_NOT_ALLOWED,
                            "{name}: {method} {template} is not documented: {:?}",
                            r.body
                        );
                        let mut allow: Vec<String> = r
                            .headers
                            .get("allow")
                            .unwrap()
                            .to_str()
                            .unwrap()
                            .split(", ")
                            .map(str::to_owned)
                            .collect();
                        let mut want = documented.clone();
                        allow.sort();
                        want.sort();
                        assert_eq!(allow, want, "{name}: Allow of {template}");
                        assert_eq!(
                            r.error_code(),
                            "METHOD_NOT_ALLOWED",
                            "{name}: {method} {template}"
                        );
                    }
                    checked += 1;
                }
            }
            assert!(checked > 20, "{name}: {checked}");
        }
    });
}

/// Every route the source registers (`route("…", web::<method>())` and `web::resource("…")`
/// under its module's scope) is in its service's document: a route added without documentation
/// fails here. `/openapi.json` (the document itself) and the console's `/admin` files are the
/// only routes outside the documents.
#[test]
fn every_route_in_the_source_is_documented() {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let read = |p: &str| std::fs::read_to_string(format!("{src}/{p}")).unwrap();
    let mut files: Vec<(String, &str, &str)> = vec![
        (read("validation.rs"), "", "validation"),
        (read("ops.rs"), "", "both"),
    ];
    for entry in std::fs::read_dir(format!("{src}/admin")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let scope = match name.as_str() {
            "sessions.rs" | "links.rs" => "/v1/auth",
            "operators.rs" => "/v1/operators",
            _ => "/v1/{env}",
        };
        files.push((std::fs::read_to_string(&path).unwrap(), scope, "admin"));
    }
    let docs: Vec<(&str, serde_json::Value)> = vec![
        (
            "validation",
            serde_json::from_str(&license_http::validation_openapi()).unwrap(),
        ),
        (
            "admin",
            serde_json::from_str(&license_http::admin_openapi()).unwrap(),
        ),
    ];
    let mut found = 0;
    for (text, scope, service) in &files {
        // Each `route("/path", web::method()` or `resource("/path")…route(web::method()`.
        for (i, _) in text
            .match_indices("route(\"")
            .chain(text.match_indices("resource(\""))
        {
            let start = text[i..].find('"').unwrap() + i + 1;
            let end = start + text[start..].find('"').unwrap();
            let path = format!("{scope}{}", &text[start..end]);
            if path.ends_with("/openapi.json")
                || path.starts_with("/admin")
                || path.contains("{path")
            {
                continue;
            }
            let method = ["get", "post", "put", "patch", "delete"]
                .into_iter()
                .filter_map(|m| text[end..].find(&format!("web::{m}()")).map(|at| (at, m)))
                .min()
                .unwrap()
                .1;
            let documented = docs
                .iter()
                .filter(|(n, _)| *service == "both" || n == service)
                .any(|(_, d)| d["paths"][path.as_str()].get(method).is_some());
            assert!(
                documented,
                "{service}: {} {path} is served but not documented",
                method.to_uppercase()
            );
            found += 1;
        }
    }
    assert!(found > 60, "the scan found {found} routes");
}

/// The webhook URL rule the server checks (`egress::url_shape`) is the pattern the document
/// states: one definition.
#[test]
fn the_documented_webhook_url_pattern_is_the_servers() {
    let doc: serde_json::Value = serde_json::from_str(&license_http::admin_openapi()).unwrap();
    for body in ["WebhookBody", "WebhookPatchBody"] {
        let documented = &doc["components"]["schemas"][body]["properties"]["url"];
        let pattern = documented["pattern"].as_str().or_else(|| {
            documented["oneOf"]
                .as_array()?
                .iter()
                .find_map(|s| s["pattern"].as_str())
        });
        assert_eq!(
            pattern,
            Some(license_http::egress::URL_PATTERN),
            "{body}: {documented}"
        );
    }
}
