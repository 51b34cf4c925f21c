//! The whole App under leptos_router: the not-found page, an `<A>` link, and the redirects of `/` and `/user`.

use session_app::App;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{clean_page, eventually, mount, wait_for};

fn path() -> String {
    web_sys::window().unwrap().location().pathname().unwrap()
}

fn go(path: &str) {
    web_sys::window().unwrap().history().unwrap().replace_state_with_url(&JsValue::NULL, "", Some(path)).unwrap();
}

/// Puts the test runner's own address back when the test ends.
struct BackTo(String);

impl Drop for BackTo {
    fn drop(&mut self) {
        go(&self.0);
    }
}

async fn heading() -> String {
    wait_for("h1").await.text_content().unwrap_or_default()
}

#[wasm_bindgen_test]
async fn an_unknown_path_shows_the_not_found_page_whose_link_leads_to_sign_in() {
    let _clean = clean_page();
    let _back = BackTo(path());
    go("/no/such/page");
    let _app = mount(App);
    assert_eq!(heading().await, "Page not found");
    let entries = web_sys::window().unwrap().history().unwrap().length().unwrap();

    wait_for("a[href='/login']").await.click();
    eventually("the start is /login without a session", || (path() == "/login").then_some(())).await;
    eventually("the sign-in page shows", || {
        let heading = crate::support::document().query_selector("#page-under-test h1").ok().flatten()?;
        (heading.text_content()? == "Sign in").then_some(())
    })
    .await;
    let history = web_sys::window().unwrap().history().unwrap();
    assert_eq!(history.length().unwrap(), entries + 1, "the link pushed one entry: Back returns to it");
}

#[wasm_bindgen_test]
async fn the_user_page_without_a_session_redirects_to_sign_in_in_place() {
    let _clean = clean_page();
    let _back = BackTo(path());
    go("/user");
    let entries = web_sys::window().unwrap().history().unwrap().length().unwrap();
    let _app = mount(App);
    eventually("/user redirects to /login", || (path() == "/login").then_some(())).await;
    assert_eq!(heading().await, "Sign in");
    assert_eq!(
        web_sys::window().unwrap().history().unwrap().length().unwrap(),
        entries,
        "the redirect replaced the entry, so Back does not return to it"
    );
}

#[wasm_bindgen_test]
async fn where_storage_refuses_the_app_says_the_sign_in_ends_with_the_tab_and_stays_signed_in() {
    let _clean = clean_page();
    let _back = BackTo(path());
    let _refusing = crate::support::refusing_storage();
    crate::support::stub_fetch(
        r#"const path = new URL(request.url).pathname;
        if (path === '/auth/login') return new Response(
            '{"accessToken":"h.p.memory","tokenType":"Bearer","expiresIn":900}', {status: 200});
        return new Response('{"id":1,"username":"demo","displayName":"Demo User","email":"","createdAt":"2026-11-27T00:00:00Z"}',
            {status: 200});"#,
    );
    go("/login");
    let _app = mount(App);
    crate::support::type_into("#username", "demo");
    crate::support::type_into("#password", "correct-horse-battery");
    wait_for("button[type=submit]").await.click();
    eventually("the user page", || (path() == "/user").then_some(())).await;
    assert_eq!(wait_for("[data-testid=display-name]").await.text_content().unwrap(), "Demo User");
    let note = wait_for("[role=status] .banner").await.text_content().unwrap();
    assert!(note.contains("ends when you reload or close this tab"), "{note}");
}
