//! The contract as an OpenAPI document, generated from the handlers' annotations and the contract crate's types,
//! for a client in another language to generate code from. `docs/openapi.json` is this document, checked in: a
//! test fails when they differ, and another checks the server's real answers against it.

use session_contract::ErrorCode;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::routes::{auth, user};

#[derive(OpenApi)]
#[openapi(
    paths(auth::login, auth::refresh, auth::logout, user::current_user, user::list_sessions, user::revoke_session),
    components(schemas(ErrorCode)),
    modifiers(&BearerToken),
    tags(
        (name = "auth", description = "Sign-in, refresh and sign-out. State-changing requests carry \
            `X-Requested-With: fetch`; the refresh token travels in an `HttpOnly` cookie on `Path=/auth` \
            (`__Secure-refresh` over HTTPS, `refresh` on plain HTTP on a loopback address), never in a body."),
        (name = "user", description = "The signed-in user, with `Authorization: Bearer <access token>`."),
    )
)]
struct Contract;

/// The access token, as `Authorization: Bearer …`.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, document: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build();
        document
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The OpenAPI document of the API this server serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Contract::openapi()
}
