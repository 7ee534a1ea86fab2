//! `$batch`: the envelope and every kind of item answer, including the errors of single items.

use super::*;

backend_tests!(a_batch_of_every_item_status, item_errors_and_batch_errors);

fn batch(token: &str, body: &str) -> Ask {
    Ask::new(Method::POST, "/beta/$batch").token(token).json(body)
}

/// 201, 200, 204 (Prefer: return=minimal), 404, 424 (dependsOn a failed item), 200 with a
/// non-JSON body (base64), and an item with its own client-request-id.
const EVERY_STATUS: &str = r#"{"requests": [
    {"id": "1", "method": "POST", "url": "/security/userSecurityProfiles", "headers": {"Content-Type": "application/json"}, "body": {"id": "batched", "displayName": "one"}},
    {"id": "2", "method": "GET", "url": "/security/userSecurityProfiles/batched", "dependsOn": ["1"], "headers": {"client-request-id": "item-2"}},
    {"id": "3", "method": "PATCH", "url": "/security/userSecurityProfiles/batched", "dependsOn": ["2"], "headers": {"Content-Type": "application/json", "Prefer": "return=minimal"}, "body": {"displayName": "two"}},
    {"id": "4", "method": "GET", "url": "/security/userSecurityProfiles/missing"},
    {"id": "5", "method": "DELETE", "url": "/security/userSecurityProfiles/batched", "dependsOn": ["4"]},
    {"id": "6", "method": "GET", "url": "/security/userSecurityProfiles/$count", "dependsOn": ["3"]},
    {"id": "7", "method": "DELETE", "url": "/security/userSecurityProfiles/batched", "dependsOn": ["6"]}
]}"#;

async fn a_batch_of_every_item_status(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let answer = pin_exchange(&server, "batch_every_item_status", batch(&token, EVERY_STATUS)).await;
    assert_eq!(answer.status(), 200);
}

/// Items refused one by one (403, 405, 400, 409, 412, 400 of a bad body) inside a 200 batch, and
/// batches refused as a whole.
async fn item_errors_and_batch_errors(backend: Backend) {
    let server = TestServer::start(backend).await;
    let writer = server.token(TENANT_A, READ_WRITE);
    server.create(&writer, serde_json::json!({"id": "p"})).await;
    let reader = server.token(TENANT_A, READ);
    let items = r#"{"requests": [
        {"id": "r", "method": "GET", "url": "/security/userSecurityProfiles/p?$select=id"},
        {"id": "w", "method": "DELETE", "url": "/security/userSecurityProfiles/p"},
        {"id": "m", "method": "PUT", "url": "/security/userSecurityProfiles/p"},
        {"id": "s", "method": "GET", "url": "/security/nothing"}
    ]}"#;
    pin_exchange(&server, "batch_item_errors_read_only", batch(&reader, items)).await;
    let writes = r#"{"requests": [
        {"id": "dup", "method": "POST", "url": "/security/userSecurityProfiles", "headers": {"Content-Type": "application/json"}, "body": {"id": "p"}},
        {"id": "stale", "method": "PATCH", "url": "/security/userSecurityProfiles/p", "headers": {"Content-Type": "application/json", "If-Match": "W/\"9\""}, "body": {}},
        {"id": "bad", "method": "PATCH", "url": "/security/userSecurityProfiles/p", "headers": {"Content-Type": "application/json"}, "body": {"displayName": 1}}
    ]}"#;
    pin_exchange(&server, "batch_item_errors_writes", batch(&writer, writes)).await;

    let cycle = r#"{"requests": [
        {"id": "a", "method": "GET", "url": "/security/userSecurityProfiles", "dependsOn": ["b"]},
        {"id": "b", "method": "GET", "url": "/security/userSecurityProfiles", "dependsOn": ["a"]}
    ]}"#;
    pin_exchange(&server, "batch_400_invalid", batch(&writer, cycle)).await;
    pin_exchange(&server, "batch_400_not_json", batch(&writer, "{not json")).await;
    let anonymous = Ask::new(Method::POST, "/beta/$batch").json(r#"{"requests": []}"#);
    pin_exchange(&server, "batch_401_no_token", anonymous).await;
    pin_exchange(&server, "batch_405_get", Ask::get("/beta/$batch").token(&writer)).await;
}
