//! The production shape of docs/operations.md in a real browser: nginx terminating TLS (the guide's configuration,
//! read from it) in front of two instances on one PostgreSQL database, started with `--public-url https://…` and
//! nginx as `--trusted-proxy`. `cargo xtask test` runs these in Chromium and Firefox with `E2E_POSTGRES` and
//! `E2E_TLS` set; without them they are ignored.

use std::net::Ipv4Addr;
use std::time::Duration;

use cookie::SameSite;
use e2e::{Browser, POLL, TestServer, TlsProxy, refresh_from_outside};
use session_contract::{CSRF_HEADER, CSRF_HEADER_VALUE, paths};
use session_server::testing::wait_until;
use session_server::{DEMO_PASSWORD, DEMO_USERNAME, Settings};

const ACCESS_TTL: i64 = 2;
const PAST_THE_ACCESS_TOKEN: Duration = Duration::from_secs(ACCESS_TTL as u64 + 1);

#[tokio::test]
#[ignore = "needs nginx, PostgreSQL and the run's certificates: `cargo xtask test` runs it"]
async fn over_https_the_session_signs_in_refreshes_on_both_instances_and_signs_out() {
    let settings = Settings { access_token_ttl: ACCESS_TTL, session_refresh_limit: 60, ..Settings::default() };
    let server = TestServer::behind_tls_proxy(settings).await;
    let browser = Browser::launch().await;
    browser.sign_in(&server.base_url, DEMO_USERNAME, DEMO_PASSWORD).await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");

    let cookie = browser.refresh_cookie(&server, "/user").await.expect("the __Secure- refresh cookie");
    assert_eq!(cookie.secure(), Some(true), "{cookie}");
    assert_eq!(cookie.http_only(), Some(true), "{cookie}");
    assert_eq!(cookie.same_site(), Some(SameSite::Strict), "{cookie}");
    assert_eq!(cookie.path(), Some(session_contract::REFRESH_COOKIE_PATH), "{cookie}");

    // nginx sends the requests to the instances in turn: renew until each has rotated the session at least once,
    // so a token one instance issued is renewed by the other.
    let rotated = "session_refreshes_total{outcome=\"rotated\"}";
    for _ in 0..8 {
        if server.counter_per_instance(rotated).await.iter().all(|&count| count > 0) {
            break;
        }
        let before = server.counter(rotated).await;
        tokio::time::sleep(PAST_THE_ACCESS_TOKEN).await;
        browser.click_button("Refresh").await;
        let renewed = wait_until(Duration::from_secs(10), POLL, async || server.counter(rotated).await > before).await;
        assert!(renewed.is_some(), "no refresh after the access token expired");
        browser.wait_for(".actions button[aria-busy='false']").await;
        assert_eq!(browser.client.current_url().await.unwrap().path(), "/user", "nobody was signed out");
    }
    let per_instance = server.counter_per_instance(rotated).await;
    assert!(per_instance.iter().all(|&count| count > 0), "both instances renewed the session: {per_instance:?}");
    for outcome in ["expired", "reused"] {
        assert_eq!(server.counter(&format!("session_refreshes_total{{outcome=\"{outcome}\"}}")).await, 0);
    }
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");

    let current = browser.refresh_cookie(&server, "/user").await.expect("the renewed cookie");
    browser.wait_for("[data-testid=display-name]").await;
    browser.click_button("Sign out").await;
    browser.wait_for_path("/login").await;
    assert_eq!(browser.stored_access_token().await, None);
    assert!(refresh_from_outside(&server, current.value()).await.contains("403"), "the session ended on the server");
    browser.close().await;
}

/// Another client behind the same proxy (another loopback address to nginx) spends its whole sign-in budget; the
/// browser's is its own, because the instances read the client from nginx's `X-Forwarded-For`. Without
/// `--trusted-proxy` every client would be nginx's address and the browser would meet `429`.
#[tokio::test]
#[ignore = "needs nginx, PostgreSQL and the run's certificates: `cargo xtask test` runs it"]
async fn through_the_proxy_each_client_keeps_its_own_sign_in_budget() {
    let server = TestServer::behind_tls_proxy(Settings::default()).await;
    let flooder = TlsProxy::client_from(Ipv4Addr::new(127, 0, 0, 3).into());
    let mut statuses = Vec::new();
    // The per-address limit: 30 attempts a minute. Each guess names another account, so no account's backoff
    // refuses it first (a refused attempt does not count): the 31st meets the address's limit.
    for attempt in 0..31 {
        let guess = serde_json::json!({ "username": format!("guess{attempt}"), "password": "a guess" });
        let answer = flooder
            .post(format!("{}{}", server.base_url, paths::LOGIN))
            .header("origin", &server.base_url)
            .header(CSRF_HEADER, CSRF_HEADER_VALUE)
            .header("content-type", "application/json")
            .body(guess.to_string())
            .send()
            .await
            .expect("nginx answers");
        statuses.push(answer.status().as_u16());
    }
    assert!(statuses[..30].iter().all(|&status| status == 401), "30 guesses checked: {statuses:?}");
    assert_eq!(statuses[30], 429, "the flooding client met its limit");

    let browser = Browser::launch().await;
    browser.sign_in(&server.base_url, DEMO_USERNAME, DEMO_PASSWORD).await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");
    browser.close().await;
}
