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

use crate::auth::site_origin::SiteOrigin;
use crate::config::Settings;
use crate::http::error::ApiError;
use crate::state::SharedState;

/// State-changing requests carry the contract's marker header and come from the same site.
pub async fn refuse_cross_site(State(app): State<SharedState>, request: Request, next: Next) -> Response {
    if !is_same_site_fetch(request.headers(), &app.settings) {
        return ApiError::Csrf.into_response();
    }
    next.run(request).await
}

fn is_same_site_fetch(headers: &HeaderMap, settings: &Settings) -> bool {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if text(CSRF_HEADER) != Some(CSRF_HEADER_VALUE) {
        return false;
    }
    let origin = text("origin");
    // A configured origin is another site by nature: its requests are cross-site and still allowed.
    if origin.is_some_and(|origin| settings.allowed_origins.iter().any(|allowed| allowed == origin)) {
        return true;
    }
    if text("sec-fetch-site") == Some("cross-site") {
        return false;
    }
    let Some(origin) = origin else { return true };
    let Some(origin) = SiteOrigin::parse(origin) else { return false };
    own_origin(headers, settings).is_some_and(|own| origin.is(&own))
}

/// The origin the app is served from, as its pages see it: `--public-url`'s (scheme, host and port, not the
/// `Host` a proxy may have rewritten), or without a proxy the server's own plain-HTTP loopback address (a rebound
/// foreign name is not loopback). What the CSRF check and a DPoP proof's `htu` are compared with.
pub fn own_origin(headers: &HeaderMap, settings: &Settings) -> Option<SiteOrigin> {
    if let Some(public) = &settings.public_origin {
        return Some(public.clone());
    }
    let host = headers.get(header::HOST).and_then(|host| host.to_str().ok());
    host.and_then(SiteOrigin::of_plain_http_host).filter(SiteOrigin::is_loopback)
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
/// Over HTTPS (the public URL's scheme) browsers are also told to use nothing else for a year (HSTS; not for
/// subdomains, which may be other people's sites).
pub fn with_security_headers(
    router: Router<SharedState>,
    content_security_policy: HeaderValue,
    served_over_https: bool,
) -> Router<SharedState> {
    let header = |name, value| SetResponseHeaderLayer::overriding(name, value);
    let router = if served_over_https {
        router.layer(header(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000")))
    } else {
        router
    };
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
        let loopback = Settings::default();
        let marked = [("x-requested-with", "fetch"), ("host", "127.0.0.1:8080")];
        assert!(is_same_site_fetch(&headers(&marked), &loopback));
        assert!(!is_same_site_fetch(&headers(&[("host", "127.0.0.1:8080")]), &loopback));
        let cases: &[(&str, &'static str, bool)] = &[
            // No --public-url: the origin is the server's own loopback address, port included.
            ("127.0.0.1:8080", "http://127.0.0.1:8080", true),
            ("127.0.0.1:8080", "http://localhost:8080", true),
            ("127.0.0.1:3000", "http://127.0.0.1:8080", false),
            ("127.0.0.1:8080", "https://evil.example", false),
            ("127.0.0.1:8080", "null", false),
            // DNS rebinding: a foreign name resolved to loopback is not the server's origin.
            ("rebound.example:8080", "http://rebound.example:8080", false),
        ];
        for (host, origin, allowed) in cases {
            let request = headers(&[("x-requested-with", "fetch"), ("host", host), ("origin", origin)]);
            assert_eq!(is_same_site_fetch(&request, &loopback), *allowed, "{host} {origin}");
        }
        let foreign = [("x-requested-with", "fetch"), ("host", "127.0.0.1:8080"), ("origin", "https://evil.example")];
        let allowing = Settings { allowed_origins: vec!["https://evil.example".to_owned()], ..Settings::default() };
        assert!(is_same_site_fetch(&headers(&foreign), &allowing));
        let fetch_metadata = [("x-requested-with", "fetch"), ("sec-fetch-site", "cross-site")];
        assert!(!is_same_site_fetch(&headers(&fetch_metadata), &loopback));
        let allowed_cross_site = [
            ("x-requested-with", "fetch"),
            ("sec-fetch-site", "cross-site"),
            ("host", "api.example"),
            ("origin", "https://app.example"),
        ];
        let allowing = Settings { allowed_origins: vec!["https://app.example".to_owned()], ..Settings::default() };
        assert!(is_same_site_fetch(&headers(&allowed_cross_site), &allowing));
        let other = Settings { allowed_origins: vec!["https://other.example".to_owned()], ..Settings::default() };
        assert!(!is_same_site_fetch(&headers(&allowed_cross_site), &other));
    }

    #[test]
    fn behind_a_proxy_the_origin_is_compared_with_the_public_url_not_the_host() {
        let public = Settings { public_origin: SiteOrigin::parse("https://app.example"), ..Settings::default() };
        // nginx rewrote Host to its upstream's address.
        let cases: &[(&'static str, &'static str, bool)] = &[
            ("10.0.0.5:8080", "https://app.example", true),
            ("app.example", "https://app.example", true),
            ("app.example", "http://app.example", false),
            ("app.example", "https://app.example:8443", false),
            ("app.example:8443", "https://app.example:8443", false),
            ("10.0.0.5:8080", "http://10.0.0.5:8080", false),
        ];
        for (host, origin, allowed) in cases {
            let request = headers(&[("x-requested-with", "fetch"), ("host", host), ("origin", origin)]);
            assert_eq!(is_same_site_fetch(&request, &public), *allowed, "{host} {origin}");
        }
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
