//! Revocations told to the other instances on the same PostgreSQL database (`NOTIFY`), which drop the session
//! from their live cache at once (`crate::revocations` listens).

use super::{Pool, Store};

/// The channel every revocation is announced on, with the session id as payload (PostgreSQL only).
pub const REVOCATIONS_CHANNEL: &str = "session_revoked";

impl Store {
    /// Tells every instance on this database (PostgreSQL `NOTIFY`) that these sessions are revoked; on SQLite,
    /// where one process serves, there is nobody to tell.
    pub(super) async fn announce_revoked(&self, session_ids: &[String]) -> Result<(), sqlx::Error> {
        if let (Pool::Postgres(pool), false) = (&self.pool, session_ids.is_empty()) {
            sqlx::query("SELECT pg_notify($1, id) FROM unnest($2::text[]) AS id")
                .bind(REVOCATIONS_CHANNEL)
                .bind(session_ids)
                .execute(pool)
                .await?;
        }
        Ok(())
    }
}
