//! The web console (docs/console.md): its files at `/` and under `/console/` with their types,
//! Content-Security-Policy and caching headers, `--no-console`, and the history endpoint it reads,
//! `GET /_graphsec/profiles/{id}/history`, on every store.

use crate::support::*;
use graphsec::config::AuthChoice;
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    a_history_lists_a_profiles_writes_newest_first_in_the_callers_tenant,
    a_history_is_paged_with_skiptokens_bound_to_tenant_and_profile,
    without_authentication_a_history_follows_a_profile_through_moves_and_re_creation,
);

async fn get(server: &TestServer, path: &str) -> reqwest::Response {
    server.unauthenticated(Method::GET, path).send().await.unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).map(|v| v.to_str().unwrap()).unwrap_or_default()
}

#[tokio::test]
async fn the_console_is_served_at_the_root_and_under_console_with_its_policy() {
    let server = TestServer::start(Backend::Memory).await;
    for path in ["/", "/console/", "/console"] {
        let page = get(&server, path).await;
        assert_eq!(page.status(), 200, "{path}");
        assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
        let policy = header(&page, "content-security-policy");
        for directive in ["default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"] {
            assert!(policy.contains(directive), "{policy}");
        }
        assert_eq!(header(&page, "x-content-type-options"), "nosniff");
        assert_eq!(header(&page, "cache-control"), "no-cache");
        let html = page.text().await.unwrap();
        assert!(html.contains(r#"<script type="module" src="/console/main.js">"#), "{html}");
        assert!(!html.contains("http://") && !html.contains("https://"), "nothing is loaded from elsewhere");
    }
    for (file, kind) in [
        ("main.js", "text/javascript; charset=utf-8"),
        ("detail.js", "text/javascript; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let asset = get(&server, &format!("/console/{file}")).await;
        assert_eq!((asset.status().as_u16(), header(&asset, "content-type")), (200, kind), "{file}");
        let etag = header(&asset, "etag").to_string();
        assert!(etag.starts_with('"') && etag.len() > 2, "{etag}");
        let again = server
            .unauthenticated(Method::GET, &format!("/console/{file}"))
            .header("If-None-Match", etag.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{file} unchanged");
        assert!(again.bytes().await.unwrap().is_empty());
    }
    let missing = get(&server, "/console/nothing.js").await;
    expect_error(missing, 404, "itemNotFound").await;
    // Console files are not API requests: the journal does not list them.
    let admin = server.admin_token(TENANT_A);
    let journal = server.get_json("/_graphsec/requests", &admin).await;
    assert_eq!(journal["value"], json!([]), "{journal}");
    server.stop().await;
}

#[tokio::test]
async fn other_paths_answer_as_before_and_only_get_is_served() {
    let server = TestServer::start(Backend::Memory).await;
    let unknown = get(&server, "/nothing").await;
    let body = expect_error(unknown, 400, "BadRequest").await;
    assert_eq!(body["error"]["message"], "Resource not found for the segment 'nothing'.");
    let root = get(&server, "/beta").await;
    assert_eq!(root.status(), 200);
    let post = server.unauthenticated(Method::POST, "/").send().await.unwrap();
    expect_error(post, 405, "BadRequest").await;
    let head = server.unauthenticated(Method::HEAD, "/console/main.js").send().await.unwrap();
    assert_eq!(head.status(), 405);
    server.stop().await;
}

#[tokio::test]
async fn no_console_turns_the_console_off() {
    let fixture = Fixture::new(Backend::Memory);
    let mut config = fixture.config(AuthChoice::Local);
    config.no_console = true;
    let mut server = TestServer::start_config(config).await;
    server.own_fixture(fixture);
    for path in ["/", "/console/", "/console/main.js"] {
        let response = get(&server, path).await;
        let body = expect_error(response, 404, "itemNotFound").await;
        assert!(body["error"]["message"].as_str().unwrap().contains("--no-console"), "{body}");
    }
    // The history endpoint is part of the API, not of the console.
    let token = server.token(TENANT_A, READ);
    let history = server.request(Method::GET, "/_graphsec/profiles/p/history", &token).send().await.unwrap();
    assert_eq!(history.status(), 200);
    server.stop().await;
}

#[test]
fn serve_help_names_the_flag_and_its_variable() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_graphsec")).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.contains("--no-console") && help.contains("GRAPHSEC_NO_CONSOLE"), "{help}");
}

fn history_path(id: &str) -> String {
    format!("/_graphsec/profiles/{id}/history")
}

async fn history(server: &TestServer, path: &str, token: &str) -> Value {
    let response = server.request(Method::GET, path, token).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    assert!(header(&response, "content-type").starts_with("application/json"));
    response.json().await.unwrap()
}

fn operations(page: &Value) -> Vec<(String, Vec<String>)> {
    page["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let changed = e["changed"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
            (e["operation"].as_str().unwrap().to_string(), changed)
        })
        .collect()
}

async fn a_history_lists_a_profiles_writes_newest_first_in_the_callers_tenant(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (a, b) = (server.token(TENANT_A, READ_WRITE), server.token(TENANT_B, READ_WRITE));
    server.create(&a, json!({"id": "p/1", "displayName": "one"})).await;
    for change in [json!({"riskScore": "40"}), json!({"displayName": "two", "tags": ["HVA"]})] {
        let response = server.request(Method::PATCH, &item("p%2F1"), &a).json(&change).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    server.create(&b, json!({"id": "p/1"})).await;
    server.create(&a, json!({"id": "other"})).await;

    let reader = server.token(TENANT_A, READ);
    let page = history(&server, &history_path("p%2F1"), &reader).await;
    let changes = operations(&page);
    assert_eq!(changes.len(), 3, "{page}");
    assert_eq!(changes[0], ("update".into(), vec!["displayName".into(), "tags".into()]));
    assert_eq!(changes[1], ("update".into(), vec!["riskScore".into()]));
    assert_eq!(changes[2].0, "create");
    let newest = &page["value"][0];
    assert_eq!(
        (&newest["tenant"], &newest["profileId"], &newest["caller"]),
        (&json!(TENANT_A), &json!("p/1"), &json!("test"))
    );
    assert!(newest["at"].as_str().unwrap() >= page["value"][1]["at"].as_str().unwrap());
    assert!(newest["requestId"].is_string() && newest["app"].is_string() && newest["id"].is_string());
    assert!(page.get("@odata.nextLink").is_none());

    // Tenant B sees its own profile of that id only; a profile that never existed has no entries.
    let theirs = history(&server, &history_path("p%2F1"), &server.token(TENANT_B, READ)).await;
    let theirs_ops = operations(&theirs);
    assert_eq!((theirs_ops.len(), theirs_ops[0].0.as_str()), (1, "create"), "{theirs}");
    assert_eq!(theirs["value"][0]["tenant"], TENANT_B);
    let none = history(&server, &history_path("never"), &reader).await;
    assert_eq!(none, json!({"value": []}));

    // A deleted profile keeps its trail, the delete first.
    let gone = server.request(Method::DELETE, &item("other"), &a).send().await.unwrap();
    assert_eq!(gone.status(), 204);
    let trail = operations(&history(&server, &history_path("other"), &reader).await);
    assert_eq!(trail.iter().map(|(op, _)| op.as_str()).collect::<Vec<_>>(), ["delete", "create"]);
    // Created again, it goes on from there.
    server.create(&a, json!({"id": "other"})).await;
    let response = server.request(Method::PATCH, &item("other"), &a).json(&json!({"riskScore": "1"})).send().await;
    assert_eq!(response.unwrap().status(), 200);
    let trail = operations(&history(&server, &history_path("other"), &reader).await);
    let trail: Vec<&str> = trail.iter().map(|(op, _)| op.as_str()).collect();
    assert_eq!(trail, ["update", "create", "delete", "create"]);

    // Reading needs a token with a read permission; writing to it is not a thing.
    let anonymous = server.unauthenticated(Method::GET, &history_path("p%2F1")).send().await.unwrap();
    expect_error(anonymous, 401, "InvalidAuthenticationToken").await;
    let powerless = server.token(TENANT_A, "User.Read");
    let refused = server.request(Method::GET, &history_path("p%2F1"), &powerless).send().await.unwrap();
    expect_error(refused, 403, "Forbidden").await;
    let post = server.request(Method::POST, &history_path("p%2F1"), &a).send().await.unwrap();
    expect_error(post, 405, "BadRequest").await;
    server.stop().await;
}

async fn a_history_is_paged_with_skiptokens_bound_to_tenant_and_profile(backend: Backend) {
    let server = TestServer::start(backend).await;
    let a = server.token(TENANT_A, READ_WRITE);
    server.create(&a, json!({"id": "p"})).await;
    for n in 0..4 {
        let change = json!({"displayName": format!("name {n}")});
        let response = server.request(Method::PATCH, &item("p"), &a).json(&change).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let mut seen = Vec::new();
    let mut next = Some(format!("{}?$top=2", history_path("p")));
    let mut pages = 0;
    while let Some(path) = next {
        let page = history(&server, &path, &a).await;
        pages += 1;
        assert!(page["value"].as_array().unwrap().len() <= 2);
        seen.extend(page["value"].as_array().unwrap().iter().map(|e| e["at"].as_str().unwrap().to_string()));
        next = page["@odata.nextLink"].as_str().map(|link| {
            assert!(link.starts_with(&server.base), "{link}");
            link.trim_start_matches(&server.base).to_string()
        });
        if pages == 1 {
            let link = next.clone().unwrap();
            // Another tenant, or another profile, cannot use the position.
            let foreign = server.token(TENANT_B, READ);
            let refused = server.request(Method::GET, &link, &foreign).send().await.unwrap();
            expect_error(refused, 400, "BadRequest").await;
            let elsewhere = link.replace("/profiles/p/", "/profiles/q/");
            let refused = server.request(Method::GET, &elsewhere, &a).send().await.unwrap();
            expect_error(refused, 400, "BadRequest").await;
            let forged = format!("{}x", link);
            let refused = server.request(Method::GET, &forged, &a).send().await.unwrap();
            expect_error(refused, 400, "BadRequest").await;
        }
    }
    assert_eq!((pages, seen.len()), (3, 5));
    let mut sorted = seen.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    assert_eq!(seen, sorted, "newest first across pages");

    // Bad options are Graph's 400 invalidQueryOption.
    for query in ["$top=0", "$top=101", "$top=x", "$top=", "$top=1&$top=2", "$skiptoken=", "$filter=x", "other=1"] {
        let response = server.request(Method::GET, &format!("{}?{query}", history_path("p")), &a).send().await.unwrap();
        let body = expect_error(response, 400, "BadRequest").await;
        assert_eq!(body["error"]["innerError"]["code"], "invalidQueryOption", "{query}: {body}");
    }
    let largest = history(&server, &format!("{}?%24top=100", history_path("p")), &a).await;
    assert_eq!(largest["value"].as_array().unwrap().len(), 5);
    server.stop().await;
}

/// With `--auth off` a history spans the tenants that hold the id: a page at a time, each entry
/// once, newest first, through a move to another tenant and a re-creation in the first.
async fn without_authentication_a_history_follows_a_profile_through_moves_and_re_creation(backend: Backend) {
    let server = TestServer::start_with(backend, AuthChoice::Off).await;
    let patch = |body: Value| server.client.patch(server.url(&item("m"))).json(&body).send();
    server.create("", json!({"id": "m", "azureTenantId": TENANT_A})).await;
    assert_eq!(patch(json!({"displayName": "in A"})).await.unwrap().status(), 200);
    assert_eq!(patch(json!({"azureTenantId": TENANT_B})).await.unwrap().status(), 200);
    server.create("", json!({"id": "m", "azureTenantId": TENANT_A})).await;
    server.create("", json!({"id": "n", "azureTenantId": TENANT_A})).await;

    let mut seen = Vec::new();
    let mut next = Some(format!("{}?$top=1", history_path("m")));
    while let Some(path) = next {
        let page = history(&server, &path, "").await;
        for entry in page["value"].as_array().unwrap() {
            let (operation, tenant) = (entry["operation"].as_str().unwrap(), entry["tenant"].as_str().unwrap());
            seen.push((operation.to_string(), tenant.to_string(), entry["id"].as_str().unwrap().to_string()));
        }
        next = page["@odata.nextLink"].as_str().map(|link| link.trim_start_matches(&server.base).to_string());
    }
    let trail: Vec<(&str, &str)> = seen.iter().map(|(op, tenant, _)| (op.as_str(), tenant.as_str())).collect();
    assert_eq!(trail, [("create", TENANT_A), ("update", TENANT_B), ("update", TENANT_A), ("create", TENANT_A)]);
    let mut ids: Vec<&str> = seen.iter().map(|(_, _, id)| id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 4, "each entry once");
    server.stop().await;
}
