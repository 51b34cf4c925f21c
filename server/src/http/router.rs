//! The assembled routers: the API with its middleware where it applies and the built app, for the public
//! listener; `/metrics`, for a listener of its own.

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use session_contract::{CSRF_HEADER, paths};

use crate::auth::cookie_mode::CookieMode;
use crate::auth::site_origin::SiteOrigin;
use crate::http::error::ApiError;
use crate::http::security::{self, content_security_policy};
use crate::http::static_files;
use crate::http::{dpop, routes};
use crate::state::SharedState;

const MAX_BODY_BYTES: usize = 8 * 1024;
/// `DPoP` and `DPoP-Nonce` as header names (lowercase, as `HeaderName::from_static` wants them).
const DPOP_HEADER_LOWER: &str = "dpop";
const DPOP_NONCE_LOWER: &str = "dpop-nonce";

#[derive(Debug, thiserror::Error)]
#[error("the allowed origin {0:?} is not an origin such as https://app.example")]
pub struct InvalidOrigin(String);

pub async fn build(app: &SharedState, static_dir: Option<PathBuf>) -> Result<Router, InvalidOrigin> {
    // Each middleware only where it applies, so a GET /user pays for neither CSRF checks nor CORS.
    let state_changing =
        routes::state_changing().route_layer(middleware::from_fn_with_state(app.clone(), security::refuse_cross_site));
    let reads = routes::reads().route_layer(middleware::from_fn_with_state(app.clone(), serve_app_to_navigations));
    // A known path asked with another method answers in the contract's JSON too (axum adds `Allow`).
    let routes = state_changing.merge(reads).merge(routes::health()).method_not_allowed_fallback(method_not_allowed);
    let mut api =
        security::with_api_headers(routes).layer(middleware::from_fn_with_state(app.clone(), dpop::with_nonce));
    if !app.settings.allowed_origins.is_empty() {
        api = api.layer(cors_for(&app.settings.allowed_origins)?);
    }
    let mut router = api.layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    if let Some(dir) = static_dir {
        let compress_in = dir.clone();
        let failures = tokio::task::spawn_blocking(move || static_files::precompress(&compress_in)).await;
        for (path, error) in failures.unwrap_or_default() {
            tracing::warn!(path = %path.display(), %error, "cannot precompress the app; compressing per request");
        }
        router = router.merge(static_files::service(&dir));
    } else {
        // The API alone: a path it does not have is refused in the contract's JSON too.
        router = router.fallback(not_found);
    }
    // Not for https://localhost: HSTS would pin every port of this machine's loopback name to HTTPS for a year.
    let loopback = app.settings.public_origin.as_ref().is_some_and(SiteOrigin::is_loopback);
    let https = app.settings.cookie_mode == CookieMode::Secure && !loopback;
    Ok(security::with_security_headers(router, app.content_security_policy.clone(), https)
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            // The path only: a query string could carry a token.
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
        }))
        .with_state(app.clone()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Credentials for exactly the configured origins (and no CORS layer at all when there are none).
fn cors_for(origins: &[String]) -> Result<CorsLayer, InvalidOrigin> {
    let origins = origins
        .iter()
        .map(|origin| {
            let is_origin = origin.starts_with("http") && origin.contains("://") && !origin.ends_with('/');
            HeaderValue::from_str(origin).ok().filter(|_| is_origin).ok_or_else(|| InvalidOrigin(origin.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(CSRF_HEADER),
            HeaderName::from_static(DPOP_HEADER_LOWER),
        ])
        // What a client decides with besides the body: how long to wait, why a token was refused, and the nonce
        // for its next DPoP proofs.
        .expose_headers([header::RETRY_AFTER, header::WWW_AUTHENTICATE, HeaderName::from_static(DPOP_NONCE_LOWER)])
        // Without it Chrome repeats the preflight every five seconds.
        .max_age(Duration::from_secs(600)))
}

/// `/user` is both an API endpoint and an app route: a browser navigating there (a reload or a deep link)
/// gets the app, while the app's own fetches get JSON.
async fn serve_app_to_navigations(State(app): State<SharedState>, request: Request, next: Next) -> Response {
    let is_navigation = request.headers().get("sec-fetch-mode").is_some_and(|mode| mode == "navigate");
    // Read as it is now, not as it was at start: under `trunk serve` it is rebuilt with new hashes and scripts.
    let index_html = match (&app.index_html, is_navigation) {
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

/// `GET /metrics` alone, for the operators' listener (`--metrics-addr`), never the public one: the counters say
/// how many sign-ins fail and how busy the database is, which is nobody else's business. Never stored.
pub fn metrics(app: &SharedState) -> Router {
    Router::new().route(paths::METRICS, get(render_metrics)).with_state(app.clone())
}

async fn render_metrics(State(app): State<SharedState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4"), (header::CACHE_CONTROL, "no-store")],
        app.metrics.render(app.store.pool_stats(), app.password_checks.stats()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dpop_header_names_are_the_contracts() {
        assert!(DPOP_HEADER_LOWER.eq_ignore_ascii_case(session_contract::DPOP_HEADER));
        assert!(DPOP_NONCE_LOWER.eq_ignore_ascii_case(session_contract::DPOP_NONCE_HEADER));
    }
}
