//! The rules of request bodies, create defaults and PATCH merge, checked on documents.

use super::*;
use serde_json::json;

const NOW: &str = "2024-01-02T03:04:05.0000000Z";

/// The limit is in characters, as `/openapi.json`'s `maxLength` states it.
#[test]
fn ids_and_tenants_are_limited_in_characters() {
    for name in ["id", "azureTenantId"] {
        let longest = "é".repeat(MAX_ID_LEN);
        assert!(parse_input(json!({ name: longest }).to_string().as_bytes()).is_ok(), "{name}");
        let over = "é".repeat(MAX_ID_LEN + 1);
        assert!(parse_input(json!({ name: over }).to_string().as_bytes()).is_err(), "{name}");
    }
}

fn input(v: Value) -> ProfileInput {
    parse_input(v.to_string().as_bytes()).unwrap()
}

fn create(v: Value) -> Map<String, Value> {
    build_new(input(v), "tenant-a", NOW, LastModified::Now).unwrap()
}

/// `apply_patch` on `stored` as a store hands it over (its text), read back from the text it gives.
fn apply_patch(
    stored: &Map<String, Value>,
    body: &ProfileInput,
    url_id: &str,
    now: &str,
) -> Result<Map<String, Value>, PatchError> {
    let text = serde_json::to_string(stored)?;
    let patched = super::apply_patch(&Document::read(&text)?, body, url_id, now)?;
    Ok(serde_json::from_str(&patched.text()?)?)
}

#[test]
fn create_fills_defaults_in_csdl_order() {
    let doc = create(json!({"zeta": 1, "displayName": "Alex", "custom": 5, "tags": ["x"], "alpha": 2}));
    let names: Vec<&str> = doc.keys().map(String::as_str).collect();
    assert_eq!(names[..11], members::names().collect::<Vec<_>>());
    assert_eq!(names[11..], ["zeta", "custom", "alpha"], "dynamic properties keep the client's order");
    assert_eq!(doc["azureTenantId"], "tenant-a");
    assert_eq!(doc["createdDateTime"], NOW);
    assert_eq!(doc["lastModifiedDateTime"], NOW);
    assert_eq!(doc["tags"], json!(["x"]));
    assert_eq!(doc["riskScore"], Value::Null);
    assert!(uuid::Uuid::parse_str(doc["id"].as_str().unwrap()).is_ok());
}

#[test]
fn only_an_import_keeps_the_given_last_modified_time() {
    let body = json!({"createdDateTime": "2020-01-01T00:00:00Z", "lastModifiedDateTime": "2021-01-01T01:00:00+01:00"});
    let posted = create(body.clone());
    assert_eq!(posted["createdDateTime"], "2020-01-01T00:00:00.0000000Z");
    assert_eq!(posted["lastModifiedDateTime"], NOW);
    let imported = build_new(input(body), "tenant-a", NOW, LastModified::AsGiven).unwrap();
    assert_eq!(imported["lastModifiedDateTime"], "2021-01-01T00:00:00.0000000Z");
    let without = build_new(input(json!({"lastModifiedDateTime": null})), "t", NOW, LastModified::AsGiven).unwrap();
    assert_eq!(without["lastModifiedDateTime"], NOW, "null is no time: the import's");
}

#[test]
fn accounts_and_vendor_information_are_completed_with_nulls() {
    let doc = create(json!({
        "accounts": [{"@odata.type": "microsoft.graph.userAccount", "status": "active", "lastSeenDateTime": "2020-01-01T01:00:00+01:00"}],
        "vendorInformation": {"provider": "P"}
    }));
    assert_eq!(
        doc["accounts"],
        json!([{"displayName": null, "lastSeenDateTime": "2020-01-01T00:00:00.0000000Z", "riskScore": null,
                "service": null, "signinName": null, "status": "active"}])
    );
    let account_members: Vec<&str> = doc["accounts"][0].as_object().unwrap().keys().map(String::as_str).collect();
    let declared: Vec<&str> = USER_ACCOUNT.members.iter().map(|m| m.name).collect();
    assert_eq!(account_members, declared, "declared order, whatever order the client used");
    assert_eq!(
        doc["vendorInformation"],
        json!({"provider": "P", "providerVersion": null, "subProvider": null, "vendor": null})
    );
}

#[test]
fn rejects_bad_members() {
    let cases = [
        json!({"displayName": 5}),
        json!({"azureTenantId": null}),
        json!({"tags": ["a", null]}),
        json!({"tags": "a"}),
        json!({"accounts": [{"status": "sleeping"}]}),
        json!({"accounts": [{"nickname": "x"}]}),
        json!({"vendorInformation": {"provider": 1}}),
        json!({"vendorInformation": {"extra": "x"}}),
        json!({"createdDateTime": "not a date"}),
        json!({"@odata.type": "#microsoft.graph.alert"}),
        json!({"DisplayName": "x"}),
        json!({"has space": 1}),
        json!({"foo": 1, "FOO": 2}),
        json!({"id": ""}),
        json!({"displayName": "a\u{0}b"}),
        json!({"custom": {"deep": ["\u{0}"]}}),
        json!([1, 2]),
    ];
    for body in cases {
        assert!(parse_input(body.to_string().as_bytes()).is_err(), "{body}");
    }
    assert_eq!(parse_input(b"{").unwrap_err().inner_code, "invalidJson");
}

#[test]
fn accepts_odata_type_with_or_without_hash_and_ignores_annotations() {
    let doc = create(
        json!({"@odata.type": "#microsoft.graph.userSecurityProfile", "@odata.etag": "W/\"1\"", "tags@odata.type": "x"}),
    );
    assert!(!doc.contains_key("@odata.etag"));
    assert!(parse_input(br#"{"@odata.type": "microsoft.graph.userSecurityProfile"}"#).is_ok());
}

#[test]
fn patch_replaces_collections_merges_vendor_and_keeps_server_members() {
    let stored = create(
        json!({"id": "p1", "tags": ["a", "b"], "vendorInformation": {"provider": "P", "vendor": "V"}, "dyn": 1, "gone": 2}),
    );
    let later = "2024-05-05T00:00:00.0000000Z";
    let doc = apply_patch(
        &stored,
        &input(json!({"id": "p1", "tags": ["c"], "vendorInformation": {"vendor": "W"}, "gone": null, "new": true,
                      "createdDateTime": "2000-01-01T00:00:00Z", "lastModifiedDateTime": "2000-01-01T00:00:00Z", "displayName": null})),
        "p1",
        later,
    )
    .unwrap();
    assert_eq!(doc["tags"], json!(["c"]));
    assert_eq!(
        doc["vendorInformation"],
        json!({"provider": "P", "providerVersion": null, "subProvider": null, "vendor": "W"})
    );
    assert_eq!(doc["createdDateTime"], NOW);
    assert_eq!(doc["lastModifiedDateTime"], later);
    assert_eq!(doc["dyn"], 1);
    assert_eq!(doc["new"], true);
    assert!(!doc.contains_key("gone"));
    assert_eq!(doc["displayName"], Value::Null);
}

#[test]
fn patch_refuses_a_different_id() {
    let stored = create(json!({"id": "p1"}));
    let Err(PatchError::Invalid(err)) = apply_patch(&stored, &input(json!({"id": "p2"})), "p1", NOW) else {
        panic!("a different id is refused")
    };
    assert!(err.message.contains("must match"));
}

#[test]
fn patch_always_advances_last_modified() {
    let stored = create(json!({"id": "p1"}));
    let doc = apply_patch(&stored, &input(json!({})), "p1", NOW).unwrap();
    assert!(doc["lastModifiedDateTime"].as_str().unwrap() > NOW);
}

/// A stored document out of declared order, or missing a declared member, is patched into the
/// same canonical document as its canonical form would be.
#[test]
fn patch_of_a_stored_document_out_of_order_gives_the_canonical_result() {
    let canonical = create(json!({"id": "p1", "displayName": "A", "tags": ["a"], "dyn": 1}));
    let mut shuffled: Map<String, Value> = canonical.iter().rev().map(|(k, v)| (k.clone(), v.clone())).collect();
    shuffled.remove("riskScore");
    let body = input(json!({"displayName": "B", "other": 2}));
    let later = "2024-05-05T00:00:00.0000000Z";
    let from_canonical = apply_patch(&canonical, &body, "p1", later).unwrap();
    let from_shuffled = apply_patch(&shuffled, &body, "p1", later).unwrap();
    assert_eq!(from_shuffled, from_canonical);
    let order = |m: &Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(order(&from_shuffled), order(&from_canonical), "declared order, then the dynamic members");
    assert_eq!(from_shuffled["displayName"], "B");
    assert_eq!(from_shuffled["riskScore"], Value::Null);
}
