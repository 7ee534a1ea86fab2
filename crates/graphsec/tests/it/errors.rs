//! Every 4xx of docs/errors.md §2: the right status, Graph's error JSON, and nothing changed.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    bad_bodies_are_400_and_change_nothing,
    unknown_segments_and_v1_are_400,
    wrong_methods_are_405,
    content_type_and_encoding_must_be_supported,
    bodies_over_the_limit_are_413_even_when_compressed,
    if_match_guards_patch_and_delete,
    bad_query_options_are_400_invalid_query_option,
    dynamic_names_that_differ_only_by_case_are_400,
    thousands_of_dynamic_members_are_added_and_removed_in_one_patch
);

async fn setup(backend: Backend) -> (TestServer, String) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "p", "displayName": "original", "tags": ["keep"]})).await;
    (server, token)
}

async fn assert_unchanged(server: &TestServer, token: &str) {
    let body: Value = server.get_json(&item("p"), token).await;
    assert_eq!(body["displayName"], "original");
    assert_eq!(body["tags"], json!(["keep"]));
    assert_eq!(body["@odata.etag"], "W/\"1\"");
}

async fn bad_bodies_are_400_and_change_nothing(backend: Backend) {
    let (server, token) = setup(backend).await;
    let cases: [(&str, &str); 16] = [
        ("{", "invalidJson"),
        ("[]", "invalidRequest"),
        ("\"text\"", "invalidRequest"),
        (r#"{"displayName": 1}"#, "invalidPropertyValue"),
        (r#"{"tags": "HVA"}"#, "invalidPropertyValue"),
        (r#"{"tags": [1]}"#, "invalidPropertyValue"),
        (r#"{"tags": null}"#, "invalidPropertyValue"),
        (r#"{"tags": ["a", null]}"#, "invalidPropertyValue"),
        (r#"{"accounts": null}"#, "invalidPropertyValue"),
        (r#"{"accounts": [null]}"#, "invalidPropertyValue"),
        (r#"{"accounts": [{"status": "sleeping"}]}"#, "invalidEnumValue"),
        (r#"{"accounts": [{"lastSeenDateTime": "yesterday"}]}"#, "invalidDateTimeOffset"),
        (r#"{"vendorInformation": {"color": "red"}}"#, "invalidRequest"),
        (r#"{"azureTenantId": null}"#, "invalidRequest"),
        (r#"{"id": "other"}"#, "invalidRequest"),
        (r##"{"@odata.type": "#microsoft.graph.alert"}"##, "invalidODataType"),
    ];
    for (body, inner) in cases {
        let response = server
            .request(Method::PATCH, &item("p"), &token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let error = expect_error(response, 400, "BadRequest").await;
        assert_eq!(error["error"]["innerError"]["code"], inner, "{body}");
    }
    // The same validation guards create.
    let response = server
        .request(Method::POST, COLLECTION, &token)
        .header("content-type", "application/json")
        .body(r#"{"createdDateTime": "2020-13-01T00:00:00Z"}"#)
        .send()
        .await
        .unwrap();
    expect_error(response, 400, "BadRequest").await;
    let response = server
        .request(Method::POST, COLLECTION, &token)
        .header("content-type", "application/json")
        .body("")
        .send()
        .await
        .unwrap();
    expect_error(response, 400, "BadRequest").await;
    assert_unchanged(&server, &token).await;
    let count = server
        .request(Method::GET, &format!("{COLLECTION}/$count"), &token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(count, "1");
}

async fn unknown_segments_and_v1_are_400(backend: Backend) {
    let (server, token) = setup(backend).await;
    for (path, segment) in [
        ("/beta/security/userSecurityProfile", "userSecurityProfile"),
        ("/beta/security/alerts", "alerts"),
        ("/beta/security/userSecurityProfiles/p/accounts", "accounts"),
        ("/v1.0/security/userSecurityProfiles", "security"),
        ("/nothing", "nothing"),
    ] {
        let response = server.request(Method::GET, path, &token).send().await.unwrap();
        let body = expect_error(response, 400, "BadRequest").await;
        assert_eq!(body["error"]["message"], format!("Resource not found for the segment '{segment}'."), "{path}");
    }
}

async fn wrong_methods_are_405(backend: Backend) {
    let (server, token) = setup(backend).await;
    for (method, path) in [
        (Method::PUT, item("p")),
        (Method::POST, item("p")),
        (Method::DELETE, COLLECTION.to_string()),
        (Method::PATCH, COLLECTION.to_string()),
        (Method::POST, format!("{COLLECTION}/$count")),
    ] {
        let response = server.request(method.clone(), &path, &token).json(&json!({})).send().await.unwrap();
        let body = expect_error(response, 405, "BadRequest").await;
        assert_eq!(
            body["error"]["message"], "Specified HTTP method is not allowed for the request target.",
            "{method} {path}"
        );
    }
    assert_unchanged(&server, &token).await;
}

async fn content_type_and_encoding_must_be_supported(backend: Backend) {
    let (server, token) = setup(backend).await;
    for content_type in [None, Some("text/plain"), Some("application/xml")] {
        let mut request = server.request(Method::PATCH, &item("p"), &token).body(r#"{"displayName": "x"}"#);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        expect_error(request.send().await.unwrap(), 415, "BadRequest").await;
    }
    let response = server
        .request(Method::PATCH, &item("p"), &token)
        .header("content-type", "application/json")
        .header("content-encoding", "br")
        .body(r#"{"displayName": "x"}"#)
        .send()
        .await
        .unwrap();
    expect_error(response, 415, "BadRequest").await;
    let response = server
        .request(Method::PATCH, &item("p"), &token)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body("not gzip at all")
        .send()
        .await
        .unwrap();
    expect_error(response, 400, "BadRequest").await;
    // Parameters on the media type are fine.
    let response = server
        .request(Method::PATCH, &item("p"), &token)
        .header("content-type", "application/json; charset=utf-8")
        .header("Prefer", "return=minimal")
        .body(r#"{}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

async fn bodies_over_the_limit_are_413_even_when_compressed(backend: Backend) {
    use std::io::Write;
    let (server, token) = setup(backend).await;
    let big = format!(r#"{{"displayName": "{}"}}"#, "x".repeat(1024 * 1024 + 1));
    let response = server
        .request(Method::PATCH, &item("p"), &token)
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    expect_error(response, 413, "BadRequest").await;

    // A few KiB of gzip that inflate past the limit.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(big.as_bytes()).unwrap();
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 64 * 1024);
    let response = server
        .request(Method::PATCH, &item("p"), &token)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    expect_error(response, 413, "BadRequest").await;
    assert_unchanged(&server, &token).await;
}

async fn if_match_guards_patch_and_delete(backend: Backend) {
    let (server, token) = setup(backend).await;
    for method in [Method::PATCH, Method::DELETE] {
        let response = server
            .request(method.clone(), &item("p"), &token)
            .header("If-Match", "W/\"7\"")
            .json(&json!({"displayName": "lost"}))
            .send()
            .await
            .unwrap();
        let body = expect_error(response, 412, "resourceModified").await;
        assert_eq!(body["error"]["innerError"]["code"], "entityTagDoesNotMatch", "{method}");
        let response = server
            .request(method.clone(), &item("p"), &token)
            .header("If-Match", "seven")
            .json(&json!({"displayName": "lost"}))
            .send()
            .await
            .unwrap();
        let body = expect_error(response, 400, "BadRequest").await;
        assert_eq!(body["error"]["innerError"]["code"], "malformedEntityTag");
    }
    assert_unchanged(&server, &token).await;

    let response = server
        .request(Method::PATCH, &item("p"), &token)
        .header("If-Match", "W/\"1\"")
        .json(&json!({"displayName": "v2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = server
        .request(Method::PATCH, &item("p"), &token)
        .header("If-Match", "*")
        .json(&json!({"displayName": "v3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "W/\"3\"");
    let response =
        server.request(Method::DELETE, &item("p"), &token).header("If-Match", "W/\"3\"").send().await.unwrap();
    assert_eq!(response.status(), 204);
}

async fn bad_query_options_are_400_invalid_query_option(backend: Backend) {
    let (server, token) = setup(backend).await;
    for query in
        ["$top=0", "$top=1001", "$top=x", "$skip=-1", "$count=maybe", "$bogus=1", "$top=1&top=2", "%24skiptoken=forged"]
    {
        let response = server.request(Method::GET, &format!("{COLLECTION}?{query}"), &token).send().await.unwrap();
        let body = expect_error(response, 400, "BadRequest").await;
        assert_eq!(body["error"]["innerError"]["code"], "invalidQueryOption", "{query}");
    }
    for query in ["$expand=accounts", "$search=alex"] {
        let response = server.request(Method::GET, &format!("{COLLECTION}?{query}"), &token).send().await.unwrap();
        let body = expect_error(response, 400, "BadRequest").await;
        assert_eq!(body["error"]["innerError"]["code"], "notSupported", "{query}");
    }
    let response = server.request(Method::GET, &format!("{}?$top=1", item("p")), &token).send().await.unwrap();
    expect_error(response, 400, "BadRequest").await;
    let response = server.request(Method::GET, &format!("{COLLECTION}/$count?$top=1"), &token).send().await.unwrap();
    expect_error(response, 400, "BadRequest").await;
    // Custom (non-OData) parameters are ignored, as Graph does.
    let response = server.request(Method::GET, &format!("{COLLECTION}?tracking=1"), &token).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

/// A GET that carries a body it does not need still gets its whole answer (the body is read and
/// dropped, so the connection is not reset under the response).
#[tokio::test]
async fn an_unused_request_body_does_not_cut_off_the_answer() {
    let server = TestServer::start(Backend::Sqlite).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let name = "n".repeat(200_000);
    for i in 0..5 {
        server.create(&token, json!({"id": format!("big{i}"), "displayName": name})).await;
    }
    for _ in 0..3 {
        let response = server
            .request(Method::GET, &format!("{COLLECTION}?$select=displayName"), &token)
            .header("content-type", "application/json")
            .body(" ".repeat(64 * 1024))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("the whole answer arrives");
        assert_eq!(body["value"].as_array().unwrap().len(), 5);
    }
    let response = server.client.delete(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET");
}

/// The route table and the `Allow` list come from different places; they must agree for every
/// resource and method.
#[tokio::test]
async fn every_resource_answers_exactly_the_methods_it_allows() {
    use graphsec::api::route::Route;
    let (server, token) = setup(Backend::Sqlite).await;
    let routes = [
        ("/beta", Route::ServiceDocument),
        ("/beta/$metadata", Route::Metadata),
        ("/beta/$batch", Route::Batch),
        ("/beta/security", Route::Security),
        (COLLECTION, Route::Collection),
        ("/beta/security/userSecurityProfiles/$count", Route::Count),
        ("/beta/security/userSecurityProfiles/p", Route::Item("p".into())),
    ];
    let methods =
        [Method::GET, Method::HEAD, Method::POST, Method::PATCH, Method::PUT, Method::OPTIONS, Method::DELETE];
    for (path, route) in routes {
        let allowed = route.methods();
        let allow = allowed.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
        for method in &methods {
            let response = server.request(method.clone(), path, &token).json(&json!({})).send().await.unwrap();
            if allowed.contains(method) {
                assert_ne!(response.status(), 405, "{method} {path}");
                continue;
            }
            assert_eq!(response.headers()["allow"], allow.as_str(), "{method} {path}");
            if *method != Method::HEAD {
                expect_error(response, 405, "BadRequest").await;
            } else {
                assert_eq!(response.status(), 405, "{method} {path}");
            }
        }
    }
}

async fn dynamic_names_that_differ_only_by_case_are_400(backend: Backend) {
    let (server, token) = setup(backend).await;
    let send = |method: Method, path: String, body: &'static str| {
        server.request(method, &path, &token).header("content-type", "application/json").body(body).send()
    };
    let response = send(Method::POST, COLLECTION.into(), r#"{"id": "q", "Colour": 1, "colour": 2}"#).await.unwrap();
    let error = expect_error(response, 400, "BadRequest").await;
    assert!(error["error"]["message"].as_str().unwrap().contains("differ only by case"), "{error}");
    server.create(&token, json!({"id": "q", "Colour": 1})).await;
    let response = send(Method::PATCH, item("q"), r#"{"colour": 2}"#).await.unwrap();
    let error = expect_error(response, 400, "BadRequest").await;
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("differs only by case from the stored property 'Colour'"), "{message}");
    // Removing the stored name and adding another spelling in one body is a clash as well.
    let response = send(Method::PATCH, item("q"), r#"{"Colour": null, "COLOUR": 3}"#).await.unwrap();
    expect_error(response, 400, "BadRequest").await;
    let stored: Value = server.get_json(&item("q"), &token).await;
    assert_eq!((stored["Colour"].clone(), stored["@odata.etag"].clone()), (json!(1), json!("W/\"1\"")));
    assert_unchanged(&server, &token).await;
    server.stop().await;
}

/// A body may hold as many members as it has room for; adding, changing and then removing them
/// all costs each member the same, whatever their number.
async fn thousands_of_dynamic_members_are_added_and_removed_in_one_patch(backend: Backend) {
    let (server, token) = setup(backend).await;
    let names: Vec<String> = (0..20_000).map(|i| format!("m{i}")).collect();
    let body = |value: Value| names.iter().map(|n| (n.clone(), value.clone())).collect::<serde_json::Map<_, _>>();
    for (body, expected) in [(body(json!(1)), 20_000 + 11), (body(json!(2)), 20_000 + 11), (body(Value::Null), 11)] {
        let response = server.request(Method::PATCH, &item("p"), &token).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let doc: serde_json::Map<String, Value> = response.json().await.unwrap();
        let members = doc.keys().filter(|k| !k.starts_with('@')).count();
        assert_eq!(members, expected);
    }
    server.stop().await;
}
