//! Revocations told to the other instances on the same PostgreSQL database (`NOTIFY`), which drop the session
//! from their live cache at once (`crate::revocations` listens).
//!
//! The announcement is made inside the revoking transaction, and PostgreSQL delivers it at commit: a revocation
//! is committed and announced, or neither. (Sent after the commit as a statement of its own, it was lost when
//! it failed or when the request was dropped in between, and the other instances trusted the session for a
//! minute more.)

use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;

/// The channel every revocation is announced on, with the session id as payload (PostgreSQL only).
pub const REVOCATIONS_CHANNEL: &str = "session_revoked";

/// A connection inside a revoking transaction that can announce what it revokes.
pub(super) trait Announce {
    /// Announces `session_ids` as revoked when the transaction commits.
    async fn announce_revoked(&mut self, session_ids: &[String]) -> Result<(), sqlx::Error>;
}

impl Announce for PgConnection {
    async fn announce_revoked(&mut self, session_ids: &[String]) -> Result<(), sqlx::Error> {
        if !session_ids.is_empty() {
            sqlx::query("SELECT pg_notify($1, id) FROM unnest($2::text[]) AS id")
                .bind(REVOCATIONS_CHANNEL)
                .bind(session_ids)
                .execute(self)
                .await?;
        }
        Ok(())
    }
}

/// On SQLite one process serves: there is nobody to tell.
impl Announce for SqliteConnection {
    async fn announce_revoked(&mut self, _session_ids: &[String]) -> Result<(), sqlx::Error> {
        Ok(())
    }
}
