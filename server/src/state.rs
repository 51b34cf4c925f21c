//! What every handler shares: one `AppState` behind an `Arc`.

use std::path::PathBuf;
use std::sync::Arc;

use axum::http::HeaderValue;
use tokio::sync::watch;

use crate::auth::devices::DeviceCookies;
use crate::auth::dpop::nonces::Nonces;
use crate::auth::dpop::replays::Replays;
use crate::auth::live_sessions::LiveSessions;
use crate::auth::passwords::PasswordChecks;
use crate::auth::throttle::Throttle;
use crate::auth::tokens::{AccessTokens, RefreshTokens};
use crate::clock::Clock;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::store::{ForgetBefore, Store};

pub type SharedState = Arc<AppState>;

/// How long a stopping server waits for database connections still in use.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub struct AppState {
    pub store: Store,
    pub access_tokens: AccessTokens,
    pub refresh_tokens: RefreshTokens,
    pub devices: DeviceCookies,
    pub settings: Settings,
    pub clock: Arc<dyn Clock>,
    pub metrics: Metrics,
    pub throttle: Throttle,
    pub live_sessions: LiveSessions,
    pub password_checks: PasswordChecks,
    /// The DPoP nonces every instance on the secret issues and accepts.
    pub dpop_nonces: Nonces,
    /// The DPoP proofs seen while they can be fresh.
    pub dpop_proofs: Replays,
    /// Where the built app's index.html is, for navigations to paths the API also answers.
    pub index_html: Option<PathBuf>,
    pub content_security_policy: HeaderValue,
    /// Whether this start created the demo account (and so may print its password).
    pub created_demo_account: bool,
    /// Set once the server stops: the background tasks (the sweep, `LISTEN`) end.
    pub stopping: watch::Sender<bool>,
}

impl AppState {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Ends the background tasks (closing the `LISTEN` connection) and closes the database pool, once the
    /// requests in flight are answered.
    pub async fn shut_down(&self) {
        self.stopping.send_replace(true);
        self.store.close(CLOSE_WAIT).await;
    }

    /// Deletes the sessions that ended and their tokens; the server runs it every few minutes.
    pub async fn sweep(&self) -> Result<u64, sqlx::Error> {
        let now = self.now();
        self.store.sweep(now, self.settings.idle_timeout, ForgetBefore::at(now)).await
    }
}
