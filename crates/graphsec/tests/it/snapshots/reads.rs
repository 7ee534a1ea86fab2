//! Reads: the entity, list pages, `$select`, `$count`, and the service's own documents.

use super::*;

backend_tests!(entity_and_select, list_pages, count_and_service_documents);

async fn entity_and_select(backend: Backend) {
    let (server, token) = seeded(backend).await;
    pin_exchange(&server, "get_entity", Ask::get(item("alex")).token(&token)).await;
    let select = Ask::get(format!("{}?$select=displayName,tags", item("alex"))).token(&token);
    pin_exchange(&server, "get_entity_select", select).await;
    // A client-request-id of the client's own is echoed instead of the request-id.
    let echoed = Ask::get(item("bea")).token(&token).header("client-request-id", "client-chosen-id-1");
    pin_exchange(&server, "get_entity_client_request_id", echoed).await;
}

async fn list_pages(backend: Backend) {
    let (server, token) = seeded(backend).await;
    let first = Ask::get(format!("{COLLECTION}?$count=true&$top=2")).token(&token);
    let answer = pin_exchange(&server, "list_count_next_link", first).await;
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let next = body["@odata.nextLink"].as_str().unwrap().trim_start_matches(&format!("http://{HOST}")).to_string();
    pin_exchange(&server, "list_last_page", Ask::get(next).token(&token)).await;
    let max_page_size = Ask::get(COLLECTION).token(&token).header("prefer", "odata.maxpagesize=1");
    pin_exchange(&server, "list_prefer_maxpagesize", max_page_size).await;
    let select =
        Ask::get(format!("{COLLECTION}?$select=displayName,tags&$filter=displayName ne null&$orderby=id desc"))
            .token(&token);
    pin_exchange(&server, "list_select_filter_orderby", select).await;
    let empty = Ask::get(format!("{COLLECTION}?$filter=displayName eq 'nobody'")).token(&token);
    pin_exchange(&server, "list_empty", empty).await;
}

async fn count_and_service_documents(backend: Backend) {
    let (server, token) = seeded(backend).await;
    pin_exchange(&server, "count", Ask::get(format!("{COLLECTION}/$count")).token(&token)).await;
    pin_exchange(&server, "service_document", Ask::get("/beta").token(&token)).await;
    pin_exchange(&server, "security_singleton", Ask::get("/beta/security").token(&token)).await;
    pin_exchange(&server, "metadata", Ask::get("/beta/$metadata")).await;
    pin_exchange(&server, "healthz", Ask::get("/healthz")).await;
    pin_exchange(&server, "readyz", Ask::get("/readyz")).await;
    pin_exchange(&server, "openapi", Ask::get("/openapi.json")).await;
}

/// The head exactly as the transport writes it: names in lowercase, in this order, with framing.
#[tokio::test]
async fn a_head_on_the_socket() {
    let server = TestServer::start(Backend::Sqlite).await;
    let answer =
        raw_exchange(&server, "GET /healthz HTTP/1.1\r\nHost: graphsec.test\r\nConnection: close\r\n\r\n").await;
    pin_raw("raw_healthz", &answer);
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, serde_json::json!({"id": "p"})).await;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: graphsec.test\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n",
        item("p")
    );
    pin_raw("raw_get_entity", &raw_exchange(&server, &request).await);
}
