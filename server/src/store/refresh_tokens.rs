//! Refresh tokens, stored only as SHA-256 digests: read when one is presented, exchanged for a child by a
//! rotation, and the way a sign-out finds its session.

use sqlx::FromRow;

use super::sessions::RevokeReason;
use super::{Pool, Store};

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
    /// Tokens of the session created in the rotation window (its sign-in and its rotations), and the oldest's
    /// creation time.
    pub recent_tokens: i64,
    pub oldest_recent_at: Option<i64>,
    /// How many times the session has rotated since its sign-in.
    pub rotations: i64,
    /// The key the session is bound to (DPoP), if any.
    pub jkt: Option<String>,
}

/// A new child for a presented token, as the store keeps it: the digest, and the seal only when grace is on.
pub struct Child<'a> {
    pub hash: &'a [u8],
    pub sealed: Option<&'a [u8]>,
}

impl Store {
    /// The presented token's row and its session's, with the session's tokens created since `window_start`,
    /// read without taking the write lock.
    pub async fn presented_token(
        &self,
        token_hash: &[u8],
        window_start: i64,
    ) -> Result<Option<PresentedToken>, sqlx::Error> {
        on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT t.session_id, t.parent_hash, t.used_at, t.child_hash, t.sealed_child,
                        s.user_id, s.expires_at, s.last_used_at, s.revoke_reason, s.rotations, s.jkt,
                        (SELECT c.used_at IS NULL FROM refresh_tokens c WHERE c.hash = t.child_hash) AS child_is_newest,
                        (SELECT COUNT(*) FROM refresh_tokens r WHERE r.session_id = t.session_id AND r.created_at > $2)
                            AS recent_tokens,
                        (SELECT MIN(r.created_at) FROM refresh_tokens r
                         WHERE r.session_id = t.session_id AND r.created_at > $2) AS oldest_recent_at
                 FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
                 WHERE t.hash = $1",
            )
            .bind(token_hash)
            .bind(window_start)
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
            sqlx::query("UPDATE sessions SET last_used_at = $1, rotations = rotations + 1 WHERE id = $2")
                .bind(now)
                .bind(&presented.session_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }
}
