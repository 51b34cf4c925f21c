//! The throttle's counters, shared by every instance on PostgreSQL; on SQLite one process serves and keeps
//! them in memory. The store keeps and locks them; the rules that read and change them are the throttle's.

use super::{Pool, Store};

/// One throttle counter: a window (`count` events since `started_at`) or a backoff (`count` failures, refused
/// until `locked_until`). Its rules are in `crate::auth::throttle`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counter {
    pub started_at: i64,
    pub count: u32,
    pub locked_until: i64,
}

/// Counters that say nothing any more: window started at or before `started_at`, backoff ended at or before
/// `locked_until` (the throttle decides the two; `ForgetBefore::at`).
#[derive(Debug, Clone, Copy)]
pub struct ForgetBefore {
    pub started_at: i64,
    pub locked_until: i64,
}

impl Store {
    /// The throttle counter of `key` as it stands, read without a lock: a question that writes nothing.
    /// PostgreSQL only, as [`Store::update_counters`].
    pub async fn counter(&self, key: &str) -> Result<Counter, sqlx::Error> {
        let Pool::Postgres(pool) = &self.pool else {
            return Err(sqlx::Error::Configuration("shared throttle counters need PostgreSQL".into()));
        };
        let row = sqlx::query_as("SELECT started_at, count, locked_until FROM throttle_counters WHERE key = $1")
            .bind(key)
            .fetch_optional(pool)
            .await?;
        Ok(row.map(counter_of).unwrap_or_default())
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
                .map(|&(_, started_at, count, locked_until)| counter_of((started_at, count, locked_until)))
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
}

/// A stored row's counter (its count is stored as a 64-bit integer).
fn counter_of((started_at, count, locked_until): (i64, i64, i64)) -> Counter {
    Counter { started_at, count: u32::try_from(count).unwrap_or(u32::MAX), locked_until }
}
