use std::time::Duration;

use session_contract::ACCESS_TOKEN_STORAGE_KEY;
use session_core::{AccessToken, TokenStore};
use session_leptos::browser::LocalStorageTokens;
use wasm_bindgen_test::wasm_bindgen_test;

use session_leptos::testing::{clean_page, local_storage, refusing_storage};

#[wasm_bindgen_test]
fn keeps_the_token_and_its_expiry_as_one_item_under_the_contracts_key() {
    let _clean = clean_page();
    let token = AccessToken::new("header.payload.signature", "signature", Some(1_000.0), Duration::from_millis(900));
    let store = LocalStorageTokens::default();
    store.save(&token);
    assert_eq!(local_storage().length().unwrap(), 1, "one item: a half-written pair cannot exist");
    let stored: serde_json::Value =
        serde_json::from_str(&local_storage().get_item(ACCESS_TOKEN_STORAGE_KEY).unwrap().unwrap()).unwrap();
    assert_eq!(
        stored,
        serde_json::json!({"value": "header.payload.signature", "session": "signature", "expiresAt": 1000.0, "lifetime": 900.0, "bound": false})
    );
    assert_eq!(store.load(), Some(token));

    let unknown = AccessToken::new("h.p.unknown", "unknown", None, Duration::ZERO);
    store.save(&unknown);
    assert_eq!(store.load(), Some(unknown), "an unknown expiry stays unknown (`expiresAt: null`)");

    store.clear();
    assert_eq!(local_storage().get_item(ACCESS_TOKEN_STORAGE_KEY).unwrap(), None);
    assert_eq!(store.load(), None);
}

#[wasm_bindgen_test]
fn a_bare_token_is_kept_until_the_server_refuses_it() {
    let _clean = clean_page();
    let store = LocalStorageTokens::default();
    local_storage().set_item(ACCESS_TOKEN_STORAGE_KEY, "set.by.hand").unwrap();
    let token = store.load().expect("the token is still used");
    assert_eq!(token.value, "set.by.hand");
    assert_eq!(token.session, "hand", "a bare token is a session of its own");
    assert_eq!(token.expires_at_ms, None, "its expiry is unknown");

    local_storage().set_item(ACCESS_TOKEN_STORAGE_KEY, "").unwrap();
    assert_eq!(store.load(), None, "an empty value is no token");
    local_storage()
        .set_item(ACCESS_TOKEN_STORAGE_KEY, r#"{"value":"","session":"s","expiresAt":1,"lifetime":1}"#)
        .unwrap();
    assert_eq!(store.load(), None, "nor is an empty stored token");
}

#[wasm_bindgen_test]
fn what_is_not_this_apps_token_is_no_token() {
    let _clean = clean_page();
    let store = LocalStorageTokens::default();
    let not_ours = [
        r#"{"theme":"dark"}"#,
        r#"["a","b"]"#,
        r#""quoted""#,
        "two words",
        "\u{d1a0}\u{d070}.payload.signature",
        r#"{"value":"caf\u00e9","session":"s","expiresAt":1,"lifetime":1}"#,
        r#"{"value":"ok","session":"s","expiresAt":"soon","lifetime":1}"#,
    ];
    for item in not_ours {
        local_storage().set_item(ACCESS_TOKEN_STORAGE_KEY, item).unwrap();
        assert_eq!(store.load(), None, "{item}");
    }
}

#[wasm_bindgen_test]
fn where_local_storage_refuses_the_session_lives_in_this_tabs_memory() {
    let _clean = clean_page();
    let refusing = refusing_storage();
    let store = LocalStorageTokens::default();
    assert!(!store.is_in_memory_only());
    let token = AccessToken::new("h.p.kept", "kept", Some(5.0), Duration::from_millis(5));
    store.save(&token);
    assert!(store.is_in_memory_only(), "the app can say the session will not survive a reload");
    assert_eq!(store.load(), Some(token), "still signed in, in this tab");
    assert_eq!(local_storage().get_item(ACCESS_TOKEN_STORAGE_KEY).unwrap(), None);
    drop(refusing);
    store.clear();
    assert_eq!(store.load(), None);
}

#[wasm_bindgen_test]
fn a_pending_logout_is_remembered_across_starts() {
    let _clean = clean_page();
    LocalStorageTokens::default().set_logout_pending(true);
    assert!(LocalStorageTokens::default().logout_pending(), "a new store, as at the next start, still knows");
    LocalStorageTokens::default().set_logout_pending(false);
    assert!(!LocalStorageTokens::default().logout_pending());
}
