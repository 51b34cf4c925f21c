//! What the server keeps about itself in its database: the signing secret's fingerprint (every instance on one
//! PostgreSQL database must agree on it), and when a secret rotation began (its window does not restart with
//! each start).

use super::{Pool, Store};

const SECRET_FINGERPRINT: &str = "secret_fingerprint";

impl Store {
    /// Agrees on the secret with the other instances of this PostgreSQL database, in one statement (two starting
    /// at once cannot both write): records `ours` when nothing is recorded, or when `previous` is what is (a
    /// rotation). `None` when agreed; otherwise the fingerprint recorded. SQLite: one process, always agreed.
    pub async fn agree_on_secret(&self, ours: &str, previous: Option<&str>) -> Result<Option<String>, sqlx::Error> {
        let Pool::Postgres(pool) = &self.pool else { return Ok(None) };
        let agreed: Option<String> = sqlx::query_scalar(
            "INSERT INTO server_settings (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value
             WHERE server_settings.value = $2 OR server_settings.value = $3
             RETURNING value",
        )
        .bind(SECRET_FINGERPRINT)
        .bind(ours)
        .bind(previous)
        .fetch_optional(pool)
        .await?;
        if agreed.is_some() {
            return Ok(None);
        }
        sqlx::query_scalar("SELECT value FROM server_settings WHERE name = $1")
            .bind(SECRET_FINGERPRINT)
            .fetch_one(pool)
            .await
            .map(Some)
    }

    /// When the rotation away from the secret with fingerprint `previous` began: `now` at the first start that
    /// named it, kept, so restarts do not open its window again.
    pub async fn rotation_started_at(&self, previous: &str, now: i64) -> Result<i64, sqlx::Error> {
        let name = format!("rotation_from {previous}");
        on_pool!(self, pool => {
            sqlx::query("INSERT INTO server_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(&name)
                .bind(now.to_string())
                .execute(pool)
                .await?;
            let started: String = sqlx::query_scalar("SELECT value FROM server_settings WHERE name = $1")
                .bind(&name)
                .fetch_one(pool)
                .await?;
            Ok(started.parse().unwrap_or(now))
        })
    }
}
