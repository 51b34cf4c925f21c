//! The contract as an OpenAPI document, generated from the handlers' annotations and the contract crate's types,
//! for a client in another language to generate code from. `docs/openapi.json` is this document, checked in: a
//! test fails when they differ, and another checks the server's real answers against it.

use session_contract::{CSRF_HEADER, CSRF_HEADER_VALUE, ErrorCode, LOOPBACK_REFRESH_COOKIE, REFRESH_COOKIE, paths};
use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Required};
use utoipa::{Modify, OpenApi};

use crate::http::routes::{auth, health, user};

#[derive(OpenApi)]
#[openapi(
    paths(
        auth::login,
        auth::refresh,
        auth::logout,
        user::current_user,
        user::list_sessions,
        user::revoke_session,
        health::live,
        health::ready
    ),
    components(schemas(ErrorCode)),
    modifiers(&BearerToken, &ContractHeaders),
    tags(
        (name = "auth", description = "Sign-in, refresh and sign-out. State-changing requests carry \
            `X-Requested-With: fetch`; the refresh token travels in an `HttpOnly` cookie on `Path=/auth` \
            (`__Secure-refresh` over HTTPS, `refresh` on plain HTTP on a loopback address), never in a body."),
        (name = "user", description = "The signed-in user, with `Authorization: Bearer <access token>`."),
        (name = "health", description = "Liveness and readiness probes, for a proxy or an orchestrator."),
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

/// The CSRF marker on every request that changes something, and the refresh cookie the refresh and the sign-out
/// read, from the contract's own names.
struct ContractHeaders;

impl Modify for ContractHeaders {
    fn modify(&self, document: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut document.paths.paths {
            let reads_the_cookie = [paths::REFRESH, paths::LOGOUT].contains(&path.as_str());
            for operation in [&mut item.post, &mut item.delete].into_iter().flatten() {
                let parameters = operation.parameters.get_or_insert_with(Vec::new);
                let marker = ParameterBuilder::new()
                    .name(CSRF_HEADER)
                    .parameter_in(ParameterIn::Header)
                    .required(Required::True)
                    .description(Some("The CSRF marker: a cross-site form cannot set it."))
                    .schema(Some(
                        ObjectBuilder::new().schema_type(Type::String).enum_values(Some([CSRF_HEADER_VALUE])),
                    ));
                parameters.push(RefOr::T(marker.build()));
                if reads_the_cookie {
                    let cookies = [
                        (REFRESH_COOKIE, "The refresh token, where the server is reached over HTTPS."),
                        (LOOPBACK_REFRESH_COOKIE, "The refresh token, on plain HTTP on a loopback address."),
                    ];
                    for (name, description) in cookies {
                        let cookie = ParameterBuilder::new()
                            .name(name)
                            .parameter_in(ParameterIn::Cookie)
                            .required(Required::False)
                            .description(Some(description))
                            .schema(Some(ObjectBuilder::new().schema_type(Type::String)));
                        parameters.push(RefOr::T(cookie.build()));
                    }
                }
            }
        }
    }
}

/// The OpenAPI document of the API this server serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Contract::openapi()
}
