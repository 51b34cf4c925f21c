use session_app::api::browser::{ACCESS_TOKEN_EXPIRY_KEY, ACCESS_TOKEN_KEY, LocalStorageTokens};
use session_app::api::session::{AccessToken, TokenStore};
use wasm_bindgen_test::wasm_bindgen_test;

fn local_storage() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

#[wasm_bindgen_test]
fn keeps_the_token_under_the_key_of_the_api_contract() {
    let token =
        AccessToken { value: "header.payload.signature".to_owned(), expires_at_ms: 1_000.0, lifetime_ms: 900.0 };
    LocalStorageTokens.save(&token);
    assert_eq!(local_storage().get_item(ACCESS_TOKEN_KEY).unwrap().as_deref(), Some("header.payload.signature"));
    assert_eq!(LocalStorageTokens.load(), Some(token));

    LocalStorageTokens.clear();
    assert_eq!(local_storage().get_item(ACCESS_TOKEN_KEY).unwrap(), None);
    assert_eq!(local_storage().get_item(ACCESS_TOKEN_EXPIRY_KEY).unwrap(), None);
    assert_eq!(LocalStorageTokens.load(), None);
}

#[wasm_bindgen_test]
fn a_token_without_a_readable_expiry_is_kept_until_the_server_refuses_it() {
    local_storage().set_item(ACCESS_TOKEN_KEY, "set.by.hand").unwrap();
    local_storage().set_item(ACCESS_TOKEN_EXPIRY_KEY, "{not json").unwrap();
    let token = LocalStorageTokens.load().expect("the token is still used");
    assert_eq!(token.value, "set.by.hand");
    assert_eq!(token.expires_at_ms, f64::INFINITY);

    local_storage().set_item(ACCESS_TOKEN_KEY, "").unwrap();
    assert_eq!(LocalStorageTokens.load(), None, "an empty value is no token");
    LocalStorageTokens.clear();
}
