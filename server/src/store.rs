//! Persistence through sqlx, on SQLite (one machine, the default) or PostgreSQL (several instances on one
//! database): the same SQL for both, run by [`on_pool!`]; it reads rows, carries out decisions, decides nothing.
//!
//! Refresh tokens are stored only as SHA-256 digests. A rotation's conditional UPDATE (`used_at IS NULL` on a
//! live session) is the single point where a token turns from unused to used, so concurrent refreshes of the
//! same token cannot both rotate it; the loser reads the row again and is answered by the rotation policy.
//!
//! One file a table (or a concern): users, sessions, refresh tokens, throttle counters, the revocations told to
//! other instances, and the settings instances must agree on; this one holds the pool.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::clock::ClockReading;

/// How long a connection to PostgreSQL may take before start-up says so.
const CONNECT_WAIT: Duration = Duration::from_secs(5);
/// How long a request waits for a pooled connection before it is answered `503` (a burst beyond the pool).
const POOL_WAIT: Duration = Duration::from_secs(10);
/// The `application_name` of the listening connection.
pub const LISTENER_NAME: &str = "session-server listener";

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs one expression against whichever pool the store has: the SQL is written once, the driver chosen at run
/// time. Each use first notes whether the pool had a connection to give.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {{
        $store.note_acquire();
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    }};
}

mod counters;
mod dpop_proofs;
mod refresh_tokens;
mod revocations;
mod server_settings;
mod sessions;
mod users;

pub use counters::{Counter, ForgetBefore};
pub use refresh_tokens::{Child, PresentedToken};
pub use revocations::REVOCATIONS_CHANNEL;
pub use sessions::{LiveSession, MAX_SESSIONS_PER_ACCOUNT, NewSession, RevokeReason};
pub use users::User;

/// How busy the connection pool is, for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub in_use: u32,
    pub idle: u32,
    pub max: u32,
    /// Database calls that found every connection in use, and so waited for one.
    pub waits: u64,
}

/// The database, whichever it is; cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// On PostgreSQL, the one connection `LISTEN` uses, apart from the requests' pool (named, so an operator
    /// and a test can tell it in `pg_stat_activity`).
    listening: Option<PgPool>,
    waits: Arc<AtomicU64>,
}

impl Store {
    /// `postgres://…` connects to PostgreSQL; anything else (`sqlite://path`, or a bare path) opens SQLite.
    pub async fn connect(database_url: &str) -> Result<Self, sqlx::Error> {
        if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
            let options: PgConnectOptions = database_url.parse()?;
            // One connection first, so a wrong address, password or database name is told as such within
            // seconds (the pool would retry it until its timeout and report only that).
            let probe =
                tokio::time::timeout(CONNECT_WAIT, PgConnection::connect_with(&options)).await.map_err(|_| {
                    sqlx::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no answer from the database within {} s", CONNECT_WAIT.as_secs()),
                    ))
                })??;
            probe.close().await?;
            let listening = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(CONNECT_WAIT)
                .connect_lazy_with(options.clone().application_name(LISTENER_NAME));
            let pool =
                PgPoolOptions::new().max_connections(16).acquire_timeout(POOL_WAIT).connect_with(options).await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            return Ok(Self { pool: Pool::Postgres(pool), listening: Some(listening), waits: Arc::default() });
        }
        let path = database_url.strip_prefix("sqlite://").unwrap_or(database_url);
        Self::open(Path::new(path)).await
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    /// A reading of PostgreSQL's clock, timed from a connection already in hand (the wait for one is not part
    /// of the round trip); `None` on SQLite, which has no clock other than this machine's.
    pub async fn read_database_clock(&self) -> Result<Option<ClockReading>, sqlx::Error> {
        let Pool::Postgres(pool) = &self.pool else { return Ok(None) };
        let mut connection = pool.acquire().await?;
        let sent = Instant::now();
        let database_ms = sqlx::query_scalar("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint")
            .fetch_one(&mut *connection)
            .await?;
        Ok(Some(ClockReading { database_ms, sent, received: Instant::now() }))
    }

    /// Closes the pools: waits for the connections in use to come back (for `wait` at most), then closes them.
    pub async fn close(&self, wait: Duration) {
        let closing = async {
            if let Some(listening) = &self.listening {
                listening.close().await;
            }
            match &self.pool {
                Pool::Sqlite(pool) => pool.close().await,
                Pool::Postgres(pool) => pool.close().await,
            }
        };
        if tokio::time::timeout(wait, closing).await.is_err() {
            tracing::warn!("stopping: database connections still busy are dropped");
        }
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }

    /// On PostgreSQL, the pool of the one connection that `LISTEN`s.
    pub fn listening(&self) -> Option<&PgPool> {
        self.listening.as_ref()
    }

    pub fn pool_stats(&self) -> PoolStats {
        let (size, idle, max) = match &self.pool {
            Pool::Sqlite(pool) => (pool.size(), pool.num_idle(), pool.options().get_max_connections()),
            Pool::Postgres(pool) => (pool.size(), pool.num_idle(), pool.options().get_max_connections()),
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        PoolStats { in_use: size.saturating_sub(idle), idle, max, waits: self.waits.load(Ordering::Relaxed) }
    }

    /// A call about to take a connection from a pool that is full and has none idle will wait: count it.
    fn note_acquire(&self) {
        let stats = self.pool_stats();
        if stats.idle == 0 && stats.in_use >= stats.max {
            self.waits.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Opens (or creates, readable by the owner only) a SQLite database and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self, sqlx::Error> {
        owner_only_files(path)?;
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool: Pool::Sqlite(pool), listening: None, waits: Arc::default() })
    }
}

/// The database and its WAL and shared-memory files hold password hashes: readable by the owner alone. SQLite
/// gives the WAL and shared-memory files the database file's mode, so creating that one right is enough; files
/// of an older start are narrowed too.
fn owner_only_files(path: &Path) -> Result<(), sqlx::Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        for suffix in ["", "-wal", "-shm"] {
            let file = path.with_file_name(format!(
                "{}{suffix}",
                path.file_name().map(|name| name.to_string_lossy()).unwrap_or_default()
            ));
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_that_meet_a_full_pool_are_counted_as_waits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.db");
        let store = Store::open(&path).await.unwrap();
        assert_eq!(store.pool_stats().waits, 0);
        // Another process holds the write lock: every write waits on it, holding a pool connection.
        let outsider = SqlitePool::connect(&format!("sqlite://{}", path.display())).await.unwrap();
        let mut lock = outsider.begin_with("BEGIN IMMEDIATE").await.unwrap();
        let write = |index: usize| {
            let store = store.clone();
            tokio::spawn(async move { store.revoke(&format!("s{index}"), RevokeReason::Logout, 0).await })
        };
        let mut writes: Vec<_> = (0..8).map(write).collect();
        // Until every one of the pool's eight connections is taken by a write waiting on the lock.
        let every = Duration::from_millis(5);
        crate::testing::wait_until(Duration::from_secs(1), every, async || store.pool_stats().in_use == 8).await;
        assert_eq!(store.pool_stats().waits, 0, "{:?}", store.pool_stats());
        writes.extend((8..12).map(write));
        tokio::time::sleep(Duration::from_millis(50)).await;
        sqlx::query("SELECT 1").execute(&mut *lock).await.unwrap();
        lock.rollback().await.unwrap();
        for write in writes {
            write.await.unwrap().unwrap();
        }
        assert_eq!(store.pool_stats().waits, 4, "{:?}", store.pool_stats());
    }
}
