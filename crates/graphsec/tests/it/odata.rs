//! docs/query-options.md through the HTTP API: $filter, $orderby, $select, $count, bad and hostile options.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    filters_select_the_right_profiles,
    tag_filters_follow_writes,
    orderby_pages_through_next_links_in_order,
    select_trims_members_and_names_them_in_the_context,
    bad_options_are_400_with_a_position,
    hostile_query_strings_never_500_and_change_nothing
);

async fn seeded(backend: Backend) -> (TestServer, String) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let profiles = [
        json!({"id": "alex", "userPrincipalName": "alex@contoso.com", "displayName": "Alex Wilber", "riskScore": "80",
               "tags": ["HVA", "SAW"], "createdDateTime": "2020-01-01T00:00:00Z",
               "accounts": [{"status": "active", "service": "AAD"}], "vendorInformation": {"provider": "Defender"}, "level": 3}),
        json!({"id": "bianca", "userPrincipalName": "bianca@contoso.com", "displayName": "Bianca Pisani", "riskScore": "20",
               "tags": ["VIP"], "createdDateTime": "2021-06-01T12:00:00+02:00",
               "accounts": [{"status": "suspended"}], "vendorInformation": {"provider": "Sentinel"}, "level": 1}),
        json!({"id": "carl", "userPrincipalName": "carl@fabrikam.com", "displayName": null, "riskScore": "55",
               "tags": [], "createdDateTime": "2022-03-03T03:03:03.1234567Z", "note": "it's"}),
        json!({"id": "dana", "userPrincipalName": "dana@contoso.com", "displayName": "Dana O'Neil", "riskScore": null,
               "createdDateTime": "2019-12-31T23:59:59Z", "accounts": [{"status": "active"}, {"status": "deleted"}]}),
    ];
    for p in profiles {
        server.create(&token, p).await;
    }
    // Another tenant's look-alike, which no filter of tenant A may return.
    server
        .create(
            &server.token(TENANT_B, READ_WRITE),
            json!({"id": "alex-b", "tags": ["HVA"], "displayName": "Alex Wilber"}),
        )
        .await;
    (server, token)
}

async fn ids(server: &TestServer, token: &str, query: &str) -> Vec<String> {
    let response = server.request(Method::GET, &format!("{COLLECTION}?{query}"), token).send().await.unwrap();
    assert_eq!(response.status(), 200, "{query}: {}", response.text().await.unwrap_or_default());
    let body: Value = response.json().await.unwrap();
    body["value"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect()
}

fn q(text: &str) -> String {
    graphsec::api::query::encode(text)
}

async fn filter(server: &TestServer, token: &str, expr: &str) -> Vec<String> {
    ids(server, token, &format!("$filter={}", q(expr))).await
}

async fn filters_select_the_right_profiles(backend: Backend) {
    let (server, token) = seeded(backend).await;
    let cases: [(&str, &[&str]); 18] = [
        ("userPrincipalName eq 'alex@contoso.com'", &["alex"]),
        ("USERPRINCIPALNAME eq 'alex@contoso.com'", &["alex"]),
        ("userPrincipalName eq 'ALEX@contoso.com'", &[]),
        ("startswith(userPrincipalName, 'b') or endswith(userPrincipalName, 'fabrikam.com')", &["bianca", "carl"]),
        ("contains(displayName, 'O''Neil')", &["dana"]),
        ("displayName eq null", &["carl"]),
        ("displayName ne null and riskScore ne null", &["alex", "bianca"]),
        ("tags/any(t: t eq 'HVA')", &["alex"]),
        ("tags/any()", &["alex", "bianca"]),
        ("tags/$count eq 0", &["carl", "dana"]),
        ("accounts/any(a: a/status eq 'active')", &["alex", "dana"]),
        ("accounts/all(a: a/status eq microsoft.graph.accountStatus'active')", &["alex", "carl"]),
        ("vendorInformation/provider eq 'Sentinel'", &["bianca"]),
        ("createdDateTime gt 2020-06-01T00:00:00Z", &["bianca", "carl"]),
        ("createdDateTime eq 2021-06-01T10:00:00Z", &["bianca"]),
        ("riskScore in ('20', '55')", &["bianca", "carl"]),
        ("not (riskScore eq '80')", &["bianca", "carl", "dana"]),
        ("level gt 2", &["alex"]),
    ];
    for (expr, expected) in cases {
        assert_eq!(filter(&server, &token, expr).await, expected, "{expr}");
    }
    // Spellings of the option name, and /$count honouring the filter.
    for name in ["%24filter", "filter", "$FILTER"] {
        let got = ids(&server, &token, &format!("{name}={}", q("tags/any(t: t eq 'VIP')"))).await;
        assert_eq!(got, ["bianca"], "{name}");
    }
    let count = server
        .request(
            Method::GET,
            &format!("{COLLECTION}/$count?$filter={}", q("startswith(userPrincipalName,'a') or riskScore eq null")),
            &token,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(count, "2");
    let page: Value =
        server.get_json(&format!("{COLLECTION}?$count=true&$top=1&$filter={}", q("riskScore ne '80'")), &token).await;
    assert_eq!(page["@odata.count"], 3);
}

/// Tag lambdas and `tags/$count` see each profile's current tags after PATCH and DELETE,
/// whether SQLite answers them from its tag index (`t eq 'x'`) or from its copy of the array.
async fn tag_filters_follow_writes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "p1", "tags": ["a", "b", "a"]})).await;
    server.create(&token, json!({"id": "p2", "tags": ["b"]})).await;
    let patch = |id: &'static str, body: Value| {
        let request = server.request(Method::PATCH, &item(id), &token).json(&body);
        async move { assert_eq!(request.send().await.unwrap().status(), 200) }
    };
    let expect = |cases: Vec<(&'static str, Vec<&'static str>)>| {
        let (server, token) = (&server, &token);
        async move {
            for (expr, expected) in cases {
                assert_eq!(filter(server, token, expr).await, expected, "{expr}");
            }
        }
    };
    expect(vec![
        ("tags/any(t: t eq 'a')", vec!["p1"]),
        ("tags/any(t: t in ('a', 'b'))", vec!["p1", "p2"]),
        ("tags/$count eq 3", vec!["p1"]),
        ("tags/all(t: t eq 'b')", vec!["p2"]),
        ("tags/all(t: t ne 'a')", vec!["p2"]),
    ])
    .await;

    patch("p1", json!({"tags": ["b", "c"]})).await;
    patch("p2", json!({"tags": ["b", "b"]})).await;
    expect(vec![
        ("tags/any(t: t eq 'a')", vec![]),
        ("tags/any(t: t eq 'c')", vec!["p1"]),
        ("tags/any(t: t eq 'b')", vec!["p1", "p2"]),
        ("tags/$count eq 2", vec!["p1", "p2"]),
        ("tags/any(t: startswith(t, 'c'))", vec!["p1"]),
    ])
    .await;

    patch("p1", json!({"tags": []})).await;
    expect(vec![("tags/any(t: t eq 'c')", vec![]), ("tags/any()", vec!["p2"]), ("tags/$count eq 0", vec!["p1"])]).await;

    // A deleted profile leaves no tags behind for a new one with its id.
    patch("p1", json!({"tags": ["d"]})).await;
    let response = server.request(Method::DELETE, &item("p1"), &token).send().await.unwrap();
    assert_eq!(response.status(), 204);
    server.create(&token, json!({"id": "p1"})).await;
    expect(vec![("tags/any(t: t eq 'd')", vec![]), ("tags/any(t: t eq 'b')", vec!["p2"])]).await;
}

async fn orderby_pages_through_next_links_in_order(backend: Backend) {
    let (server, token) = seeded(backend).await;
    assert_eq!(
        ids(&server, &token, "$orderby=riskScore").await,
        ["dana", "bianca", "carl", "alex"],
        "nulls first ascending"
    );
    assert_eq!(
        ids(&server, &token, "$orderby=riskScore%20desc").await,
        ["alex", "carl", "bianca", "dana"],
        "nulls last descending"
    );
    assert_eq!(ids(&server, &token, "$orderby=createdDateTime%20desc,id").await, ["carl", "bianca", "alex", "dana"]);
    // Walk `displayName desc` one item per page.
    let mut url = server.url(&format!("{COLLECTION}?$orderby={}&$top=1", q("displayName desc")));
    let mut seen = Vec::new();
    loop {
        let page: Value = server.client.get(&url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        seen.extend(page["value"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()));
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ["dana", "bianca", "alex", "carl"]);
}

async fn select_trims_members_and_names_them_in_the_context(backend: Backend) {
    let (server, token) = seeded(backend).await;
    let page: Value =
        server.get_json(&format!("{COLLECTION}?$select=id,TAGS,level&$filter={}", q("id eq 'alex'")), &token).await;
    assert_eq!(
        page["@odata.context"],
        format!("{}/beta/$metadata#security/userSecurityProfiles(id,tags,level)", server.base)
    );
    let alex = &page["value"][0];
    let members: Vec<&str> =
        alex.as_object().unwrap().keys().map(String::as_str).filter(|k| !k.starts_with('@')).collect();
    assert_eq!(members, ["id", "tags", "level"]);
    assert_eq!(alex["tags"], json!(["HVA", "SAW"]));

    let one: Value = server.get_json(&format!("{}?$select=displayName", item("bianca")), &token).await;
    assert_eq!(
        one["@odata.context"],
        format!("{}/beta/$metadata#security/userSecurityProfiles(displayName)/$entity", server.base)
    );
    assert_eq!(one["displayName"], "Bianca Pisani");
    assert!(one.get("riskScore").is_none());
}

async fn bad_options_are_400_with_a_position(backend: Backend) {
    let (server, token) = seeded(backend).await;
    for query in [
        "$filter=displayName eq",
        "$filter=displayName eq 'unterminated",
        "$filter=vendorInformation/color eq 'x'",
        "$filter=accounts/any(a: a/status eq 'sleeping')",
        "$filter=createdDateTime gt 'yesterday'",
        "$filter=((((displayName eq 'x')",
        "$orderby=displayName sideways",
        "$orderby=tags",
        "$select=vendorInformation/provider",
    ] {
        let (name, value) = query.split_once('=').unwrap();
        let response =
            server.request(Method::GET, &format!("{COLLECTION}?{name}={}", q(value)), &token).send().await.unwrap();
        let body = expect_error(response, 400, "BadRequest").await;
        assert_eq!(body["error"]["innerError"]["code"], "invalidQueryOption", "{query}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("Invalid {name}")), "{query}: {message}");
    }
    let response = server
        .request(Method::GET, &format!("{COLLECTION}?$filter={}", q("displayName eq 'a' andd id eq 'b'")), &token)
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 400, "BadRequest").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("position"), "{body}");
}

async fn hostile_query_strings_never_500_and_change_nothing(backend: Backend) {
    let (server, token) = seeded(backend).await;
    let hostile = [
        "$filter=displayName eq 'x'; DROP TABLE profiles; --'",
        "$filter=displayName eq 'x'' OR 1=1 --'",
        "$filter=id eq 'alex' or tenant ne ''",
        "$orderby=id; DELETE FROM profiles",
        "$orderby=(SELECT 1)",
        "$select=id,doc",
        "$select=*,\"doc\"",
        "$filter=contains(displayName, '%') or contains(displayName, '_')",
        "$filter=startswith(displayName, '\\')",
        "$skiptoken=eyJrIjpbImFsZXgiXSwicSI6IiJ9.AAAA",
        "$top=1000000000000000000000",
        "$filter=tags/any(t: t eq 'HVA') and azureTenantId eq 'bbbbbbbb-0000-0000-0000-00000000000b'",
    ];
    for query in hostile {
        let (name, value) = query.split_once('=').unwrap();
        let response =
            server.request(Method::GET, &format!("{COLLECTION}?{name}={}", q(value)), &token).send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert!(status == 200 || status == 400, "{query}: {status} {body}");
        if status == 200 {
            for p in body["value"].as_array().unwrap() {
                assert_ne!(p["id"], "alex-b", "{query} leaked another tenant's profile");
                if let Some(tenant) = p.get("azureTenantId") {
                    assert_eq!(tenant, TENANT_A, "{query} leaked another tenant's profile");
                }
            }
        }
    }
    // A nested filter far deeper than allowed is refused, not a stack overflow.
    let deep = format!("{}displayName eq 'x'{}", "(".repeat(5000), ")".repeat(5000));
    let response =
        server.request(Method::GET, &format!("{COLLECTION}?$filter={}", q(&deep)), &token).send().await.unwrap();
    expect_error(response, 400, "BadRequest").await;
    assert_eq!(ids(&server, &token, "").await, ["alex", "bianca", "carl", "dana"], "the data is intact");
}

/// Filters whose cost grows without bound are refused or stopped, never left running.
#[tokio::test]
async fn costly_filters_are_refused_or_stopped() {
    let fixture = Fixture::new(Backend::Sqlite);
    let mut config = fixture.config(graphsec::config::AuthChoice::Local);
    config.max_url_bytes = 64 * 1024;
    let server = TestServer::start_config(config.clone()).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let tags: Vec<String> = (0..2000).map(|i| format!("t{i}")).collect();
    for i in 0..40 {
        server.create(&token, json!({"id": format!("p{i}"), "tags": tags})).await;
    }
    // Nested lambdas multiply the work by the collection's length at every level.
    let nested = "tags/any(a: tags/any(b: b eq a))";
    let response =
        server.request(Method::GET, &format!("{COLLECTION}?$filter={}", q(nested)), &token).send().await.unwrap();
    let body = expect_error(response, 400, "BadRequest").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("cannot be nested"));
    // The longest accepted or-chain runs; a longer one is a 400, never SQLite's depth error (500).
    let chain = |n: usize| (0..n).map(|i| format!("id eq 'x{i}'")).collect::<Vec<_>>().join(" or ");
    let response =
        server.request(Method::GET, &format!("{COLLECTION}?$filter={}", q(&chain(140))), &token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let response =
        server.request(Method::GET, &format!("{COLLECTION}?$filter={}", q(&chain(998))), &token).send().await.unwrap();
    expect_error(response, 400, "BadRequest").await;
    server.stop().await;

    // A scan that outlives the query timeout is stopped and answered 400 (a zero timeout stops
    // every scan that does real work).
    config.storage.query_timeout = 0;
    let server = TestServer::start_config(config).await;
    let slow = "tags/any(t: endswith(t, 'zz'))";
    for path in [format!("{COLLECTION}?$filter={}", q(slow)), format!("{COLLECTION}/$count?$filter={}", q(slow))] {
        let response = server.request(Method::GET, &path, &token).send().await.unwrap();
        let body = expect_error(response, 400, "BadRequest").await;
        assert_eq!(body["error"]["innerError"]["code"], "queryTooExpensive");
    }
    // Point reads are not scans and are not limited.
    assert_eq!(server.request(Method::GET, &item("p1"), &token).send().await.unwrap().status(), 200);
}
