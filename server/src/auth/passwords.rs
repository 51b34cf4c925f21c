//! Password storage (Argon2id with OWASP's parameters) and the account commands of the server binary.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

use crate::store::{Store, User};

const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;
const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the password must have at least {MIN_PASSWORD_CHARS} characters")]
    PasswordTooShort,
    #[error("the username must be 1 to 64 letters, digits, '.', '_' or '-'")]
    InvalidUsername,
    #[error("the user {0:?} already exists")]
    UserExists(String),
    #[error("there is no user {0:?}")]
    NoSuchUser(String),
    #[error("could not hash the password: {0}")]
    Hashing(String),
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("constant Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash_password(password: &str) -> Result<String, CredentialError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| CredentialError::Hashing(error.to_string()))
}

/// Argon2 verifications, at most `permits` at once: each holds a blocking thread and 19 MiB, so a flood of
/// sign-ins queues here (for `wait` at most) instead of taking every core and gigabytes.
pub struct PasswordChecks {
    permits: Arc<Semaphore>,
    wait: Duration,
    /// Sign-ins waiting for a check now.
    waiting: AtomicUsize,
    /// Verified instead when the account is unknown or its stored hash unreadable: the same work either way.
    dummy_hash: String,
}

/// Every password check is busy and stayed so for the whole wait.
#[derive(Debug, thiserror::Error)]
#[error("every password check is busy")]
pub struct Busy;

impl PasswordChecks {
    pub fn new(permits: usize, wait: Duration) -> Result<Self, CredentialError> {
        Ok(Self {
            permits: Arc::new(Semaphore::new(permits.max(1))),
            wait,
            waiting: AtomicUsize::new(0),
            dummy_hash: hash_password("no account has this password")?,
        })
    }

    /// Whether `password` matches `stored_hash`; `None` (an unknown user) still costs one verification.
    pub async fn verify(&self, password: String, stored_hash: Option<String>) -> Result<bool, Busy> {
        let waiting = Waiting::on(&self.waiting);
        let permit =
            tokio::time::timeout(self.wait, Arc::clone(&self.permits).acquire_owned()).await.map_err(|_| Busy)?;
        drop(waiting);
        let dummy_hash = self.dummy_hash.clone();
        let verification = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            verify_password(&password, stored_hash.as_deref(), &dummy_hash)
        });
        // A panic inside Argon2 is a failed check, not a 500 that tells the attacker something.
        Ok(verification.await.unwrap_or(false))
    }
}

impl PasswordChecks {
    /// How many sign-ins wait for a free check now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// One sign-in counted in [`PasswordChecks::waiting`] until dropped (also when the client goes away).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn on(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Constant work whether or not the account exists and its stored hash parses: an unreadable hash is replaced by
/// the dummy, verified, and refused.
fn verify_password(password: &str, stored_hash: Option<&str>, dummy_hash: &str) -> bool {
    let stored = stored_hash.and_then(|hash| PasswordHash::new(hash).ok());
    let usable = stored.is_some();
    let Some(hash) = stored.or_else(|| PasswordHash::new(dummy_hash).ok()) else { return false };
    argon2().verify_password(password.as_bytes(), &hash).is_ok() && usable
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub display_name: &'a str,
    pub email: &'a str,
}

pub async fn add_user(store: &Store, user: NewUser<'_>, now: i64) -> Result<i64, CredentialError> {
    let valid_name = (1..=64).contains(&user.username.len())
        && user.username.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid_name {
        return Err(CredentialError::InvalidUsername);
    }
    if store.user_by_username(user.username).await?.is_some() {
        return Err(CredentialError::UserExists(user.username.to_owned()));
    }
    let password_hash = hash_in_background(user.password).await?;
    let id = store
        .insert_user(&User {
            id: 0,
            username: user.username.to_owned(),
            display_name: user.display_name.to_owned(),
            email: user.email.to_owned(),
            password_hash,
            created_at: now,
        })
        .await?;
    Ok(id)
}

/// Sets a new password and revokes every session of the user.
pub async fn set_password(store: &Store, username: &str, password: &str, now: i64) -> Result<(), CredentialError> {
    let user =
        store.user_by_username(username).await?.ok_or_else(|| CredentialError::NoSuchUser(username.to_owned()))?;
    let password_hash = hash_in_background(password).await?;
    store.set_password(user.id, &password_hash, now).await?;
    Ok(())
}

async fn hash_in_background(password: &str) -> Result<String, CredentialError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(CredentialError::PasswordTooShort);
    }
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|error| CredentialError::Hashing(error.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_with_argon2id_and_owasp_parameters() {
        let hash = hash_password("a fine password").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        let dummy = hash_password("the dummy password").unwrap();
        assert!(verify_password("a fine password", Some(&hash), &dummy));
        assert!(!verify_password("another password", Some(&hash), &dummy));
        assert!(!verify_password("a fine password", Some("not a hash"), &dummy));
        assert!(!verify_password("the dummy password", Some("not a hash"), &dummy), "the dummy never signs in");
        assert!(!verify_password("the dummy password", None, &dummy));
    }
}
