//! What the server's tests, its benchmarks and the e2e suite share (feature `testing`): one way to start a
//! server (as the binary does, on an ephemeral loopback port), a PostgreSQL database of each run's own in a
//! shared cluster, so runs never see each other's sessions, and waiting for what happens elsewhere (another
//! instance, the browser) without fixed sleeps.

mod dpop_key;

pub use dpop_key::DpopKey;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use sqlx::PgPool;

use crate::{
    ConnectionLimits, ServerConfig, SettingsError, SharedState, StartupError, build_app, metrics_router, serve,
};

/// A server started by [`spawn_server`]: it runs until the runtime ends.
pub struct RunningServer {
    /// What every handler shares: the store, the clock, the counters.
    pub app: SharedState,
    /// Where it listens.
    pub address: SocketAddr,
    /// `http://<address>`.
    pub base_url: String,
    /// `http://<loopback address>/metrics`: the counters, on a listener of their own (as `--metrics-addr`).
    pub metrics_url: String,
}

/// Builds the server from `config` as the binary does and serves it on an ephemeral loopback port with `limits`.
///
/// # Errors
/// What `build_app` refuses, or no port to listen on.
pub async fn spawn_server(config: ServerConfig, limits: ConnectionLimits) -> Result<RunningServer, SpawnError> {
    spawn_server_at(config, limits, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// [`spawn_server`] listening on `listen` (`[::]:0` for a dual-stack listener); `base_url` reaches it over IPv4
/// loopback.
///
/// # Errors
/// What `build_app` refuses, or the address cannot be listened on.
pub async fn spawn_server_at(
    config: ServerConfig,
    limits: ConnectionLimits,
    listen: SocketAddr,
) -> Result<RunningServer, SpawnError> {
    // Checked here too: `serve` runs in a task of its own, where a refusal would leave nothing listening.
    limits.validate()?;
    let (app, router) = build_app(config).await?;
    let address = serve_at(listen, router, limits).await?;
    let reachable = SocketAddr::from(([127, 0, 0, 1], address.port()));
    let metrics = serve_on_loopback(metrics_router(&app), ConnectionLimits::default()).await?;
    let metrics_url = format!("http://{metrics}{}", session_contract::paths::METRICS);
    Ok(RunningServer { app, address, base_url: format!("http://{reachable}"), metrics_url })
}

/// Serves `router` (the real one, or a stand-in to measure against) on an ephemeral loopback port.
///
/// # Errors
/// No port to listen on.
pub async fn serve_on_loopback(router: Router, limits: ConnectionLimits) -> io::Result<SocketAddr> {
    serve_at(SocketAddr::from(([127, 0, 0, 1], 0)), router, limits).await
}

async fn serve_at(listen: SocketAddr, router: Router, limits: ConnectionLimits) -> io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    tokio::spawn(serve(listener, router, limits));
    Ok(address)
}

/// Why a test server did not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The server refused its configuration or could not open its data.
    #[error("the server did not start")]
    Startup(#[from] StartupError),
    /// No loopback port.
    #[error("cannot listen on loopback")]
    Listen(#[from] io::Error),
    /// Connection limits `serve` would refuse.
    #[error(transparent)]
    Limits(#[from] SettingsError),
}

/// A loopback port nobody listens on now (for a program that binds it itself, such as a WebDriver server).
///
/// # Panics
/// When the machine has no loopback port to give.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("an ephemeral port");
    listener.local_addr().expect("a bound address").port()
}

/// Checks `condition` at once and then every `every` until it holds or `limit` has passed: how long it took, or
/// `None` when it never held. The caller asserts what it needs with its own message.
pub async fn wait_until(
    limit: Duration,
    every: Duration,
    mut condition: impl AsyncFnMut() -> bool,
) -> Option<Duration> {
    let started = tokio::time::Instant::now();
    loop {
        if condition().await {
            return Some(started.elapsed());
        }
        if started.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(every).await;
    }
}

/// Creates an empty database named `{prefix}_{random}` in the cluster `cluster` points into (a URL naming any of
/// its databases, usually `postgres`) and returns the URL of the new one. `prefix` must be a plain SQL name (a
/// lowercase letter, then lowercase letters, digits or `_`): it is written into the statement as it is.
///
/// # Errors
/// When `cluster` names no database, or the cluster refuses the connection or the statement.
pub async fn fresh_postgres_database(cluster: &str, prefix: &str) -> Result<String, sqlx::Error> {
    debug_assert!(
        prefix.starts_with(|first: char| first.is_ascii_lowercase())
            && prefix.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_'),
        "{prefix:?}"
    );
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let url = sibling_database(cluster, &name)
        .ok_or_else(|| sqlx::Error::Configuration(format!("{cluster} names no database").into()))?;
    let admin = PgPool::connect(cluster).await?;
    let created = sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await;
    admin.close().await;
    created.map(|_| url)
}

/// `cluster` with its database replaced by `name`, its parameters kept.
fn sibling_database(cluster: &str, name: &str) -> Option<String> {
    let (address, parameters) =
        cluster.split_once('?').map_or((cluster, None), |(address, rest)| (address, Some(rest)));
    let (server, _) = address.rsplit_once('/').filter(|(server, _)| server.contains("//") && !server.ends_with('/'))?;
    Some(match parameters {
        Some(parameters) => format!("{server}/{name}?{parameters}"),
        None => format!("{server}/{name}"),
    })
}

/// Sign-ins at once from `addresses` loopback addresses (127.0.0.10 on), `each` from every one, every one with a
/// name of its own and a wrong password: a flood that stays under every throttle. Their statuses.
///
/// # Panics
/// When a request cannot be sent (the server is gone).
pub async fn sign_in_flood(base_url: &str, addresses: u8, each: usize) -> Vec<u16> {
    let attempts = (0..addresses).flat_map(|address| {
        let local = std::net::IpAddr::from([127, 0, 0, 10 + address]);
        let client = reqwest::Client::builder().local_address(local).build().expect("a client");
        let url = format!("{base_url}/auth/login");
        (0..each).map(move |attempt| {
            let body = serde_json::json!({"username": format!("flood-{address}-{attempt}"), "password": "a password"});
            client.post(&url).header("X-Requested-With", "fetch").json(&body).send()
        })
    });
    futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|sent| sent.expect("the server answers").status().as_u16())
        .collect()
}

/// The resident memory of process `pid`, in KiB (Linux's `/proc`).
///
/// # Errors
/// No such process, or no `/proc`.
pub fn resident_kib(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|size| size.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmRSS line"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{sibling_database, wait_until};

    #[tokio::test]
    async fn waiting_ends_when_the_condition_holds_or_the_limit_passes() {
        let (limit, every) = (Duration::from_millis(200), Duration::from_millis(1));
        let mut checks = 0;
        let held = wait_until(limit, every, async || {
            checks += 1;
            checks == 3
        })
        .await;
        assert!(held.is_some_and(|took| took < limit), "{held:?}");
        assert_eq!(checks, 3, "checked at once, then until it held, and no more");

        let never = wait_until(Duration::from_millis(20), every, async || false).await;
        assert_eq!(never, None);
    }

    #[test]
    fn the_new_database_replaces_the_named_one_and_keeps_the_parameters() {
        for (cluster, expected) in [
            ("postgres://postgres@127.0.0.1:5432/postgres", Some("postgres://postgres@127.0.0.1:5432/run_1")),
            ("postgres://u:p@db/postgres?sslmode=disable", Some("postgres://u:p@db/run_1?sslmode=disable")),
            ("postgres://127.0.0.1/", Some("postgres://127.0.0.1/run_1")),
            ("postgres://127.0.0.1", None),
            ("not a url", None),
        ] {
            assert_eq!(sibling_database(cluster, "run_1").as_deref(), expected, "{cluster}");
        }
    }
}
