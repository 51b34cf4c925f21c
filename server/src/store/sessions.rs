//! Sessions: created at sign-in, read by every Bearer check (through the live-session cache), listed on the
//! user page, revoked by a sign-out, a reuse or a password change, and swept once they have ended.

use sqlx::FromRow;

use super::counters::ForgetBefore;
use super::revocations::Announce;
use super::users::User;
use super::{Pool, Store};

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
    /// The session rotated more often than its lifetime needs (a client looping refreshes, or a thief).
    #[sqlx(rename = "rotation_limit")]
    RotationLimit,
    /// The account signed in again with [`MAX_SESSIONS_PER_ACCOUNT`] sessions unrevoked: the least recently used
    /// made room.
    #[sqlx(rename = "session_limit")]
    SessionLimit,
}

/// Sessions one account keeps unrevoked at most: whoever has the password signs in 30 times a minute from each
/// address, and each session is kept up to its lifetime, so without a bound one account could grow the
/// database, and its sessions list, for as long as it likes. Far more browsers than one person uses.
pub const MAX_SESSIONS_PER_ACCOUNT: u32 = 500;

#[derive(Debug, Clone, FromRow)]
pub struct SessionSummary {
    pub id: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub user_agent: String,
}

/// A session to create at sign-in.
pub struct NewSession<'a> {
    pub session_id: &'a str,
    pub user_id: i64,
    /// The stored password hash the sign-in's password was verified against.
    pub checked_hash: &'a str,
    pub user_agent: &'a str,
    /// The digest of the session's first refresh token.
    pub token_hash: &'a [u8],
    pub now: i64,
    pub expires_at: i64,
    /// The thumbprint of the key the session is bound to (DPoP); `None` for a Bearer session.
    pub jkt: Option<&'a str>,
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

impl Store {
    /// Creates a session for `new.user_id`, only if the account's password is still the one the sign-in was
    /// checked against (`new.checked_hash`); `None` when it changed meanwhile. Past
    /// [`MAX_SESSIONS_PER_ACCOUNT`], the account's least recently used sessions are revoked: their ids.
    ///
    /// The check is a write to the account's row, first in the transaction: on PostgreSQL it waits for a
    /// concurrent password change to commit and then sees the new hash (or the change waits for this session and
    /// then revokes it); on SQLite it takes the write lock. Either way a password change ends every sign-in
    /// checked against the old password, waiting ones included.
    pub async fn create_session(&self, new: &NewSession<'_>) -> Result<Option<Vec<String>>, sqlx::Error> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let unchanged = sqlx::query(
                "UPDATE users SET password_hash = password_hash WHERE id = $1 AND password_hash = $2",
            )
            .bind(new.user_id)
            .bind(new.checked_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if unchanged != 1 {
                return Ok(None);
            }
            sqlx::query(
                "INSERT INTO sessions (id, user_id, created_at, expires_at, last_used_at, user_agent, jkt)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(new.session_id)
            .bind(new.user_id)
            .bind(new.now)
            .bind(new.expires_at)
            .bind(new.now)
            .bind(new.user_agent)
            .bind(new.jkt)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)")
                .bind(new.token_hash)
                .bind(new.session_id)
                .bind(new.now)
                .execute(&mut *tx)
                .await?;
            // The new session stays, whatever ties its times make with others'; the most recently used of the
            // rest fill the other places.
            let evicted: Vec<String> = sqlx::query_scalar(
                "UPDATE sessions SET revoked_at = $1, revoke_reason = $2
                 WHERE user_id = $3 AND revoked_at IS NULL AND id <> $5 AND id NOT IN (
                     SELECT id FROM sessions WHERE user_id = $3 AND revoked_at IS NULL AND id <> $5
                     ORDER BY last_used_at DESC, created_at DESC, id LIMIT $4)
                 RETURNING id",
            )
            .bind(new.now)
            .bind(RevokeReason::SessionLimit)
            .bind(new.user_id)
            .bind(i64::from(MAX_SESSIONS_PER_ACCOUNT) - 1)
            .bind(new.session_id)
            .fetch_all(&mut *tx)
            .await?;
            tx.announce_revoked(&evicted).await?;
            tx.commit().await?;
            Ok(Some(evicted))
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

    /// Revokes the session, for `reason`, unless it is revoked already; whether it was live until now.
    pub async fn revoke(&self, session_id: &str, reason: RevokeReason, now: i64) -> Result<bool, sqlx::Error> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let revoked: Vec<String> = sqlx::query_scalar(
                "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 WHERE id = $3 AND revoked_at IS NULL
                 RETURNING id",
            )
            .bind(now)
            .bind(reason)
            .bind(session_id)
            .fetch_all(&mut *tx)
            .await?;
            tx.announce_revoked(&revoked).await?;
            tx.commit().await?;
            Ok(revoked.len() == 1)
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
            let mut tx = pool.begin().await?;
            let revoked: Vec<String> = sqlx::query_scalar(
                "UPDATE sessions SET revoked_at = $1, revoke_reason = $2
                 WHERE id = $3 AND user_id = $4 AND revoked_at IS NULL AND expires_at > $5
                 RETURNING id",
            )
            .bind(now)
            .bind(RevokeReason::SignedOutRemotely)
            .bind(session_id)
            .bind(user_id)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            tx.announce_revoked(&revoked).await?;
            tx.commit().await?;
            Ok(revoked.len() == 1)
        })
    }

    /// Deletes the sessions that ended (expired, idle, or revoked more than an hour ago) with all their tokens,
    /// and the shared throttle counters `counters` says are forgotten; returns how many sessions went.
    pub async fn sweep(&self, now: i64, idle_timeout: i64, counters: ForgetBefore) -> Result<u64, sqlx::Error> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let deleted: Vec<String> = sqlx::query_scalar(
                "DELETE FROM sessions WHERE expires_at <= $1 OR last_used_at < $2 OR revoked_at < $3 RETURNING id",
            )
            .bind(now)
            .bind(now - idle_timeout)
            .bind(now - REVOKED_RETENTION_SECONDS)
            .fetch_all(&mut *tx)
            .await?;
            tx.announce_revoked(&deleted).await?;
            tx.commit().await?;
            if let Pool::Postgres(pool) = &self.pool {
                // Counters that no longer say anything, by the rule memory forgets them by, and proofs that can
                // no longer be fresh.
                sqlx::query("DELETE FROM throttle_counters WHERE started_at <= $1 AND locked_until <= $2")
                    .bind(counters.started_at)
                    .bind(counters.locked_until)
                    .execute(pool)
                    .await?;
                sqlx::query("DELETE FROM dpop_proofs WHERE until <= $1").bind(now).execute(pool).await?;
            }
            Ok(u64::try_from(deleted.len()).unwrap_or(u64::MAX))
        })
    }
}
