//! Shared state, start-up (database, signing secret, demo account) and the assembled router.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use session_contract::{CSRF_HEADER, paths};

use crate::clock::Clock;
use crate::config::{DEMO_PASSWORD, DEMO_USERNAME, ServerConfig, Settings};
use crate::credentials::{CredentialError, NewUser, add_user, hash_password};
use crate::live_sessions::LiveSessions;
use crate::metrics::Metrics;
use crate::routes;
use crate::security::{self, content_security_policy};
use crate::static_files;
use crate::store::Store;
use crate::throttle::LoginThrottle;
use crate::tokens::{AccessTokens, RefreshTokens, derive_key};

const MAX_BODY_BYTES: usize = 8 * 1024;
const SECRET_FILE: &str = "signing-secret";
const DATABASE_FILE: &str = "sessions.db";
const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot use the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: io::Error },
    #[error("the signing secret must be at least {MIN_SECRET_BYTES} bytes")]
    WeakSecret,
    #[error("cannot open the database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot create the demo account: {0}")]
    DemoAccount(#[from] CredentialError),
    #[error("the allowed origin {0:?} is not an origin such as https://app.example")]
    InvalidOrigin(String),
}

#[derive(Clone)]
pub struct App(Arc<AppState>);

struct AppState {
    store: Store,
    access_tokens: AccessTokens,
    refresh_tokens: RefreshTokens,
    settings: Settings,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    throttle: LoginThrottle,
    live_sessions: LiveSessions,
    dummy_password_hash: String,
    /// Where the built app's index.html is, for navigations to paths the API also answers.
    index_html: Option<PathBuf>,
    content_security_policy: HeaderValue,
}

impl App {
    pub fn store(&self) -> &Store {
        &self.0.store
    }
    pub fn now(&self) -> i64 {
        self.0.clock.now()
    }
    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }
    pub(crate) fn access_tokens(&self) -> &AccessTokens {
        &self.0.access_tokens
    }
    pub(crate) fn refresh_tokens(&self) -> &RefreshTokens {
        &self.0.refresh_tokens
    }
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }
    pub(crate) fn throttle(&self) -> &LoginThrottle {
        &self.0.throttle
    }
    pub(crate) fn live_sessions(&self) -> &LiveSessions {
        &self.0.live_sessions
    }
    pub(crate) fn dummy_password_hash(&self) -> &str {
        &self.0.dummy_password_hash
    }
    pub(crate) fn content_security_policy(&self) -> HeaderValue {
        self.0.content_security_policy.clone()
    }
}

/// Opens (or creates) the data directory and database, seeds the demo account on first start, and builds the
/// router: the API, `/metrics` when enabled, and the built app for every other path.
pub async fn build_app(config: ServerConfig) -> Result<(App, Router), StartupError> {
    let data_dir_error = |source| StartupError::DataDir { path: config.data_dir.clone(), source };
    std::fs::create_dir_all(&config.data_dir).map_err(data_dir_error)?;
    let secret = match config.signing_secret {
        Some(secret) => secret.into_bytes(),
        None => stored_secret(&config.data_dir).map_err(data_dir_error)?,
    };
    if secret.len() < MIN_SECRET_BYTES {
        return Err(StartupError::WeakSecret);
    }

    let store = Store::open(&config.data_dir.join(DATABASE_FILE)).await?;
    if store.user_count().await? == 0 {
        let demo = NewUser {
            username: DEMO_USERNAME,
            password: DEMO_PASSWORD,
            display_name: "Demo User",
            email: "demo@example.com",
        };
        add_user(&store, demo, config.clock.now()).await?;
    }

    let index_html = config.static_dir.as_deref().map(|dir| dir.join("index.html"));
    let startup_index = index_html.as_deref().and_then(|path| std::fs::read_to_string(path).ok());
    let dummy_password_hash = hash_password("no account has this password")?;
    let app = App(Arc::new(AppState {
        store,
        access_tokens: AccessTokens::new(&derive_key(&secret, "access-token-signing"), &config.settings),
        refresh_tokens: RefreshTokens::new(derive_key(&secret, "refresh-grace-seal")),
        settings: config.settings,
        clock: config.clock,
        metrics: Metrics::default(),
        throttle: LoginThrottle::default(),
        live_sessions: LiveSessions::default(),
        dummy_password_hash,
        content_security_policy: content_security_policy(startup_index.as_deref()),
        index_html,
    }));

    // Each middleware only where it applies, so a GET /user pays for neither CSRF checks nor CORS.
    let state_changing =
        routes::state_changing().route_layer(middleware::from_fn_with_state(app.clone(), security::refuse_cross_site));
    let reads = routes::reads().route_layer(middleware::from_fn_with_state(app.clone(), serve_app_to_navigations));
    let mut api = security::with_api_headers(state_changing.merge(reads));
    if !app.settings().allowed_origins.is_empty() {
        api = api.layer(cors_for(&app.settings().allowed_origins)?);
    }
    if config.expose_metrics {
        api = api.route(paths::METRICS, get(metrics));
    }
    let mut router = api.layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    if let Some(dir) = config.static_dir {
        let compress_in = dir.clone();
        let failures = tokio::task::spawn_blocking(move || static_files::precompress(&compress_in)).await;
        for (path, error) in failures.unwrap_or_default() {
            tracing::warn!(path = %path.display(), %error, "cannot precompress the app; compressing per request");
        }
        router = router.merge(static_files::service(&dir));
    }
    let router = security::with_security_headers(router, app.content_security_policy())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            // The path only: a query string could carry a token.
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
        }))
        .with_state(app.clone());
    Ok((app, router))
}

/// Credentials for exactly the configured origins (and no CORS layer at all when there are none).
fn cors_for(origins: &[String]) -> Result<CorsLayer, StartupError> {
    let origins = origins
        .iter()
        .map(|origin| {
            let is_origin = origin.starts_with("http") && origin.contains("://") && !origin.ends_with('/');
            HeaderValue::from_str(origin)
                .ok()
                .filter(|_| is_origin)
                .ok_or_else(|| StartupError::InvalidOrigin(origin.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static(CSRF_HEADER)])
        // Without it Chrome repeats the preflight every five seconds.
        .max_age(Duration::from_secs(600)))
}

pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> io::Result<()> {
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await
}

/// `/user` is both an API endpoint and an app route: a browser navigating there (a reload or a deep link)
/// gets the app, while the app's own fetches get JSON.
async fn serve_app_to_navigations(State(app): State<App>, request: Request, next: Next) -> Response {
    let is_navigation = request.headers().get("sec-fetch-mode").is_some_and(|mode| mode == "navigate");
    // Read as it is now, not as it was at start: under `trunk serve` it is rebuilt with new hashes and scripts.
    let index_html = match (&app.0.index_html, is_navigation) {
        (Some(path), true) => tokio::fs::read_to_string(path).await.ok(),
        _ => None,
    };
    match index_html {
        Some(html) => {
            ([(header::CONTENT_SECURITY_POLICY, content_security_policy(Some(&html)))], Html(html)).into_response()
        }
        None => next.run(request).await,
    }
}

async fn metrics(State(app): State<App>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics().render())
}

/// The secret generated on first start and kept, readable by the owner only, in the data directory.
fn stored_secret(data_dir: &Path) -> io::Result<Vec<u8>> {
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim().as_bytes().to_vec()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let secret = URL_SAFE_NO_PAD.encode(bytes);
            write_private(&path, &secret)?;
            Ok(secret.into_bytes())
        }
        Err(error) => Err(error),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    std::fs::write(path, contents)
}
