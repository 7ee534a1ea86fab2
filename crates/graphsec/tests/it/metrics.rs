//! `--metrics-listen`: Prometheus metrics on their own port, never on the API port.

use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn metrics_are_served_on_their_own_listener() {
    let fixture = Fixture::new(Backend::Sqlite);
    let (port, metrics_port) = (free_port(), free_port());
    let data_dir = fixture.temp.path().display().to_string();
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let mut child = start_binary(
        port,
        &["--data-dir", &data_dir, "--metrics-listen", &metrics_listen, "--rate-limit", "1", "--rate-limit-burst", "3"],
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;
    let token = mint(fixture.temp.path(), TENANT_A, READ_WRITE, false);
    client.post(format!("{base}{COLLECTION}")).bearer_auth(&token).json(&json!({"id": "m"})).send().await.unwrap();
    for _ in 0..4 {
        client.get(format!("{base}{}", item("m"))).bearer_auth(&token).send().await.unwrap();
    }
    let text = client.get(format!("http://{metrics_listen}/metrics")).send().await.unwrap().text().await.unwrap();
    for expected in [
        r#"graphsec_requests_total{operation="create",status="201"} 1"#,
        r#"graphsec_requests_total{operation="get",status="429"}"#,
        "graphsec_request_duration_seconds_bucket{",
        r#"graphsec_store_duration_seconds_count{operation="write"} 1"#,
        "graphsec_group_commit_size_count 1",
        "graphsec_writer_queue_depth 0",
        "graphsec_throttled_total",
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    let on_api_port = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(on_api_port.status(), 400, "metrics must not be exposed on the API port");
    child.kill().unwrap();
    child.wait().unwrap();
}
