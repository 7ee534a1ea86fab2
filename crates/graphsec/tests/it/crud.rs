use crate::support::*;
use graphsec::config::AuthChoice;
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    documented_update_example_answers_200_with_every_property,
    create_answers_201_with_location_etag_and_the_full_entity,
    client_chosen_ids_are_kept_and_conflict_once_taken,
    get_routes_case_insensitively_and_by_odata_key_syntax,
    patch_follows_partial_update_rules,
    patch_honours_prefer,
    delete_removes_and_then_answers_404,
    gzip_request_bodies_are_inflated,
    every_response_carries_request_ids,
    auth_off_serves_every_tenant_without_a_token,
    auth_off_patch_moves_a_profile_to_another_tenant_unless_the_id_is_taken_there,
    service_document_and_health
);

disk_backend_tests!(data_survives_a_restart);

const DECLARED: [&str; 11] = [
    "id",
    "accounts",
    "azureSubscriptionId",
    "azureTenantId",
    "createdDateTime",
    "displayName",
    "lastModifiedDateTime",
    "riskScore",
    "tags",
    "userPrincipalName",
    "vendorInformation",
];

/// The request body of Microsoft's "Update userSecurityProfile" page, as published.
const DOC_EXAMPLE: &str = r##"{
  "@odata.type": "#microsoft.graph.userSecurityProfile",
  "accounts": [
    {
      "@odata.type": "microsoft.graph.userAccount",
      "displayName": "Display Name value",
      "lastSeenDateTime": "2016-12-31T23:59:38.861959+03:00",
      "riskScore": "Risk Score value",
      "service": "Service value",
      "signinName": "Signin Name value",
      "status": "String"
    }
  ],
  "azureSubscriptionId": "Azure Subscription Id value",
  "azureTenantId": "Azure Tenant Id value",
  "displayName": "Display Name value",
  "riskScore": "Risk Score value",
  "tags": [
    "Tags value"
  ],
  "userPrincipalName": "User Principal Name value",
  "vendorInformation": {
    "@odata.type": "microsoft.graph.securityVendorInformation",
    "provider": "Provider value",
    "providerVersion": "Provider Version value",
    "subProvider": "Sub Provider value",
    "vendor": "Vendor value"
  }
}"##;

async fn documented_update_example_answers_200_with_every_property(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = "Azure Tenant Id value";
    let token = server.token(tenant, READ_WRITE);
    let created = server.create(&token, json!({"displayName": "before", "tags": ["old"]})).await;
    let id = created["id"].as_str().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2));

    let response = server
        .request(Method::PATCH, &format!("/beta/Security/userSecurityProfiles/{id}"), &token)
        .header("content-type", "application/json")
        .body(DOC_EXAMPLE)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let example: Value = serde_json::from_str(DOC_EXAMPLE).unwrap();
    for name in ["azureSubscriptionId", "azureTenantId", "displayName", "riskScore", "tags", "userPrincipalName"] {
        assert_eq!(body[name], example[name], "{name}");
    }
    let account = &body["accounts"][0];
    for name in ["displayName", "riskScore", "service", "signinName", "status"] {
        assert_eq!(account[name], example["accounts"][0][name], "accounts/{name}");
    }
    // The same instant, in UTC with seven fractional digits.
    assert_eq!(account["lastSeenDateTime"], "2016-12-31T20:59:38.8619590Z");
    for name in ["provider", "providerVersion", "subProvider", "vendor"] {
        assert_eq!(body["vendorInformation"][name], example["vendorInformation"][name], "vendorInformation/{name}");
    }
    assert_eq!(body["id"], created["id"]);
    assert_eq!(body["createdDateTime"], created["createdDateTime"]);
    assert!(body["lastModifiedDateTime"].as_str().unwrap() > created["lastModifiedDateTime"].as_str().unwrap());
    assert_eq!(body["@odata.type"], "#microsoft.graph.userSecurityProfile");
}

async fn create_answers_201_with_location_etag_and_the_full_entity(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let response = server
        .request(Method::POST, COLLECTION, &token)
        .json(&json!({"userPrincipalName": "alex@contoso.com", "createdDateTime": "2020-01-01T05:00:00.1234567+05:00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let headers = response.headers().clone();
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json;odata.metadata=minimal"));
    assert_eq!(headers["odata-version"], "4.0");
    assert_eq!(headers["etag"], "W/\"1\"");
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    assert_eq!(headers["location"].to_str().unwrap(), server.url(&item(id)));
    assert_eq!(body["@odata.context"], format!("{}/beta/$metadata#security/userSecurityProfiles/$entity", server.base));
    assert_eq!(body["@odata.etag"], "W/\"1\"");
    let members: Vec<&str> =
        body.as_object().unwrap().keys().map(String::as_str).filter(|k| !k.starts_with('@')).collect();
    assert_eq!(members, DECLARED, "every declared property, in CSDL order, explicit nulls included");
    assert_eq!(body["displayName"], Value::Null);
    assert_eq!(body["azureTenantId"], TENANT_A);
    assert_eq!(body["createdDateTime"], "2020-01-01T00:00:00.1234567Z");
    let modified = body["lastModifiedDateTime"].as_str().unwrap();
    assert_eq!(modified.len(), 28);
    assert!(modified.ends_with('Z'));

    // The Location answers with the same entity.
    let fetched: Value = server.get_json(&item(id), &token).await;
    assert_eq!(fetched["userPrincipalName"], "alex@contoso.com");
}

async fn client_chosen_ids_are_kept_and_conflict_once_taken(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let body = server.create(&token, json!({"id": "Profile-1"})).await;
    assert_eq!(body["id"], "Profile-1");
    let response =
        server.request(Method::POST, COLLECTION, &token).json(&json!({"id": "Profile-1"})).send().await.unwrap();
    expect_error(response, 409, "nameAlreadyExists").await;
    // Ids are case-sensitive.
    let response = server.request(Method::GET, &item("profile-1"), &token).send().await.unwrap();
    expect_error(response, 404, "itemNotFound").await;
    // Another tenant may use the same id without learning anything.
    let other = server.token(TENANT_B, READ_WRITE);
    assert_eq!(server.create(&other, json!({"id": "Profile-1"})).await["azureTenantId"], TENANT_B);
}

async fn get_routes_case_insensitively_and_by_odata_key_syntax(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "a b/c'd", "displayName": "x"})).await;
    for path in [
        "/beta/security/userSecurityProfiles/a%20b%2Fc'd",
        "/BETA/Security/UserSecurityProfiles/a%20b%2Fc'd",
        "/beta/security/userSecurityProfiles('a%20b%2Fc''d')",
    ] {
        let response = server.request(Method::GET, path, &token).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["etag"], "W/\"1\"");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["displayName"], "x");
        assert!(body.get("value").is_none(), "a single entity is never wrapped");
    }
}

async fn patch_follows_partial_update_rules(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let created = server
        .create(
            &token,
            json!({"id": "p", "displayName": "Alex", "riskScore": "10", "tags": ["a", "b"],
                   "vendorInformation": {"provider": "P", "vendor": "V"}, "custom": {"nested": [1]}, "drop": 1}),
        )
        .await;
    let patch = json!({
        "@odata.type": "microsoft.graph.userSecurityProfile",
        "id": "p",
        "riskScore": null,
        "tags": ["c"],
        "vendorInformation": {"@odata.type": "#microsoft.graph.securityVendorInformation", "vendor": "W"},
        "drop": null,
        "added": "yes",
        "createdDateTime": "1999-01-01T00:00:00Z",
        "lastModifiedDateTime": "1999-01-01T00:00:00Z",
        "@odata.etag": "W/\"1\""
    });
    let response = server.request(Method::PATCH, &item("p"), &token).json(&patch).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "W/\"2\"");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["displayName"], "Alex", "absent members are untouched");
    assert_eq!(body["riskScore"], Value::Null, "null replaces");
    assert_eq!(body["tags"], json!(["c"]), "collections are replaced whole");
    assert_eq!(
        body["vendorInformation"],
        json!({"provider": "P", "providerVersion": null, "subProvider": null, "vendor": "W"})
    );
    assert_eq!(body["custom"], json!({"nested": [1]}));
    assert_eq!(body["added"], "yes");
    assert!(body.get("drop").is_none(), "null removes a dynamic property");
    assert_eq!(body["createdDateTime"], created["createdDateTime"]);
    assert!(body["lastModifiedDateTime"].as_str().unwrap() > created["lastModifiedDateTime"].as_str().unwrap());
    assert_eq!(body["@odata.etag"], "W/\"2\"");

    // The change is durable and visible to a read.
    let fetched: Value = server.get_json(&item("p"), &token).await;
    assert_eq!(fetched, body);
}

async fn patch_honours_prefer(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "p"})).await;
    let response = server
        .request(Method::PATCH, &item("p"), &token)
        .header("Prefer", "return=minimal")
        .json(&json!({"displayName": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(response.headers()["preference-applied"], "return=minimal");
    assert_eq!(response.headers()["etag"], "W/\"2\"");
    assert!(response.bytes().await.unwrap().is_empty());

    let response = server
        .request(Method::PATCH, &item("p"), &token)
        .header("Prefer", "return=representation")
        .json(&json!({"displayName": "r"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["preference-applied"], "return=representation");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["displayName"], "r");

    // A create without a body names what it created in OData-EntityId, as in Location.
    let response = server
        .request(Method::POST, COLLECTION, &token)
        .header("Prefer", "return=minimal")
        .json(&json!({"id": "a b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(response.headers()["location"].to_str().unwrap().ends_with("/userSecurityProfiles/a%20b"));
    assert_eq!(response.headers()["odata-entityid"], response.headers()["location"]);
    assert!(
        !server
            .request(Method::POST, COLLECTION, &token)
            .json(&json!({"id": "c"}))
            .send()
            .await
            .unwrap()
            .headers()
            .contains_key("odata-entityid"),
        "an answer with the entity has no OData-EntityId"
    );
}

/// No answer may be cached by a client or a proxy: each depends on the caller's token.
#[tokio::test]
async fn answers_are_not_to_be_cached() {
    let server = TestServer::start(Backend::Sqlite).await;
    let token = server.token(TENANT_A, READ_WRITE);
    for (path, token) in [(COLLECTION, token.as_str()), (item("missing").as_str(), token.as_str()), (COLLECTION, "bad")]
    {
        let response = server.request(Method::GET, path, token).send().await.unwrap();
        assert_eq!(response.headers()["cache-control"], "no-cache", "{path} {}", response.status());
        assert!(!response.headers().contains_key("strict-transport-security"), "not over plain HTTP");
    }
}

async fn delete_removes_and_then_answers_404(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "gone", "tags": ["x"]})).await;
    let response = server.request(Method::DELETE, &item("gone"), &token).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());
    for method in [Method::GET, Method::DELETE] {
        let response = server.request(method, &item("gone"), &token).send().await.unwrap();
        expect_error(response, 404, "itemNotFound").await;
    }
    let response = server.request(Method::PATCH, &item("gone"), &token).json(&json!({})).send().await.unwrap();
    expect_error(response, 404, "itemNotFound").await;
    // The id can be used again.
    server.create(&token, json!({"id": "gone"})).await;
}

async fn gzip_request_bodies_are_inflated(backend: Backend) {
    use std::io::Write;
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(br#"{"displayName": "zipped"}"#).unwrap();
    let response = server
        .request(Method::POST, COLLECTION, &token)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(encoder.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.json::<Value>().await.unwrap()["displayName"], "zipped");
}

async fn every_response_carries_request_ids(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let response = server
        .request(Method::GET, COLLECTION, &token)
        .header("client-request-id", "my-correlation-id")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["client-request-id"], "my-correlation-id");
    let request_id = response.headers()["request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(request_id).is_ok());

    let response = server.client.get(server.url("/beta/nowhere")).send().await.unwrap();
    let request_id = response.headers()["request-id"].to_str().unwrap().to_string();
    assert_eq!(response.headers()["client-request-id"].to_str().unwrap(), request_id);
}

async fn data_survives_a_restart(backend: Backend) {
    let fixture = Fixture::new(backend);
    let server = TestServer::start_config(fixture.config(AuthChoice::Local)).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "kept", "tags": ["t"]})).await;
    server.request(Method::PATCH, &item("kept"), &token).json(&json!({"displayName": "v2"})).send().await.unwrap();
    server.stop().await;

    let server = TestServer::start_config(fixture.config(AuthChoice::Local)).await;
    let response = server.request(Method::GET, &item("kept"), &token).send().await.unwrap();
    assert_eq!(response.status(), 200, "the old token still verifies: the key lives in the data dir");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["displayName"], "v2");
    assert_eq!(body["@odata.etag"], "W/\"2\"");
}

async fn auth_off_serves_every_tenant_without_a_token(backend: Backend) {
    let server = TestServer::start_with(backend, AuthChoice::Off).await;
    let response = server.client.post(server.url(COLLECTION)).json(&json!({"id": "e"})).send().await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.json::<Value>().await.unwrap()["azureTenantId"], TENANT_A);
    let response = server
        .client
        .post(server.url(COLLECTION))
        .json(&json!({"id": "f", "azureTenantId": TENANT_B}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let list: Value = server.client.get(server.url(COLLECTION)).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["value"].as_array().unwrap().len(), 2);
}

async fn auth_off_patch_moves_a_profile_to_another_tenant_unless_the_id_is_taken_there(backend: Backend) {
    let server = TestServer::start_with(backend, AuthChoice::Off).await;
    let patch = |body: Value| server.client.patch(server.url(&item("m"))).json(&body).send();
    let response = server.client.post(server.url(COLLECTION)).json(&json!({"id": "m"})).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let response = patch(json!({"azureTenantId": TENANT_B, "displayName": "moved"})).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["azureTenantId"], TENANT_B);
    assert_eq!(body["displayName"], "moved");
    assert_eq!(body["@odata.etag"], "W/\"2\"");
    let list: Value = server.client.get(server.url(COLLECTION)).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["value"].as_array().unwrap().len(), 1, "moved, not copied");

    // Tenant A gets an "m" of its own; moving that one to B, which has "m" already, is a conflict.
    let response = server.client.post(server.url(COLLECTION)).json(&json!({"id": "m"})).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let response = patch(json!({"azureTenantId": TENANT_B})).await.unwrap();
    expect_error(response, 409, "nameAlreadyExists").await;
}

async fn service_document_and_health(backend: Backend) {
    let server = TestServer::start(backend).await;
    let response = server.client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let response = server.client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = server.client.get(server.url("/beta/")).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["value"][0]["name"], "security");
    assert_eq!(body["@odata.context"], format!("{}/beta/$metadata", server.base));
}

/// A collection is never null: absent, it is written `[]`; a null for one is refused in
/// ODataLib's words; and profiles stored with null collections before are read with `[]`.
#[tokio::test]
async fn collections_are_never_null() {
    let fixture = Fixture::new(Backend::Sqlite);
    let server = TestServer::start_config(fixture.config(graphsec::config::AuthChoice::Local)).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let created = server.create(&token, json!({"id": "p"})).await;
    assert_eq!((&created["tags"], &created["accounts"]), (&json!([]), &json!([])));
    let refused = server.request(Method::PATCH, &item("p"), &token).json(&json!({"tags": null})).send().await.unwrap();
    let body = expect_error(refused, 400, "BadRequest").await;
    assert_eq!(
        body["error"]["message"],
        "A null value was found for the property named 'tags', which has the expected type \
         'Collection(Edm.String)[Nullable=False]'. The expected type 'Collection(Edm.String)[Nullable=False]' \
         does not allow null values."
    );
    server.stop().await;

    // A data directory written before: its profile has null collections, and the migration that
    // makes them [] (nor any later one) has not run yet. Migration 6 adds columns, so it is undone
    // to run again; 4 and 5 run again as they are.
    let database = fixture.temp.path().join("graphsec.sqlite3");
    let conn = rusqlite::Connection::open(&database).unwrap();
    conn.execute_batch(
        r#"UPDATE profiles SET doc = replace(replace(doc, '"tags":[]', '"tags":null'), '"accounts":[]', '"accounts":null');
           ALTER TABLE audit_log DROP COLUMN prev; ALTER TABLE profiles DROP COLUMN audit_head; DROP TABLE audit_heads;
           PRAGMA user_version = 3;"#,
    )
    .unwrap();
    drop(conn);
    let server = TestServer::start_config(fixture.config(graphsec::config::AuthChoice::Local)).await;
    let read: Value = server.get_json(&item("p"), &token).await;
    assert_eq!((&read["tags"], &read["accounts"]), (&json!([]), &json!([])), "{read}");
    assert_eq!(read["@odata.etag"], created["@odata.etag"], "the version is the same");
    server.stop().await;
}

/// The PostgreSQL migration rewrites null collections stored before, in the sent text and in
/// the JSONB its filters read.
#[tokio::test]
#[cfg_attr(not(graphsec_test_postgres), ignore = "needs GRAPHSEC_TEST_POSTGRES")]
async fn postgres_rewrites_null_collections_stored_before() {
    use sqlx::Connection;
    let fixture = Fixture::new(Backend::Postgres);
    let server = TestServer::start_config(fixture.config(AuthChoice::Local)).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let created = server.create(&token, json!({"id": "p"})).await;
    server.stop().await;

    let schema = fixture.schema().expect("a PostgreSQL fixture");
    let mut admin = sqlx::PgConnection::connect(&required_postgres_url()).await.unwrap();
    let rewind = format!(
        r#"SET search_path TO "{schema}";
           UPDATE profiles SET wire = replace(replace(wire, '"tags":[]', '"tags":null'), '"accounts":[]', '"accounts":null'),
                               doc = doc || '{{"tags": null, "accounts": null}}'::jsonb;
           DELETE FROM graphsec_migrations WHERE version >= 4;"#
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(rewind)).execute(&mut admin).await.unwrap();

    let server = TestServer::start_config(fixture.config(AuthChoice::Local)).await;
    let read: Value = server.get_json(&item("p"), &token).await;
    assert_eq!((&read["tags"], &read["accounts"]), (&json!([]), &json!([])), "{read}");
    assert_eq!(read["@odata.etag"], created["@odata.etag"], "the version is the same");
    let empty: Value = server.get_json(&format!("{COLLECTION}?$filter=tags/$count eq 0"), &token).await;
    assert_eq!(empty["value"][0]["id"], "p", "the JSONB copy reads [] too");
    server.stop().await;
}
