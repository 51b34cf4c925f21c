//! The HTTP contract of docs/API.md, checked over real HTTP.

use reqwest::StatusCode;
use serde_json::{Value, json};
use session_server::{Clock, CookieMode, DEMO_PASSWORD, DEMO_USERNAME, NewUser, Settings, SiteOrigin, add_user};

use crate::support::{TestServer, error_code, refresh_cookie, set_cookie};

#[tokio::test]
async fn login_sets_the_refresh_cookie_with_the_attributes_of_api_md() {
    let server = TestServer::start(Settings::default()).await;
    let response = server.login_as(DEMO_USERNAME, DEMO_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookie = set_cookie(response.headers()).unwrap();
    let token = refresh_cookie(response.headers()).unwrap();
    assert!(token.len() >= 43, "32 bytes or more, base64url: {token}");
    assert_eq!(
        attributes(&cookie),
        attributes(&format!("__Secure-refresh={token}; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=604800"))
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["expiresIn"], 900);
    assert_eq!(body["accessToken"].as_str().unwrap().split('.').count(), 3);
}

#[tokio::test]
async fn an_unknown_user_and_a_wrong_password_get_the_same_answer() {
    let server = TestServer::start(Settings::default()).await;
    let wrong_password = server.login_as(DEMO_USERNAME, "not the password").await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(wrong_password.headers()).is_none());
    let unknown_user = server.login_as("nobody", "not the password").await;
    assert_eq!(unknown_user.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password.text().await.unwrap(), unknown_user.text().await.unwrap());
}

#[tokio::test]
async fn the_user_endpoint_answers_the_bearer_of_a_valid_token() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    let user: Value = server.get("/user", &session.access_token).send().await.unwrap().json().await.unwrap();
    assert_eq!(user["username"], DEMO_USERNAME);
    assert_eq!(user["displayName"], "Demo User");
    assert!(user["id"].is_i64() && user["email"].is_string() && user["createdAt"].is_string());
}

#[tokio::test]
async fn refresh_rotates_the_cookie_without_extending_the_session() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    server.clock.advance(100);
    let response = server.refresh(&session.refresh_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookie = set_cookie(response.headers()).unwrap();
    assert!(cookie.ends_with("; Max-Age=604700"), "the remaining lifetime: {cookie}");
    let rotated = refresh_cookie(response.headers()).unwrap();
    assert_ne!(rotated, session.refresh_token);
    let body: Value = response.json().await.unwrap();
    assert_eq!(server.user_status(body["accessToken"].as_str().unwrap()).await, StatusCode::OK);
    assert_eq!(server.refresh(&rotated).await.status(), StatusCode::OK, "the child rotates in turn");
}

#[tokio::test]
async fn a_retry_within_the_grace_window_gets_the_same_child() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    let first = server.rotate(&session.refresh_token).await;
    server.clock.advance(5);
    let retry = server.refresh(&session.refresh_token).await;
    assert_eq!(retry.status(), StatusCode::OK);
    assert_eq!(refresh_cookie(retry.headers()).unwrap(), first);
}

#[tokio::test]
async fn reuse_outside_the_grace_window_revokes_the_whole_session() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    let child_response = server.refresh(&session.refresh_token).await;
    let child = refresh_cookie(child_response.headers()).unwrap();
    let child_access: Value = child_response.json().await.unwrap();
    assert_eq!(server.user_status(child_access["accessToken"].as_str().unwrap()).await, StatusCode::OK);
    server.clock.advance(server.app.settings.refresh_grace + 1);

    assert_eq!(
        error_code(server.refresh(&session.refresh_token).await).await,
        (StatusCode::FORBIDDEN, "refresh_token_reused".into())
    );
    assert_eq!(error_code(server.refresh(&child).await).await, (StatusCode::FORBIDDEN, "refresh_token_reused".into()));
    assert_eq!(server.user_status(child_access["accessToken"].as_str().unwrap()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(server.user_status(&session.access_token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_of_a_session_revoked_for_reuse_presented_again_is_counted_as_a_failure_and_changes_nothing() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    let _child = server.rotate(&session.refresh_token).await;
    server.clock.advance(server.app.settings.refresh_grace + 1);
    let detected = server.refresh(&session.refresh_token).await;
    assert_eq!(error_code(detected).await, (StatusCode::FORBIDDEN, "refresh_token_reused".into()));
    let revoked_at = async || -> Vec<i64> {
        sqlx::query_scalar("SELECT revoked_at FROM sessions WHERE revoke_reason IS NOT NULL")
            .fetch_all(&server.database().await)
            .await
            .unwrap()
    };
    let detected_at = revoked_at().await;

    // Presented again and again (by a thief, or to move the live-session cache): the same answer, no new
    // revocation, and the address is throttled as for unknown tokens.
    server.clock.advance(1);
    let mut answers = Vec::new();
    for _ in 0..31 {
        answers.push(server.refresh(&session.refresh_token).await.status());
    }
    assert!(answers[..30].iter().all(|status| *status == StatusCode::FORBIDDEN), "{answers:?}");
    assert_eq!(answers[30], StatusCode::TOO_MANY_REQUESTS, "{answers:?}");
    assert_eq!(revoked_at().await, detected_at, "revoked once");
}

#[tokio::test]
async fn an_expired_access_token_is_refused_with_www_authenticate() {
    // The server's clock alone decides, not the system's: the token expires when the test says.
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    server.clock.advance(15 * 60 + 5);
    assert_eq!(server.user_status(&session.access_token).await, StatusCode::OK, "within the 5 s leeway");
    server.clock.advance(1);
    let response = server.get("/user", &session.access_token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], r#"Bearer error="invalid_token""#);
    assert_eq!(error_code(response).await.1, "invalid_token");
}

#[tokio::test]
async fn a_tampered_or_missing_access_token_is_refused() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    let mut parts: Vec<String> = session.access_token.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].chars().rev().collect();
    assert_eq!(server.user_status(&parts.join(".")).await, StatusCode::UNAUTHORIZED);
    let mut forged_signature = session.access_token.clone();
    let last = forged_signature.pop().unwrap();
    forged_signature.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(server.user_status(&forged_signature).await, StatusCode::UNAUTHORIZED);
    let anonymous = server.http.get(format!("{}/user", server.base)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_missing_or_unknown_refresh_cookie_is_a_403_that_revokes_nothing() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    let missing = server.post("/auth/refresh").send().await.unwrap();
    assert_eq!(error_code(missing).await, (StatusCode::FORBIDDEN, "session_expired".into()));
    for bogus in ["garbage", "", &session.access_token] {
        assert_eq!(error_code(server.refresh(bogus).await).await, (StatusCode::FORBIDDEN, "session_expired".into()));
    }
    assert_eq!(server.refresh(&session.refresh_token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_expired_session_is_refused_and_not_counted_as_reuse() {
    let settings = Settings { session_ttl: 60, ..Settings::default() };
    let server = TestServer::start(settings).await;
    let session = server.sign_in().await;
    server.clock.advance(61);
    assert_eq!(
        error_code(server.refresh(&session.refresh_token).await).await,
        (StatusCode::FORBIDDEN, "session_expired".into())
    );
}

#[tokio::test]
async fn logout_revokes_the_session_clears_the_cookie_and_is_idempotent() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    assert_eq!(server.user_status(&session.access_token).await, StatusCode::OK);
    let response = server.logout(&session.refresh_token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        attributes(&set_cookie(response.headers()).unwrap()),
        attributes("__Secure-refresh=; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=0")
    );
    assert_eq!(server.refresh(&session.refresh_token).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.user_status(&session.access_token).await, StatusCode::UNAUTHORIZED);
    let again = server.logout(&session.refresh_token).await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn state_changing_requests_need_the_marker_and_the_same_site() {
    let server = TestServer::start(Settings::default()).await;
    let unmarked = server.http.post(format!("{}/auth/login", server.base)).json(&json!({})).send().await.unwrap();
    assert_eq!(error_code(unmarked).await, (StatusCode::FORBIDDEN, "csrf".into()));
    let cross_site = server.post("/auth/refresh").header("Origin", "https://attacker.example").send().await.unwrap();
    assert_eq!(error_code(cross_site).await, (StatusCode::FORBIDDEN, "csrf".into()));
    let fetch_metadata = server.post("/auth/logout").header("Sec-Fetch-Site", "cross-site").send().await.unwrap();
    assert_eq!(error_code(fetch_metadata).await, (StatusCode::FORBIDDEN, "csrf".into()));
}

#[tokio::test]
async fn behind_a_proxy_the_origin_must_be_the_public_urls_scheme_host_and_port() {
    let settings = Settings { public_origin: SiteOrigin::parse("https://app.example"), ..Settings::default() };
    let server = TestServer::start(settings).await;
    let login_from = |origin: &str, host: &str| {
        server
            .post("/auth/login")
            .header("Origin", origin)
            .header("Host", host)
            .json(&json!({"username": DEMO_USERNAME, "password": DEMO_PASSWORD}))
    };
    // The proxy rewrote Host to its upstream's address; the page is the public URL's.
    let upstream = server.address().to_string();
    assert_eq!(login_from("https://app.example", &upstream).send().await.unwrap().status(), StatusCode::OK);
    for (origin, host) in [
        ("https://app.example:8443", "app.example:8443"),
        ("https://app.example:8443", "app.example"),
        ("http://app.example", "app.example"),
        ("null", "app.example"),
    ] {
        let refused = login_from(origin, host).send().await.unwrap();
        assert_eq!(error_code(refused).await, (StatusCode::FORBIDDEN, "csrf".into()), "{origin} {host}");
    }
}

#[tokio::test]
async fn a_refresh_cookie_sent_twice_is_refused_and_neither_is_used() {
    let server = TestServer::start(Settings::default()).await;
    let (mine, planted) = (server.sign_in().await, server.sign_in().await);
    let both = format!("__Secure-refresh={}; __Secure-refresh={}", mine.refresh_token, planted.refresh_token);
    for cookies in [vec![both.clone()], both.split("; ").map(str::to_owned).collect()] {
        let mut request = server.post("/auth/refresh");
        for cookie in &cookies {
            request = request.header("Cookie", cookie);
        }
        let refused = request.send().await.unwrap();
        assert_eq!(set_cookie(refused.headers()), None, "a cookie was set or cleared: {cookies:?}");
        assert_eq!(error_code(refused).await, (StatusCode::BAD_REQUEST, "bad_request".into()), "{cookies:?}");
    }
    // Neither was rotated, so neither reads as reused now.
    let _ = server.rotate(&mine.refresh_token).await;
    let _ = server.rotate(&planted.refresh_token).await;
}

#[tokio::test]
async fn a_planted_refresh_cookie_is_cleared_and_this_hosts_own_is_kept() {
    let settings = Settings { public_origin: SiteOrigin::parse("https://app.example.com"), ..Settings::default() };
    let server = TestServer::start(settings).await;
    let (mine, planted) = (server.sign_in().await, server.sign_in().await);
    let both = format!("__Secure-refresh={}; __Secure-refresh={}", mine.refresh_token, planted.refresh_token);
    let refused = server.post("/auth/refresh").header("Cookie", both).send().await.unwrap();
    let cleared: Vec<String> =
        refused.headers().get_all("set-cookie").iter().map(|value| value.to_str().unwrap().to_owned()).collect();
    assert_eq!(error_code(refused).await, (StatusCode::BAD_REQUEST, "bad_request".into()));
    // Every domain a sibling could plant it for, on every path that reaches the refresh or the sign-out.
    for domain in ["app.example.com", "example.com"] {
        for path in ["/", "/auth", "/auth/", "/auth/refresh", "/auth/logout"] {
            let expected = format!(
                "__Secure-refresh=; Domain={domain}; Path={path}; HttpOnly; Secure; SameSite=Strict; Max-Age=0"
            );
            let expected = attributes(&expected);
            assert!(cleared.iter().any(|cookie| attributes(cookie) == expected), "{domain} {path}: {cleared:?}");
        }
    }
    assert_eq!(cleared.len(), 10);
    assert!(cleared.iter().all(|cookie| cookie.contains("Domain=")), "this host's own cookie is kept: {cleared:?}");
    let _ = server.rotate(&mine.refresh_token).await;
}

#[tokio::test]
async fn a_sign_out_with_the_cookie_twice_ends_both_sessions() {
    let server = TestServer::start(Settings::default()).await;
    let (mine, planted) = (server.sign_in().await, server.sign_in().await);
    let both = format!("__Secure-refresh={}; __Secure-refresh={}", mine.refresh_token, planted.refresh_token);
    let signed_out = server.post("/auth/logout").header("Cookie", both).send().await.unwrap();
    assert_eq!(signed_out.status(), StatusCode::NO_CONTENT);
    for session in [&mine, &planted] {
        assert_eq!(server.user_status(&session.access_token).await, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_sign_out_with_more_refresh_cookies_than_a_browser_holds_is_refused_and_ends_nothing() {
    let server = TestServer::start(Settings::default()).await;
    let mine = server.sign_in().await;
    // One lookup and one write each, for anyone who can send a request: no browser sends this many.
    let flood = std::iter::once(format!("__Secure-refresh={}", mine.refresh_token))
        .chain((0..2_000).map(|guess| format!("__Secure-refresh=guess{guess}")))
        .collect::<Vec<_>>()
        .join("; ");
    let answer = server.post("/auth/logout").header("Cookie", flood).send().await.unwrap();
    assert_eq!(error_code(answer).await, (StatusCode::BAD_REQUEST, "bad_request".into()));
    assert_eq!(server.user_status(&mine.access_token).await, StatusCode::OK, "no session was looked at");
}

#[tokio::test]
async fn a_wrong_method_and_an_undecodable_path_get_the_contracts_json_errors() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    let wrong_method = server.http.get(format!("{}/auth/login", server.base)).header("X-Requested-With", "fetch");
    let wrong_method = wrong_method.send().await.unwrap();
    assert_eq!(wrong_method.headers()["allow"], "POST");
    assert_eq!(error_code(wrong_method).await, (StatusCode::METHOD_NOT_ALLOWED, "bad_request".into()));
    let put = server.http.put(format!("{}/user/sessions/x", server.base)).bearer_auth(&session.access_token);
    let put = put.header("X-Requested-With", "fetch").send().await.unwrap();
    assert_eq!(error_code(put).await, (StatusCode::METHOD_NOT_ALLOWED, "bad_request".into()));
    // `%FF` decodes to no UTF-8: no session id can be that.
    let undecodable =
        server.http.delete(format!("{}/user/sessions/%FF", server.base)).bearer_auth(&session.access_token);
    let undecodable = undecodable.header("X-Requested-With", "fetch").send().await.unwrap();
    assert_eq!(error_code(undecodable).await, (StatusCode::BAD_REQUEST, "bad_request".into()));
    assert_eq!(server.user_status(&session.access_token).await, StatusCode::OK);
}

#[tokio::test]
async fn malformed_login_bodies_get_clear_errors() {
    let server = TestServer::start(Settings::default()).await;
    let text = server.post("/auth/login").header("Content-Type", "text/plain").body("demo").send().await.unwrap();
    assert_eq!(error_code(text).await, (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type".into()));
    let broken = server.post("/auth/login").header("Content-Type", "application/json").body("{").send().await.unwrap();
    assert_eq!(error_code(broken).await, (StatusCode::BAD_REQUEST, "bad_request".into()));
    let missing_field = server.post("/auth/login").json(&json!({"username": "demo"})).send().await.unwrap();
    assert_eq!(error_code(missing_field).await, (StatusCode::BAD_REQUEST, "bad_request".into()));
    let huge = json!({"username": "demo", "password": "x".repeat(9 * 1024)});
    let oversized = server.post("/auth/login").json(&huge).send().await.unwrap();
    assert_eq!(error_code(oversized).await, (StatusCode::BAD_REQUEST, "bad_request".into()));
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_retry_after() {
    let server = TestServer::start(Settings::default()).await;
    for _ in 0..5 {
        assert_eq!(server.login_as(DEMO_USERNAME, "wrong").await.status(), StatusCode::UNAUTHORIZED);
    }
    let throttled = server.login_as(DEMO_USERNAME, DEMO_PASSWORD).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.headers()["retry-after"], "1");
    assert_eq!(error_code(throttled).await.1, "too_many_attempts");
    server.clock.advance(2);
    assert_eq!(server.login_as(DEMO_USERNAME, DEMO_PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_user_lists_and_revokes_only_their_own_sessions() {
    let server = TestServer::start(Settings::default()).await;
    let laptop = server.sign_in().await;
    let phone = server.sign_in().await;
    assert_eq!(server.user_status(&phone.access_token).await, StatusCode::OK);
    let sessions: Vec<Value> =
        server.get("/user/sessions", &laptop.access_token).send().await.unwrap().json().await.unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|session| session["current"] == true).count(), 1);
    let phone_id =
        sessions.iter().find(|session| session["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();

    let other = NewUser { username: "other", password: "another password", display_name: "Other", email: "" };
    add_user(&server.app.store, other, server.clock.now()).await.unwrap();
    let stranger = server.login_as("other", "another password").await.json::<Value>().await.unwrap();
    let stranger_token = stranger["accessToken"].as_str().unwrap();
    let foreign = server.http.delete(format!("{}/user/sessions/{phone_id}", server.base)).bearer_auth(stranger_token);
    let foreign = foreign.header("X-Requested-With", "fetch").send().await.unwrap();
    assert_eq!(error_code(foreign).await, (StatusCode::NOT_FOUND, "not_found".into()));

    let own = server.http.delete(format!("{}/user/sessions/{phone_id}", server.base)).bearer_auth(&laptop.access_token);
    assert_eq!(own.header("X-Requested-With", "fetch").send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(server.user_status(&phone.access_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(server.refresh(&phone.refresh_token).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.user_status(&laptop.access_token).await, StatusCode::OK);
}

/// A Set-Cookie value's parts, in any order (browsers read them so).
fn attributes(cookie: &str) -> std::collections::BTreeSet<&str> {
    cookie.split("; ").collect()
}

#[tokio::test]
async fn on_loopback_http_the_cookie_is_named_refresh_and_not_secure_and_still_rotates() {
    let server = TestServer::start(Settings { cookie_mode: CookieMode::LoopbackHttp, ..Settings::default() }).await;
    let response = server.login_as(DEMO_USERNAME, DEMO_PASSWORD).await;
    let cookie = set_cookie(response.headers()).unwrap();
    let token = cookie.strip_prefix("refresh=").and_then(|rest| rest.split(';').next()).unwrap().to_owned();
    assert_eq!(
        attributes(&cookie),
        attributes(&format!("refresh={token}; HttpOnly; SameSite=Strict; Path=/auth; Max-Age=604800"))
    );
    let rotated = server.post("/auth/refresh").header("Cookie", format!("refresh={token}")).send().await.unwrap();
    assert_eq!(rotated.status(), StatusCode::OK);
    let secure_name = server.post("/auth/refresh").header("Cookie", format!("__Secure-refresh={token}")).send().await;
    assert_eq!(error_code(secure_name.unwrap()).await.1, "session_expired", "only the mode's own cookie counts");
}
