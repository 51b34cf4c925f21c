//! Cross-site request refusal, the refresh cookie's exact form, and the headers every response carries.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use tower_http::set_header::SetResponseHeaderLayer;

use session_contract::{CSRF_HEADER, CSRF_HEADER_VALUE, REFRESH_COOKIE, REFRESH_COOKIE_PATH};

use crate::app::App;
use crate::error::ApiError;

pub fn refresh_cookie(token: &str, max_age: i64) -> HeaderValue {
    let value = format!(
        "{REFRESH_COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path={REFRESH_COOKIE_PATH}; Max-Age={}",
        max_age.max(0)
    );
    HeaderValue::from_str(&value).expect("base64url tokens are valid header text")
}

pub fn cleared_refresh_cookie() -> HeaderValue {
    refresh_cookie("", 0)
}

/// The refresh token from the `Cookie` headers, if one is present and non-empty.
pub fn presented_refresh_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == REFRESH_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// State-changing requests carry the contract's marker header and come from the same site.
pub async fn refuse_cross_site(State(app): State<App>, request: Request, next: Next) -> Response {
    if !is_same_site_fetch(request.headers(), &app.settings().allowed_origins) {
        return ApiError::Csrf.into_response();
    }
    next.run(request).await
}

fn is_same_site_fetch(headers: &HeaderMap, allowed_origins: &[String]) -> bool {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if text(CSRF_HEADER) != Some(CSRF_HEADER_VALUE) {
        return false;
    }
    if text("sec-fetch-site") == Some("cross-site") {
        return false;
    }
    match text("origin") {
        None => true,
        Some(origin) if allowed_origins.iter().any(|allowed| allowed == origin) => true,
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
pub fn with_api_headers(router: Router<App>) -> Router<App> {
    let header = |name, value| SetResponseHeaderLayer::if_not_present(name, value);
    router
        .layer(header(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(API_CONTENT_SECURITY_POLICY)))
        .layer(header(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
}

const API_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// Adds the headers every response carries, as static layers: no per-request work beyond inserting them.
/// A response that set its own policy (the API's, or the app's) keeps it.
pub fn with_security_headers(router: Router<App>, content_security_policy: HeaderValue) -> Router<App> {
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
    }

    #[test]
    fn finds_the_refresh_cookie_among_others() {
        let jar = headers(&[("cookie", "theme=dark; __Secure-refresh=abc ; other=1")]);
        assert_eq!(presented_refresh_token(&jar), Some("abc"));
        assert_eq!(presented_refresh_token(&headers(&[("cookie", "__Secure-refresh=")])), None);
        assert_eq!(presented_refresh_token(&HeaderMap::new()), None);
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
