//! What every instance on one PostgreSQL database must agree on, kept in it: the signing secret's fingerprint.

use super::{Pool, Store};

const SECRET_FINGERPRINT: &str = "secret_fingerprint";

impl Store {
    /// The fingerprint of the secret this database's instances sign with, once one has started (PostgreSQL).
    pub async fn secret_fingerprint(&self) -> Result<Option<String>, sqlx::Error> {
        let Pool::Postgres(pool) = &self.pool else { return Ok(None) };
        sqlx::query_scalar("SELECT value FROM server_settings WHERE name = $1")
            .bind(SECRET_FINGERPRINT)
            .fetch_optional(pool)
            .await
    }

    /// Records the fingerprint of the secret the instances sign with from now on (PostgreSQL).
    pub async fn set_secret_fingerprint(&self, fingerprint: &str) -> Result<(), sqlx::Error> {
        let Pool::Postgres(pool) = &self.pool else { return Ok(()) };
        sqlx::query(
            "INSERT INTO server_settings (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(SECRET_FINGERPRINT)
        .bind(fingerprint)
        .execute(pool)
        .await
        .map(|_| ())
    }
}
