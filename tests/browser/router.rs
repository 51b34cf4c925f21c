use std::time::Duration;

use leptos::prelude::*;
use session_app::router::{Location, Redirect};
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{mount, sleep};

fn browser_path() -> String {
    web_sys::window().unwrap().location().pathname().unwrap()
}

fn history_length() -> u32 {
    web_sys::window().unwrap().history().unwrap().length().unwrap()
}

#[wasm_bindgen_test]
async fn navigation_follows_the_history_api_and_the_back_button() {
    let runner_page = browser_path();
    let location = Location::from_browser();
    assert_eq!(location.path(), runner_page);

    let entries = history_length();
    location.navigate("/user");
    assert_eq!((browser_path(), location.path()), ("/user".to_owned(), "/user".to_owned()));
    assert_eq!(history_length(), entries + 1);
    location.replace("/login");
    assert_eq!((browser_path(), location.path()), ("/login".to_owned(), "/login".to_owned()));
    assert_eq!(history_length(), entries + 1, "a replacement adds no entry");

    web_sys::window().unwrap().history().unwrap().back().unwrap();
    for _ in 0..100 {
        if location.path() == runner_page {
            break;
        }
        sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(location.path(), runner_page, "Back returns to the page before");
}

#[wasm_bindgen_test]
async fn a_redirect_replaces_the_page_that_rendered_it() {
    let runner_page = browser_path();
    let location = Location::from_browser();
    let entries = history_length();
    let _page = mount(move || {
        provide_context(location);
        view! { <Redirect path="/login"/> }
    });
    sleep(Duration::from_millis(20)).await;
    assert_eq!((browser_path(), location.path()), ("/login".to_owned(), "/login".to_owned()));
    assert_eq!(history_length(), entries);
    location.replace(&runner_page);
}
