//! docs/limits.md §5–§6: a flood from one tenant is throttled while another tenant keeps being served.

use crate::support::*;
use graphsec::config::AuthChoice;
use reqwest::Method;

backend_tests!(a_flooding_tenant_gets_429_while_another_is_served);

async fn a_flooding_tenant_gets_429_while_another_is_served(backend: Backend) {
    let fixture = Fixture::new(backend);
    let mut config = fixture.config(AuthChoice::Local);
    config.rate_limit = Some(5);
    config.rate_limit_burst = Some(10);
    let server = TestServer::start_config(config).await;
    let flooder = server.token(TENANT_A, READ_WRITE);
    let bystander = server.token(TENANT_B, READ_WRITE);

    let mut throttled = 0;
    for _ in 0..40 {
        let response = server.request(Method::GET, COLLECTION, &flooder).send().await.unwrap();
        if response.status() == 429 {
            throttled += 1;
            let retry_after: u64 =
                response.headers()["retry-after"].to_str().unwrap().parse().expect("integer seconds");
            assert!(retry_after >= 1);
            let body = expect_error(response, 429, "TooManyRequests").await;
            assert_eq!(body["error"]["innerError"]["code"], "throttledRequest");
        } else {
            assert_eq!(response.status(), 200);
        }
    }
    assert!(throttled >= 25, "only {throttled} of 40 requests were throttled");
    for _ in 0..5 {
        let response = server.request(Method::GET, COLLECTION, &bystander).send().await.unwrap();
        assert_eq!(response.status(), 200, "another tenant must keep being served");
    }
}

#[tokio::test]
async fn chaos_mode_fails_a_share_of_requests_graph_style_and_executes_none_of_them() {
    let fixture = Fixture::new(Backend::Sqlite);
    let mut config = fixture.config(AuthChoice::Local);
    config.chaos_rate = 0.5;
    config.chaos_latency_ms = 2;
    let server = TestServer::start_config(config).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let mut created = 0;
    let mut statuses = std::collections::BTreeSet::new();
    for i in 0..80 {
        let response = server
            .request(Method::POST, COLLECTION, &token)
            .json(&serde_json::json!({"id": format!("c{i}")}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        statuses.insert(status);
        if status == 201 {
            created += 1;
        } else {
            assert!([429, 500, 503, 504].contains(&status), "{status}");
            if status != 500 {
                assert!(response.headers().contains_key("retry-after"));
            }
            let body: serde_json::Value = response.json().await.unwrap();
            assert!(body["error"]["code"].is_string());
        }
    }
    assert!((15..=65).contains(&created), "about half should pass, {created} did");
    assert!(statuses.len() >= 4, "several failure kinds: {statuses:?}");
    // Only the acknowledged creates exist.
    let mut config = fixture.config(AuthChoice::Local);
    config.listen = "127.0.0.1:0".into();
    server.stop().await;
    let calm = TestServer::start_config(config).await;
    let count =
        calm.request(Method::GET, &format!("{COLLECTION}/$count"), &token).send().await.unwrap().text().await.unwrap();
    assert_eq!(count, created.to_string());
}
