//! docs/auth-and-tenancy.md: tokens, permissions and tenant isolation through every operation.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

// Forging tokens needs the key from the data directory.
disk_backend_tests!(bad_tokens_are_401_with_www_authenticate);

backend_tests!(
    permissions_are_enforced_for_delegated_and_application_tokens,
    a_tenant_never_sees_or_touches_another_tenants_profiles,
    paging_tokens_do_not_cross_tenants
);

fn forge(secret: &[u8], claims: Value, alg: jsonwebtoken::Algorithm) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap()
}

fn claims(tenant: &str, exp_offset: i64, nbf_offset: i64) -> Value {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    json!({"iss": "graphsec-local", "aud": "https://graph.microsoft.com", "tid": tenant,
           "scp": READ_WRITE, "sub": "x", "exp": now + exp_offset, "nbf": now + nbf_offset})
}

async fn bad_tokens_are_401_with_www_authenticate(backend: Backend) {
    let server = TestServer::start(backend).await;
    let good = server.token(TENANT_A, READ_WRITE);
    let secret = std::fs::read(server.data_dir.join("signing-key")).unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let truncated = &good[..good.len() - 5];
    let alg_none = {
        let parts: Vec<&str> = good.split('.').collect();
        use base64::Engine;
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        format!("{header}.{}.", parts[1])
    };
    let mut wrong_issuer = claims(TENANT_A, 600, 0);
    wrong_issuer["iss"] = json!("https://evil.example");
    let mut wrong_audience = claims(TENANT_A, 600, 0);
    wrong_audience["aud"] = json!("api://something-else");
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("garbage", Some("Bearer not-a-jwt".into())),
        ("basic", Some("Basic dXNlcjpwYXNz".into())),
        ("truncated", Some(format!("Bearer {truncated}"))),
        ("alg none", Some(format!("Bearer {alg_none}"))),
        ("other key", Some(format!("Bearer {}", mint(other_dir.path(), TENANT_A, READ_WRITE, false)))),
        (
            "expired",
            Some(format!("Bearer {}", forge(&secret, claims(TENANT_A, -120, -300), jsonwebtoken::Algorithm::HS256))),
        ),
        (
            "not yet valid",
            Some(format!("Bearer {}", forge(&secret, claims(TENANT_A, 3600, 600), jsonwebtoken::Algorithm::HS256))),
        ),
        ("wrong issuer", Some(format!("Bearer {}", forge(&secret, wrong_issuer, jsonwebtoken::Algorithm::HS256)))),
        ("wrong audience", Some(format!("Bearer {}", forge(&secret, wrong_audience, jsonwebtoken::Algorithm::HS256)))),
        ("hs512", Some(format!("Bearer {}", forge(&secret, claims(TENANT_A, 600, 0), jsonwebtoken::Algorithm::HS512)))),
        ("huge", Some(format!("Bearer {}", "a.".repeat(20_000)))),
    ];
    for (name, header) in cases {
        let mut request = server.client.get(server.url(COLLECTION));
        if let Some(h) = header {
            request = request.header("authorization", h);
        }
        let response = request.send().await.unwrap();
        assert!(response.headers().contains_key("www-authenticate"), "{name}");
        expect_error(response, 401, "InvalidAuthenticationToken").await;
    }
    // The forged-token helper itself produces accepted tokens when nothing is wrong.
    let valid = forge(&secret, claims(TENANT_A, 600, 0), jsonwebtoken::Algorithm::HS256);
    assert_eq!(server.request(Method::GET, COLLECTION, &valid).send().await.unwrap().status(), 200);
}

async fn permissions_are_enforced_for_delegated_and_application_tokens(backend: Backend) {
    let server = TestServer::start(backend).await;
    let writer = server.token(TENANT_A, READ_WRITE);
    server.create(&writer, json!({"id": "p"})).await;
    let reader = server.token(TENANT_A, READ);
    let app_reader = server.mint(TENANT_A, READ, true);
    let app_writer = server.mint(TENANT_A, READ_WRITE, true);
    let nobody = server.token(TENANT_A, "User.Read");

    for token in [&reader, &app_reader] {
        assert_eq!(server.request(Method::GET, &item("p"), token).send().await.unwrap().status(), 200);
        assert_eq!(server.request(Method::GET, COLLECTION, token).send().await.unwrap().status(), 200);
        for (method, path) in
            [(Method::POST, COLLECTION.to_string()), (Method::PATCH, item("p")), (Method::DELETE, item("p"))]
        {
            let response =
                server.request(method, &path, token).json(&json!({"displayName": "x"})).send().await.unwrap();
            expect_error(response, 403, "Forbidden").await;
        }
    }
    for path in [item("p"), COLLECTION.to_string(), format!("{COLLECTION}/$count")] {
        let response = server.request(Method::GET, &path, &nobody).send().await.unwrap();
        expect_error(response, 403, "Forbidden").await;
    }
    let response = server
        .request(Method::PATCH, &item("p"), &app_writer)
        .json(&json!({"displayName": "app"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = server.get_json(&item("p"), &reader).await;
    assert_eq!(body["displayName"], "app");
    assert_eq!(body["@odata.etag"], "W/\"2\"", "the refused writes changed nothing");
}

async fn a_tenant_never_sees_or_touches_another_tenants_profiles(backend: Backend) {
    let server = TestServer::start(backend).await;
    let a = server.token(TENANT_A, READ_WRITE);
    let b = server.token(TENANT_B, READ_WRITE);
    server.create(&a, json!({"id": "secret", "displayName": "A's", "tags": ["HVA"]})).await;

    for (method, body) in
        [(Method::GET, None), (Method::PATCH, Some(json!({"displayName": "B was here"}))), (Method::DELETE, None)]
    {
        let mut request = server.request(method.clone(), &item("secret"), &b);
        if let Some(body) = body {
            request = request.json(&body);
        }
        expect_error(request.send().await.unwrap(), 404, "itemNotFound").await;
    }
    let list: Value = server.get_json(COLLECTION, &b).await;
    assert_eq!(list["value"], json!([]));
    let count =
        server.request(Method::GET, &format!("{COLLECTION}/$count"), &b).send().await.unwrap().text().await.unwrap();
    assert_eq!(count, "0");
    let list: Value = server.get_json(&format!("{COLLECTION}?$count=true&$filter=tags/any(t:t eq 'HVA')"), &b).await;
    assert_eq!(list["@odata.count"], 0);

    // B cannot plant a profile in A's tenant, nor move its own there.
    let response =
        server.request(Method::POST, COLLECTION, &b).json(&json!({"azureTenantId": TENANT_A})).send().await.unwrap();
    expect_error(response, 403, "Forbidden").await;
    server.create(&b, json!({"id": "mine"})).await;
    let response = server
        .request(Method::PATCH, &item("mine"), &b)
        .json(&json!({"azureTenantId": TENANT_A}))
        .send()
        .await
        .unwrap();
    expect_error(response, 403, "Forbidden").await;

    // A's profile is untouched and A still sees only its own.
    let body: Value = server.get_json(&item("secret"), &a).await;
    assert_eq!(body["displayName"], "A's");
    assert_eq!(body["@odata.etag"], "W/\"1\"");
    let list: Value = server.get_json(COLLECTION, &a).await;
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
}

async fn paging_tokens_do_not_cross_tenants(backend: Backend) {
    let server = TestServer::start(backend).await;
    let a = server.token(TENANT_A, READ_WRITE);
    let b = server.token(TENANT_B, READ_WRITE);
    for i in 0..3 {
        server.create(&a, json!({"id": format!("a{i}")})).await;
    }
    let page: Value = server.get_json(&format!("{COLLECTION}?$top=1"), &a).await;
    let next = page["@odata.nextLink"].as_str().unwrap();
    let response = server.client.get(next).bearer_auth(&b).send().await.unwrap();
    let body = expect_error(response, 400, "BadRequest").await;
    assert_eq!(body["error"]["innerError"]["code"], "invalidQueryOption");
}
