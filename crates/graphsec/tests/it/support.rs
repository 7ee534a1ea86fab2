//! A real graphsec server on 127.0.0.1:0 with its own data directory, and a client for it.

use graphsec::auth::local::{LocalKey, TokenRequest};
use graphsec::config::{AuthChoice, LogFormat, ServeConfig, StorageArgs};
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

/// Which store a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// SQLite in process memory (`serve --in-memory`).
    Memory,
    Postgres,
}

/// The PostgreSQL server for tests, from `GRAPHSEC_TEST_POSTGRES`.
pub fn postgres_url() -> Option<String> {
    std::env::var("GRAPHSEC_TEST_POSTGRES").ok().filter(|u| !u.is_empty())
}

/// A test's own storage: a temporary data directory and, on PostgreSQL, a fresh schema that is
/// dropped with the fixture, so runs never see each other's rows.
pub struct Fixture {
    pub temp: tempfile::TempDir,
    schema: Option<String>,
    in_memory: bool,
}

/// The PostgreSQL server a PostgreSQL test must use: one that is not named fails the test (it
/// runs only when the build saw a server named, or under CI).
pub fn required_postgres_url() -> String {
    postgres_url().expect("GRAPHSEC_TEST_POSTGRES must name the PostgreSQL server for this test")
}

impl Fixture {
    pub fn new(backend: Backend) -> Fixture {
        let schema = (backend == Backend::Postgres).then(|| {
            required_postgres_url();
            format!("gs_test_{}", uuid::Uuid::new_v4().simple())
        });
        Fixture { temp: tempfile::tempdir().expect("temp dir"), schema, in_memory: backend == Backend::Memory }
    }

    /// The PostgreSQL schema of this fixture (None on SQLite).
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    pub fn config(&self, auth: AuthChoice) -> ServeConfig {
        ServeConfig {
            listen: "127.0.0.1:0".into(),
            storage: StorageArgs {
                data_dir: self.temp.path().to_path_buf(),
                database_url: self.schema.as_ref().and(postgres_url()),
                database_schema: self.schema.clone(),
                database_pool_size: 8,
                database_timeout: 5,
                query_timeout: 10,
                durability: Durability::Full,
                in_memory: self.in_memory,
            },
            audit_retention: 0,
            no_migrate: false,
            auth,
            issuer: Vec::new(),
            audience: Vec::new(),
            jwks_url: Vec::new(),
            jwks_file: Vec::new(),
            external_issuers: Vec::new(),
            tls_cert: None,
            tls_key: None,
            header_read_timeout: 10,
            request_timeout: 30,
            max_connections: 1024,
            max_url_bytes: 16 * 1024,
            max_header_bytes: 64 * 1024,
            metrics_listen: None,
            chaos_rate: 0.0,
            chaos_latency_ms: 0,
            log_format: LogFormat::Text,
            log_level: "warn".into(),
            rate_limit: None,
            rate_limit_burst: None,
            page_size: 100,
            max_body_bytes: 1024 * 1024,
            response_memory_mb: 256,
            response_memory_wait: 5,
            default_tenant: TENANT_A.into(),
            cors_origins: "*".into(),
            public_url: None,
            trusted_proxies: String::new(),
            seed_files: Vec::new(),
            journal_size: 10_000,
            no_console: false,
        }
    }
}

impl Fixture {
    /// The same storage as command-line arguments for `graphsec serve`.
    pub fn serve_args(&self) -> Vec<String> {
        if self.in_memory {
            return vec!["--in-memory".to_string()];
        }
        let mut args = vec!["--data-dir".to_string(), self.temp.path().display().to_string()];
        if let (Some(schema), Some(url)) = (&self.schema, postgres_url()) {
            args.extend(["--database-url".into(), url, "--database-schema".into(), schema.clone()]);
        }
        args
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let (Some(schema), Some(url)) = (self.schema.take(), postgres_url()) else {
            return;
        };
        // Drop is synchronous: the async cleanup runs on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                    let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

pub struct TestServer {
    pub base: String,
    pub data_dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    pub client: reqwest::Client,
    /// The server's API, called in-process by [`TestServer::request`].
    pub router: axum::Router,
    pub store: graphsec::store::Store,
    pub budget: graphsec::api::budget::ResponseBudget,
    /// The key the server accepts tokens of (in memory with `--in-memory`).
    key: std::sync::Arc<LocalKey>,
    /// Owned when the server made its own; declared last so it goes after the server stopped.
    fixture: Option<Fixture>,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, AuthChoice::Local).await
    }

    pub async fn start_with(backend: Backend, auth: AuthChoice) -> TestServer {
        let fixture = Fixture::new(backend);
        let mut server = Self::start_config(fixture.config(auth)).await;
        server.fixture = Some(fixture);
        server
    }

    pub async fn start_config(config: ServeConfig) -> TestServer {
        let server = graphsec::app::Server::bind(&config).await.expect("server binds");
        let addr = server.local_addr().expect("address");
        let store = server.store().clone();
        let budget = server.budget().clone();
        let key = server.token_key();
        let router = server.router();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        TestServer {
            base: format!("http://{addr}"),
            data_dir: config.storage.data_dir.clone(),
            shutdown: Some(tx),
            task: Some(task),
            client: reqwest::Client::builder().no_gzip().build().expect("client"),
            router,
            store,
            budget,
            key,
            fixture: None,
        }
    }

    /// Keeps `fixture` (the data directory or schema) until the server is gone.
    pub fn own_fixture(&mut self, fixture: Fixture) {
        self.fixture = Some(fixture);
    }

    /// Stops the server with a graceful shutdown and waits for it.
    pub async fn stop(self) {
        self.stop_with_result().await.expect("server stopped cleanly");
    }

    /// Stops the server and returns what `Server::run` returned.
    pub async fn stop_with_result(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.expect("server task"),
            None => Ok(()),
        }
    }

    pub fn token(&self, tenant: &str, scopes: &str) -> String {
        self.mint(tenant, scopes, false)
    }

    /// A token of the server's key, delegated or (`app`) an application's.
    pub fn mint(&self, tenant: &str, scopes: &str, app: bool) -> String {
        mint_with(&self.key, tenant, scopes, app, false)
    }

    /// A token for the test-control API (`graphsec token --admin`), reading and writing `tenant`.
    pub fn admin_token(&self, tenant: &str) -> String {
        mint_with(&self.key, tenant, READ_WRITE, false, true)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request to the API, answered in-process by the server's router.
    pub fn request(&self, method: Method, path: &str, token: &str) -> TestRequest {
        TestRequest { builder: self.over_socket(method, path, token), router: Some(self.router.clone()) }
    }

    /// A request without a token, answered in-process.
    pub fn unauthenticated(&self, method: Method, path: &str) -> TestRequest {
        TestRequest { builder: self.client.request(method, self.url(path)), router: Some(self.router.clone()) }
    }

    /// A request over a real connection to the server's socket.
    pub fn over_socket(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(token)
    }

    /// GET and parse the JSON answer, whatever its status (callers assert what they expect).
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        self.request(Method::GET, path, token).send().await.expect("send").json().await.expect("json")
    }

    pub async fn create(&self, token: &str, body: Value) -> Value {
        let response = self.request(Method::POST, COLLECTION, token).json(&body).send().await.expect("send");
        assert_eq!(response.status(), 201, "create failed: {}", response.text().await.unwrap_or_default());
        response.json().await.expect("json")
    }
}

/// A request built like reqwest's and sent either in-process to a router or over the socket.
pub struct TestRequest {
    builder: RequestBuilder,
    router: Option<axum::Router>,
}

impl TestRequest {
    pub fn header<K, V>(self, key: K, value: V) -> TestRequest
    where
        reqwest::header::HeaderName: TryFrom<K>,
        <reqwest::header::HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        reqwest::header::HeaderValue: TryFrom<V>,
        <reqwest::header::HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        TestRequest { builder: self.builder.header(key, value), ..self }
    }

    pub fn json<T: serde::Serialize + ?Sized>(self, json: &T) -> TestRequest {
        TestRequest { builder: self.builder.json(json), ..self }
    }

    pub fn body<T: Into<reqwest::Body>>(self, body: T) -> TestRequest {
        TestRequest { builder: self.builder.body(body), ..self }
    }

    pub async fn send(self) -> reqwest::Result<Response> {
        let Some(router) = self.router else {
            return self.builder.send().await;
        };
        let request = self.builder.build()?;
        Ok(in_process(router, request).await)
    }
}

/// What a client would send over the wire: an origin-form target with a Host header, and the
/// answer's bytes read whole.
async fn in_process(router: axum::Router, request: reqwest::Request) -> Response {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let url = request.url().clone();
    let request: http::Request<reqwest::Body> = request.try_into().expect("an http request");
    let (mut parts, body) = request.into_parts();
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    parts.uri = target.parse().expect("origin-form target");
    let host = format!("{}:{}", url.host_str().unwrap_or("localhost"), url.port().unwrap_or(80));
    parts.headers.entry(http::header::HOST).or_insert(host.parse().expect("host"));
    let bytes = body.as_bytes().map(<[u8]>::to_vec).unwrap_or_default();
    let response = router.oneshot(http::Request::from_parts(parts, axum::body::Body::from(bytes))).await;
    let (parts, body) = response.expect("the router answers").into_parts();
    let bytes = body.collect().await.expect("the answer's body").to_bytes();
    Response::from(http::Response::from_parts(parts, bytes))
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
    mint_with(&LocalKey::load_or_create(data_dir).expect("key"), tenant, scopes, app, false)
}

fn mint_with(key: &LocalKey, tenant: &str, scopes: &str, app: bool, admin: bool) -> String {
    key.mint(&TokenRequest {
        tenant: tenant.into(),
        permissions: scopes.split_whitespace().map(String::from).collect(),
        app,
        subject: "test".into(),
        ttl_seconds: 600,
        admin,
    })
    .expect("token")
}

/// Asserts a Graph error response and returns its body.
pub async fn expect_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"), "errors are JSON");
    let request_id = response.headers()["request-id"].to_str().unwrap().to_string();
    let body: Value = response.json().await.expect("error body is JSON");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert_eq!(body["error"]["innerError"]["request-id"], request_id.as_str());
    assert!(body["error"]["innerError"]["date"].is_string());
    body
}

/// A free port on 127.0.0.1 for a server process that is told its address.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A server process that is killed when the test lets go of it, however the test ends.
pub struct Running(pub std::process::Child);

impl std::ops::Deref for Running {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the real `graphsec serve` binary on 127.0.0.1:`port` with extra arguments.
pub fn start_binary(port: u16, args: &[&str]) -> Running {
    Running(
        std::process::Command::new(env!("CARGO_BIN_EXE_graphsec"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--log-level", "warn"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start graphsec"),
    )
}

/// Waits until `GET /healthz` answers 200.
pub async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("graphsec at {base} did not become ready");
}

/// The fault hooks of the SQLite store a server runs on.
pub fn sqlite_faults(server: &TestServer) -> &graphsec::store::sqlite::faults::Faults {
    match &server.store {
        graphsec::store::Store::Sqlite(store) => store.faults(),
        graphsec::store::Store::Postgres(_) => panic!("fault injection is for the SQLite store"),
    }
}
