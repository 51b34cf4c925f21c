//! The production shape of docs/operations.md in a real browser: nginx terminating TLS (the guide's configuration,
//! read from it) in front of two instances on one PostgreSQL database, started with `--public-url https://…` and
//! nginx as `--trusted-proxy`. `cargo xtask test` runs these in Chromium and Firefox with `E2E_POSTGRES` and
//! `E2E_TLS` set; without them they are ignored.

use std::net::Ipv4Addr;
use std::time::Duration;

use cookie::SameSite;
use e2e::{Browser, POLL, TestServer, TlsProxy, claims_of, refresh_from_outside};
use session_contract::{CSRF_HEADER, CSRF_HEADER_VALUE, paths};
use session_server::testing::wait_until;
use session_server::{Clock, DEMO_PASSWORD, DEMO_USERNAME, Settings, SystemClock};

const ACCESS_TTL: i64 = 2;
const PAST_THE_ACCESS_TOKEN: Duration = Duration::from_secs(ACCESS_TTL as u64 + 1);
const ROTATED: &str = "session_refreshes_total{outcome=\"rotated\"}";

/// Which instance rotated since `before` (per-instance counts), if exactly one did.
fn which_rotated(before: &[u64], after: &[u64]) -> Option<usize> {
    let moved: Vec<usize> = (0..after.len()).filter(|&index| after[index] > before[index]).collect();
    (moved.len() == 1).then(|| moved[0])
}

#[tokio::test]
#[ignore = "needs nginx, PostgreSQL and the run's certificates: `cargo xtask test` runs it"]
async fn over_https_the_session_signs_in_refreshes_on_both_instances_and_signs_out() {
    let settings = Settings { access_token_ttl: ACCESS_TTL, session_refresh_limit: 60, ..Settings::default() };
    let server = TestServer::behind_tls_proxy(settings, "127.0.0.1").await;
    let browser = Browser::launch().await;
    browser.sign_in(&server.base_url, DEMO_USERNAME, DEMO_PASSWORD).await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");

    let cookie = browser.refresh_cookie(&server, "/user").await.expect("the __Secure- refresh cookie");
    assert_eq!(cookie.secure(), Some(true), "{cookie}");
    assert_eq!(cookie.http_only(), Some(true), "{cookie}");
    assert_eq!(cookie.same_site(), Some(SameSite::Strict), "{cookie}");
    assert_eq!(cookie.path(), Some(session_contract::REFRESH_COOKIE_PATH), "{cookie}");

    // nginx sends requests to the instances in turn. Renew until each has rotated the session once, so a token
    // one instance issued is renewed by the other; when a renewal lands where the last one did (the app made an
    // even number of requests), one request from outside moves nginx's turn on.
    let mut last = None;
    for _ in 0..6 {
        let before = server.counter_per_instance(ROTATED).await;
        if before.iter().all(|&count| count > 0) {
            break;
        }
        tokio::time::sleep(PAST_THE_ACCESS_TOKEN).await;
        browser.click_button("Refresh").await;
        let renewed = wait_until(Duration::from_secs(10), POLL, async || {
            server.counter_per_instance(ROTATED).await.iter().sum::<u64>() > before.iter().sum()
        })
        .await;
        assert!(renewed.is_some(), "no refresh after the access token expired");
        browser.wait_for(".actions button[aria-busy='false']").await;
        assert_eq!(browser.client.current_url().await.unwrap().path(), "/user", "nobody was signed out");
        let rotated_at = which_rotated(&before, &server.counter_per_instance(ROTATED).await);
        if rotated_at.is_some() && rotated_at == last {
            let live = format!("{}{}", server.base_url, paths::HEALTH_LIVE);
            server.client().get(live).send().await.expect("nginx answers");
        }
        last = rotated_at;
    }
    let per_instance = server.counter_per_instance(ROTATED).await;
    assert!(per_instance.iter().all(|&count| count > 0), "both instances renewed the session: {per_instance:?}");
    for outcome in ["expired", "reused"] {
        assert_eq!(server.counter(&format!("session_refreshes_total{{outcome=\"{outcome}\"}}")).await, 0);
    }
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");

    let current = browser.refresh_cookie(&server, "/user").await.expect("the renewed cookie");
    browser.wait_for("[data-testid=display-name]").await;
    let (token, _) = browser.stored_token().await.expect("a stored token");
    let session = claims_of(&token)["sid"].as_str().expect("a session id").to_owned();
    let live = async || {
        let store = &server.app.store;
        store.live_session(&session, SystemClock.now(), Settings::default().idle_timeout).await.expect("read").is_some()
    };
    assert!(live().await);
    browser.click_button("Sign out").await;
    browser.wait_for_path("/login").await;
    assert_eq!(browser.stored_access_token().await, None);
    // The sign-out (with the key's proof, through nginx) reached an instance: the session is revoked.
    let ended = wait_until(Duration::from_secs(10), POLL, async || !live().await).await;
    assert!(ended.is_some(), "the sign-out ended the session on the server");
    // The cookie is worth nothing from outside (without the session's key, nothing is even decided).
    let refused = refresh_from_outside(&server, current.value()).await;
    assert_eq!(refused, "400 Bad Request invalid_dpop_proof");
    assert_eq!(server.counter("session_refreshes_total{outcome=\"reused\"}").await, 0, "ended, not reused");
    browser.close().await;
}

/// Another client behind the same proxy (another loopback address to nginx) spends its whole sign-in budget,
/// writing a new `X-Forwarded-For` each time to pass for others; the browser's budget is its own. The instances
/// take the right-most address nginx did not add for them, never what a client wrote: with the left-most, each
/// guess would be a new client and none refused; without `--trusted-proxy`, every client would be nginx's address
/// and the browser would meet `429`. (The browser, like nginx, is on 127.0.0.1: it is told from the flooder, not
/// from nginx.)
#[tokio::test]
#[ignore = "needs nginx, PostgreSQL and the run's certificates: `cargo xtask test` runs it"]
async fn through_the_proxy_each_client_keeps_its_own_sign_in_budget() {
    let server = TestServer::behind_tls_proxy(Settings::default(), "127.0.0.1").await;
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
            .header("x-forwarded-for", format!("198.51.100.{attempt}"))
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

/// Under the public name of the guide's example (a name in the run's certificate, found at nginx), every answer
/// carries HSTS, and nginx's plain-HTTP server sends visitors to HTTPS on that name.
#[tokio::test]
#[ignore = "needs nginx, PostgreSQL and the run's certificates: `cargo xtask test` runs it"]
async fn under_a_public_name_answers_carry_hsts_and_plain_http_goes_to_https() {
    let server = TestServer::behind_tls_proxy(Settings::default(), "app.example").await;
    let ready = server.client().get(format!("{}{}", server.base_url, paths::HEALTH_READY)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.headers()["strict-transport-security"], "max-age=31536000");

    let proxy = server.tls_proxy.as_ref().expect("nginx");
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let answer = plain.get(format!("{}/user?tab=sessions", proxy.http_url)).header("host", "evil.example").send();
    let answer = answer.await.expect("nginx answers on plain HTTP");
    assert_eq!(answer.status(), 301);
    assert_eq!(answer.headers()["location"], "https://app.example/user?tab=sessions", "to the public name only");
}
