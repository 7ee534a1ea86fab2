//! Writes: create, update and delete, with and without each `Prefer` and `If-Match`.

use super::*;

backend_tests!(creates, updates_and_deletes);

fn post(token: &str, body: &str) -> Ask {
    Ask::new(Method::POST, COLLECTION).token(token).json(body)
}

fn patch(token: &str, id: &str, body: &str) -> Ask {
    Ask::new(Method::PATCH, item(id)).token(token).json(body)
}

async fn creates(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    pin_exchange(&server, "create_201", post(&token, FULL_PROFILE)).await;
    pin_exchange(&server, "create_201_generated_id", post(&token, r#"{"displayName": "No Id"}"#)).await;
    let minimal = post(&token, r#"{"id": "quiet"}"#).header("prefer", "return=minimal");
    pin_exchange(&server, "create_prefer_minimal_204", minimal).await;
    let representation = post(&token, r#"{"id": "loud"}"#).header("prefer", "return=representation");
    pin_exchange(&server, "create_prefer_representation_201", representation).await;
    // An id that needs encoding in the Location header and the context URL.
    pin_exchange(&server, "create_201_encoded_id", post(&token, r#"{"id": "a b/c"}"#)).await;
}

async fn updates_and_deletes(backend: Backend) {
    let (server, token) = seeded(backend).await;
    let change = r#"{"displayName": "Alex W.", "tags": ["HVA"], "accounts": [{"status": "suspended"}]}"#;
    pin_exchange(&server, "update_200", patch(&token, "alex", change)).await;
    let representation = patch(&token, "alex", r#"{"riskScore": "10"}"#).header("prefer", "return=representation");
    pin_exchange(&server, "update_prefer_representation_200", representation).await;
    let minimal = patch(&token, "alex", r#"{"riskScore": "20"}"#).header("prefer", "return=minimal");
    pin_exchange(&server, "update_prefer_minimal_204", minimal).await;
    let matching = patch(&token, "bea", r#"{"displayName": "Bea B."}"#).header("if-match", "W/\"1\"");
    pin_exchange(&server, "update_if_match_200", matching).await;
    let delete = Ask::new(Method::DELETE, item("cy")).token(&token).header("if-match", "*");
    pin_exchange(&server, "delete_204", delete).await;
}
