//! Every page and state the user can meet, checked by axe-core in light and dark, and photographed for the
//! README by `cargo xtask screenshots` at a phone's width and a desktop's.

use std::time::Duration;

use e2e::{Browser, TestServer};
use session_server::{DEMO_PASSWORD, DEMO_USERNAME, Settings};

/// Checks the page as it is now in both colour schemes; photographs it too when `screenshot` names it and the run
/// asks for screenshots (`cargo xtask screenshots`).
async fn check(browser: &Browser, state: &str, screenshot: Option<&str>) {
    for dark in [false, true] {
        browser.prefer_dark(dark).await;
        let violations = browser.accessibility_violations().await;
        let scheme = if dark { "dark" } else { "light" };
        assert!(violations.is_empty(), "{state} ({scheme}): {violations:#?}");
        if let Some(name) = screenshot.filter(|_| e2e::screenshots_dir().is_some()) {
            for width in [360, 1280] {
                browser.set_width(width).await;
                tokio::time::sleep(Duration::from_millis(150)).await;
                browser.screenshot(&format!("{name}-{scheme}-{width}")).await;
            }
            browser.set_width(1024).await;
        }
    }
    browser.prefer_dark(false).await;
}

#[tokio::test]
async fn sign_in_page_states_have_no_accessibility_violations() {
    let server = TestServer::start(Settings { access_token_ttl: 2, session_ttl: 4, ..Settings::default() }).await;
    let browser = Browser::launch().await;
    browser.client.goto(&format!("{}/login", server.base_url)).await.expect("the app loads");
    browser.wait_for("#username").await;
    check(&browser, "sign-in, empty", Some("sign-in")).await;

    browser.type_into("#username", DEMO_USERNAME).await;
    browser.type_into("#password", "not the password").await;
    browser.wait_for("button[type=submit]").await.click().await.expect("submitted");
    browser.wait_for("[role=alert] .error").await;
    check(&browser, "sign-in, wrong password", None).await;

    browser.type_into("#password", DEMO_PASSWORD).await;
    browser.wait_for("button[type=submit]").await.click().await.expect("submitted");
    browser.wait_for_path("/user").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    browser.click_button("Refresh").await;
    browser.wait_for_path("/login").await;
    browser.wait_for("[role=alert] .banner").await;
    check(&browser, "sign-in, session expired", Some("sign-in-expired")).await;

    browser.client.goto(&format!("{}/no/such/page", server.base_url)).await.expect("the app loads");
    browser.wait_for("h1").await;
    check(&browser, "not found", None).await;
    browser.close().await;
}

#[tokio::test]
async fn user_page_states_have_no_accessibility_violations() {
    let server = TestServer::start(Settings::default()).await;
    let browser = Browser::launch().await;
    // A second device, so the list has one to sign out.
    let phone = Browser::launch().await;
    phone.sign_in(&server.base_url, DEMO_USERNAME, DEMO_PASSWORD).await;
    browser.sign_in(&server.base_url, DEMO_USERNAME, DEMO_PASSWORD).await;
    browser.wait_for("[data-testid=display-name]").await;
    browser.wait_for("[data-current=false]").await;
    check(&browser, "user page with its devices", Some("user")).await;

    browser.set_offline(true).await;
    browser.wait_for(".banner.offline").await;
    check(&browser, "user page, offline", Some("offline")).await;
    browser.set_offline(false).await;

    // From here on, every page this tab loads answers its profile and devices slowly, then not at all.
    browser
        .before_every_page(
            "const realFetch = window.fetch;
             window.fetch = (request, init) => {
                 const path = new URL(request.url || request, location.href).pathname;
                 if (path.startsWith('/user') && sessionStorage.getItem('serverDown')) {
                     return Promise.resolve(new Response('', {status: 503}));
                 }
                 if (path.startsWith('/user')) { return new Promise(() => {}); }
                 return realFetch(request, init);
             };",
        )
        .await;
    browser.client.goto(&format!("{}/user", server.base_url)).await.expect("the app loads");
    browser.wait_for("[aria-busy=true] .skeleton").await;
    check(&browser, "user page, loading", None).await;

    browser.client.execute("sessionStorage.setItem('serverDown', '1')", vec![]).await.expect("set");
    browser.client.goto(&format!("{}/user", server.base_url)).await.expect("the app loads");
    // Three retries, 1 s, 2 s and 4 s apart, before the error shows.
    browser.wait_for("[role=alert] .notice").await;
    check(&browser, "user page, server error", None).await;

    phone.close().await;
    browser.close().await;
}

#[tokio::test]
async fn the_accessibility_check_does_find_a_violation() {
    let server = TestServer::start(Settings::default()).await;
    let browser = Browser::launch().await;
    browser.client.goto(&format!("{}/login", server.base_url)).await.expect("the app loads");
    browser.wait_for("#username").await;
    let unlabelled = "const input = document.createElement('input'); document.querySelector('form').append(input);";
    browser.client.execute(unlabelled, vec![]).await.expect("an input without a label");
    let violations = browser.accessibility_violations().await;
    assert!(violations.iter().any(|violation| violation.starts_with("label ")), "{violations:#?}");
    browser.close().await;
}
