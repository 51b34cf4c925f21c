use session_app::api::LocalStorageTokens;
use session_contract::ACCESS_TOKEN_STORAGE_KEY;
use session_core::{AccessToken, TokenStore};
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{clean_page, local_storage};

#[wasm_bindgen_test]
fn keeps_the_token_and_its_expiry_as_one_item_under_the_contracts_key() {
    let _clean = clean_page();
    let token = AccessToken {
        value: "header.payload.signature".to_owned(),
        session: "signature".to_owned(),
        expires_at_ms: 1_000.0,
        lifetime_ms: 900.0,
    };
    LocalStorageTokens.save(&token);
    assert_eq!(local_storage().length().unwrap(), 1, "one item: a half-written pair cannot exist");
    let stored: serde_json::Value =
        serde_json::from_str(&local_storage().get_item(ACCESS_TOKEN_STORAGE_KEY).unwrap().unwrap()).unwrap();
    assert_eq!(
        stored,
        serde_json::json!({"value": "header.payload.signature", "session": "signature", "expiresAt": 1000.0, "lifetime": 900.0})
    );
    assert_eq!(LocalStorageTokens.load(), Some(token));

    LocalStorageTokens.clear();
    assert_eq!(local_storage().get_item(ACCESS_TOKEN_STORAGE_KEY).unwrap(), None);
    assert_eq!(LocalStorageTokens.load(), None);
}

#[wasm_bindgen_test]
fn a_bare_token_is_kept_until_the_server_refuses_it() {
    let _clean = clean_page();
    local_storage().set_item(ACCESS_TOKEN_STORAGE_KEY, "set.by.hand").unwrap();
    let token = LocalStorageTokens.load().expect("the token is still used");
    assert_eq!(token.value, "set.by.hand");
    assert_eq!(token.session, "hand", "a bare token is a session of its own");
    assert_eq!(token.expires_at_ms, f64::INFINITY);

    local_storage().set_item(ACCESS_TOKEN_STORAGE_KEY, "").unwrap();
    assert_eq!(LocalStorageTokens.load(), None, "an empty value is no token");
    local_storage()
        .set_item(ACCESS_TOKEN_STORAGE_KEY, r#"{"value":"","session":"s","expiresAt":1,"lifetime":1}"#)
        .unwrap();
    assert_eq!(LocalStorageTokens.load(), None, "nor is an empty stored token");
}
