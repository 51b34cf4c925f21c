//! Liveness and readiness, for the proxy in front and the orchestrator: neither needs a token.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use session_contract::{Health, HealthStatus, paths};

use crate::state::SharedState;

/// How long readiness waits for the database before saying it is unavailable.
const DATABASE_WAIT: Duration = Duration::from_secs(2);

/// The process serves; the database is not asked (a database outage must not make the orchestrator restart
/// every instance).
#[utoipa::path(
    get,
    path = paths::HEALTH_LIVE,
    tag = "health",
    responses((status = 200, description = "`{\"status\":\"live\"}`.", body = Health))
)]
pub async fn live() -> Json<Health> {
    Json(Health { status: HealthStatus::Live })
}

/// The process serves and its database answers within two seconds.
#[utoipa::path(
    get,
    path = paths::HEALTH_READY,
    tag = "health",
    responses(
        (status = 200, description = "`{\"status\":\"ready\"}`.", body = Health),
        (status = 503, description = "`{\"status\":\"unavailable\"}`: the database did not answer in time.", body = Health),
    )
)]
pub async fn ready(State(app): State<SharedState>) -> (StatusCode, Json<Health>) {
    match tokio::time::timeout(DATABASE_WAIT, app.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, Json(Health { status: HealthStatus::Ready })),
        Ok(Err(error)) => {
            tracing::warn!(%error, "not ready: the database refused");
            (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: HealthStatus::Unavailable }))
        }
        Err(_) => {
            tracing::warn!("not ready: the database did not answer in time");
            (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: HealthStatus::Unavailable }))
        }
    }
}
