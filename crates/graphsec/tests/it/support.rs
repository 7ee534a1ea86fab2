//! A real graphsec server on 127.0.0.1:0 with its own data directory, and a client for it.

use graphsec::auth::local::{LocalKey, TokenRequest};
use graphsec::config::{AuthChoice, LogFormat, ServeConfig};
use graphsec::store::sqlite::Durability;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use std::path::{Path, PathBuf};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const TENANT_A: &str = "aaaaaaaa-0000-0000-0000-00000000000a";
pub const TENANT_B: &str = "bbbbbbbb-0000-0000-0000-00000000000b";
pub const READ_WRITE: &str = "SecurityEvents.ReadWrite.All";
pub const READ: &str = "SecurityEvents.Read.All";

pub struct TestServer {
    pub base: String,
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    pub client: reqwest::Client,
}

pub fn config(data_dir: &Path, auth: AuthChoice) -> ServeConfig {
    ServeConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: data_dir.to_path_buf(),
        auth,
        log_format: LogFormat::Text,
        log_level: "warn".into(),
        durability: Durability::Normal,
        page_size: 100,
        max_body_bytes: 1024 * 1024,
        default_tenant: TENANT_A.into(),
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(AuthChoice::Local).await
    }

    pub async fn start_with(auth: AuthChoice) -> TestServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_config(config(temp.path(), auth)).await;
        server._temp = Some(temp);
        server
    }

    pub async fn start_config(config: ServeConfig) -> TestServer {
        let server = graphsec::app::Server::bind(&config)
            .await
            .expect("server binds");
        let addr = server.local_addr().expect("address");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        TestServer {
            base: format!("http://{addr}"),
            data_dir: config.data_dir.clone(),
            _temp: None,
            shutdown: Some(tx),
            task: Some(task),
            client: reqwest::Client::builder()
                .no_gzip()
                .build()
                .expect("client"),
        }
    }

    /// Stops the server (graceful shutdown) and keeps the data directory for a restart.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server stopped cleanly");
        }
        self._temp.take()
    }

    pub fn token(&self, tenant: &str, scopes: &str) -> String {
        mint(&self.data_dir, tenant, scopes, false)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    pub async fn create(&self, token: &str, body: Value) -> Value {
        let response = self
            .request(Method::POST, COLLECTION, token)
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(
            response.status(),
            201,
            "create failed: {}",
            response.text().await.unwrap_or_default()
        );
        response.json().await.expect("json")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub const COLLECTION: &str = "/beta/security/userSecurityProfiles";

pub fn item(id: &str) -> String {
    format!("{COLLECTION}/{id}")
}

pub fn mint(data_dir: &Path, tenant: &str, scopes: &str, app: bool) -> String {
    LocalKey::load_or_create(data_dir)
        .expect("key")
        .mint(&TokenRequest {
            tenant: tenant.into(),
            permissions: scopes.split_whitespace().map(String::from).collect(),
            app,
            subject: "test".into(),
            ttl_seconds: 600,
        })
        .expect("token")
}

/// Asserts a Graph error response and returns its body.
pub async fn expect_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "errors are JSON"
    );
    let request_id = response.headers()["request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = response.json().await.expect("error body is JSON");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(
        body["error"]["innerError"]["request-id"],
        request_id.as_str()
    );
    assert!(body["error"]["innerError"]["date"].is_string());
    body
}
