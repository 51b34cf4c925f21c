//! CSRF and headers: security headers on every response, CORS only for configured origins.

use reqwest::StatusCode;
use session_server::{CookieMode, Settings, SiteOrigin};

use crate::support::TestServer;

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let server = TestServer::start(Settings::default()).await;
    let responses = [
        server.http.get(format!("{}/user", server.base)).send().await.unwrap(),
        server.http.post(format!("{}/auth/login", server.base)).send().await.unwrap(),
        server.http.get(format!("{}/no/such/path", server.base)).send().await.unwrap(),
        server.http.get(format!("{}/auth/refresh", server.base)).send().await.unwrap(),
    ];
    for response in responses {
        let headers = response.headers();
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{}", response.url());
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["cross-origin-opener-policy"], "same-origin");
    }
}

async fn preflight(server: &TestServer, origin: &str) -> reqwest::Response {
    server
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/auth/refresh", server.base))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "x-requested-with")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn there_is_no_cors_unless_origins_are_configured() {
    let server = TestServer::start(Settings::default()).await;
    let response = preflight(&server, "https://app.example").await;
    assert!(!response.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn configured_origins_get_credentials_and_no_one_else_does() {
    let settings = Settings { allowed_origins: vec!["https://app.example".to_owned()], ..Settings::default() };
    let server = TestServer::start(settings).await;
    let allowed = preflight(&server, "https://app.example").await;
    assert!(allowed.status().is_success());
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example");
    assert_eq!(allowed.headers()["access-control-allow-credentials"], "true");
    let stranger = preflight(&server, "https://evil.example").await;
    assert!(!stranger.headers().contains_key("access-control-allow-origin"));

    let marked = server.post("/auth/refresh").header("Origin", "https://app.example").send().await.unwrap();
    assert_eq!(marked.status(), StatusCode::FORBIDDEN, "allowed through CSRF, refused for lack of a cookie");
    let exposed = marked.headers()["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
    for header in ["retry-after", "www-authenticate"] {
        assert!(exposed.contains(header), "a page on the allowed origin can read {header}: {exposed}");
    }
    let body: serde_json::Value = marked.json().await.unwrap();
    assert_eq!(body["error"], "session_expired");

    // A configured origin is another site: the browser says so, and it is still allowed.
    let server = &server;
    let error_from_another_site = |origin: &'static str| async move {
        let response = server
            .post("/auth/refresh")
            .header("Origin", origin)
            .header("Sec-Fetch-Site", "cross-site")
            .send()
            .await
            .unwrap();
        response.json::<serde_json::Value>().await.unwrap()["error"].clone()
    };
    assert_eq!(error_from_another_site("https://app.example").await, "session_expired", "refused as cross-site");
    assert_eq!(error_from_another_site("https://evil.example").await, "csrf");
}

#[tokio::test]
async fn api_answers_get_the_strictest_policy_and_the_app_gets_one_it_runs_under() {
    let app_dir = tempfile::tempdir().unwrap();
    std::fs::write(app_dir.path().join("index.html"), "<script type=module>boot()</script>").unwrap();
    let server = TestServer::start_serving(Settings::default(), app_dir.path()).await;
    let api = server.http.get(format!("{}/user", server.base)).send().await.unwrap();
    assert_eq!(api.headers()["content-security-policy"], "default-src 'none'; frame-ancestors 'none'");
    assert_eq!(api.headers()["cache-control"], "no-store");

    let document = server.http.get(format!("{}/login", server.base)).send().await.unwrap();
    let reload =
        server.http.get(format!("{}/user", server.base)).header("Sec-Fetch-Mode", "navigate").send().await.unwrap();
    for page in [document, reload] {
        let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(policy.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert_eq!(page.text().await.unwrap(), "<script type=module>boot()</script>");
    }
}

#[tokio::test]
async fn over_https_browsers_are_told_to_keep_to_it_and_on_loopback_http_they_are_not() {
    let https = TestServer::start(Settings { cookie_mode: CookieMode::Secure, ..Settings::default() }).await;
    for path in ["/user", "/health/live"] {
        let answer = https.http.get(format!("{}{path}", https.base)).send().await.unwrap();
        assert_eq!(answer.headers()["strict-transport-security"], "max-age=31536000", "{path}");
    }
    let loopback = TestServer::start(Settings { cookie_mode: CookieMode::LoopbackHttp, ..Settings::default() }).await;
    let answer = loopback.http.get(format!("{}/user", loopback.base)).send().await.unwrap();
    assert!(!answer.headers().contains_key("strict-transport-security"));
    // https://localhost: HSTS would pin every port of the machine's loopback name to HTTPS for a year.
    let local_https = Settings { public_origin: SiteOrigin::parse("https://localhost:8443"), ..Settings::default() };
    let local_https = TestServer::start(local_https).await;
    let answer = local_https.http.get(format!("{}/user", local_https.base)).send().await.unwrap();
    assert!(!answer.headers().contains_key("strict-transport-security"));
}

#[tokio::test]
async fn liveness_and_readiness_answer_without_a_token() {
    let server = TestServer::start(Settings::default()).await;
    for (path, status) in [("/health/live", "live"), ("/health/ready", "ready")] {
        let answer = server.http.get(format!("{}{path}", server.base)).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        assert_eq!(answer.headers()["cache-control"], "no-store", "{path}");
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"status": status}), "{path}");
    }
    // Without its database the process is live and not ready.
    server.app.store.close(std::time::Duration::from_secs(5)).await;
    let live = server.http.get(format!("{}/health/live", server.base)).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let ready = server.http.get(format!("{}/health/ready", server.base)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json::<serde_json::Value>().await.unwrap(), serde_json::json!({"status": "unavailable"}));
}
