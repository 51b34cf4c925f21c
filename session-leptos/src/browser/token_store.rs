//! The access token in localStorage, as one JSON item with its expiry, so a half-written pair cannot exist; in
//! this tab's memory where localStorage is missing or refuses to write (private browsing, quota, disabled).

use std::cell::{Cell, RefCell};
use std::time::Duration;

use gloo_storage::errors::StorageError;
use gloo_storage::{LocalStorage, Storage};
use serde::{Deserialize, Serialize};
use session_contract::ACCESS_TOKEN_STORAGE_KEY;
use session_core::{AccessToken, TokenStore, is_bearer_token, session_of};

/// What the item holds: `{"value": "<jwt>", "session": "<id>", "expiresAt": <ms since the epoch, or null when
/// unknown>, "lifetime": <ms>, "bound": <true for a DPoP-bound session; absent in older items: false>}`. The
/// other tabs' news carries a token in the same shape.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredToken {
    value: String,
    session: String,
    /// `null` when unknown.
    expires_at: Option<f64>,
    lifetime: f64,
    #[serde(default)]
    bound: bool,
}

impl From<&AccessToken> for StoredToken {
    fn from(token: &AccessToken) -> Self {
        Self {
            value: token.value.clone(),
            session: token.session.clone(),
            expires_at: token.expires_at_ms,
            lifetime: token.lifetime.as_secs_f64() * 1000.0,
            bound: token.bound,
        }
    }
}

impl StoredToken {
    /// The token, unless it is not one a header can carry (see [`is_bearer_token`]).
    pub(crate) fn into_token(self) -> Option<AccessToken> {
        let lifetime = Duration::try_from_secs_f64(self.lifetime / 1000.0).unwrap_or_default();
        is_bearer_token(&self.value).then(|| {
            AccessToken::new(self.value, self.session, self.expires_at, lifetime).bound_to_the_device(self.bound)
        })
    }
}

/// The [`TokenStore`] of a browser: localStorage, which every tab of the origin shares; this tab's memory where
/// localStorage is missing or refuses to write.
#[derive(Default)]
pub struct LocalStorageTokens {
    /// The token, once localStorage failed: this tab's alone, gone with a reload.
    memory: RefCell<Option<AccessToken>>,
    in_memory_only: Cell<bool>,
}

/// Set while a sign-out has not reached the server (the next start tells it).
const LOGOUT_PENDING_KEY: &str = "logoutPending";

impl LocalStorageTokens {
    /// Whether localStorage failed, so the session will not survive a reload (the app says so).
    pub fn is_in_memory_only(&self) -> bool {
        self.in_memory_only.get()
    }

    fn fall_back_to_memory(&self, token: Option<AccessToken>) {
        self.in_memory_only.set(true);
        *self.memory.borrow_mut() = token;
    }
}

/// gloo-storage throws where the browser has no localStorage, or denies it; ask first.
fn available() -> bool {
    web_sys::window().and_then(|window| window.local_storage().ok().flatten()).is_some()
}

impl TokenStore for LocalStorageTokens {
    fn load(&self) -> Option<AccessToken> {
        if self.in_memory_only.get() || !available() {
            return self.memory.borrow().clone();
        }
        // Whatever else the item holds (another app's JSON, a value a header cannot carry) is no token: the user
        // signs in again rather than facing a page that cannot send its requests.
        match LocalStorage::get::<StoredToken>(ACCESS_TOKEN_STORAGE_KEY) {
            Ok(stored) => stored.into_token(),
            // A bare token, as the article's app stores it (or one set by hand), is used until the server
            // refuses it.
            Err(StorageError::SerdeError(_)) => LocalStorage::raw()
                .get_item(ACCESS_TOKEN_STORAGE_KEY)
                .ok()
                .flatten()
                .filter(|value| is_bearer_token(value))
                .map(|value| {
                    let session = session_of(&value);
                    AccessToken::new(value, session, None, Duration::ZERO)
                }),
            _ => None,
        }
    }

    fn save(&self, token: &AccessToken) {
        let stored = StoredToken::from(token);
        if self.in_memory_only.get() || !available() || LocalStorage::set(ACCESS_TOKEN_STORAGE_KEY, stored).is_err() {
            self.fall_back_to_memory(Some(token.clone()));
        }
    }

    fn clear(&self) {
        *self.memory.borrow_mut() = None;
        if available() {
            LocalStorage::delete(ACCESS_TOKEN_STORAGE_KEY);
        }
    }

    fn set_logout_pending(&self, pending: bool) {
        if !available() {
            return;
        }
        if pending {
            let _ = LocalStorage::raw().set_item(LOGOUT_PENDING_KEY, "1");
        } else {
            LocalStorage::delete(LOGOUT_PENDING_KEY);
        }
    }

    fn logout_pending(&self) -> bool {
        available() && LocalStorage::raw().get_item(LOGOUT_PENDING_KEY).ok().flatten().is_some()
    }
}
