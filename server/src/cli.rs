//! The command line of `session-server`: serving (the default) and the account commands. Every setting is
//! checked by the library's own validation, as in tests; this module only reads flags and environment.

mod accounts;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;

use crate::auth::dpop::DpopMode;
use crate::auth::site_origin::SiteOrigin;
use crate::config::{ConnectionLimits, DEMO_PASSWORD, DEMO_USERNAME, ServerConfig, Settings};
use crate::{CookieMode, build_app, metrics_router, raise_open_file_limit, serve, serve_until};

/// The port OpenTelemetry's Prometheus exporters use, on loopback.
const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";
/// Connections the `/metrics` listener holds at once.
const METRICS_CONNECTIONS: usize = 16;

/// The reference auth API for the session app; with no command, it serves.
#[derive(Parser)]
#[command(version)]
pub struct Cli {
    /// Holds the SQLite database and the generated signing secret.
    #[arg(long, env = "SESSION_DATA_DIR", default_value = "data", global = true)]
    data_dir: PathBuf,
    /// postgres://… to share sessions between instances on PostgreSQL; by default SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the built app (the default).
    Serve,
    /// Manage accounts; passwords are read from the first line of standard input.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account.
    Add {
        username: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long, default_value = "")]
        email: String,
    },
    /// Change a password and sign the user out everywhere.
    SetPassword { username: String },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SESSION_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The built app to serve (trunk's dist/).
    #[arg(long, env = "SESSION_STATIC_DIR", default_value = "dist")]
    static_dir: PathBuf,
    /// HMAC signing secret (32 bytes or more); by default one is generated and kept in the data directory.
    #[arg(long, env = "SESSION_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// The secret used before --secret, during a rotation: what it signed stays valid for one access lifetime.
    #[arg(long, env = "SESSION_PREVIOUS_SECRET", hide_env_values = true)]
    previous_secret: Option<String>,
    /// Access token lifetime in seconds.
    #[arg(long, env = "SESSION_ACCESS_TTL", default_value_t = Settings::default().access_token_ttl)]
    access_ttl: i64,
    /// Absolute session lifetime in seconds; rotation never extends it.
    #[arg(long, env = "SESSION_SESSION_TTL", default_value_t = Settings::default().session_ttl)]
    session_ttl: i64,
    /// A session unused (not refreshed) for this many seconds ends.
    #[arg(long, env = "SESSION_IDLE_TIMEOUT", default_value_t = Settings::default().idle_timeout)]
    idle_timeout: i64,
    /// Seconds in which a just-rotated refresh token still gets the same child (0 turns it off).
    #[arg(long, env = "SESSION_REFRESH_GRACE", default_value_t = Settings::default().refresh_grace)]
    refresh_grace: i64,
    /// Rotations one session may make in a minute (its sign-in counts as one); more get `429`.
    #[arg(long, env = "SESSION_REFRESH_LIMIT", default_value_t = Settings::default().session_refresh_limit)]
    session_refresh_limit: u32,
    /// The URL users open (behind a TLS proxy: its https:// address); decides whether the refresh cookie is
    /// Secure, and is the origin state-changing requests must come from. By default http://<addr>, which only a
    /// loopback address may use.
    #[arg(long, env = "SESSION_PUBLIC_URL")]
    public_url: Option<String>,
    /// Another origin allowed to call the API with credentials (repeatable).
    #[arg(long = "allowed-origin", env = "SESSION_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Vec<String>,
    /// Serve Prometheus counters at GET /metrics on --metrics-addr (never on the public listener).
    #[arg(long, env = "SESSION_METRICS")]
    metrics: bool,
    /// Where /metrics listens with --metrics: loopback by default, for a scraper on the same machine (or a
    /// sidecar); a private interface's address otherwise.
    #[arg(long, env = "SESSION_METRICS_ADDR", default_value = DEFAULT_METRICS_ADDR, requires = "metrics")]
    metrics_addr: SocketAddr,
    /// DPoP (RFC 9449): `required` binds every session to the client's key and refuses Bearer tokens; `allowed`
    /// binds the sessions of clients that send a proof and lets others use Bearer tokens; `off` ignores proofs.
    #[arg(long, env = "SESSION_DPOP", value_enum, default_value = "required")]
    dpop: DpopMode,
    /// Create the demo account (published password) if the database has no user. For trying the app only.
    #[arg(long, env = "SESSION_DEMO")]
    demo: bool,
    /// A proxy (address or CIDR) whose X-Forwarded-For names the client (repeatable).
    #[arg(long = "trusted-proxy", env = "SESSION_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    trusted_proxies: Vec<IpNet>,
    /// Argon2 password checks running at once (default: the number of cores).
    #[arg(long, env = "SESSION_PASSWORD_CHECKS", default_value_t = Settings::default().password_checks)]
    password_checks: usize,
    /// Seconds a sign-in waits for a free password check before `503 server_busy`.
    #[arg(long, env = "SESSION_PASSWORD_CHECK_WAIT", default_value_t = Settings::default().password_check_wait.as_secs())]
    password_check_wait: u64,
    /// Seconds a client has to send a request's headers (and an idle keep-alive connection stays open).
    #[arg(long, env = "SESSION_HEADER_READ_TIMEOUT", default_value_t = ConnectionLimits::default().header_read_timeout.as_secs())]
    header_read_timeout: u64,
    /// Seconds from a request's headers to its answer (`408` after).
    #[arg(long, env = "SESSION_REQUEST_TIMEOUT", default_value_t = ConnectionLimits::default().request_timeout.as_secs())]
    request_timeout: u64,
    /// Seconds an answer may wait for the client to read any of it before the connection is closed.
    #[arg(long, env = "SESSION_WRITE_TIMEOUT", default_value_t = ConnectionLimits::default().write_timeout.as_secs())]
    write_timeout: u64,
    /// Seconds a stopping server (SIGTERM, SIGINT) gives the requests in flight to finish.
    #[arg(long, env = "SESSION_SHUTDOWN_GRACE", default_value_t = 25)]
    shutdown_grace: u64,
    /// Open connections at once; more are answered `503`.
    #[arg(long, env = "SESSION_MAX_CONNECTIONS", default_value_t = ConnectionLimits::default().max_connections)]
    max_connections: usize,
    /// Open connections from one client address (IPv6: one /64); more are answered `503`. Trusted proxies are
    /// exempt.
    #[arg(long, env = "SESSION_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = ConnectionLimits::default().max_connections_per_address)]
    max_connections_per_address: usize,
}

/// An address alone is its own /32 or /128.
fn parse_net(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is neither an address nor a CIDR range"))
}

/// Runs what the command line asks for.
///
/// # Errors
/// One line for a person: what went wrong, with its causes.
pub async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        None | Some(Command::Serve) => serve_command(cli.data_dir, cli.database_url, cli.serve).await,
        Some(Command::User(command)) => accounts::run(cli.data_dir, cli.database_url, command).await,
    }
}

async fn serve_command(data_dir: PathBuf, database_url: Option<String>, args: ServeArgs) -> Result<(), String> {
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(args.header_read_timeout),
        request_timeout: Duration::from_secs(args.request_timeout),
        write_timeout: Duration::from_secs(args.write_timeout),
        max_connections: args.max_connections,
        max_connections_per_address: args.max_connections_per_address,
        unlimited_peers: args.trusted_proxies.clone(),
    };
    limits.validate().map_err(|error| error.to_string())?;
    let public_url = args.public_url.clone().unwrap_or_else(|| format!("http://{}", args.addr));
    let cookie_mode = CookieMode::for_public_url(&public_url).map_err(|error| error.to_string())?;
    // Without --public-url the server is its own origin on loopback (whichever port it gets).
    let public_origin = args.public_url.as_deref().and_then(SiteOrigin::parse);
    match raise_open_file_limit() {
        Ok(limit) if limit < args.max_connections as u64 => tracing::warn!(
            limit,
            max_connections = args.max_connections,
            "the open-file limit is below the connection cap; accepting will fail before the cap is reached"
        ),
        Ok(limit) => tracing::info!(limit, "open-file limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
    }
    if !args.static_dir.join("index.html").is_file() {
        tracing::warn!(dir = %args.static_dir.display(), "no built app there; serving the API only (run `cargo xtask serve`)");
    }
    let mut config = ServerConfig::new(data_dir);
    config.database_url = database_url;
    config.settings = Settings {
        access_token_ttl: args.access_ttl,
        session_ttl: args.session_ttl,
        idle_timeout: args.idle_timeout,
        refresh_grace: args.refresh_grace,
        session_refresh_limit: args.session_refresh_limit,
        allowed_origins: args.allowed_origins,
        public_origin,
        trusted_proxies: args.trusted_proxies,
        password_checks: args.password_checks,
        password_check_wait: Duration::from_secs(args.password_check_wait),
        cookie_mode,
        dpop: args.dpop,
        ..Settings::default()
    };
    config.static_dir = Some(args.static_dir);
    config.signing_secret = args.secret;
    config.previous_secret = args.previous_secret;
    config.demo_account = args.demo;
    let (app, router) = build_app(config).await.map_err(|error| error_chain(&error))?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", args.addr))?;
    let address = listener.local_addr().map_err(|error| error.to_string())?;
    let metrics = if args.metrics {
        let listener = tokio::net::TcpListener::bind(args.metrics_addr)
            .await
            .map_err(|error| format!("cannot listen on {} for /metrics: {error}", args.metrics_addr))?;
        let address = listener.local_addr().map_err(|error| error.to_string())?;
        Some((listener, address))
    } else {
        None
    };
    println!("Serving on http://{address}");
    if let Some((listener, address)) = metrics {
        println!("Metrics on http://{address}{}", session_contract::paths::METRICS);
        if !address.ip().is_loopback() {
            tracing::warn!(%address, "/metrics listens beyond this machine: keep that address private");
        }
        let (router, limits) = (metrics_router(&app), metrics_limits(&limits));
        tokio::spawn(async move {
            if let Err(error) = serve(listener, router, limits).await {
                tracing::error!(%error, "the /metrics listener stopped");
            }
        });
    }
    println!("{}", cookie_mode.describe());
    if app.created_demo_account {
        println!("Created the demo account: username `{DEMO_USERNAME}`, password `{DEMO_PASSWORD}`");
    }
    let grace = Duration::from_secs(args.shutdown_grace);
    let stop = async {
        stop_signal().await;
        // A second signal while the requests in flight finish: the operator means it.
        tokio::spawn(async {
            stop_signal().await;
            eprintln!("second signal: stopping at once");
            std::process::exit(130);
        });
    };
    serve_until(listener, router, limits, stop, grace).await.map_err(|error| error.to_string())?;
    app.shut_down().await;
    println!("Stopped");
    Ok(())
}

/// The operator's timeouts, and a few connections: a scraper or two.
fn metrics_limits(limits: &ConnectionLimits) -> ConnectionLimits {
    ConnectionLimits {
        max_connections: METRICS_CONNECTIONS,
        max_connections_per_address: METRICS_CONNECTIONS,
        ..limits.clone()
    }
}

/// SIGTERM (an orchestrator, systemd) or SIGINT (Ctrl-C).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut terminate), Ok(mut interrupt)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
        else {
            tracing::warn!("cannot listen for SIGTERM and SIGINT: only a kill stops the server");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
            _ = interrupt.recv() => tracing::info!("SIGINT: stopping"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// An error with its causes, `a: b: c`, for the one line printed at exit.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn metrics_listen_on_loopback_unless_told_otherwise() {
        let cli = Cli::try_parse_from(["session-server", "--metrics"]).unwrap();
        assert!(cli.serve.metrics);
        assert_eq!(cli.serve.metrics_addr, SocketAddr::from(([127, 0, 0, 1], 9464)));
        let cli = Cli::try_parse_from(["session-server", "--metrics", "--metrics-addr", "10.0.0.5:9100"]).unwrap();
        assert_eq!(cli.serve.metrics_addr, SocketAddr::from(([10, 0, 0, 5], 9100)));
        let without = Cli::try_parse_from(["session-server", "--metrics-addr", "10.0.0.5:9100"]);
        assert!(without.is_err(), "an address without --metrics would be ignored without a word");
    }
}
