//! DPoP proofs seen, shared by the instances on PostgreSQL: a proof's key is recorded once, and a second
//! presentation before it ends is a replay. PostgreSQL only (on SQLite, one process remembers them in memory).

use super::{Pool, Store};

impl Store {
    /// Records the proof `key` until `until`: `true` the first time (or once an earlier record ended), `false`
    /// while an earlier one lasts.
    pub async fn first_use_of_proof(&self, key: &[u8], until: i64, now: i64) -> Result<bool, sqlx::Error> {
        let Pool::Postgres(pool) = &self.pool else {
            return Err(sqlx::Error::Configuration("shared DPoP proofs need PostgreSQL".into()));
        };
        let recorded = sqlx::query(
            "INSERT INTO dpop_proofs (key, until) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET until = excluded.until WHERE dpop_proofs.until <= $3",
        )
        .bind(key)
        .bind(until)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected();
        Ok(recorded == 1)
    }
}
