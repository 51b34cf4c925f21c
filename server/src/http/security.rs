//! Cross-site request refusal and the headers every response carries.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use tower_http::set_header::SetResponseHeaderLayer;

use session_contract::{CSRF_HEADER, CSRF_HEADER_VALUE};

use crate::http::error::ApiError;
use crate::state::SharedState;

/// State-changing requests carry the contract's marker header and come from the same site.
pub async fn refuse_cross_site(State(app): State<SharedState>, request: Request, next: Next) -> Response {
    if !is_same_site_fetch(request.headers(), &app.settings.allowed_origins) {
        return ApiError::Csrf.into_response();
    }
    next.run(request).await
}

fn is_same_site_fetch(headers: &HeaderMap, allowed_origins: &[String]) -> bool {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if text(CSRF_HEADER) != Some(CSRF_HEADER_VALUE) {
        return false;
    }
    let origin = text("origin");
    // A configured origin is another site by nature: its requests are cross-site and still allowed.
    if origin.is_some_and(|origin| allowed_origins.iter().any(|allowed| allowed == origin)) {
        return true;
    }
    if text("sec-fetch-site") == Some("cross-site") {
        return false;
    }
    match origin {
        None => true,
        Some(origin) => {
            let origin_host = origin.split_once("://").map(|(_, rest)| host_without_port(rest));
            let own_host = text("host").map(host_without_port);
            origin_host.is_some() && origin_host == own_host
        }
    }
}

fn host_without_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.split_inclusive(']').next().unwrap_or(authority);
    }
    authority.rsplit_once(':').map_or(authority, |(host, _)| host)
}

/// The Content-Security-Policy for the built app: trunk's loader is one inline module script, allowed by its hash.
pub fn content_security_policy(index_html: Option<&str>) -> HeaderValue {
    let script_hashes: String = index_html
        .map(inline_scripts)
        .unwrap_or_default()
        .into_iter()
        .map(|script| format!(" 'sha256-{}'", STANDARD.encode(Sha256::digest(script.as_bytes()))))
        .collect();
    let policy = format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{script_hashes}; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).expect("the policy is ASCII")
}

fn inline_scripts(html: &str) -> Vec<&str> {
    let mut scripts = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        rest = &rest[start..];
        let Some(tag_end) = rest.find('>') else { break };
        let tag = &rest[..tag_end];
        let body = &rest[tag_end + 1..];
        let Some(close) = body.find("</script>") else { break };
        if !tag.contains(" src=") {
            scripts.push(&body[..close]);
        }
        rest = &body[close..];
    }
    scripts
}

/// API answers are data, never documents: OWASP's REST policy, and never cached (they carry tokens and
/// personal data).
pub fn with_api_headers(router: Router<SharedState>) -> Router<SharedState> {
    let header = |name, value| SetResponseHeaderLayer::if_not_present(name, value);
    router
        .layer(header(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(API_CONTENT_SECURITY_POLICY)))
        .layer(header(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
}

const API_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// Adds the headers every response carries, as static layers: no per-request work beyond inserting them.
/// A response that set its own policy (the API's, or the app's) keeps it.
pub fn with_security_headers(router: Router<SharedState>, content_security_policy: HeaderValue) -> Router<SharedState> {
    let header = |name, value| SetResponseHeaderLayer::overriding(name, value);
    router
        .layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, content_security_policy))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(header(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(header(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(header(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (name.parse().unwrap(), HeaderValue::from_static(value))).collect()
    }

    #[test]
    fn csrf_needs_the_marker_header_and_a_same_site_origin() {
        let marked = [("x-requested-with", "fetch"), ("host", "127.0.0.1:8080")];
        assert!(is_same_site_fetch(&headers(&marked), &[]));
        assert!(!is_same_site_fetch(&headers(&[("host", "127.0.0.1:8080")]), &[]));
        let same_site =
            [("x-requested-with", "fetch"), ("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:8080")];
        assert!(is_same_site_fetch(&headers(&same_site), &[]));
        let foreign = [("x-requested-with", "fetch"), ("host", "127.0.0.1:8080"), ("origin", "https://evil.example")];
        assert!(!is_same_site_fetch(&headers(&foreign), &[]));
        assert!(is_same_site_fetch(&headers(&foreign), &["https://evil.example".to_owned()]));
        let fetch_metadata = [("x-requested-with", "fetch"), ("sec-fetch-site", "cross-site")];
        assert!(!is_same_site_fetch(&headers(&fetch_metadata), &[]));
        let allowed_cross_site = [
            ("x-requested-with", "fetch"),
            ("sec-fetch-site", "cross-site"),
            ("host", "api.example"),
            ("origin", "https://app.example"),
        ];
        assert!(is_same_site_fetch(&headers(&allowed_cross_site), &["https://app.example".to_owned()]));
        assert!(!is_same_site_fetch(&headers(&allowed_cross_site), &["https://other.example".to_owned()]));
    }

    #[test]
    fn the_policy_allows_exactly_the_inline_loader() {
        let html = r#"<head><script src="/a.js"></script><script type="module">boot()</script></head>"#;
        let policy = content_security_policy(Some(html));
        let expected = STANDARD.encode(Sha256::digest(b"boot()"));
        let policy = policy.to_str().unwrap();
        assert!(policy.contains(&format!("'sha256-{expected}'")), "{policy}");
        assert_eq!(policy.matches("sha256-").count(), 1);
        assert!(policy.contains("frame-ancestors 'none'"));
    }
}
