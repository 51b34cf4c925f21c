//! SQLite persistence through sqlx runtime queries (portable to PostgreSQL).
//!
//! Refresh tokens are stored only as SHA-256 digests. Rotation runs in one `BEGIN IMMEDIATE` transaction whose
//! conditional UPDATE is the single point where a token turns from unused to used, so concurrent refreshes of the
//! same token cannot both rotate it.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL,
        email TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sessions (
        id TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        last_used_at INTEGER NOT NULL,
        user_agent TEXT NOT NULL,
        revoked_at INTEGER,
        revoke_reason TEXT)",
    "CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user_id)",
    "CREATE TABLE IF NOT EXISTS refresh_tokens (
        hash BLOB PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        parent_hash BLOB,
        created_at INTEGER NOT NULL,
        used_at INTEGER,
        child_hash BLOB,
        sealed_child BLOB)",
    "CREATE INDEX IF NOT EXISTS refresh_tokens_by_session ON refresh_tokens(session_id)",
];

pub const REVOKED_FOR_REUSE: &str = session_contract::ErrorCode::RefreshTokenReused.as_str();
pub const REVOKED_BY_LOGOUT: &str = "logout";
pub const REVOKED_BY_USER: &str = "signed_out_remotely";
pub const REVOKED_BY_PASSWORD_CHANGE: &str = "password_changed";

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct SessionSummary {
    pub id: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub user_agent: String,
}

/// What presenting a refresh token led to. Plaintext tokens never reach the store; `Rotated` carries the digest
/// of the token that is now the session's newest.
#[derive(Debug)]
pub enum Rotation {
    Rotated {
        session_id: String,
        user_id: i64,
        expires_at: i64,
    },
    /// The token was rotated moments ago and its child is still the newest: the caller answers with that child.
    WithinGrace {
        session_id: String,
        user_id: i64,
        expires_at: i64,
        sealed_child: Vec<u8>,
    },
    Reused {
        session_id: String,
        user_id: i64,
    },
    Expired,
}

pub struct RotationRequest<'a> {
    pub presented_hash: &'a [u8],
    pub child_hash: &'a [u8],
    pub sealed_child: &'a [u8],
    pub now: i64,
    pub idle_timeout: i64,
    pub grace: i64,
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    pub async fn open(path: &Path) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        for statement in SCHEMA {
            sqlx::query(statement).execute(&pool).await?;
        }
        Ok(Self { pool })
    }

    pub async fn user_count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await
    }

    pub async fn insert_user(&self, user: &User) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "INSERT INTO users (username, display_name, email, password_hash, created_at)
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&user.username)
        .bind(&user.display_name)
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .fetch_one(&self.pool)
        .await
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, sqlx::Error> {
        let row =
            sqlx::query("SELECT * FROM users WHERE username = ?").bind(username).fetch_optional(&self.pool).await?;
        Ok(row.map(|row| user_from_row(&row)))
    }

    /// Changes the password and revokes every session of the user, in one transaction.
    pub async fn set_password(&self, user_id: i64, password_hash: &str, now: i64) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("UPDATE sessions SET revoked_at = ?, revoke_reason = ? WHERE user_id = ? AND revoked_at IS NULL")
            .bind(now)
            .bind(REVOKED_BY_PASSWORD_CHANGE)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(changed == 1)
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
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, expires_at, last_used_at, user_agent)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .bind(now)
        .bind(user_agent)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES (?, ?, ?)")
            .bind(token_hash)
            .bind(session_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// The user of a live session, with the session's absolute expiry: what a Bearer request needs to know.
    pub async fn live_session_user(&self, session_id: &str, now: i64) -> Result<Option<(User, i64)>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT u.*, s.expires_at AS session_expires_at FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id = ? AND s.revoked_at IS NULL AND s.expires_at > ?",
        )
        .bind(session_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| (user_from_row(&row), row.get("session_expires_at"))))
    }

    pub async fn rotate(&self, request: RotationRequest<'_>) -> Result<Rotation, sqlx::Error> {
        let RotationRequest { presented_hash, child_hash, sealed_child, now, idle_timeout, grace } = request;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let Some(row) = sqlx::query(
            "SELECT t.session_id, t.parent_hash, t.used_at, t.sealed_child, s.user_id, s.expires_at, s.last_used_at,
                    s.revoke_reason,
                    (SELECT c.used_at IS NULL FROM refresh_tokens c WHERE c.hash = t.child_hash) AS child_is_newest
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
             WHERE t.hash = ?",
        )
        .bind(presented_hash)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(Rotation::Expired);
        };
        let session_id: String = row.get("session_id");
        let user_id: i64 = row.get("user_id");
        let expires_at: i64 = row.get("expires_at");
        let last_used_at: i64 = row.get("last_used_at");
        let revoke_reason: Option<String> = row.get("revoke_reason");
        let used_at: Option<i64> = row.get("used_at");

        match revoke_reason.as_deref() {
            Some(REVOKED_FOR_REUSE) => return Ok(Rotation::Reused { session_id, user_id }),
            Some(_) => return Ok(Rotation::Expired),
            None => {}
        }
        if now >= expires_at || now - last_used_at > idle_timeout {
            return Ok(Rotation::Expired);
        }

        if let Some(used_at) = used_at {
            let child_is_newest: Option<bool> = row.get("child_is_newest");
            let stored_seal: Option<Vec<u8>> = row.get("sealed_child");
            if let (true, Some(true), Some(sealed_child)) = (now - used_at <= grace, child_is_newest, stored_seal) {
                return Ok(Rotation::WithinGrace { session_id, user_id, expires_at, sealed_child });
            }
            revoke(&mut tx, &session_id, REVOKED_FOR_REUSE, now).await?;
            tx.commit().await?;
            return Ok(Rotation::Reused { session_id, user_id });
        }

        let claimed = sqlx::query(
            "UPDATE refresh_tokens SET used_at = ?, child_hash = ?, sealed_child = ?
             WHERE hash = ? AND used_at IS NULL",
        )
        .bind(now)
        .bind(child_hash)
        .bind(if grace > 0 { Some(sealed_child) } else { None })
        .bind(presented_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed != 1 {
            // Unreachable while BEGIN IMMEDIATE serialises writers; refuse rather than fork the session.
            return Ok(Rotation::Expired);
        }
        // The presented token's parent is no longer the immediate parent of the newest token: its grace ends.
        let parent_hash: Option<Vec<u8>> = row.get("parent_hash");
        if let Some(parent_hash) = parent_hash {
            sqlx::query("UPDATE refresh_tokens SET sealed_child = NULL WHERE hash = ?")
                .bind(parent_hash)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("INSERT INTO refresh_tokens (hash, session_id, parent_hash, created_at) VALUES (?, ?, ?, ?)")
            .bind(child_hash)
            .bind(&session_id)
            .bind(presented_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE sessions SET last_used_at = ? WHERE id = ?")
            .bind(now)
            .bind(&session_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Rotation::Rotated { session_id, user_id, expires_at })
    }

    /// Revokes the session the token belongs to, if it is live; returns that session's id.
    pub async fn revoke_by_token(&self, token_hash: &[u8], now: i64) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = ?, revoke_reason = ?
             WHERE revoked_at IS NULL AND id = (SELECT session_id FROM refresh_tokens WHERE hash = ?)
             RETURNING id",
        )
        .bind(now)
        .bind(REVOKED_BY_LOGOUT)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn live_sessions(&self, user_id: i64, now: i64) -> Result<Vec<SessionSummary>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, created_at, last_used_at, user_agent FROM sessions
             WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at DESC",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| SessionSummary {
                id: row.get("id"),
                created_at: row.get("created_at"),
                last_used_at: row.get("last_used_at"),
                user_agent: row.get("user_agent"),
            })
            .collect())
    }

    /// Revokes one of the user's own live sessions; `false` when there is no such session for this user.
    pub async fn revoke_user_session(&self, user_id: i64, session_id: &str, now: i64) -> Result<bool, sqlx::Error> {
        let revoked = sqlx::query(
            "UPDATE sessions SET revoked_at = ?, revoke_reason = ?
             WHERE id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ?",
        )
        .bind(now)
        .bind(REVOKED_BY_USER)
        .bind(session_id)
        .bind(user_id)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(revoked == 1)
    }
}

async fn revoke(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    session_id: &str,
    reason: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL")
        .bind(now)
        .bind(reason)
        .bind(session_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn user_from_row(row: &sqlx::sqlite::SqliteRow) -> User {
    User {
        id: row.get("id"),
        username: row.get("username"),
        display_name: row.get("display_name"),
        email: row.get("email"),
        password_hash: row.get("password_hash"),
        created_at: row.get("created_at"),
    }
}
