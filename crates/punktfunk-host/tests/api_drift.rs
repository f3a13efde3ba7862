//! `api/openapi.json` is generated: it must be exactly what `punktfunk-host openapi` prints, so a
//! route or schema change cannot land without the checked-in document (what clients build against).

use std::path::Path;

#[test]
fn checked_in_openapi_document_matches_the_code() {
    let printed = punktfunk_host::mgmt::openapi::document_pretty().expect("OpenAPI document");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../api/openapi.json");
    let checked_in = std::fs::read(&path).unwrap_or_default();
    if printed.as_bytes() != checked_in {
        let generated = printed.as_str();
        let stored = String::from_utf8_lossy(&checked_in);
        let first = generated
            .lines()
            .zip(stored.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "one is a prefix of the other".to_string(),
                |i| format!("first difference at line {}", i + 1),
            );
        panic!(
            "api/openapi.json is out of date ({first}).\n\
             run: cargo run -p punktfunk-host -- openapi > api/openapi.json"
        );
    }
    let doc: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}
