//! The article's whole flow in real headless Chromium against the real server, with lifetimes of seconds.

use std::time::Duration;

use e2e::{Browser, POLL, TestServer};
use session_server::testing::wait_until;
use session_server::{DEMO_PASSWORD, DEMO_USERNAME, DpopMode, Settings};

const ACCESS_TTL: i64 = 3;
const SESSION_TTL: i64 = 15;

async fn sign_in(browser: &Browser, server: &TestServer) -> tokio::time::Instant {
    browser.client.goto(&format!("{}/", server.base_url)).await.expect("the app loads");
    browser.wait_for_path("/login").await;
    browser.wait_for("#username").await.send_keys(DEMO_USERNAME).await.expect("typed");
    browser.wait_for("#password").await.send_keys(DEMO_PASSWORD).await.expect("typed");
    let signed_in_at = tokio::time::Instant::now();
    browser.wait_for("button[type=submit]").await.click().await.expect("submitted");
    browser.wait_for_path("/user").await;
    signed_in_at
}

#[tokio::test]
async fn the_session_survives_access_token_expiry_and_ends_with_a_notice_at_session_expiry() {
    let settings = Settings { access_token_ttl: ACCESS_TTL, session_ttl: SESSION_TTL, ..Settings::default() };
    let server = TestServer::start(settings).await;
    let browser = Browser::launch().await;

    let signed_in_at = sign_in(&browser, &server).await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");
    assert_eq!(server.refreshes().await, 0);

    tokio::time::sleep(Duration::from_secs(ACCESS_TTL as u64 + 1)).await;
    browser.click_button("Refresh").await;
    browser.wait_for("[data-testid=display-name]").await;
    // The reload needs a refresh; wait for the refreshed data rather than the cached one.
    wait_until(Duration::from_secs(10), POLL, async || server.refreshes().await > 0).await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");
    assert_eq!(server.counter("session_refreshes_total{outcome=\"rotated\"}").await, 1);
    assert_eq!(server.refreshes().await, 1, "exactly one refresh");
    assert_eq!(browser.client.current_url().await.unwrap().path(), "/user", "nobody was signed out");

    tokio::time::sleep_until(signed_in_at + Duration::from_secs(SESSION_TTL as u64 + 1)).await;
    browser.click_button("Refresh").await;
    browser.wait_for_path("/login").await;
    let notice = browser.text_of("[role=alert] .banner").await;
    assert!(notice.contains("Your session has expired. Please sign in again."), "{notice}");
    assert_eq!(browser.stored_access_token().await, None, "the token is cleared");

    browser.close().await;
}

#[tokio::test]
async fn a_wrong_password_shows_an_error_and_stays_on_the_login_page() {
    let server = TestServer::start(Settings::default()).await;
    let browser = Browser::launch().await;
    browser.client.goto(&format!("{}/login", server.base_url)).await.expect("the app loads");
    browser.wait_for("#username").await.send_keys(DEMO_USERNAME).await.expect("typed");
    browser.wait_for("#password").await.send_keys("not the password\u{E007}").await.expect("typed and pressed Enter");
    assert_eq!(browser.text_of("[role=alert] .error").await, "Incorrect username or password.");
    assert_eq!(browser.client.current_url().await.unwrap().path(), "/login");
    assert_eq!(server.counter("session_logins_total{outcome=\"invalid_credentials\"}").await, 1);
    browser.close().await;
}

/// The link is opened in a new tab, as a bookmark or a link from elsewhere is. Not in the tab that just signed in:
/// WebKit, asked to load the URL its page has just pushed, now and then loads the entry before it instead (a
/// document at `/login`, one new history entry, no referrer), where the app rightly says "You are signed in".
#[tokio::test]
async fn a_deep_link_to_the_user_page_loads_the_app_and_the_user() {
    let server = TestServer::start(Settings::default()).await;
    let browser = Browser::launch().await;
    sign_in(&browser, &server).await;
    let new_tab = browser.client.new_window(true).await.expect("a new tab").handle;
    browser.client.switch_to_window(new_tab).await.expect("switched");
    browser.client.goto(&format!("{}/user", server.base_url)).await.expect("opened");
    let entries = async || browser.client.execute("return history.length", vec![]).await.expect("history");
    let opened = entries().await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");
    // Shown where it was opened, not reached by a detour to /login and back (which adds an entry).
    assert_eq!(entries().await, opened, "the page went elsewhere first");
    browser.click_button("Sign out").await;
    browser.wait_for_path("/login").await;
    browser.client.goto(&format!("{}/user", server.base_url)).await.expect("navigated");
    browser.wait_for_path("/login").await;
    browser.close().await;
}

#[tokio::test]
async fn signing_out_in_one_tab_signs_out_the_other_tab() {
    let server = TestServer::start(Settings::default()).await;
    let browser = Browser::launch().await;
    sign_in(&browser, &server).await;
    let first_tab = browser.client.window().await.expect("the first tab");
    let second_tab = browser.client.new_window(true).await.expect("a second tab").handle;
    browser.client.switch_to_window(second_tab.clone()).await.expect("switched");
    browser.client.goto(&format!("{}/user", server.base_url)).await.expect("navigated");
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");

    browser.client.switch_to_window(first_tab).await.expect("switched back");
    browser.click_button("Sign out").await;
    browser.wait_for_path("/login").await;

    browser.client.switch_to_window(second_tab).await.expect("switched");
    browser.wait_for_path("/login").await;
    assert_eq!(browser.stored_access_token().await, None, "the token is cleared");
    browser.close().await;
}

/// A page that started signed out and missed a sign-in's announcement (posted before it listened, or its view
/// of localStorage was late) follows the token when it reaches the store. Here the token arrives as a write of
/// the stored item from another tab, which announces nothing.
#[tokio::test]
async fn a_tab_that_missed_the_sign_in_follows_the_token_when_it_reaches_the_store() {
    let server = TestServer::start(Settings::default()).await;
    let browser = Browser::launch().await;
    sign_in(&browser, &server).await;
    let first_tab = browser.client.window().await.expect("the first tab");
    let script =
        "const token = localStorage.getItem('accessToken'); localStorage.removeItem('accessToken'); return token;";
    let token = browser.client.execute(script, vec![]).await.expect("the token is taken out");
    assert!(token.is_string(), "{token:?}");
    let second_tab = browser.client.new_window(true).await.expect("a second tab").handle;
    browser.client.switch_to_window(second_tab.clone()).await.expect("switched");
    browser.client.goto(&format!("{}/user", server.base_url)).await.expect("navigated");
    browser.wait_for_path("/login").await;
    browser.wait_for("#username").await;

    browser.client.switch_to_window(first_tab).await.expect("switched back");
    let put_back = "localStorage.setItem('accessToken', arguments[0])";
    browser.client.execute(put_back, vec![token]).await.expect("the token is put back");
    browser.client.switch_to_window(second_tab).await.expect("switched");
    browser.wait_for_path("/user").await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");
    browser.close().await;
}

/// The client relies on Web Locks (one refresh across tabs), BroadcastChannel (news between tabs), the page
/// visibility API (renew a tab shown again), WebCrypto and IndexedDB (the device key); each has a fallback (the
/// key's: a Bearer session, which the app names). This says which of them the engine under test really has, so a
/// missing one is noticed here.
#[tokio::test]
async fn the_engine_offers_the_browser_apis_the_client_uses() {
    let server = TestServer::start(Settings::default()).await;
    let browser = Browser::launch().await;
    browser.client.goto(&format!("{}/login", server.base_url)).await.expect("the app loads");
    let apis = browser
        .client
        .execute(
            "return [typeof navigator.locks?.request, typeof BroadcastChannel, typeof document.visibilityState,
                     typeof crypto.subtle?.sign, typeof indexedDB?.open]",
            vec![],
        )
        .await
        .expect("the script ran");
    let expected = serde_json::json!(["function", "function", "string", "function", "function"]);
    assert_eq!(apis, expected, "{:?}", browser.engine);
    browser.close().await;
}

/// Four tabs of one session bound to the browser's key (DPoP required) whose access token has run out all
/// reload at once: one refresh between them (the Web Lock, and each tab reading the token the first one stored),
/// nobody signed out, no reuse detected.
#[tokio::test]
async fn four_tabs_reloading_at_once_after_the_expiry_refresh_once_and_stay_signed_in() {
    let settings = Settings { access_token_ttl: 5, dpop: DpopMode::Required, ..Settings::default() };
    let server = TestServer::start(settings).await;
    let browser = Browser::launch().await;
    sign_in(&browser, &server).await;
    let mut tabs = vec![browser.client.window().await.expect("the first tab")];
    for _ in 0..3 {
        let tab = browser.client.new_window(true).await.expect("another tab").handle;
        browser.client.switch_to_window(tab.clone()).await.expect("switched");
        browser.client.goto(&format!("{}/user", server.base_url)).await.expect("navigated");
        assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");
        tabs.push(tab);
    }
    let rotations_before = server.counter("session_refreshes_total{outcome=\"rotated\"}").await;
    // Past the access token and the server's 5 s leeway.
    tokio::time::sleep(Duration::from_secs(11)).await;
    for tab in &tabs {
        browser.client.switch_to_window(tab.clone()).await.expect("switched");
        let click = "document.querySelector('.actions button').click()";
        browser.client.execute(click, vec![]).await.expect("Refresh clicked");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for tab in &tabs {
        browser.client.switch_to_window(tab.clone()).await.expect("switched");
        assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");
        assert_eq!(browser.client.current_url().await.expect("a URL").path(), "/user", "a tab was signed out");
    }
    let rotations = server.counter("session_refreshes_total{outcome=\"rotated\"}").await - rotations_before;
    assert_eq!(rotations, 1, "four tabs, one refresh");
    let reused = server.counter("session_refreshes_total{outcome=\"reused\"}").await;
    let expired = server.counter("session_refreshes_total{outcome=\"expired\"}").await;
    assert_eq!(reused + expired, 0, "no refresh was refused");
    browser.close().await;
}
