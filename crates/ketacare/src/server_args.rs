//! Arguments and set-up shared by the commands that use the database or serve: `--database`,
//! `--bind`, `--protocol`, the async runtime and logging.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use ketacare_app::App;

/// `--database URL` (env `KETACARE_DATABASE_URL`) and the audit key, the same for every command that
/// touches the database.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://FILE` (created if missing) or `postgres://USER@HOST/DB`.
    #[arg(long = "database", env = "KETACARE_DATABASE_URL", default_value = "sqlite://ketacare.db")]
    pub url: String,
    /// A file holding the audit key (at least 32 bytes, e.g. `openssl rand -hex 32`): new audit events
    /// are keyed with it (HMAC-SHA-256) and `audit verify` checks keyed events with it. The key itself
    /// may instead be given in the environment variable KETACARE_AUDIT_KEY (never on the command line).
    #[arg(long = "audit-key-file", env = "KETACARE_AUDIT_KEY_FILE", value_name = "FILE")]
    pub audit_key_file: Option<PathBuf>,
}

/// The environment variable that may hold the audit key itself (instead of `--audit-key-file`).
const AUDIT_KEY_VARIABLE: &str = "KETACARE_AUDIT_KEY";

impl DatabaseArgs {
    /// The audit key from `--audit-key-file` or `KETACARE_AUDIT_KEY` (not both), without a trailing
    /// line break; `None` when neither is given.
    pub fn audit_key(&self) -> anyhow::Result<Option<ketacare_app::AuditKey>> {
        let from_environment = std::env::var_os(AUDIT_KEY_VARIABLE).filter(|value| !value.is_empty());
        let bytes = match (&self.audit_key_file, from_environment) {
            (Some(_), Some(_)) => {
                anyhow::bail!("--audit-key-file and {AUDIT_KEY_VARIABLE}: give the audit key one way, not both")
            }
            (Some(path), None) => {
                std::fs::read(path).with_context(|| format!("--audit-key-file: reading {}", path.display()))?
            }
            (None, Some(value)) => value.into_encoded_bytes(),
            (None, None) => return Ok(None),
        };
        let key = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let key = key.strip_suffix(b"\r").unwrap_or(key);
        ketacare_app::AuditKey::new(key).map(Some).map_err(|problem| anyhow::anyhow!("audit key: {problem}"))
    }
}

/// Where and how to serve.
#[derive(Debug, Clone, Args)]
pub struct ServeOptions {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address and port to listen on.
    #[arg(long, env = "KETACARE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Site protocol TOML (default: the shipped protocol).
    #[arg(long)]
    pub protocol: Option<PathBuf>,
    /// Served behind TLS (here or at a proxy): session cookies get `Secure`, responses HSTS.
    #[arg(long, env = "KETACARE_BEHIND_TLS")]
    pub behind_tls: bool,
    /// The clinic's IANA time zone: the worklist's day when a request names none (and the demo's data).
    #[arg(long = "time-zone", env = "KETACARE_TIME_ZONE", default_value = "UTC")]
    pub time_zone: String,
    /// A request not answered within this many seconds gets 503 (a write under way still commits).
    #[arg(long, env = "KETACARE_REQUEST_TIMEOUT_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_seconds: u64,
    /// A reverse proxy (address or network, e.g. 10.0.0.0/8) whose Forwarded / X-Forwarded-For name the
    /// client; repeat it, or give a comma-separated list in the environment. Nobody else's are believed.
    #[arg(long = "trusted-proxy", env = "KETACARE_TRUSTED_PROXIES", value_delimiter = ',', value_name = "ADDR")]
    pub trusted_proxies: Vec<ketacare_web::ProxyNetwork>,
    /// A connection that has not sent a request's headers within this many seconds is closed.
    #[arg(long, env = "KETACARE_HEADER_READ_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub header_read_timeout_seconds: u64,
    /// Connections one client address may hold open at once (trusted proxies are exempt).
    #[arg(long, env = "KETACARE_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_connections_per_address: u64,
    /// Where `$export` writes its files (a folder of this process's own is made in it, readable by this
    /// user only); default: the system's temporary folder.
    #[arg(long = "bulk-export-dir", env = "KETACARE_BULK_EXPORT_DIR", value_name = "DIR")]
    pub bulk_export_dir: Option<PathBuf>,
    /// An identifier system whose value is an imported patient's MRN (the EHR's own MRN namespace),
    /// beside ketacare's and identifiers typed MR; repeat it, or give a comma-separated list.
    #[arg(long = "mrn-system", env = "KETACARE_MRN_SYSTEMS", value_delimiter = ',', value_name = "URI")]
    pub mrn_systems: Vec<String>,
    /// How long a finished `$export`'s files stay downloadable, in minutes.
    #[arg(long, env = "KETACARE_BULK_EXPORT_LIFETIME_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=10_080))]
    pub bulk_export_lifetime_minutes: u64,
    /// The clinic's phone number as the patient's after-care sheet prints it ("whom to call").
    #[arg(long = "clinic-phone", env = "KETACARE_CLINIC_PHONE", value_name = "TEXT")]
    pub clinic_phone: Option<String>,
    /// A crisis line as the after-care sheet prints it (e.g. "988 Suicide & Crisis Lifeline: call or text
    /// 988"); none is printed by default, the protocol holding no crisis line.
    #[arg(long = "crisis-line", env = "KETACARE_CRISIS_LINE", value_name = "TEXT")]
    pub crisis_line: Option<String>,
}

/// A multi-threaded runtime for the database and server commands.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

/// Logs to standard error; the log carries no patient data (see ketacare-web's request log).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).try_init();
}

/// Opens (and migrates) the database with the protocol of `--protocol`.
pub async fn open_app(database: &DatabaseArgs, protocol: Option<&std::path::Path>) -> anyhow::Result<App> {
    let protocol = crate::protocol_file::load_protocol(protocol)?;
    App::open_with_audit_key(&database.url, protocol, database.audit_key()?)
        .await
        .with_context(|| format!("opening the database {}", redacted(&database.url)))
}

/// The URL without its password, for messages.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => match url[scheme_end + 3..at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..scheme_end + 3 + colon], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Binds, prints the address, serves until a signal, lets requests in flight finish, closes the database.
/// How often the server deletes expired idempotency keys.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Deletes expired idempotency keys now and every [`PRUNE_EVERY`] while serving, so the table holds one
/// day of keyed requests rather than all of them. A failure is logged (without data) and retried later.
async fn prune_periodically(app: App) {
    let mut ticks = tokio::time::interval(PRUNE_EVERY);
    loop {
        ticks.tick().await;
        match app.prune_idempotency_keys().await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "expired idempotency keys deleted"),
            Err(error) => tracing::warn!(%error, "pruning expired idempotency keys failed"),
        }
    }
}

pub async fn serve(app: App, options: &ServeOptions) -> anyhow::Result<()> {
    let app = app.with_clinic_time_zone(&options.time_zone).context("--time-zone")?;
    let bulk_export_parent = options.bulk_export_dir.clone().unwrap_or_else(std::env::temp_dir);
    let app = app
        .with_bulk_export_settings(
            &bulk_export_parent,
            std::time::Duration::from_secs(options.bulk_export_lifetime_minutes * 60),
        )
        .with_mrn_identifier_systems(options.mrn_systems.clone())
        .with_after_care_contacts(ketacare_app::AfterCareContacts {
            clinic_phone: options.clinic_phone.clone().filter(|phone| !phone.trim().is_empty()),
            crisis_line: options.crisis_line.clone().filter(|line| !line.trim().is_empty()),
        });
    let listener =
        tokio::net::TcpListener::bind(options.bind).await.with_context(|| format!("binding {}", options.bind))?;
    let address = listener.local_addr()?;
    println!("ketacare is serving on http://{address} (database {})", redacted(&options.database.url));
    let config = ketacare_web::WebConfig {
        behind_tls: options.behind_tls,
        request_timeout: std::time::Duration::from_secs(options.request_timeout_seconds),
        trusted_proxies: ketacare_web::TrustedProxies::new(options.trusted_proxies.clone()),
        connection_limits: ketacare_web::ConnectionLimits {
            header_read_timeout: std::time::Duration::from_secs(options.header_read_timeout_seconds),
            connections_per_address: usize::try_from(options.max_connections_per_address).unwrap_or(usize::MAX),
        },
    };
    // The whole site: the staff pages at `/`, and the JSON API (`/api/v1/…`, health checks) for every
    // path the pages do not serve. The binary composes the two; neither web crate depends on the other's routes.
    let (limits, trusted_proxies) = (config.connection_limits, config.trusted_proxies.clone());
    let site = ketacare_pages::site(app.clone(), config);
    let housekeeping = tokio::spawn(prune_periodically(app.clone()));
    // On a signal, the open live feeds (server-sent events) end first, so their connections can close
    // with the requests in flight.
    let live_app = app.clone();
    let shutdown = async move {
        shutdown_signal().await;
        live_app.close_live_updates();
    };
    ketacare_web::serve_router(site, limits, trusted_proxies, listener, shutdown).await.context("serving")?;
    housekeeping.abort();
    app.close().await;
    println!("ketacare stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(redacted("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redacted("sqlite://ketacare.db"), "sqlite://ketacare.db");
    }
}
