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
        "/metrics",
    ] {
        assert!(
            doc["paths"].get(route).is_some(),
            "{route} missing from the OpenAPI document"
        );
    }
    let db = TestDb::sqlite();
    block_on(async {
        let app = TestApp::new(&[&db]);
        let served = app.get("/openapi.json").await;
        assert_eq!(served.body, doc);
    });
}
