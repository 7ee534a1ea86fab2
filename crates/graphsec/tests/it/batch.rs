//! docs/batching.md: JSON batching.

use crate::support::*;
use base64::Engine;
use graphsec::config::AuthChoice;
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    a_batch_runs_every_operation_in_dependency_order,
    failed_dependencies_are_424_and_items_are_authorised_alone,
    malformed_batches_are_400_as_a_whole,
    an_item_url_is_absolute_only_when_it_starts_with_a_scheme,
    items_are_throttled_one_by_one
);

async fn batch(server: &TestServer, token: &str, body: Value) -> (u16, Value) {
    let response = server.request(Method::POST, "/beta/$batch", token).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn by_id<'a>(responses: &'a Value, id: &str) -> &'a Value {
    responses["responses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no response {id}"))
}

async fn a_batch_runs_every_operation_in_dependency_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let encoded = base64::engine::general_purpose::STANDARD.encode(br#"{"id": "b64", "tags": ["x"]}"#);
    let (status, body) = batch(
        &server,
        &token,
        json!({"requests": [
            {"id": "4", "method": "GET", "url": "/security/userSecurityProfiles/$count", "dependsOn": ["3", "1"]},
            {"id": "1", "method": "POST", "url": "/security/userSecurityProfiles",
             "headers": {"Content-Type": "application/json"}, "body": {"id": "batched", "displayName": "one"}},
            {"id": "2", "method": "PATCH", "url": "security/userSecurityProfiles/batched", "dependsOn": ["1"],
             "headers": {"content-type": "application/json", "client-request-id": "item-2"}, "body": {"displayName": "two"}},
            {"id": "3", "method": "post", "url": "security/userSecurityProfiles",
             "headers": {"Content-Type": "application/json"}, "body": encoded},
            {"id": "5", "method": "GET", "url": "/security/userSecurityProfiles?$filter=displayName eq 'two'&$select=id", "dependsOn": ["2"]},
            {"id": "6", "method": "DELETE", "url": format!("{}/beta/security/userSecurityProfiles/b64", server.base), "dependsOn": ["4"]}
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["responses"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["4", "1", "2", "3", "5", "6"], "responses keep request order");
    assert_eq!(by_id(&body, "1")["status"], 201);
    assert_eq!(by_id(&body, "1")["body"]["displayName"], "one");
    assert!(by_id(&body, "1")["headers"]["Location"].as_str().unwrap().ends_with("/userSecurityProfiles/batched"));
    assert_eq!(by_id(&body, "2")["status"], 200);
    assert_eq!(by_id(&body, "2")["body"]["displayName"], "two");
    assert_eq!(by_id(&body, "2")["headers"]["client-request-id"], "item-2");
    assert_eq!(by_id(&body, "3")["status"], 201);
    assert_eq!(by_id(&body, "3")["body"]["tags"], json!(["x"]));
    assert_eq!(by_id(&body, "4")["status"], 200);
    assert_eq!(by_id(&body, "4")["body"], "Mg==", "non-JSON bodies are base64, as Graph sends them");
    assert_eq!(
        by_id(&body, "5")["body"]["value"],
        json!([{"@odata.type": "#microsoft.graph.userSecurityProfile", "@odata.etag": "W/\"2\"", "id": "batched"}])
    );
    assert_eq!(by_id(&body, "6")["status"], 204);
    assert!(by_id(&body, "6").get("body").is_none());
    // The writes happened.
    let fetched: Value = server.get_json(&item("batched"), &token).await;
    assert_eq!(fetched["displayName"], "two");
}

async fn failed_dependencies_are_424_and_items_are_authorised_alone(backend: Backend) {
    let server = TestServer::start(backend).await;
    let writer = server.token(TENANT_A, READ_WRITE);
    server.create(&writer, json!({"id": "p"})).await;
    let (status, body) = batch(
        &server,
        &writer,
        json!({"requests": [
            {"id": "a", "method": "GET", "url": "/security/userSecurityProfiles/missing"},
            {"id": "b", "method": "PATCH", "url": "/security/userSecurityProfiles/p", "dependsOn": ["a"],
             "headers": {"Content-Type": "application/json"}, "body": {"displayName": "never"}},
            {"id": "c", "method": "GET", "url": "/security/userSecurityProfiles/p", "dependsOn": ["b"]},
            {"id": "d", "method": "PUT", "url": "/security/userSecurityProfiles/p"},
            {"id": "e", "method": "GET", "url": "/security/nothing"}
        ]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(by_id(&body, "a")["status"], 404);
    assert_eq!(by_id(&body, "a")["body"]["error"]["code"], "itemNotFound");
    assert_eq!(by_id(&body, "b")["status"], 424);
    assert_eq!(by_id(&body, "c")["status"], 424, "a failed dependency fails its dependents in turn");
    assert_eq!(by_id(&body, "d")["status"], 405);
    assert_eq!(by_id(&body, "e")["status"], 400);
    let fetched: Value = server.get_json(&item("p"), &writer).await;
    assert_eq!(fetched["displayName"], Value::Null, "the dependent PATCH never ran");

    let reader = server.token(TENANT_A, READ);
    let (_, body) = batch(
        &server,
        &reader,
        json!({"requests": [
            {"id": "r", "method": "GET", "url": "/security/userSecurityProfiles/p"},
            {"id": "w", "method": "DELETE", "url": "/security/userSecurityProfiles/p"}
        ]}),
    )
    .await;
    assert_eq!(by_id(&body, "r")["status"], 200);
    assert_eq!(by_id(&body, "w")["status"], 403);
    // Another tenant's token in an item header sees nothing of tenant A.
    let other = server.token(TENANT_B, READ_WRITE);
    let (_, body) = batch(
        &server,
        &writer,
        json!({"requests": [{"id": "x", "method": "GET", "url": "/security/userSecurityProfiles/p",
                             "headers": {"Authorization": format!("Bearer {other}")}}]}),
    )
    .await;
    assert_eq!(by_id(&body, "x")["status"], 404);
    // Without a token the batch itself is refused.
    let response = server.client.post(server.url("/beta/$batch")).json(&json!({"requests": []})).send().await.unwrap();
    expect_error(response, 401, "InvalidAuthenticationToken").await;
}

/// `://` after something other than a URI scheme (in a query) leaves a URL relative, and a URL is
/// taken as written, without trimming (docs/batching.md §2).
async fn an_item_url_is_absolute_only_when_it_starts_with_a_scheme(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let (status, body) = batch(
        &server,
        &token,
        json!({"requests": [
            {"id": "1", "method": "POST", "url": "security/userSecurityProfiles",
             "headers": {"Content-Type": "application/json"}, "body": {"id": "p", "displayName": "https://a"}},
            {"id": "2", "method": "GET", "dependsOn": ["1"],
             "url": "security/userSecurityProfiles?$filter=displayName eq 'https://a'&$select=id"},
            {"id": "3", "method": "GET", "url": " security/userSecurityProfiles"}
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(by_id(&body, "2")["status"], 200, "{body}");
    assert_eq!(by_id(&body, "2")["body"]["value"][0]["id"], "p", "{body}");
    assert_eq!(by_id(&body, "3")["status"], 400, "the segment ' security' is unknown: {body}");
}

async fn malformed_batches_are_400_as_a_whole(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let get = |id: &str| json!({"id": id, "method": "GET", "url": "/security/userSecurityProfiles"});
    let many: Vec<Value> = (0..21).map(|i| get(&i.to_string())).collect();
    let cases = [
        json!({}),
        json!({"requests": "nope"}),
        json!({"requests": []}),
        json!({"requests": many}),
        json!({"requests": [get("a"), get("A")]}),
        json!({"requests": [{"id": "a", "method": "GET"}]}),
        json!({"requests": [{"id": "a", "url": "/security/userSecurityProfiles"}]}),
        json!({"requests": [{"id": "a", "method": "GET", "url": "/security/userSecurityProfiles", "dependsOn": ["z"]}]}),
        json!({"requests": [
            {"id": "a", "method": "GET", "url": "/security/userSecurityProfiles", "dependsOn": ["b"]},
            {"id": "b", "method": "GET", "url": "/security/userSecurityProfiles", "dependsOn": ["a"]}]}),
        json!({"requests": [{"id": "a", "method": "POST", "url": "/$batch", "headers": {"Content-Type": "application/json"}, "body": {"requests": []}}]}),
        json!({"requests": [{"id": "a", "method": "POST", "url": "/security/userSecurityProfiles", "body": {"id": "x"}}]}),
        json!({"requests": [{"id": "a", "method": "POST", "url": "/security/userSecurityProfiles", "headers": {"Content-Type": "application/json"}, "body": "%%%"}]}),
        json!({"requests": [{"id": "a", "method": "GET", "url": "https://evil.example/beta/security/userSecurityProfiles"}]}),
        json!({"requests": [{"id": "a", "method": "GET", "url": "a://b"}]}),
        json!({"requests": [{"id": "a", "method": "GET", "url": "//security/userSecurityProfiles"}]}),
    ];
    for case in cases {
        let response = server.request(Method::POST, "/beta/$batch", &token).json(&case).send().await.unwrap();
        let body = expect_error(response, 400, "BadRequest").await;
        assert_eq!(body["error"]["innerError"]["code"], "invalidBatchRequest", "{case}");
    }
    let response = server
        .request(Method::POST, "/beta/$batch", &token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(response, 400, "BadRequest").await;
    let response = server.request(Method::GET, "/beta/$batch", &token).send().await.unwrap();
    expect_error(response, 405, "BadRequest").await;
    let count = server
        .request(Method::GET, &format!("{COLLECTION}/$count"), &token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(count, "0", "nothing ran");
}

async fn items_are_throttled_one_by_one(backend: Backend) {
    let fixture = Fixture::new(backend);
    let mut config = fixture.config(AuthChoice::Local);
    config.rate_limit = Some(1);
    config.rate_limit_burst = Some(3);
    let server = TestServer::start_config(config).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let requests: Vec<Value> = (0..6)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/security/userSecurityProfiles"}))
        .collect();
    let (status, body) = batch(&server, &token, json!({ "requests": requests })).await;
    assert_eq!(status, 200);
    let statuses: Vec<u64> =
        body["responses"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 3, "{statuses:?}");
    let throttled = body["responses"].as_array().unwrap().iter().find(|r| r["status"] == 429).unwrap();
    assert!(throttled["headers"]["Retry-After"].as_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(throttled["body"]["error"]["code"], "TooManyRequests");
}
