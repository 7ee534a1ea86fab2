//! List, paging, `$top`, `$count` and `/$count` through the HTTP API.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    list_shape_and_default_order,
    next_links_walk_every_item_exactly_once,
    paging_stays_correct_when_rows_change_between_pages,
    prefer_maxpagesize_lowers_the_page_size,
    skip_count_and_option_spellings,
    a_tampered_skiptoken_is_400,
    without_authentication_every_tenants_profiles_are_paged_even_when_ids_repeat
);

async fn seeded(backend: Backend, n: usize) -> (TestServer, String) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    for i in 0..n {
        server.create(&token, json!({"id": format!("p{i:03}"), "displayName": format!("User {i}")})).await;
    }
    (server, token)
}

async fn get_json(server: &TestServer, url: &str, token: &str) -> Value {
    let response = server.client.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["value"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect()
}

async fn list_shape_and_default_order(backend: Backend) {
    let (server, token) = seeded(backend, 3).await;
    let page = get_json(&server, &server.url(COLLECTION), &token).await;
    assert_eq!(page["@odata.context"], format!("{}/beta/$metadata#security/userSecurityProfiles", server.base));
    assert!(page.get("@odata.nextLink").is_none());
    assert!(page.get("@odata.count").is_none());
    assert_eq!(ids(&page), ["p000", "p001", "p002"]);
    let first = &page["value"][0];
    assert_eq!(first["@odata.type"], "#microsoft.graph.userSecurityProfile");
    assert_eq!(first["@odata.etag"], "W/\"1\"");
    assert_eq!(first["displayName"], "User 0");
}

async fn next_links_walk_every_item_exactly_once(backend: Backend) {
    let (server, token) = seeded(backend, 25).await;
    let mut url = server.url(&format!("{COLLECTION}?$top=7&$count=true"));
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = get_json(&server, &url, &token).await;
        assert_eq!(page["@odata.count"], 25, "count ignores top and paging");
        seen.extend(ids(&page));
        pages += 1;
        match page["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&server.base), "nextLink is absolute: {next}");
                assert!(next.contains("$top=7"), "nextLink keeps the original options: {next}");
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 4);
    let expected: Vec<String> = (0..25).map(|i| format!("p{i:03}")).collect();
    assert_eq!(seen, expected);
}

async fn paging_stays_correct_when_rows_change_between_pages(backend: Backend) {
    let (server, token) = seeded(backend, 10).await;
    let page = get_json(&server, &server.url(&format!("{COLLECTION}?$top=4")), &token).await;
    assert_eq!(ids(&page), ["p000", "p001", "p002", "p003"]);
    // Delete an item already seen and one not yet seen; insert one before and one after the cursor.
    for id in ["p001", "p006"] {
        server.request(Method::DELETE, &item(id), &token).send().await.unwrap();
    }
    server.create(&token, json!({"id": "p0005"})).await;
    server.create(&token, json!({"id": "p999"})).await;
    let mut url = page["@odata.nextLink"].as_str().unwrap().to_string();
    let mut rest = Vec::new();
    loop {
        let page = get_json(&server, &url, &token).await;
        rest.extend(ids(&page));
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(rest, ["p004", "p005", "p007", "p008", "p009", "p999"]);
}

async fn prefer_maxpagesize_lowers_the_page_size(backend: Backend) {
    let (server, token) = seeded(backend, 5).await;
    let response =
        server.request(Method::GET, COLLECTION, &token).header("Prefer", "odata.maxpagesize=2").send().await.unwrap();
    assert_eq!(response.headers()["preference-applied"], "odata.maxpagesize=2");
    let page: Value = response.json().await.unwrap();
    assert_eq!(ids(&page), ["p000", "p001"]);
    assert!(page["@odata.nextLink"].is_string());
}

async fn skip_count_and_option_spellings(backend: Backend) {
    let (server, token) = seeded(backend, 6).await;
    for query in ["$skip=2&$top=2", "%24skip=2&%24top=2", "skip=2&top=2", "$SKIP=2&$Top=2"] {
        let page = get_json(&server, &server.url(&format!("{COLLECTION}?{query}")), &token).await;
        assert_eq!(ids(&page), ["p002", "p003"], "{query}");
    }
    let response = server.request(Method::GET, &format!("{COLLECTION}/$count"), &token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(response.text().await.unwrap(), "6");
    let page = get_json(&server, &server.url(&format!("{COLLECTION}?$count=true&$top=1")), &token).await;
    assert_eq!(page["@odata.count"], 6);
}

async fn a_tampered_skiptoken_is_400(backend: Backend) {
    let (server, token) = seeded(backend, 3).await;
    let page = get_json(&server, &server.url(&format!("{COLLECTION}?$top=1")), &token).await;
    let next = page["@odata.nextLink"].as_str().unwrap();
    let (head, tok) = next.split_once("$skiptoken=").unwrap();
    let mut bytes = tok.as_bytes().to_vec();
    bytes[3] = if bytes[3] == b'A' { b'B' } else { b'A' };
    let forged = format!("{head}$skiptoken={}", String::from_utf8(bytes).unwrap());
    let response = server.client.get(&forged).bearer_auth(&token).send().await.unwrap();
    expect_error(response, 400, "BadRequest").await;
    // The token is bound to its query: another order cannot reuse it.
    let reordered = format!("{}&$orderby=displayName", next);
    let response = server.client.get(&reordered).bearer_auth(&token).send().await.unwrap();
    expect_error(response, 400, "BadRequest").await;
}

/// `--auth off` sees every tenant, and an id is unique only within its tenant: paging one row at
/// a time must still reach each tenant's profile with a shared id.
async fn without_authentication_every_tenants_profiles_are_paged_even_when_ids_repeat(backend: Backend) {
    use graphsec::config::AuthChoice;
    let server = TestServer::start_with(backend, AuthChoice::Off).await;
    for (id, tenant) in [("a", TENANT_A), ("dup", TENANT_A), ("dup", TENANT_B), ("z", TENANT_B)] {
        server.create("", json!({"id": id, "azureTenantId": tenant, "displayName": "same"})).await;
    }
    for order in ["", "&$orderby=displayName", "&$orderby=displayName desc,id desc"] {
        let mut url = server.url(&format!("{COLLECTION}?$top=1{order}"));
        let mut seen = Vec::new();
        for _ in 0..10 {
            let page = get_json(&server, &url, "").await;
            for p in page["value"].as_array().unwrap() {
                seen.push(format!("{}/{}", p["azureTenantId"].as_str().unwrap(), p["id"].as_str().unwrap()));
            }
            match page["@odata.nextLink"].as_str() {
                Some(next) => url = next.to_string(),
                None => break,
            }
        }
        seen.sort();
        assert_eq!(
            seen,
            [format!("{TENANT_A}/a"), format!("{TENANT_A}/dup"), format!("{TENANT_B}/dup"), format!("{TENANT_B}/z")],
            "{order}"
        );
    }
}
