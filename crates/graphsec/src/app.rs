//! Server assembly: state, router, listener and graceful shutdown.

use crate::auth::external::ExternalVerifier;
use crate::auth::local::LocalKey;
use crate::config::{AuthChoice, ServeConfig, StorageArgs};
use crate::store::postgres::PgSettings;
use crate::store::{PgStore, SqliteStore, Store};
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

#[allow(clippy::large_enum_variant)] // one per server
pub enum AuthMode {
    /// The local key (the data directory's, or with `--in-memory` one held in memory), and any
    /// configured external issuers.
    Local { key: Arc<LocalKey>, external: Option<ExternalVerifier> },
    /// Emulator only: no token needed, every tenant visible.
    Off,
}

pub struct AppState {
    pub store: Store,
    pub auth: AuthMode,
    pub page_size: usize,
    pub max_body_bytes: usize,
    /// Tenant of profiles created without azureTenantId when auth is off.
    pub default_tenant: String,
    pub tls: bool,
    pub throttle: Option<crate::api::throttle::Throttle>,
    pub request_timeout: std::time::Duration,
    pub max_url_bytes: usize,
    /// hyper refuses far larger heads itself (431); this is the exact limit.
    pub max_header_bytes: usize,
    pub chaos: Option<crate::api::chaos::Chaos>,
    /// Memory for response bodies being built or sent.
    pub budget: crate::api::budget::ResponseBudget,
    /// The origins whose pages may call the API; `None`: no cross-origin requests.
    pub cors: Option<Arc<crate::api::cors::CorsOrigins>>,
    /// Where the links written into answers point.
    pub public_url: crate::api::public_url::PublicUrl,
    /// The requests answered last (`GET /_graphsec/requests`); `None` with `--journal-size 0`.
    pub journal: Option<Arc<crate::api::journal::Journal>>,
    /// The key `POST /_graphsec/tokens` signs with: the local key, or with `--auth off` one of
    /// this process (its tokens are not checked anyway).
    pub token_key: Arc<LocalKey>,
    /// Whether the web console is served (`--no-console` turns it off).
    pub console: bool,
}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: crate::server::ConnectionLimits,
    metrics: Option<(TcpListener, metrics_exporter_prometheus::PrometheusHandle)>,
    /// Held while the server runs on an SQLite data directory.
    lock: Option<crate::data_dir::DirLock>,
    /// Seconds audit entries are kept; 0 keeps them all.
    audit_retention: u64,
}

impl Server {
    pub async fn bind(config: &ServeConfig) -> anyhow::Result<Server> {
        // Nothing is created in the data directory before the address is known to be free.
        let listener = listen("--listen", &config.listen).await?;
        let public_url = crate::api::public_url::PublicUrl::new(config.public_url.as_deref(), &config.trusted_proxies)
            .map_err(anyhow::Error::msg)?;
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
            _ => None,
        };
        let lock = match config.storage.database_url.is_some() || config.storage.in_memory {
            true => None,
            false => Some(crate::data_dir::DirLock::acquire(&config.storage.data_dir)?),
        };
        let store = open_store(&config.storage, !config.no_migrate).await?;
        let auth = auth_mode(config).await?;
        let token_key = match &auth {
            AuthMode::Local { key, .. } => key.clone(),
            AuthMode::Off => Arc::new(LocalKey::in_memory()?),
        };
        for file in &config.seed_files {
            seed(&store, file, &config.default_tenant).await?;
        }
        if !config.seed_files.is_empty() {
            // The planner's statistics were gathered on the store as it was before the load.
            store.analyze().await?;
        }
        let state = Arc::new(AppState {
            store,
            auth,
            page_size: config.page_size,
            max_body_bytes: config.max_body_bytes,
            default_tenant: config.default_tenant.clone(),
            tls: tls.is_some(),
            throttle: throttle(config),
            request_timeout: std::time::Duration::from_secs(config.request_timeout),
            max_url_bytes: config.max_url_bytes,
            max_header_bytes: config.max_header_bytes as usize,
            chaos: chaos(config),
            budget: crate::api::budget::ResponseBudget::new(
                (config.response_memory_mb as usize) << 20,
                std::time::Duration::from_secs(config.response_memory_wait),
            ),
            cors: crate::api::cors::CorsOrigins::parse(&config.cors_origins).map(Arc::new),
            public_url,
            journal: crate::api::journal::Journal::new(config.journal_size),
            token_key,
            console: !config.no_console,
        });
        let limits = crate::server::ConnectionLimits {
            header_read_timeout: std::time::Duration::from_secs(config.header_read_timeout),
            max_connections: config.max_connections.max(1),
            max_header_bytes: config.max_header_bytes as usize,
            shutdown_grace: std::time::Duration::from_secs(30),
        };
        let metrics = metrics_listener(config).await?;
        Ok(Server { listener, state, tls, limits, metrics, lock, audit_retention: config.audit_retention })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The store the server runs on (tests reach its fault hooks through it).
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The response memory budget (tests read how much of it is in use).
    pub fn budget(&self) -> &crate::api::budget::ResponseBudget {
        &self.state.budget
    }

    /// The key that signs the tokens `/_graphsec/tokens` mints; with `--auth local`, the key the
    /// server accepts tokens of (held in memory with `--in-memory`).
    pub fn token_key(&self) -> Arc<LocalKey> {
        self.state.token_key.clone()
    }

    /// The API over this server's state, to be called in-process.
    pub fn router(&self) -> axum::Router {
        crate::api::router(self.state.clone())
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests and flushes the store.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let store = self.state.store.clone();
        let housekeeping = {
            let state = self.state.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
                loop {
                    tick.tick().await;
                    if let Some(throttle) = &state.throttle {
                        throttle.forget_idle();
                    }
                }
            })
        };
        let retention = audit_retention(self.state.store.clone(), self.audit_retention);
        let router = crate::api::router(self.state);
        let (stop, stopped) = tokio::sync::watch::channel(());
        let metrics = self.metrics.map(|(listener, handle)| {
            let mut stopped = stopped.clone();
            tokio::spawn(crate::telemetry::serve(listener, handle, async move {
                let _ = stopped.changed().await;
            }))
        });
        let shutdown = async move {
            shutdown.await;
            let _ = stop.send(());
        };
        crate::server::serve(self.listener, router, self.tls, self.limits, shutdown).await;
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        housekeeping.abort();
        if let Some(retention) = retention {
            retention.abort();
        }
        let closed = store.close().await;
        drop(self.lock);
        closed.context("closing the store failed: the last writes may not be on disk")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Binds the `address` (`HOST:PORT`) given with `flag`, or says what to do about it.
async fn listen(flag: &str, address: &str) -> anyhow::Result<TcpListener> {
    if address.parse::<u16>().is_ok() {
        anyhow::bail!("{flag} takes HOST:PORT, e.g. {flag} 127.0.0.1:{address}");
    }
    TcpListener::bind(address).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "cannot listen on {address}: another process is using it; stop it or choose another address with {flag} HOST:PORT"
        ),
        std::io::ErrorKind::PermissionDenied => anyhow::anyhow!(
            "cannot listen on {address}: permission denied (ports below 1024 need privileges); choose another with {flag} HOST:PORT"
        ),
        _ => anyhow::anyhow!("cannot listen on {address}: {e}; {flag} takes HOST:PORT, e.g. 127.0.0.1:8080"),
    })
}

async fn auth_mode(config: &ServeConfig) -> anyhow::Result<AuthMode> {
    match config.auth {
        AuthChoice::Local => {
            let external = match config.external_issuers.is_empty() {
                true => None,
                false => Some(ExternalVerifier::new(config.external_issuers.clone()).await?),
            };
            let key = match config.storage.in_memory {
                true => LocalKey::in_memory()?,
                false => LocalKey::load_or_create(&config.storage.data_dir)?,
            };
            Ok(AuthMode::Local { key: Arc::new(key), external })
        }
        AuthChoice::Off => {
            tracing::warn!(
                "AUTHENTICATION IS OFF (--auth off): anyone who can reach {} can read and change every tenant's profiles. Use this only as a local emulator.",
                config.listen
            );
            Ok(AuthMode::Off)
        }
    }
}

/// The metrics listener and the recorder it serves, when `--metrics-listen` asks for them.
async fn metrics_listener(
    config: &ServeConfig,
) -> anyhow::Result<Option<(TcpListener, metrics_exporter_prometheus::PrometheusHandle)>> {
    let Some(address) = &config.metrics_listen else {
        return Ok(None);
    };
    let handle = crate::telemetry::install()?;
    let listener = listen("--metrics-listen", address).await?;
    tracing::info!(listen = %listener.local_addr()?, "metrics at GET /metrics");
    Ok(Some((listener, handle)))
}

/// Deletes audit entries older than `retention_seconds` (none when 0), checking at least once a
/// minute, and for short retentions ten times per retention, so that no entry outlives it by
/// much and each pass deletes little.
fn audit_retention(store: Store, retention_seconds: u64) -> Option<tokio::task::JoinHandle<()>> {
    if retention_seconds == 0 {
        return None;
    }
    let every = std::time::Duration::from_secs((retention_seconds / 10).clamp(1, 60));
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let before = crate::domain::datetime::seconds_ago(retention_seconds);
            match store.prune_audit(&before).await {
                Ok(0) => {}
                Ok(deleted) => tracing::debug!(deleted, %before, "pruned the audit trail"),
                Err(e) => tracing::warn!(error = %e, "cannot prune the audit trail; trying again later"),
            }
        }
    }))
}

fn throttle(config: &ServeConfig) -> Option<crate::api::throttle::Throttle> {
    let default = match config.auth {
        AuthChoice::Local => 1000,
        AuthChoice::Off => 0,
    };
    let rate = std::num::NonZeroU32::new(config.rate_limit.unwrap_or(default))?;
    let twice = std::num::NonZeroU32::new(rate.get().saturating_mul(2)).unwrap_or(rate);
    let burst = config.rate_limit_burst.and_then(std::num::NonZeroU32::new).unwrap_or(twice);
    tracing::info!(per_second = rate.get(), burst = burst.get(), "rate limit per tenant and application");
    Some(crate::api::throttle::Throttle::new(rate, burst))
}

fn chaos(config: &ServeConfig) -> Option<crate::api::chaos::Chaos> {
    let failure_rate = config.chaos_rate.clamp(0.0, 1.0);
    let max_latency = std::time::Duration::from_millis(config.chaos_latency_ms);
    if failure_rate == 0.0 && max_latency.is_zero() {
        return None;
    }
    tracing::warn!(failure_rate, latency_ms = config.chaos_latency_ms, "CHAOS MODE: requests fail and wait on purpose");
    Some(crate::api::chaos::Chaos { failure_rate, max_latency })
}

/// Loads a `--seed-file` before the server is ready.
async fn seed(store: &Store, file: &std::path::Path, tenant: &str) -> anyhow::Result<()> {
    let opened = std::fs::File::open(file).with_context(|| format!("cannot open --seed-file {}", file.display()))?;
    let reader = std::io::BufReader::with_capacity(1 << 20, opened);
    let report = crate::import::load(store, reader, tenant, 5_000)
        .await
        .with_context(|| format!("cannot load --seed-file {}", file.display()))?;
    tracing::info!(file = %file.display(), inserted = report.inserted, skipped = report.skipped, "seeded");
    Ok(())
}

/// Opens the configured store: PostgreSQL when a database URL is given, SQLite in memory with
/// `--in-memory`, else SQLite in the data directory.
pub async fn open_store(args: &StorageArgs, migrate_on_start: bool) -> anyhow::Result<Store> {
    if args.in_memory {
        let store = SqliteStore::open_in_memory(std::time::Duration::from_secs(args.query_timeout))
            .context("cannot open the in-memory database")?;
        return Ok(Store::Sqlite(store));
    }
    match &args.database_url {
        Some(url) => {
            let store = PgStore::connect(&pg_settings(args, url), migrate_on_start)
                .await
                .context("cannot open the PostgreSQL database")?;
            Ok(Store::Postgres(Arc::new(store)))
        }
        None => {
            crate::data_dir::create(&args.data_dir)?;
            let path = args.data_dir.join(crate::data_dir::SQLITE_FILE);
            // SQLite reports any failure to open as "unable to open database file"; the operating
            // system says which it is (permission denied, a directory, a read-only file system).
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .with_context(|| format!("cannot open the database {}", path.display()))?;
            let store = SqliteStore::open(&path, args.durability, std::time::Duration::from_secs(args.query_timeout))
                .with_context(|| format!("cannot open the database {}", path.display()))?;
            Ok(Store::Sqlite(store))
        }
    }
}

/// Opens the store of a data directory `graphsec serve` made (or the PostgreSQL database), for
/// the commands that must not create one.
pub async fn open_existing_store(args: &StorageArgs) -> anyhow::Result<Store> {
    if args.database_url.is_none() {
        crate::data_dir::require(&args.data_dir, crate::data_dir::SQLITE_FILE)?;
    }
    open_store(args, true).await
}

pub fn pg_settings(args: &StorageArgs, url: &str) -> PgSettings {
    PgSettings {
        url: url.to_string(),
        schema: args.database_schema.clone(),
        pool_size: args.database_pool_size.max(1),
        acquire_timeout: std::time::Duration::from_secs(args.database_timeout),
        query_timeout: std::time::Duration::from_secs(args.query_timeout),
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown requested; finishing in-flight requests");
}
