use clap::Parser;
use graphsec::auth::local::{LocalKey, TokenRequest};
use graphsec::config::{Cli, Command, LogFormat};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(config) => serve(config),
        Command::Token(args) => token(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("graphsec: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve(config: graphsec::config::ServeConfig) -> anyhow::Result<()> {
    init_logging(config.log_format, &config.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = graphsec::app::Server::bind(&config).await?;
        tracing::info!(
            listen = %server.local_addr()?,
            data_dir = %config.data_dir.display(),
            auth = ?config.auth,
            "graphsec is ready"
        );
        server.run(graphsec::app::shutdown_signal()).await
    })
}

fn token(args: graphsec::config::TokenArgs) -> anyhow::Result<()> {
    let key = LocalKey::load_or_create(&args.data_dir)?;
    let token = key.mint(&TokenRequest {
        tenant: args.tenant,
        permissions: args.scopes.split_whitespace().map(String::from).collect(),
        app: args.app,
        subject: args.subject,
        ttl_seconds: args.ttl,
    })?;
    println!("{token}");
    Ok(())
}

fn init_logging(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}
