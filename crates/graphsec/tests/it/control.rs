//! The test-control API under `/_graphsec/` (docs/emulator.md): reset, seed, the request journal
//! and tokens, who may call it, and every way a call of it is refused.

use crate::support::*;
use graphsec::config::AuthChoice;
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    a_reset_empties_one_tenant_or_every_tenant,
    seeding_loads_ndjson_and_generated_profiles_and_skips_known_ids,
    the_journal_records_requests_and_batch_items_oldest_first,
    minted_tokens_work_as_ordered,
);

async fn call(server: &TestServer, method: Method, path: &str, token: &str) -> (u16, Value) {
    let response = server.request(method, path, token).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

async fn count(server: &TestServer, token: &str) -> String {
    let path = format!("{COLLECTION}/$count");
    server.request(Method::GET, &path, token).send().await.unwrap().text().await.unwrap()
}

async fn a_reset_empties_one_tenant_or_every_tenant(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (a, b) = (server.token(TENANT_A, READ_WRITE), server.token(TENANT_B, READ_WRITE));
    let admin = server.admin_token(TENANT_A);
    for id in ["p1", "p2"] {
        server.create(&a, json!({"id": id, "tags": ["x"]})).await;
    }
    server.create(&b, json!({"id": "p1", "tags": ["x"]})).await;
    server.request(Method::PATCH, &item("p1"), &b).json(&json!({"displayName": "kept"})).send().await.unwrap();

    let (status, body) = call(&server, Method::POST, &format!("/_graphsec/reset?tenant={TENANT_A}"), &admin).await;
    assert_eq!((status, &body), (200, &json!({"deletedProfiles": 2})));
    // The journal forgot tenant A's requests only.
    let (_, journal) = call(&server, Method::GET, "/_graphsec/requests", &admin).await;
    let tenants: Vec<&str> =
        journal["value"].as_array().unwrap().iter().map(|e| e["tenant"].as_str().unwrap()).collect();
    assert!(!tenants.is_empty() && tenants.iter().all(|t| *t == TENANT_B), "{tenants:?}");
    assert_eq!(count(&server, &a).await, "0");
    let filtered = format!("{COLLECTION}?$filter=tags/any(t:t eq 'x')");
    assert!(server.get_json(&filtered, &a).await["value"].as_array().unwrap().is_empty(), "tags went too");
    // The other tenant's data survives: its profile, tags and audit trail.
    assert_eq!(server.get_json(&item("p1"), &b).await["displayName"], "kept");
    assert_eq!(server.get_json(&filtered, &b).await["value"].as_array().unwrap().len(), 1);
    let audit = |tenant: &str| graphsec::store::AuditQuery {
        tenant: Some(tenant.into()),
        limit: 100,
        ..graphsec::store::AuditQuery::default()
    };
    assert!(server.store.audit(audit(TENANT_A)).await.unwrap().is_empty());
    assert_eq!(server.store.audit(audit(TENANT_B)).await.unwrap().len(), 2);

    // An id deleted by a reset can be created again, also through a PATCH decided on a cached row.
    server.create(&a, json!({"id": "p1"})).await;
    let (status, body) = call(&server, Method::POST, "/_graphsec/reset", &admin).await;
    assert_eq!((status, &body), (200, &json!({"deletedProfiles": 2})));
    assert_eq!(count(&server, &b).await, "0");
    let patch = server.request(Method::PATCH, &item("p1"), &b).json(&json!({"displayName": "x"})).send().await.unwrap();
    assert_eq!(patch.status(), 404);
    assert!(server.store.audit(audit(TENANT_B)).await.unwrap().is_empty());
    let (_, journal) = call(&server, Method::GET, "/_graphsec/requests", &admin).await;
    let methods: Vec<&str> =
        journal["value"].as_array().unwrap().iter().map(|e| e["method"].as_str().unwrap()).collect();
    assert_eq!(methods, ["GET", "PATCH"], "only the requests after the reset");
    server.stop().await;
}

async fn seeding_loads_ndjson_and_generated_profiles_and_skips_known_ids(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin_token(TENANT_A);
    let (a, b) = (server.token(TENANT_A, READ), server.token(TENANT_B, READ));
    let lines = format!(
        "{}\n\n{}\n",
        json!({"id": "s1", "displayName": "Seeded"}),
        json!({"id": "s2", "azureTenantId": TENANT_B})
    );
    for expected in [json!({"inserted": 2, "skipped": 0}), json!({"inserted": 0, "skipped": 2})] {
        let response =
            server.request(Method::POST, "/_graphsec/seed", &admin).body(lines.clone()).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.json::<Value>().await.unwrap(), expected);
    }
    assert_eq!(server.get_json(&item("s1"), &a).await["displayName"], "Seeded", "to --default-tenant");
    assert_eq!(server.get_json(&item("s2"), &b).await["id"], "s2");

    let generate = format!("/_graphsec/seed?generate=5&tenant={TENANT_B}&seed=3&domain=example.org");
    let (status, body) = call(&server, Method::POST, &generate, &admin).await;
    assert_eq!((status, body), (200, json!({"inserted": 5, "skipped": 0})));
    let (_, body) = call(&server, Method::POST, &generate, &admin).await;
    assert_eq!(body, json!({"inserted": 0, "skipped": 5}), "the same seed makes the same ids");
    assert_eq!(count(&server, &b).await, "6");
    let listed = server.get_json(COLLECTION, &b).await;
    assert!(
        listed["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| { p["userPrincipalName"].as_str().is_some_and(|upn| upn.ends_with("@example.org")) })
    );
    // An invalid line stops the seed; the lines before it stay loaded.
    let bad = format!("{}\nnot json\n{}\n", json!({"id": "s3"}), json!({"id": "s4"}));
    let response = server.request(Method::POST, "/_graphsec/seed", &admin).body(bad).send().await.unwrap();
    let error = expect_error(response, 400, "BadRequest").await;
    assert!(error["error"]["message"].as_str().unwrap().contains("line 2"), "{error}");
    assert_eq!(server.get_json(&item("s3"), &a).await["id"], "s3");
    assert_eq!(server.request(Method::GET, &item("s4"), &a).send().await.unwrap().status(), 404);
    server.stop().await;
}

async fn the_journal_records_requests_and_batch_items_oldest_first(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin_token(TENANT_A);
    let (a, b) = (server.token(TENANT_A, READ_WRITE), server.token(TENANT_B, READ_WRITE));
    let started = graphsec::domain::datetime::now();
    server.create(&a, json!({"id": "j1", "displayName": "J"})).await;
    let query = format!("{COLLECTION}?$top=1&$select=id");
    assert_eq!(server.request(Method::GET, &query, &b).send().await.unwrap().status(), 200);
    assert_eq!(server.request(Method::GET, &item("missing"), &a).send().await.unwrap().status(), 404);
    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/security/userSecurityProfiles/j1"},
        {"id": "2", "method": "PATCH", "url": "/security/userSecurityProfiles/j1", "body": {"displayName": "K"},
         "headers": {"Content-Type": "application/json"}},
    ]});
    let response = server.request(Method::POST, "/beta/$batch", &a).json(&batch).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // Control calls are not recorded.
    call(&server, Method::POST, "/_graphsec/seed?generate=1", &admin).await;

    let (status, journal) = call(&server, Method::GET, "/_graphsec/requests", &admin).await;
    assert_eq!(status, 200);
    let entries = journal["value"].as_array().unwrap();
    let seen: Vec<(&str, &str, u64)> = entries
        .iter()
        .map(|e| (e["method"].as_str().unwrap(), e["path"].as_str().unwrap(), e["status"].as_u64().unwrap()))
        .collect();
    let patch = ("PATCH", "/beta/security/userSecurityProfiles/j1", 200);
    let get = ("GET", "/beta/security/userSecurityProfiles/j1", 200);
    let missing = ("GET", "/beta/security/userSecurityProfiles/missing", 404);
    assert_eq!(
        &seen[..4],
        [("POST", COLLECTION, 201), ("GET", query.as_str(), 200), missing, ("POST", "/beta/$batch", 200)]
    );
    assert!(seen[4..].contains(&get) && seen[4..].contains(&patch), "the batch's items after it: {seen:?}");
    assert_eq!(seen.len(), 6, "{journal}");
    let first = &entries[0];
    assert_eq!(first["tenant"], TENANT_A);
    assert_eq!(entries[1]["tenant"], TENANT_B);
    assert_eq!(
        serde_json::from_str::<Value>(first["body"].as_str().unwrap()).unwrap(),
        json!({"id": "j1", "displayName": "J"})
    );
    assert!(first["requestId"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(first["durationMs"].as_f64().is_some_and(|ms| ms >= 0.0));
    assert!(first["time"].as_str().unwrap() >= started.as_str());
    assert!(entries[1].get("body").is_none(), "reads carry no body");
    let patched = entries.iter().find(|e| e["method"] == "PATCH").unwrap();
    assert_eq!(serde_json::from_str::<Value>(patched["body"].as_str().unwrap()).unwrap(), json!({"displayName": "K"}));

    let (_, only_b) = call(&server, Method::GET, &format!("/_graphsec/requests?tenant={TENANT_B}"), &admin).await;
    assert_eq!(only_b["value"].as_array().unwrap().len(), 1);
    let later = entries[3]["time"].as_str().unwrap();
    let since = format!("/_graphsec/requests?since={}", later.replace(':', "%3A"));
    let (_, recent) = call(&server, Method::GET, &since, &admin).await;
    assert!(recent["value"].as_array().unwrap().iter().all(|e| e["time"].as_str().unwrap() >= later));
    assert!(recent["value"].as_array().unwrap().len() >= 3);

    // A large body is cut, and says so.
    let large = json!({"id": "big", "note": "x".repeat(10_000)});
    server.request(Method::POST, COLLECTION, &a).json(&large).send().await.unwrap();
    let (_, journal) = call(&server, Method::GET, "/_graphsec/requests", &admin).await;
    let last = journal["value"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["truncated"], true);
    assert_eq!(last["body"].as_str().unwrap().len(), graphsec::api::journal::BODY_BYTES);

    assert_eq!(call(&server, Method::DELETE, "/_graphsec/requests", &admin).await.0, 204);
    let (_, journal) = call(&server, Method::GET, "/_graphsec/requests", &admin).await;
    assert_eq!(journal, json!({"value": []}));
    server.stop().await;
}

async fn minted_tokens_work_as_ordered(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin_token(TENANT_A);
    let order = |body: Value| server.request(Method::POST, "/_graphsec/tokens", &admin).json(&body);
    let response = order(json!({"tenant": TENANT_B})).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let minted: Value = response.json().await.unwrap();
    assert_eq!((minted["tokenType"].clone(), minted["expiresIn"].clone()), (json!("Bearer"), json!(3600)));
    let writer = minted["token"].as_str().unwrap().to_string();
    let created = server.create(&writer, json!({"id": "t"})).await;
    assert_eq!(created["azureTenantId"], TENANT_B, "the token is for the tenant ordered");
    let (status, _) = call(&server, Method::POST, "/_graphsec/reset", &writer).await;
    assert_eq!(status, 403, "not an admin token");

    let app_reader: Value =
        order(json!({"tenant": TENANT_B, "scopes": [READ], "app": true, "ttl": "5m", "subject": "ci"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(app_reader["expiresIn"], 300);
    let reader = app_reader["token"].as_str().unwrap();
    assert_eq!(server.request(Method::GET, &item("t"), reader).send().await.unwrap().status(), 200);
    let refused = server.request(Method::DELETE, &item("t"), reader).send().await.unwrap();
    assert_eq!(refused.status(), 403);

    let second_admin: Value = order(json!({"tenant": TENANT_B, "scopes": "", "admin": true, "ttl": 60}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second_admin = second_admin["token"].as_str().unwrap();
    assert_eq!(call(&server, Method::DELETE, "/_graphsec/requests", second_admin).await.0, 204);
    assert_eq!(server.request(Method::GET, &item("t"), second_admin).send().await.unwrap().status(), 403, "no scopes");
    server.stop().await;
}

#[tokio::test]
async fn under_local_auth_only_admin_tokens_may_call_it() {
    let server = TestServer::start(Backend::Memory).await;
    let writer = server.token(TENANT_A, READ_WRITE);
    for (method, path) in [
        (Method::POST, "/_graphsec/reset"),
        (Method::POST, "/_graphsec/seed?generate=1"),
        (Method::GET, "/_graphsec/requests"),
        (Method::DELETE, "/_graphsec/requests"),
        (Method::POST, "/_graphsec/tokens"),
    ] {
        let response = server.unauthenticated(method.clone(), path).send().await.unwrap();
        assert!(response.headers().contains_key("www-authenticate"), "{method} {path}");
        expect_error(response, 401, "InvalidAuthenticationToken").await;
        let response = server.request(method.clone(), path, "not-a-token").send().await.unwrap();
        expect_error(response, 401, "InvalidAuthenticationToken").await;
        let response = server.request(method.clone(), path, &writer).send().await.unwrap();
        let body = expect_error(response, 403, "Forbidden").await;
        assert!(body["error"]["message"].as_str().unwrap().contains("--admin"), "{body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn with_auth_off_anyone_may_call_it() {
    let server = TestServer::start_with(Backend::Memory, AuthChoice::Off).await;
    let seed = server.unauthenticated(Method::POST, "/_graphsec/seed?generate=2").send().await.unwrap();
    assert_eq!(seed.status(), 200);
    let requests = server.unauthenticated(Method::GET, "/_graphsec/requests").send().await.unwrap();
    assert_eq!(requests.status(), 200);
    let token = server
        .unauthenticated(Method::POST, "/_graphsec/tokens")
        .json(&json!({"tenant": TENANT_A}))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200, "a token, though nothing checks it");
    let reset = server.unauthenticated(Method::POST, "/_graphsec/reset").send().await.unwrap();
    assert_eq!(reset.json::<Value>().await.unwrap(), json!({"deletedProfiles": 2}));
    server.stop().await;
}

#[tokio::test]
async fn every_refusal_is_a_graph_error() {
    let fixture = Fixture::new(Backend::Memory);
    let mut config = fixture.config(AuthChoice::Local);
    config.max_body_bytes = 64 * 1024;
    let server = TestServer::start_config(config).await;
    let admin = server.admin_token(TENANT_A);
    let post = |path: &str| server.request(Method::POST, path, &admin);
    let huge = "x".repeat(64 * 1024 + 1);
    let cases: Vec<(&str, TestRequest, u16)> = vec![
        ("unknown parameter", post("/_graphsec/reset?tenants=x"), 400),
        ("parameter twice", post("/_graphsec/reset?tenant=a&tenant=b"), 400),
        ("invalid escape", post("/_graphsec/reset?tenant=%FF"), 400),
        ("generate not a number", post("/_graphsec/seed?generate=many"), 400),
        ("generate zero", post("/_graphsec/seed?generate=0"), 400),
        ("generate too many", post("/_graphsec/seed?generate=10001"), 400),
        ("bad seed", post("/_graphsec/seed?generate=1&seed=-1"), 400),
        ("empty domain", post("/_graphsec/seed?generate=1&domain="), 400),
        ("generate and a body", post("/_graphsec/seed?generate=1").body("{}"), 400),
        ("seed without generate", post("/_graphsec/seed?seed=1").body("{}"), 400),
        ("no profiles", post("/_graphsec/seed"), 400),
        ("not an object", post("/_graphsec/seed").body("[1]"), 400),
        ("not UTF-8", post("/_graphsec/seed").body(vec![0xff, 0xfe, b'\n']), 400),
        ("invalid profile", post("/_graphsec/seed").body(r#"{"id": 5}"#), 400),
        ("body too large", post("/_graphsec/seed").body(huge.clone()), 413),
        ("bad gzip", post("/_graphsec/seed").header("content-encoding", "gzip").body("nope"), 400),
        ("unknown encoding", post("/_graphsec/seed").header("content-encoding", "br").body("{}"), 415),
        ("bad since", server.request(Method::GET, "/_graphsec/requests?since=yesterday", &admin), 400),
        ("delete with a parameter", server.request(Method::DELETE, "/_graphsec/requests?tenant=a", &admin), 400),
        ("token without a body", post("/_graphsec/tokens").header("content-type", "application/json"), 400),
        ("token not JSON", post("/_graphsec/tokens").header("content-type", "application/json").body("{"), 400),
        ("token of another type", post("/_graphsec/tokens").header("content-type", "text/plain").body("{}"), 415),
        ("token without tenant", post("/_graphsec/tokens").json(&json!({})), 400),
        ("token with unknown field", post("/_graphsec/tokens").json(&json!({"tenant": "t", "tid": "t"})), 400),
        ("token of empty tenant", post("/_graphsec/tokens").json(&json!({"tenant": " "})), 400),
        ("token of long tenant", post("/_graphsec/tokens").json(&json!({"tenant": "t".repeat(257)})), 400),
        ("token of empty subject", post("/_graphsec/tokens").json(&json!({"tenant": "t", "subject": ""})), 400),
        ("token ttl zero", post("/_graphsec/tokens").json(&json!({"tenant": "t", "ttl": 0})), 400),
        ("token ttl too long", post("/_graphsec/tokens").json(&json!({"tenant": "t", "ttl": "400d"})), 400),
        ("token ttl unit", post("/_graphsec/tokens").json(&json!({"tenant": "t", "ttl": "1w"})), 400),
        ("token ttl negative", post("/_graphsec/tokens").json(&json!({"tenant": "t", "ttl": -5})), 400),
        ("token scopes wrong", post("/_graphsec/tokens").json(&json!({"tenant": "t", "scopes": 7})), 400),
        ("token with a parameter", post("/_graphsec/tokens?x=1").json(&json!({"tenant": "t"})), 400),
        ("token body too large", post("/_graphsec/tokens").json(&json!({"tenant": huge})), 413),
        ("unknown path", post("/_graphsec/restart"), 400),
        ("the prefix alone", post("/_graphsec/"), 400),
        ("no trailing slash", post("/_graphsec"), 400),
        ("another case", post("/_GRAPHSEC/reset"), 400),
        ("nested unknown path", server.request(Method::GET, "/_graphsec/requests/1", &admin), 400),
        ("GET reset", server.request(Method::GET, "/_graphsec/reset", &admin), 405),
        ("PUT seed", server.request(Method::PUT, "/_graphsec/seed", &admin), 405),
        ("GET tokens", server.request(Method::GET, "/_graphsec/tokens", &admin), 405),
        ("POST requests", post("/_graphsec/requests"), 405),
    ];
    for (name, request, status) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{name}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "BadRequest", "{name}: {body}");
    }
    assert_eq!(count(&server, &admin).await, "0", "nothing was seeded");
    server.stop().await;
}

#[tokio::test]
async fn the_journal_is_bounded_and_can_be_off() {
    let fixture = Fixture::new(Backend::Memory);
    let mut config = fixture.config(AuthChoice::Local);
    config.journal_size = 3;
    let server = TestServer::start_config(config).await;
    let (admin, token) = (server.admin_token(TENANT_A), server.token(TENANT_A, READ));
    for i in 0..5 {
        server.request(Method::GET, &item(&format!("p{i}")), &token).send().await.unwrap();
    }
    let (_, journal) = call(&server, Method::GET, "/_graphsec/requests", &admin).await;
    let paths: Vec<&str> = journal["value"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(paths, [item("p2"), item("p3"), item("p4")], "the newest, oldest first");
    let long = format!("{COLLECTION}?$filter=displayName eq '{}'", "y".repeat(5000));
    server.request(Method::GET, &long, &token).send().await.unwrap();
    let (_, journal) = call(&server, Method::GET, "/_graphsec/requests", &admin).await;
    let last = journal["value"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["path"].as_str().unwrap().len(), graphsec::api::journal::PATH_BYTES);
    assert_eq!(last["truncated"], true);
    server.stop().await;

    let mut config = fixture.config(AuthChoice::Local);
    config.journal_size = 0;
    let server = TestServer::start_config(config).await;
    let admin = server.admin_token(TENANT_A);
    for method in [Method::GET, Method::DELETE] {
        let response = server.request(method, "/_graphsec/requests", &admin).send().await.unwrap();
        let body = expect_error(response, 400, "BadRequest").await;
        assert!(body["error"]["message"].as_str().unwrap().contains("--journal-size"));
    }
    assert_eq!(call(&server, Method::POST, "/_graphsec/reset", &admin).await.0, 200, "the rest works without it");
    server.stop().await;
}
