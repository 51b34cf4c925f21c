//! The HTTP side: the router and its endpoints, extractors, the one mapping of errors to answers, security
//! headers, the built app's static files, cookies, the accept loop with its connection limits, and the OpenAPI
//! document of the routes.

pub mod cookies;
pub mod dpop;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod router;
pub mod routes;
pub mod security;
pub mod serve;
pub mod static_files;
