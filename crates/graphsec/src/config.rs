//! Command-line interface; every flag can also come from a `GRAPHSEC_*` environment variable.

use crate::store::sqlite::Durability;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "graphsec", version, about = "A self-hostable Microsoft Graph beta userSecurityProfile server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Run the HTTP server.
    ///
    /// Beside the Graph API it serves the test-control API under /_graphsec/ (reset, seed, the
    /// request journal, tokens; docs/emulator.md) to admin tokens, or to anyone with --auth off,
    /// a profile's audit trail (GET /_graphsec/profiles/{id}/history) to readers, and the web
    /// console at / (docs/console.md; --no-console turns it off).
    Serve(ServeConfig),
    /// Print a bearer token signed with the data directory's key (accepted by `serve --auth local`).
    Token(TokenArgs),
    /// Apply the database migrations and exit (PostgreSQL; SQLite migrates itself on open).
    Migrate(DataLocation),
    /// Bulk-load profiles from newline-delimited JSON (one POST body per line; `-` reads stdin).
    Import(ImportArgs),
    /// Print the audit trail (one JSON object per line, oldest first).
    Audit(AuditArgs),
    /// Print every profile as newline-delimited JSON that `import` loads back as it was.
    ///
    /// One line per profile, ordered by tenant and id: the profile as the API returns it, with its
    /// createdDateTime, lastModifiedDateTime and dynamic properties. `graphsec import` into an
    /// empty store loads the lines back as they were (an export of the result is the same bytes);
    /// ETags start again at W/"1". The export reads one snapshot of the database, beside a running
    /// server, in constant memory.
    Export(ExportArgs),
    /// Copy an SQLite data directory into a new data directory, while the server runs.
    ///
    /// The copy holds the database as one snapshot and the signing key (so tokens minted for the
    /// server are accepted by a server on the copy); `graphsec serve --data-dir TO` starts on it as
    /// it is. For PostgreSQL use pg_dump.
    Backup(BackupArgs),
    /// Print made-up, realistic profiles as newline-delimited JSON for `import`.
    ///
    /// Names, user principal names in --domain, tags, accounts in several services, risk scores,
    /// vendor information, and creation and modification times within the year before --now. The
    /// output depends only on the arguments: the same arguments print the same bytes on any machine,
    /// and a smaller --count prints the first lines of a larger one. Every line is in the form
    /// `export` prints, so `generate | import` followed by `export` prints the same lines, sorted.
    Generate(GenerateArgs),
    /// Write a self-signed development certificate (cert.pem, key.pem) for `serve --tls-*`.
    Cert(CertArgs),
}

#[derive(Args, Debug, Clone)]
pub struct CertArgs {
    /// Directory to write cert.pem and key.pem to.
    #[arg(long, default_value = "./graphsec-data/tls")]
    pub out: PathBuf,
    /// Host names and addresses the certificate is valid for.
    #[arg(long = "host", default_values = ["localhost", "127.0.0.1", "::1"])]
    pub hosts: Vec<String>,
}

#[derive(Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub action: Option<AuditAction>,
    #[command(flatten)]
    pub location: DataLocation,
    /// Only this tenant's entries.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only entries about this profile id.
    #[arg(long)]
    pub profile_id: Option<String>,
    /// Only this operation.
    #[arg(long, value_parser = ["create", "update", "delete"])]
    pub operation: Option<String>,
    /// Only entries at or after this time (e.g. 2026-01-31T00:00:00Z).
    #[arg(long)]
    pub since: Option<String>,
    /// Most entries to print.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
}

#[derive(Subcommand, Debug, Clone)]
pub enum AuditAction {
    /// Delete the audit entries older than a time, now (as `serve --audit-retention` does).
    Prune(PruneArgs),
}

#[derive(Args, Debug, Clone)]
pub struct PruneArgs {
    #[command(flatten)]
    pub location: DataLocation,
    /// Delete the entries written before this time (e.g. 2026-01-31T00:00:00Z).
    #[arg(long)]
    pub before: String,
}

/// Where and how the server stores profiles.
#[derive(Args, Debug, Clone)]
pub struct StorageArgs {
    /// Directory for the SQLite database and the local signing key (created if missing); `serve`
    /// locks it, so that one server at a time runs on it.
    #[arg(long, env = "GRAPHSEC_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (`postgres://user@host:5432/db`); without it profiles live in SQLite in the data directory.
    #[arg(long, env = "GRAPHSEC_DATABASE_URL")]
    pub database_url: Option<String>,
    /// PostgreSQL schema to use (created by migrations if missing); default: the server's search_path.
    #[arg(long, env = "GRAPHSEC_DATABASE_SCHEMA")]
    pub database_schema: Option<String>,
    /// Most PostgreSQL connections this instance opens.
    #[arg(long, env = "GRAPHSEC_DATABASE_POOL_SIZE", default_value_t = DEFAULT_POOL_SIZE)]
    pub database_pool_size: u32,
    /// How long a request waits for a PostgreSQL connection (also bounds connecting) and for a lock
    /// (at most half of `--query-timeout`), e.g. `5s`.
    #[arg(long, env = "GRAPHSEC_DATABASE_TIMEOUT", default_value = DEFAULT_DATABASE_TIMEOUT, value_parser = parse_duration_seconds)]
    pub database_timeout: u64,
    /// Longest a list or count query may run before it is stopped and answered 400, e.g. `10s`.
    #[arg(long, env = "GRAPHSEC_QUERY_TIMEOUT", default_value = DEFAULT_QUERY_TIMEOUT, value_parser = parse_duration_seconds)]
    pub query_timeout: u64,
    /// SQLite: `full` fsyncs every commit (survives power loss); `normal` survives process crashes
    /// only.
    #[arg(long, env = "GRAPHSEC_DURABILITY", default_value = "full", value_parser = durability())]
    pub durability: Durability,
    /// Keep everything in memory, the signing key too: nothing is written to disk. Once ready,
    /// prints one JSON line on standard output: the `url`, and a `token` for --default-tenant
    /// that also opens the test-control API (`/_graphsec/`). See docs/emulator.md.
    #[arg(long, env = "GRAPHSEC_IN_MEMORY", conflicts_with = "database_url")]
    pub in_memory: bool,
}

const DEFAULT_DATA_DIR: &str = "./graphsec-data";
const DEFAULT_POOL_SIZE: u32 = 16;
const DEFAULT_DATABASE_TIMEOUT: &str = "5s";
const DEFAULT_QUERY_TIMEOUT: &str = "10s";

/// Where the profiles are, for the commands that work on a server's data (`import`, `audit`,
/// `migrate`): a server's tuning flags do nothing there.
#[derive(Args, Debug, Clone)]
pub struct DataLocation {
    /// The server's data directory (`graphsec serve --data-dir`).
    #[arg(long, env = "GRAPHSEC_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// The server's PostgreSQL URL (`postgres://user@host:5432/db`), if it runs on PostgreSQL.
    #[arg(long, env = "GRAPHSEC_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The server's PostgreSQL schema, if it uses one.
    #[arg(long, env = "GRAPHSEC_DATABASE_SCHEMA")]
    pub database_schema: Option<String>,
}

impl DataLocation {
    /// The store at this location, opened as the server opens it by default, with `durability`.
    pub fn storage(&self, durability: Durability) -> StorageArgs {
        let seconds = |default| parse_duration_seconds(default).expect("the default parses");
        StorageArgs {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            database_schema: self.database_schema.clone(),
            database_pool_size: DEFAULT_POOL_SIZE,
            database_timeout: seconds(DEFAULT_DATABASE_TIMEOUT),
            query_timeout: seconds(DEFAULT_QUERY_TIMEOUT),
            durability,
            in_memory: false,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct ImportArgs {
    #[command(flatten)]
    pub location: DataLocation,
    /// Tenant of lines without azureTenantId.
    #[arg(long, env = "GRAPHSEC_DEFAULT_TENANT", default_value = DEFAULT_TENANT)]
    pub tenant: String,
    /// Profiles per transaction.
    #[arg(long, default_value_t = 5000)]
    pub batch: usize,
    /// Newline-delimited JSON file, or `-` for standard input.
    pub file: PathBuf,
}

pub const DEFAULT_TENANT: &str = "00000000-0000-0000-0000-000000000001";

/// `graphsec export`.
#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    #[command(flatten)]
    pub location: DataLocation,
    /// Only this tenant's profiles.
    #[arg(long)]
    pub tenant: Option<String>,
}

/// `graphsec backup`.
#[derive(Args, Debug, Clone)]
pub struct BackupArgs {
    #[command(flatten)]
    pub location: DataLocation,
    /// The data directory to create: it must not exist, or be empty.
    #[arg(long)]
    pub to: PathBuf,
}

/// `graphsec generate`.
#[derive(Args, Debug, Clone)]
pub struct GenerateArgs {
    /// How many profiles to print.
    #[arg(long)]
    pub count: u64,
    /// azureTenantId of every profile.
    #[arg(long, default_value = DEFAULT_TENANT)]
    pub tenant: String,
    /// Domain of the user principal names.
    #[arg(long, default_value = "contoso.com")]
    pub domain: String,
    /// Seed of the pseudo-random choices.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The time the profiles' times are before: a fixed time by default, so that the output does
    /// not depend on when it is made.
    #[arg(long, default_value = "2026-01-01T00:00:00Z")]
    pub now: String,
}

#[derive(Args, Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "GRAPHSEC_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// How long audit entries are kept, e.g. `90d`; older ones are deleted in small batches at
    /// least once a minute. `0` keeps everything.
    #[arg(long, env = "GRAPHSEC_AUDIT_RETENTION", default_value = "90d", value_parser = parse_retention_seconds)]
    pub audit_retention: u64,
    /// Do not apply PostgreSQL migrations on start (run `graphsec migrate` instead).
    #[arg(long, env = "GRAPHSEC_NO_MIGRATE")]
    pub no_migrate: bool,
    /// `local`: require tokens from `graphsec token`; `off`: no authentication (emulator only).
    #[arg(long, env = "GRAPHSEC_AUTH", value_enum, default_value_t = AuthChoice::Local)]
    pub auth: AuthChoice,
    /// Trust tokens from this OIDC issuer (exact `iss`), beside the local key. Repeatable: each
    /// `--issuer` takes the `--audience` and `--jwks-url`/`--jwks-file` flags that follow it.
    #[arg(long, env = "GRAPHSEC_ISSUER")]
    pub issuer: Vec<String>,
    /// Accepted `aud` of the preceding `--issuer` (repeatable, or comma-separated).
    #[arg(long, env = "GRAPHSEC_AUDIENCE")]
    pub audience: Vec<String>,
    /// JWKS URL of the preceding `--issuer` (fetched, cached and refreshed).
    #[arg(long, env = "GRAPHSEC_JWKS_URL")]
    pub jwks_url: Vec<String>,
    /// JWKS file of the preceding `--issuer`.
    #[arg(long, env = "GRAPHSEC_JWKS_FILE")]
    pub jwks_file: Vec<PathBuf>,
    /// The external issuers, assembled from the flags above by [`external_issuers`].
    #[arg(skip)]
    pub external_issuers: Vec<crate::auth::external::IssuerConfig>,
    /// PEM certificate (chain) to serve HTTPS with; needs --tls-key.
    #[arg(long, env = "GRAPHSEC_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "GRAPHSEC_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Time a client has to send its request headers (slow-loris protection), e.g. `10s`.
    #[arg(long, env = "GRAPHSEC_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration_seconds)]
    pub header_read_timeout: u64,
    /// Longest time a request may take before it is answered 503, e.g. `30s`.
    #[arg(long, env = "GRAPHSEC_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration_seconds)]
    pub request_timeout: u64,
    /// Most open client connections; more are answered 503 and closed.
    #[arg(long, env = "GRAPHSEC_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Longest request target (path and query) in bytes; longer is 414.
    #[arg(long, env = "GRAPHSEC_MAX_URL_BYTES", default_value_t = 16 * 1024)]
    pub max_url_bytes: usize,
    /// Largest request head (request line and headers) in bytes, at least 8192; larger is 431.
    #[arg(long, env = "GRAPHSEC_MAX_HEADER_BYTES", default_value_t = 64 * 1024, value_parser = clap::value_parser!(u32).range(8192..))]
    pub max_header_bytes: u32,
    /// Serve Prometheus metrics at `GET /metrics` on this separate address (off by default).
    #[arg(long, env = "GRAPHSEC_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Log format.
    #[arg(long, env = "GRAPHSEC_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter, e.g. `info`, `warn`, `graphsec=debug`.
    #[arg(long, env = "GRAPHSEC_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Requests per second per tenant and application before 429 (0: off). Default: 1000 with
    /// `--auth local`, off with `--auth off`.
    #[arg(long, env = "GRAPHSEC_RATE_LIMIT")]
    pub rate_limit: Option<u32>,
    /// Bucket size: requests a caller may send at once (default: twice the rate).
    #[arg(long, env = "GRAPHSEC_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<u32>,
    /// Chaos mode: share of API requests (0 to 1) answered with a Graph-style 429, 500, 503 or
    /// 504 instead of being served.
    #[arg(long, env = "GRAPHSEC_CHAOS_RATE", default_value_t = 0.0)]
    pub chaos_rate: f64,
    /// Chaos mode: delay each API request by a random time up to this many milliseconds.
    #[arg(long, env = "GRAPHSEC_CHAOS_LATENCY_MS", default_value_t = 0)]
    pub chaos_latency_ms: u64,
    /// Server page size of list responses (a client's `$top` or `odata.maxpagesize` may change it).
    #[arg(long, env = "GRAPHSEC_PAGE_SIZE", default_value_t = 100, value_parser = parse_page_size)]
    pub page_size: usize,
    /// Memory for response bodies being built or sent, in MiB: large list pages and `$batch`
    /// answers take their size from it until their last byte is sent. One that does not fit waits
    /// for room (up to --response-memory-wait), then is answered 503 with Retry-After; so is one
    /// larger than the whole budget, at once. Answers under 64 KiB do not count.
    #[arg(long, env = "GRAPHSEC_RESPONSE_MEMORY_MB", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub response_memory_mb: u32,
    /// Longest a large response waits for response memory before it is answered 503, e.g. `5s`.
    #[arg(long, env = "GRAPHSEC_RESPONSE_MEMORY_WAIT", default_value = "5s", value_parser = parse_duration_seconds)]
    pub response_memory_wait: u64,
    /// Largest accepted request body in bytes, after gzip inflation.
    #[arg(long, env = "GRAPHSEC_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// With `--auth off`, the tenant of profiles created without azureTenantId; the tenant of
    /// seeded lines without one (`--seed-file`, `POST /_graphsec/seed`), and of the token an
    /// `--in-memory` server prints.
    #[arg(long, env = "GRAPHSEC_DEFAULT_TENANT", default_value = "00000000-0000-0000-0000-000000000001")]
    pub default_tenant: String,
    /// Origins whose web pages may call the API (CORS): `*` for any (callers still need a token;
    /// no cookies are used), a comma-separated list such as `https://app.example.com`, or an
    /// empty value for none.
    #[arg(long, env = "GRAPHSEC_CORS_ORIGINS", default_value = "*")]
    pub cors_origins: String,
    /// The address clients reach the server at, `scheme://host[:port]` (e.g. behind a
    /// TLS-terminating load balancer, `https://graph.example.com`): every link in an answer
    /// (`@odata.nextLink`, `@odata.context`, `@odata.id`, `Location`) starts with it. Without
    /// it, links use the request's `Host` and the connection's scheme.
    #[arg(long, env = "GRAPHSEC_PUBLIC_URL", conflicts_with = "trusted_proxies")]
    pub public_url: Option<String>,
    /// Proxies whose `Forwarded` or `X-Forwarded-Proto`/`X-Forwarded-Host` headers set the links'
    /// scheme and host: comma-separated addresses or networks, e.g. `10.0.0.0/8,127.0.0.1`.
    /// From any other address these headers are ignored. Empty: trust none.
    #[arg(long, env = "GRAPHSEC_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// Load profiles from this NDJSON file (as `import` does) before ready. Repeatable.
    #[arg(long = "seed-file", env = "GRAPHSEC_SEED_FILE", value_name = "FILE")]
    pub seed_files: Vec<PathBuf>,
    /// Requests the journal keeps (`GET /_graphsec/requests`); 0 turns it off.
    #[arg(long, env = "GRAPHSEC_JOURNAL_SIZE", default_value_t = 10_000)]
    pub journal_size: usize,
    /// Do not serve the web console at `/` and `/console/` (docs/console.md); the API is the same
    /// either way.
    #[arg(long, env = "GRAPHSEC_NO_CONSOLE")]
    pub no_console: bool,
}

#[derive(Args, Debug, Clone)]
pub struct TokenArgs {
    /// The server's data directory, which holds the signing key (`graphsec serve --data-dir`).
    #[arg(long, env = "GRAPHSEC_DATA_DIR", default_value = "./graphsec-data")]
    pub data_dir: PathBuf,
    /// Tenant id for the `tid` claim: the caller sees only this tenant's profiles.
    #[arg(long)]
    pub tenant: String,
    /// Space-separated permissions.
    #[arg(long, default_value = "SecurityEvents.ReadWrite.All")]
    pub scopes: String,
    /// Mint an application token (permissions in `roles`) instead of a delegated one (`scp`).
    #[arg(long)]
    pub app: bool,
    /// Lifetime, e.g. `30m`, `1h`, `7d`, `3600s`.
    #[arg(long, default_value = "1h", value_parser = parse_duration_seconds)]
    pub ttl: u64,
    /// Subject (`sub`, and `oid` or `appid`).
    #[arg(long, default_value = "graphsec-cli")]
    pub subject: String,
    /// Also let the token use the test-control API (`/_graphsec/`).
    #[arg(long)]
    pub admin: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuthChoice {
    Local,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Groups `--issuer`, `--audience`, `--jwks-url` and `--jwks-file` by their order on the command
/// line: each issuer owns the flags after it. Flags from the environment come as one group.
pub fn external_issuers(matches: &clap::ArgMatches) -> Result<Vec<crate::auth::external::IssuerConfig>, String> {
    use crate::auth::external::{IssuerConfig, KeySource};
    enum Flag {
        Issuer(String),
        Audience(String),
        Url(String),
        File(PathBuf),
    }
    let mut flags: Vec<(usize, Flag)> = Vec::new();
    fn collect<T: Clone + Send + Sync + 'static>(
        m: &clap::ArgMatches,
        id: &str,
        out: &mut Vec<(usize, Flag)>,
        wrap: fn(T) -> Flag,
    ) {
        if let (Some(values), Some(indices)) = (m.get_many::<T>(id), m.indices_of(id)) {
            out.extend(indices.zip(values.cloned().map(wrap)));
        }
    }
    collect::<String>(matches, "issuer", &mut flags, Flag::Issuer);
    collect::<String>(matches, "audience", &mut flags, Flag::Audience);
    collect::<String>(matches, "jwks_url", &mut flags, Flag::Url);
    collect::<PathBuf>(matches, "jwks_file", &mut flags, Flag::File);
    flags.sort_by_key(|(index, _)| *index);

    let mut issuers: Vec<(String, Vec<String>, Option<KeySource>)> = Vec::new();
    for (_, flag) in flags {
        if let Flag::Issuer(issuer) = flag {
            issuers.push((issuer, Vec::new(), None));
            continue;
        }
        let Some((issuer, audiences, source)) = issuers.last_mut() else {
            return Err("--audience, --jwks-url and --jwks-file must follow the --issuer they belong to".into());
        };
        match flag {
            Flag::Audience(a) => {
                audiences.extend(a.split(',').map(str::trim).filter(|a| !a.is_empty()).map(String::from))
            }
            Flag::Url(url) if source.is_none() => *source = Some(KeySource::JwksUrl(url)),
            Flag::File(path) if source.is_none() => *source = Some(KeySource::JwksFile(path)),
            _ => return Err(format!("issuer {issuer} has more than one --jwks-url/--jwks-file")),
        }
    }
    issuers
        .into_iter()
        .map(|(issuer, audiences, source)| {
            let source = source.ok_or_else(|| format!("issuer {issuer} needs --jwks-url or --jwks-file"))?;
            if audiences.is_empty() {
                return Err(format!("issuer {issuer} needs at least one --audience"));
            }
            Ok(IssuerConfig { issuer, audiences, source })
        })
        .collect()
}

fn parse_page_size(text: &str) -> Result<usize, String> {
    text.parse::<usize>()
        .ok()
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| format!("'{text}' is not a page size from 1 to 1000"))
}

/// `--durability`: the SQLite store's [`Durability`], by name.
fn durability() -> impl clap::builder::TypedValueParser<Value = Durability> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new([
        PossibleValue::new("full").help("A write is answered only once its commit is fsynced: survives power loss"),
        PossibleValue::new("normal")
            .help("fsync at checkpoints only: survives process crashes, may lose the last commits on power loss"),
    ])
    .map(|name| if name == "normal" { Durability::Normal } else { Durability::Full })
}

pub(crate) fn parse_duration_seconds(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("'{text}' is not a duration like 30m, 1h or 7d"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!("unknown unit '{unit}' in '{text}'; use s, m, h or d"));
        }
    };
    number.checked_mul(factor).filter(|s| *s > 0).ok_or_else(|| format!("'{text}' is not a positive duration"))
}

/// A duration as for [`parse_duration_seconds`], or `0` for "forever".
fn parse_retention_seconds(text: &str) -> Result<u64, String> {
    if text.trim() == "0" { Ok(0) } else { parse_duration_seconds(text) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_seconds("1h"), Ok(3600));
        assert_eq!(parse_duration_seconds("30m"), Ok(1800));
        assert_eq!(parse_duration_seconds("90"), Ok(90));
        assert_eq!(parse_duration_seconds("7d"), Ok(604_800));
        assert!(parse_duration_seconds("0s").is_err());
        assert!(parse_duration_seconds("1w").is_err());
        assert!(parse_duration_seconds("h").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
