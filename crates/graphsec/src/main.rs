use graphsec::auth::local::{LocalKey, TokenRequest};
use graphsec::config::{
    AuditAction, AuditArgs, BackupArgs, Cli, Command, DataLocation, ExportArgs, ImportArgs, LogFormat, ServeConfig,
    TokenArgs,
};
use graphsec::store::sqlite::Durability;

// Many small, short-lived allocations per request (headers, JSON, strings), made and freed on
// different threads: mimalloc handles that pattern with less locking than glibc's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let (Command::Serve(config), Some(("serve", serve))) = (&mut cli.command, matches.subcommand()) {
        match graphsec::config::external_issuers(serve) {
            Ok(issuers) => config.external_issuers = issuers,
            Err(message) => Cli::command().error(clap::error::ErrorKind::ArgumentConflict, message).exit(),
        }
    }
    let result = match cli.command {
        Command::Serve(config) => serve(config),
        Command::Token(args) => token(args),
        Command::Migrate(args) => migrate(args),
        Command::Import(args) => import(args),
        Command::Audit(args) => audit(args),
        Command::Export(args) => export(args),
        Command::Backup(args) => backup(args),
        Command::Generate(args) => to_stdout(|out| graphsec::generate::run(&args, out)),
        Command::Cert(args) => graphsec::tls::write_development_certificate(&args.out, &args.hosts).map(|()| {
            println!("wrote {0}/cert.pem and {0}/key.pem", args.out.display());
            println!("serve with: graphsec serve --tls-cert {0}/cert.pem --tls-key {0}/key.pem", args.out.display());
        }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("graphsec: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let _log = graphsec::logging::init(config.log_format, &config.log_level);
    runtime()?.block_on(async {
        let started = std::time::Instant::now();
        let server = graphsec::app::Server::bind(&config).await?;
        let scheme = if config.tls_cert.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}/beta", server.local_addr()?);
        let store = match (&config.storage.database_url, config.storage.in_memory) {
            (Some(_), _) => "postgres",
            (None, true) => "memory",
            (None, false) => "sqlite",
        };
        tracing::info!(
            url = %url,
            store,
            data_dir = %if config.storage.in_memory { "-".into() } else { config.storage.data_dir.display().to_string() },
            auth = ?config.auth,
            startup_ms = started.elapsed().as_millis() as u64,
            "graphsec is ready"
        );
        // A reader that has gone does not stop the server: the line is for whoever is listening.
        if config.storage.in_memory
            && let Err(e) = announce(&server, &config, &url)
        {
            tracing::warn!(error = %format!("{e:#}"), "cannot print the ready line on standard output");
        }
        server.run(graphsec::app::shutdown_signal()).await
    })
}

/// What a test fixture needs of an in-memory server, as one JSON line on standard output once it
/// is ready: its URL, and a token for --default-tenant that is also an admin token (its key
/// exists only in this process, so `graphsec token` cannot mint one). `null` with --auth off.
fn announce(server: &graphsec::app::Server, config: &ServeConfig, url: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let token = match config.auth {
        graphsec::config::AuthChoice::Off => None,
        graphsec::config::AuthChoice::Local => Some(server.token_key().mint(&TokenRequest {
            tenant: config.default_tenant.clone(),
            permissions: vec![graphsec::auth::READ_WRITE_ALL.to_string()],
            app: false,
            subject: "graphsec-in-memory".into(),
            ttl_seconds: ANNOUNCED_TOKEN_TTL_SECONDS,
            admin: true,
        })?),
    };
    let line = serde_json::json!({"url": url, "tenant": config.default_tenant, "token": token});
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// The announced token outlives any test run; others come from `POST /_graphsec/tokens`.
const ANNOUNCED_TOKEN_TTL_SECONDS: u64 = 7 * 86_400;

fn token(args: TokenArgs) -> anyhow::Result<()> {
    let key = LocalKey::load(&args.data_dir)?;
    let token = key.mint(&TokenRequest {
        tenant: args.tenant,
        permissions: args.scopes.split_whitespace().map(String::from).collect(),
        app: args.app,
        subject: args.subject,
        ttl_seconds: args.ttl,
        admin: args.admin,
    })?;
    println!("{token}");
    Ok(())
}

fn migrate(location: DataLocation) -> anyhow::Result<()> {
    let args = location.storage(Durability::Full);
    let _log = graphsec::logging::init(LogFormat::Text, "info");
    runtime()?.block_on(async {
        match &args.database_url {
            Some(url) => {
                let ran = graphsec::store::postgres::migrate_only(&graphsec::app::pg_settings(&args, url)).await?;
                println!("applied {ran} migration(s)");
            }
            None => {
                graphsec::app::open_store(&args, true).await?.close().await?;
                println!("SQLite database in {} is up to date", args.data_dir.display());
            }
        }
        Ok(())
    })
}

fn import(args: ImportArgs) -> anyhow::Result<()> {
    let _log = graphsec::logging::init(LogFormat::Text, "warn");
    runtime()?.block_on(async {
        let report = graphsec::import::run(&args).await?;
        println!(
            "{} in {:.2} s ({:.0} profiles/s)",
            report.summary(),
            report.seconds,
            report.inserted as f64 / report.seconds.max(1e-9)
        );
        Ok(())
    })
}

fn audit(args: AuditArgs) -> anyhow::Result<()> {
    let _log = graphsec::logging::init(LogFormat::Text, "warn");
    if let Some(AuditAction::Prune(prune)) = args.action {
        let before = graphsec::domain::datetime::normalize(&prune.before).map_err(anyhow::Error::msg)?;
        return runtime()?.block_on(async {
            let store = graphsec::app::open_existing_store(&prune.location.storage(Durability::Full)).await?;
            let deleted = store.prune_audit(&before).await;
            store.close().await?;
            println!("deleted {} audit entries written before {before}", deleted?);
            Ok(())
        });
    }
    let since =
        args.since.as_deref().map(graphsec::domain::datetime::normalize).transpose().map_err(anyhow::Error::msg)?;
    runtime()?.block_on(async {
        let store = graphsec::app::open_existing_store(&args.location.storage(Durability::Full)).await?;
        let query = graphsec::store::AuditQuery {
            tenant: args.tenant,
            profile_id: args.profile_id,
            operation: args.operation,
            since,
            limit: args.limit,
        };
        let records = store.audit(query).await;
        store.close().await?;
        for record in records? {
            println!("{}", serde_json::to_string(&record)?);
        }
        Ok(())
    })
}
fn export(args: ExportArgs) -> anyhow::Result<()> {
    let _log = graphsec::logging::init(LogFormat::Text, "warn");
    to_stdout(|out| graphsec::export::run(&args, out).map(drop))
}

fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let _log = graphsec::logging::init(LogFormat::Text, "warn");
    let report = graphsec::backup::run(&args)?;
    println!(
        "copied {} profiles ({} bytes) from {} to {}; start a server on the copy with: graphsec serve --data-dir {}",
        report.profiles,
        report.bytes,
        args.location.data_dir.display(),
        args.to.display(),
        args.to.display()
    );
    Ok(())
}

/// Runs `write` on a buffered standard output. A reader that stops early (`| head`) is not an
/// error: what it read is what it asked for.
fn to_stdout(write: impl FnOnce(&mut dyn std::io::Write) -> anyhow::Result<()>) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let written = write(&mut out).and_then(|()| Ok(out.flush()?));
    match written {
        Err(e)
            if e.chain().any(|cause| {
                cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            Ok(())
        }
        other => other,
    }
}
