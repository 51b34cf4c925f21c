//! The query cache's triggers in the browser: shared fetches, focus, reconnect, offline pause, retry.

use std::time::Duration;

use leptos::prelude::*;
use session_contract::User;
use session_leptos::browser_client;
use session_leptos::{QueryOptions, use_query, use_user};
use wasm_bindgen_test::wasm_bindgen_test;

use session_leptos::testing::{
    clean_page, eventually_true, mount_with_session, requests_to, run_js, sleep, store_token, stub_fetch, wait_for,
};

/// `/user` answered with a name that counts the answers: `Ada 1`, `Ada 2`, …
const COUNTING_USER: &str = r#"window.answers = (window.answers || 0) + 1;
    return new Response(JSON.stringify({id: 7, username: "ada", displayName: "Ada " + window.answers,
        email: "", createdAt: "2026-11-27T10:00:00Z"}), {status: 200});"#;

/// Lets the answer a stub holds go, once one is held: the stub sets `window.release` only after its `fetch` has
/// read the request, a few tasks after the page shows that it is loading. The release is forgotten, so the next
/// call waits for the next held answer.
async fn release_the_held_answer() {
    eventually_true("an answer is held", || {
        js_sys::Reflect::get(&js_sys::global(), &"release".into()).is_ok_and(|release| release.is_function())
    })
    .await;
    run_js("const release = window.release; delete window.release; release();");
}

fn fire(target: &str, event: &str) {
    run_js(&format!("{target}.dispatchEvent(new Event('{event}', {{bubbles: true}}));"));
}

fn text_of(test_id: &str) -> String {
    session_leptos::testing::document()
        .query_selector(&format!("#page-under-test [data-testid={test_id}]"))
        .unwrap()
        .and_then(|element| element.text_content())
        .unwrap_or_default()
}

#[component]
fn UserReader(name: &'static str) -> impl IntoView {
    let user = use_user();
    view! { <p data-testid=name>{move || user.data().map(|user| user.display_name).unwrap_or_default()}</p> }
}

/// A reader of `/user` that is stale at once, showing whether it is fetching.
#[component]
fn AlwaysStaleReader() -> impl IntoView {
    let api = session_leptos::use_session();
    let options = QueryOptions::default().stale_time(Duration::ZERO);
    let user = use_query::<User, _>(
        "always-stale",
        move || {
            let api = api.get_value();
            async move { api.get_json::<User>("/user").await }
        },
        options,
    );
    view! {
        <p data-testid="stale">{move || user.data().map(|user| user.display_name).unwrap_or_default()}</p>
        <p data-testid="fetching">{move || user.is_fetching().to_string()}</p>
    }
}

#[wasm_bindgen_test]
async fn readers_of_one_key_share_one_request_and_a_remount_inside_the_stale_time_makes_none() {
    let _clean = clean_page();
    stub_fetch(COUNTING_USER);
    store_token("valid", 900_000.0);
    let shown = RwSignal::new(true);
    let _page = mount_with_session(browser_client(""), move || {
        view! {
            <UserReader name="first"/>
            <Show when=move || shown.get()>
                <UserReader name="second"/>
            </Show>
        }
    });
    eventually_true("both readers show the user", || text_of("first") == "Ada 1" && text_of("second") == "Ada 1").await;
    assert_eq!(requests_to("/user"), 1);

    shown.set(false);
    shown.set(true);
    wait_for("[data-testid=second]").await;
    fire("document", "visibilitychange");
    sleep(Duration::from_millis(100)).await;
    assert_eq!(requests_to("/user"), 1, "fresh for five minutes: no request on mount or focus");
    assert_eq!(text_of("second"), "Ada 1");
}

#[wasm_bindgen_test]
async fn a_reconnect_refetches_a_stale_entry_and_leaves_a_fresh_one() {
    let _clean = clean_page();
    stub_fetch(COUNTING_USER);
    store_token("valid", 900_000.0);
    let _page = mount_with_session(browser_client(""), || view! { <UserReader name="fresh"/> <AlwaysStaleReader/> });
    eventually_true("both show a user", || !text_of("fresh").is_empty() && !text_of("stale").is_empty()).await;
    assert_eq!(requests_to("/user"), 2);

    // Each event in its own task, as the browser fires them: the page sees itself offline, then online.
    fire("window", "offline");
    sleep(Duration::from_millis(50)).await;
    fire("window", "online");
    eventually_true("the stale entry refetches on reconnect", || requests_to("/user") == 3).await;
    sleep(Duration::from_millis(100)).await;
    assert_eq!(requests_to("/user"), 3, "the fresh one does not");
}

#[wasm_bindgen_test]
async fn the_page_starts_online_whatever_navigator_on_line_says() {
    let _clean = clean_page();
    // Chromium can say `false` on a working network; TanStack Query v5 trusts only the events.
    let _says_offline = session_leptos::testing::patch(
        "Object.defineProperty(navigator, 'onLine', { configurable: true, get: () => false });",
        "delete navigator.onLine;",
    );
    stub_fetch(COUNTING_USER);
    store_token("valid", 900_000.0);
    let _page = mount_with_session(browser_client(""), || view! { <UserReader name="reader"/> });
    eventually_true("the user loads", || text_of("reader") == "Ada 1").await;
}

#[wasm_bindgen_test]
async fn stale_data_stays_on_screen_while_the_tab_becoming_visible_refetches_it() {
    let _clean = clean_page();
    stub_fetch(&format!(
        "if (window.answers >= 1) {{ return new Promise(resolve => {{ window.release = resolve; }})
             .then(() => {{ {COUNTING_USER} }}); }}
         {COUNTING_USER}"
    ));
    store_token("valid", 900_000.0);
    let _page = mount_with_session(browser_client(""), AlwaysStaleReader);
    eventually_true("the first answer shows", || text_of("stale") == "Ada 1").await;
    assert_eq!(text_of("fetching"), "false");

    fire("document", "visibilitychange");
    eventually_true("shown again, the stale entry refetches", || text_of("fetching") == "true").await;
    assert_eq!(text_of("stale"), "Ada 1", "the old data stays while the new is fetched");
    release_the_held_answer().await;
    eventually_true("the new answer replaces it", || text_of("stale") == "Ada 2").await;
    assert_eq!(text_of("fetching"), "false");
}

#[wasm_bindgen_test]
async fn offline_a_fetch_waits_and_runs_when_the_network_is_back() {
    let _clean = clean_page();
    stub_fetch(COUNTING_USER);
    store_token("valid", 900_000.0);
    let shown = RwSignal::new(false);
    let _page = mount_with_session(browser_client(""), move || {
        view! {
            <Show when=move || shown.get()>
                <UserReader name="reader"/>
            </Show>
        }
    });
    fire("window", "offline");
    shown.set(true);
    sleep(Duration::from_millis(100)).await;
    assert_eq!(requests_to("/user"), 0, "paused while offline");

    fire("window", "online");
    eventually_true("back online, the paused fetch runs", || text_of("reader") == "Ada 1").await;
    assert_eq!(requests_to("/user"), 1);
}

#[wasm_bindgen_test]
async fn a_failed_fetch_is_retried_after_a_second() {
    let _clean = clean_page();
    stub_fetch(&format!(
        "(window.tries = window.tries || []).push(performance.now());
         if (window.tries.length === 1) {{ return Promise.reject(new TypeError('Failed to fetch')); }}
         {COUNTING_USER}"
    ));
    store_token("valid", 900_000.0);
    let _page = mount_with_session(browser_client(""), || view! { <UserReader name="reader"/> });
    eventually_true("the retry succeeds", || text_of("reader") == "Ada 1").await;
    assert_eq!(requests_to("/user"), 2);
    run_js("window.retryGap = window.tries[1] - window.tries[0];");
    let gap = session_leptos::testing::window_value("retryGap");
    assert!((950.0..2_000.0).contains(&gap), "retried {gap} ms after the failure, not after a second");
}

/// `/user` read the way a Leptos page reads any resource: inside `<Suspense>`, with `.get()`.
#[component]
fn SuspendedUser() -> impl IntoView {
    let user = use_user();
    let resource = user.resource();
    let text = move || match resource.get() {
        Some(Ok(user)) => user.display_name,
        Some(Err(error)) => format!("error: {error}"),
        None => "nothing".to_owned(),
    };
    view! {
        <Suspense fallback=|| view! { <p data-testid="suspended">"loading"</p> }>
            <p data-testid="suspended">{text}</p>
        </Suspense>
        <button on:click=move |_| user.refetch()>"refetch"</button>
    }
}

/// From now on, the text the page shows for the suspended user each time the DOM settles after a change (a
/// MutationObserver's callback runs after every batch of changes, before the browser can paint): a flash of the
/// fallback or of old data that could reach the screen cannot go unseen.
fn watch_texts() {
    run_js(
        "window.seenTexts = [];
         const page = document.getElementById('page-under-test');
         const note = () => { const shown = page.querySelector('[data-testid=suspended]');
             window.seenTexts.push(shown ? shown.textContent : ''); };
         window.textWatch = new MutationObserver(note);
         window.textWatch.observe(page, {subtree: true, childList: true, characterData: true});",
    );
}

fn seen_texts() -> Vec<String> {
    let seen = js_sys::Reflect::get(&web_sys::window().unwrap(), &"seenTexts".into()).unwrap();
    let seen: js_sys::Array = seen.into();
    run_js("window.textWatch.disconnect();");
    seen.iter().filter_map(|text| text.as_string()).collect()
}

#[wasm_bindgen_test]
async fn a_query_read_as_a_resource_suspends_until_the_first_answer_then_changes_in_place() {
    let _clean = clean_page();
    stub_fetch(&format!(
        "return new Promise(resolve => {{ window.release = resolve; }}).then(() => {{ {COUNTING_USER} }});"
    ));
    store_token("valid", 900_000.0);
    let _page = mount_with_session(browser_client(""), SuspendedUser);
    eventually_true("the fallback shows while the first answer is on its way", || text_of("suspended") == "loading")
        .await;
    release_the_held_answer().await;
    eventually_true("the answer replaces the fallback", || text_of("suspended") == "Ada 1").await;

    watch_texts();
    wait_for("button").await.click();
    eventually_true("the refetch is on the wire", || requests_to("/user") == 2).await;
    sleep(Duration::from_millis(50)).await;
    assert_eq!(text_of("suspended"), "Ada 1", "a refetch keeps what is shown");
    release_the_held_answer().await;
    eventually_true("the new answer replaces it in place", || text_of("suspended") == "Ada 2").await;
    let seen = seen_texts();
    assert!(!seen.is_empty() && !seen.iter().any(|text| text == "loading"), "never back to loading: {seen:?}");
}

/// Ada is signed in; Bob signs in, and his `/user` is held on the wire until the test releases it.
const ADA_THEN_BOB: &str = r#"
    const path = new URL(request.url).pathname;
    if (path === '/auth/login') {
        return new Response('{"accessToken":"h.p.bob","tokenType":"Bearer","expiresIn":900}', {status: 200});
    }
    if (path === '/auth/logout') return new Response(null, {status: 204});
    if (request.headers.get('Authorization') === 'Bearer h.p.bob') {
        return new Promise(resolve => { window.release = resolve; }).then(() => new Response(JSON.stringify(
            {id: 8, username: "bob", displayName: "Bob", email: "", createdAt: "2026-11-27T10:00:00Z"}), {status: 200}));
    }
    return new Response(JSON.stringify({id: 7, username: "ada", displayName: "Ada", email: "",
        createdAt: "2026-11-27T10:00:00Z"}), {status: 200});
"#;

const CHANGED: &str = "error: the session changed while the request waited";

#[wasm_bindgen_test]
async fn a_change_of_session_never_shows_the_last_users_data_and_await_always_has_an_answer() {
    let _clean = clean_page();
    stub_fetch(ADA_THEN_BOB);
    store_token("valid", 900_000.0);
    let client = browser_client("");
    let resource = RwSignal::new_local(None::<ArcLocalResource<Result<User, session_core::SessionError>>>);
    let _page = mount_with_session(client.clone(), move || {
        resource.set(Some(use_user().resource()));
        view! { <SuspendedUser/> }
    });
    eventually_true("Ada shows", || text_of("suspended") == "Ada").await;

    watch_texts();
    client.sign_in("bob", "password").await.unwrap();
    eventually_true("Bob's user is on the wire", || requests_to("/user") == 2).await;
    sleep(Duration::from_millis(50)).await;
    assert_eq!(text_of("suspended"), CHANGED, "while Bob's answer is held, nothing of Ada's");
    let awaited = resource.get_untracked().unwrap().await;
    assert_eq!(awaited, Err(session_core::SessionError::SessionChanged), "awaiting now answers at once");
    release_the_held_answer().await;
    eventually_true("Bob's answer shows", || text_of("suspended") == "Bob").await;
    let seen = seen_texts();
    assert!(!seen.iter().any(|text| text == "Ada"), "Ada's data after Bob signed in: {seen:?}");

    watch_texts();
    client.sign_out().await;
    eventually_true("signed out, the resource says the session changed", || text_of("suspended") == CHANGED).await;
    sleep(Duration::from_millis(50)).await;
    let seen = seen_texts();
    assert!(!seen.iter().any(|text| text == "Bob"), "Bob's data after the sign-out: {seen:?}");
    assert_eq!(requests_to("/user"), 2, "signed out, nothing is fetched again");
    let awaited = resource.get_untracked().unwrap().await;
    assert_eq!(awaited, Err(session_core::SessionError::SessionChanged));
}

#[wasm_bindgen_test]
async fn a_query_kept_after_its_component_is_gone_is_a_resource_that_says_the_session_changed() {
    let _clean = clean_page();
    stub_fetch(COUNTING_USER);
    store_token("valid", 900_000.0);
    let kept = StoredValue::new_local(None::<session_leptos::Query<User>>);
    let page = mount_with_session(browser_client(""), move || {
        kept.set_value(Some(use_user()));
        view! { <UserReader name="reader"/> }
    });
    eventually_true("the user shows", || text_of("reader") == "Ada 1").await;
    drop(page);

    let query = kept.get_value().expect("the query handle outlives its component");
    let answer = query.resource().await;
    assert_eq!(answer, Err(session_core::SessionError::SessionChanged), "an answer at once, never a pending load");
}
