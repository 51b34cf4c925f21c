//! Accounts: created by the account commands, read at sign-in.

use sqlx::FromRow;

use super::revocations::Announce;
use super::sessions::RevokeReason;
use super::{Pool, Store};

#[derive(Debug, Clone, FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: i64,
}

impl Store {
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
            tx.announce_revoked(&revoked).await?;
            tx.commit().await?;
            Ok(changed == 1)
        })
    }
}
