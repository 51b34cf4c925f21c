//! A small query cache standing in for TanStack Query: a value is served from memory while it is fresh.

use std::future::Future;

use leptos::prelude::*;

use session_contract::{User, paths};
use session_core::ApiError;

use crate::api::{Api, monotonic_ms};

/// TanStack Query's `staleTime` of the original article.
pub const USER_STALE_AFTER_MS: f64 = 5.0 * 60.0 * 1000.0;

struct Entry<T> {
    value: T,
    fetched_at_ms: f64,
}

pub struct Query<T: Send + Sync + 'static> {
    entry: StoredValue<Option<Entry<T>>>,
    stale_after_ms: f64,
}

impl<T: Send + Sync + 'static> Clone for Query<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Query<T> {}

impl<T: Clone + Send + Sync + 'static> Query<T> {
    pub fn new(stale_after_ms: f64) -> Self {
        Self { entry: StoredValue::new(None), stale_after_ms }
    }

    /// The cached value while it is fresh; otherwise fetches, and caches what the fetch returns.
    pub async fn get_or_fetch<E, F: Future<Output = Result<T, E>>>(&self, fetch: impl FnOnce() -> F) -> Result<T, E> {
        let now = monotonic_ms();
        let fresh = self.entry.with_value(|entry| {
            entry
                .as_ref()
                .filter(|entry| now - entry.fetched_at_ms < self.stale_after_ms)
                .map(|entry| entry.value.clone())
        });
        if let Some(value) = fresh {
            return Ok(value);
        }
        let value = fetch().await?;
        self.entry.set_value(Some(Entry { value: value.clone(), fetched_at_ms: monotonic_ms() }));
        Ok(value)
    }

    pub fn invalidate(&self) {
        self.entry.set_value(None);
    }
}

/// Every cached query of the app; cleared whenever the session ends.
#[derive(Clone, Copy)]
pub struct QueryCache {
    pub user: Query<User>,
}

impl QueryCache {
    pub fn new() -> Self {
        Self { user: Query::new(USER_STALE_AFTER_MS) }
    }

    /// `GET /user` through the cache: the signed-in user, fetched only when the cached one is stale.
    pub async fn user(self, api: Api) -> Result<User, ApiError> {
        self.user.get_or_fetch(|| async move { api.get_json::<User>(paths::USER).await }).await
    }

    pub fn clear(&self) {
        self.user.invalidate();
    }
}

impl Default for QueryCache {
    fn default() -> Self {
        Self::new()
    }
}
