//! Persistence through sqlx, on SQLite (one machine, the default) or PostgreSQL (several instances on one
//! database): the same SQL for both, run by [`on_pool!`]; it reads rows, carries out decisions, decides nothing.
//!
//! Refresh tokens are stored only as SHA-256 digests. A rotation's conditional UPDATE (`used_at IS NULL` on a
//! live session) is the single point where a token turns from unused to used, so concurrent refreshes of the
//! same token cannot both rotate it; the loser reads the row again and is answered by the rotation policy.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, PgPool, SqlitePool};

use crate::throttle::{Counter, ForgetBefore};

/// The channel every revocation is announced on, with the session id as payload (PostgreSQL only).
pub const REVOCATIONS_CHANNEL: &str = "session_revoked";

/// A revoked session is kept this long, so a stolen token presented soon after still reads as reuse.
const REVOKED_RETENTION_SECONDS: i64 = 60 * 60;

/// Why a session was revoked, as the `revoke_reason` column spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text")]
pub enum RevokeReason {
    #[sqlx(rename = "refresh_token_reused")]
    Reuse,
    #[sqlx(rename = "logout")]
    Logout,
    #[sqlx(rename = "signed_out_remotely")]
    SignedOutRemotely,
    #[sqlx(rename = "password_changed")]
    PasswordChanged,
}

#[derive(Debug, Clone, FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct SessionSummary {
    pub id: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub user_agent: String,
}

/// A presented refresh token's row, with its session's: everything the rotation policy decides on.
#[derive(Debug, Clone, FromRow)]
pub struct PresentedToken {
    pub session_id: String,
    pub user_id: i64,
    pub parent_hash: Option<Vec<u8>>,
    pub used_at: Option<i64>,
    pub child_hash: Option<Vec<u8>>,
    pub sealed_child: Option<Vec<u8>>,
    /// Whether the child this token was rotated into is still unused; `None` before a rotation.
    pub child_is_newest: Option<bool>,
    pub expires_at: i64,
    pub last_used_at: i64,
    pub revoke_reason: Option<RevokeReason>,
}

/// A new child for a presented token, as the store keeps it: the digest, and the seal only when grace is on.
pub struct Child<'a> {
    pub hash: &'a [u8],
    pub sealed: Option<&'a [u8]>,
}

/// What the database says of a live session: its user, and the moment it stops being live (absolute expiry or
/// idle timeout, whichever is first).
pub struct LiveSession {
    pub user: User,
    pub live_until: i64,
}

#[derive(FromRow)]
struct LiveSessionRow {
    #[sqlx(flatten)]
    user: User,
    session_expires_at: i64,
    session_last_used_at: i64,
}

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

/// How busy the connection pool is, for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub in_use: u32,
    pub idle: u32,
    pub max: u32,
    /// Database calls that found every connection in use, and so waited for one.
    pub waits: u64,
}

#[derive(Clone)]
pub struct Store {
    pool: Pool,
    waits: Arc<AtomicU64>,
}

impl Store {
    /// `postgres://…` connects to PostgreSQL; anything else (`sqlite://path`, or a bare path) opens SQLite.
    pub async fn connect(database_url: &str) -> Result<Self, sqlx::Error> {
        if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new().max_connections(16).connect(database_url).await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            return Ok(Self { pool: Pool::Postgres(pool), waits: Arc::default() });
        }
        let path = database_url.strip_prefix("sqlite://").unwrap_or(database_url);
        Self::open(Path::new(path)).await
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    /// The PostgreSQL pool, for `LISTEN`.
    pub fn postgres(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(pool) => Some(pool),
            Pool::Sqlite(_) => None,
        }
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
        Ok(Self { pool: Pool::Sqlite(pool), waits: Arc::default() })
    }

    pub async fn user_count(&self) -> Result<i64, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(pool).await)
    }

    pub async fn insert_user(&self, user: &User) -> Result<i64, sqlx::Error> {
        on_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO users (username, display_name, email, password_hash, created_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(&user.username)
            .bind(&user.display_name)
            .bind(&user.email)
            .bind(&user.password_hash)
            .bind(user.created_at)
            .fetch_one(pool)
            .await
        })
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, sqlx::Error> {
        on_pool!(self, pool => {
            sqlx::query_as("SELECT * FROM users WHERE username = $1").bind(username).fetch_optional(pool).await
        })
    }

    /// Changes the password and revokes every session of the user, in one transaction.
    pub async fn set_password(&self, user_id: i64, password_hash: &str, now: i64) -> Result<bool, sqlx::Error> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let revoked: Vec<String> = sqlx::query_scalar(
                "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 WHERE user_id = $3 AND revoked_at IS NULL
                 RETURNING id",
            )
            .bind(now)
            .bind(RevokeReason::PasswordChanged)
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            self.announce_revoked(&revoked).await?;
            Ok(changed == 1)
        })
    }

    pub async fn create_session(
        &self,
        session_id: &str,
        user_id: i64,
        user_agent: &str,
        token_hash: &[u8],
        now: i64,
        expires_at: i64,
    ) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO sessions (id, user_id, created_at, expires_at, last_used_at, user_agent)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(session_id)
            .bind(user_id)
            .bind(now)
            .bind(expires_at)
            .bind(now)
            .bind(user_agent)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)")
                .bind(token_hash)
                .bind(session_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })
    }

    /// The user of a session that is neither revoked, expired nor idle, and until when it stays live.
    pub async fn live_session(
        &self,
        session_id: &str,
        now: i64,
        idle_timeout: i64,
    ) -> Result<Option<LiveSession>, sqlx::Error> {
        on_pool!(self, pool => {
            let row: Option<LiveSessionRow> = sqlx::query_as(
                "SELECT u.*, s.expires_at AS session_expires_at, s.last_used_at AS session_last_used_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND s.last_used_at >= $3",
            )
            .bind(session_id)
            .bind(now)
            .bind(now - idle_timeout)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|row| LiveSession {
                user: row.user,
                live_until: row.session_expires_at.min(row.session_last_used_at + idle_timeout + 1),
            }))
        })
    }

    /// The presented token's row and its session's, read without taking the write lock.
    pub async fn presented_token(&self, token_hash: &[u8]) -> Result<Option<PresentedToken>, sqlx::Error> {
        on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT t.session_id, t.parent_hash, t.used_at, t.child_hash, t.sealed_child,
                        s.user_id, s.expires_at, s.last_used_at, s.revoke_reason,
                        (SELECT c.used_at IS NULL FROM refresh_tokens c WHERE c.hash = t.child_hash) AS child_is_newest
                 FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
                 WHERE t.hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await
        })
    }

    /// Exchanges the presented token for `child`, if it is still unused and its session unrevoked; `false` when
    /// another request got there first (the caller reads the row again).
    pub async fn rotate(
        &self,
        presented_hash: &[u8],
        presented: &PresentedToken,
        child: Child<'_>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let claimed = sqlx::query(
                "UPDATE refresh_tokens SET used_at = $1, child_hash = $2, sealed_child = $3
                 WHERE hash = $4 AND used_at IS NULL
                   AND EXISTS (SELECT 1 FROM sessions s WHERE s.id = refresh_tokens.session_id AND s.revoked_at IS NULL)",
            )
            .bind(now)
            .bind(child.hash)
            .bind(child.sealed)
            .bind(presented_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed != 1 {
                return Ok(false);
            }
            // The presented token's parent is no longer the immediate parent of the newest token: its grace ends.
            if let Some(parent_hash) = &presented.parent_hash {
                sqlx::query("UPDATE refresh_tokens SET sealed_child = NULL WHERE hash = $1")
                    .bind(parent_hash)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("INSERT INTO refresh_tokens (hash, session_id, parent_hash, created_at) VALUES ($1, $2, $3, $4)")
                .bind(child.hash)
                .bind(&presented.session_id)
                .bind(presented_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&presented.session_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    pub async fn revoke(&self, session_id: &str, reason: RevokeReason, now: i64) -> Result<(), sqlx::Error> {
        let revoked = on_pool!(self, pool => {
            sqlx::query("UPDATE sessions SET revoked_at = $1, revoke_reason = $2 WHERE id = $3 AND revoked_at IS NULL")
                .bind(now)
                .bind(reason)
                .bind(session_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if revoked == 1 {
            self.announce_revoked(&[session_id.to_owned()]).await?;
        }
        Ok(())
    }

    /// Reads the throttle counters of `keys` under a row lock, lets `change` decide and change them, and writes
    /// them back, in one transaction: concurrent attempts on any instance count one after another. PostgreSQL
    /// only (on SQLite, one process serves and keeps its counters in memory).
    pub async fn update_counters<const N: usize, R>(
        &self,
        keys: &[String; N],
        change: impl FnOnce(&mut [Counter; N]) -> R,
    ) -> Result<R, sqlx::Error> {
        let Pool::Postgres(pool) = &self.pool else {
            return Err(sqlx::Error::Configuration("shared throttle counters need PostgreSQL".into()));
        };
        // Locked in key order, so two transactions never wait for each other in a circle.
        let mut sorted: Vec<&String> = keys.iter().collect();
        sorted.sort();
        sorted.dedup();
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO throttle_counters (key, started_at, count, locked_until)
             SELECT key, 0, 0, 0 FROM unnest($1::text[]) AS key ON CONFLICT (key) DO NOTHING",
        )
        .bind(&sorted)
        .execute(&mut *tx)
        .await?;
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT key, started_at, count, locked_until FROM throttle_counters WHERE key = ANY($1)
             ORDER BY key FOR UPDATE",
        )
        .bind(&sorted)
        .fetch_all(&mut *tx)
        .await?;
        let mut counters = keys.clone().map(|key| {
            rows.iter()
                .find(|(stored, ..)| *stored == key)
                .map(|&(_, started_at, count, locked_until)| Counter {
                    started_at,
                    count: u32::try_from(count).unwrap_or(u32::MAX),
                    locked_until,
                })
                .unwrap_or_default()
        });
        let decided = change(&mut counters);
        for (key, counter) in keys.iter().zip(counters) {
            sqlx::query("UPDATE throttle_counters SET started_at = $2, count = $3, locked_until = $4 WHERE key = $1")
                .bind(key)
                .bind(counter.started_at)
                .bind(i64::from(counter.count))
                .bind(counter.locked_until)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(decided)
    }

    /// Tells every instance on this database (PostgreSQL `NOTIFY`) that these sessions are revoked; on SQLite,
    /// where one process serves, there is nobody to tell.
    async fn announce_revoked(&self, session_ids: &[String]) -> Result<(), sqlx::Error> {
        if let (Pool::Postgres(pool), false) = (&self.pool, session_ids.is_empty()) {
            sqlx::query("SELECT pg_notify($1, id) FROM unnest($2::text[]) AS id")
                .bind(REVOCATIONS_CHANNEL)
                .bind(session_ids)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Revokes the session the token belongs to, if it is live; returns that session's id.
    pub async fn revoke_by_token(&self, token_hash: &[u8], now: i64) -> Result<Option<String>, sqlx::Error> {
        on_pool!(self, pool => {
            let revoked: Option<String> = sqlx::query_scalar(
                "UPDATE sessions SET revoked_at = $1, revoke_reason = $2
                 WHERE revoked_at IS NULL AND id = (SELECT session_id FROM refresh_tokens WHERE hash = $3)
                 RETURNING id",
            )
            .bind(now)
            .bind(RevokeReason::Logout)
            .bind(token_hash)
            .fetch_optional(pool)
            .await?;
            self.announce_revoked(revoked.as_slice()).await?;
            Ok(revoked)
        })
    }

    /// The user's sessions that are neither revoked, expired nor idle, newest first.
    pub async fn live_sessions(
        &self,
        user_id: i64,
        now: i64,
        idle_timeout: i64,
    ) -> Result<Vec<SessionSummary>, sqlx::Error> {
        on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, created_at, last_used_at, user_agent FROM sessions
                 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_used_at >= $3
                 ORDER BY created_at DESC",
            )
            .bind(user_id)
            .bind(now)
            .bind(now - idle_timeout)
            .fetch_all(pool)
            .await
        })
    }

    /// Revokes one of the user's own live sessions; `false` when there is no such session for this user.
    pub async fn revoke_user_session(&self, user_id: i64, session_id: &str, now: i64) -> Result<bool, sqlx::Error> {
        on_pool!(self, pool => {
            let revoked = sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoke_reason = $2
                 WHERE id = $3 AND user_id = $4 AND revoked_at IS NULL AND expires_at > $5",
            )
            .bind(now)
            .bind(RevokeReason::SignedOutRemotely)
            .bind(session_id)
            .bind(user_id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected();
            if revoked == 1 {
                self.announce_revoked(&[session_id.to_owned()]).await?;
            }
            Ok(revoked == 1)
        })
    }

    /// Deletes the sessions that ended (expired, idle, or revoked more than an hour ago) with all their tokens;
    /// returns how many sessions went.
    pub async fn sweep(&self, now: i64, idle_timeout: i64) -> Result<u64, sqlx::Error> {
        on_pool!(self, pool => {
            let deleted: Vec<String> = sqlx::query_scalar(
                "DELETE FROM sessions WHERE expires_at <= $1 OR last_used_at < $2 OR revoked_at < $3 RETURNING id",
            )
            .bind(now)
            .bind(now - idle_timeout)
            .bind(now - REVOKED_RETENTION_SECONDS)
            .fetch_all(pool)
            .await?;
            self.announce_revoked(&deleted).await?;
            if let Pool::Postgres(pool) = &self.pool {
                // Counters that no longer say anything, by the rule memory forgets them by.
                let forget = ForgetBefore::at(now);
                sqlx::query("DELETE FROM throttle_counters WHERE started_at <= $1 AND locked_until <= $2")
                    .bind(forget.started_at)
                    .bind(forget.locked_until)
                    .execute(pool)
                    .await?;
            }
            Ok(u64::try_from(deleted.len()).unwrap_or(u64::MAX))
        })
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
