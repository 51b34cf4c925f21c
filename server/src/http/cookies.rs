//! The refresh cookie's exact form: `HttpOnly; SameSite=Strict; Path=/auth`, and `Secure` with the `__Secure-`
//! name unless the app is served over plain HTTP on a loopback address.

use axum::http::HeaderValue;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use session_contract::REFRESH_COOKIE_PATH;

use crate::auth::cookie_mode::CookieMode;

pub fn refresh_cookie(mode: CookieMode, token: &str, max_age: i64) -> HeaderValue {
    let cookie = Cookie::build((mode.cookie_name(), token))
        .http_only(true)
        .secure(mode == CookieMode::Secure)
        .same_site(SameSite::Strict)
        .path(REFRESH_COOKIE_PATH)
        .max_age(time::Duration::seconds(max_age.max(0)))
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("base64url tokens are valid header text")
}

/// Clearing headers for the cookie in both its forms: an error answer does not need to know which one is in use.
pub fn cleared_refresh_cookies() -> [HeaderValue; 2] {
    [refresh_cookie(CookieMode::Secure, "", 0), refresh_cookie(CookieMode::LoopbackHttp, "", 0)]
}

pub fn cleared_refresh_cookie(mode: CookieMode) -> HeaderValue {
    refresh_cookie(mode, "", 0)
}

/// The refresh token the browser sent, if one is present and non-empty.
pub fn presented_refresh_token(mode: CookieMode, jar: &CookieJar) -> Option<&str> {
    jar.get(mode.cookie_name()).map(|cookie| cookie.value_trimmed()).filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    use super::*;

    #[test]
    fn finds_the_refresh_cookie_among_others() {
        let jar = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert("cookie", HeaderValue::from_static(value));
            CookieJar::from_headers(&headers)
        };
        let secure = CookieMode::Secure;
        assert_eq!(presented_refresh_token(secure, &jar("theme=dark; __Secure-refresh=abc ; other=1")), Some("abc"));
        assert_eq!(presented_refresh_token(secure, &jar("__Secure-refresh=")), None);
        assert_eq!(presented_refresh_token(secure, &CookieJar::new()), None);
        assert_eq!(presented_refresh_token(secure, &jar("refresh=abc")), None, "only the mode's own name");
        assert_eq!(presented_refresh_token(CookieMode::LoopbackHttp, &jar("refresh=abc")), Some("abc"));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_unless_on_loopback_http() {
        let parts =
            |mode| refresh_cookie(mode, "abc", 60).to_str().unwrap().split("; ").map(str::to_owned).collect::<Vec<_>>();
        let secure = parts(CookieMode::Secure);
        for part in ["__Secure-refresh=abc", "HttpOnly", "Secure", "SameSite=Strict", "Path=/auth", "Max-Age=60"] {
            assert!(secure.iter().any(|attribute| attribute == part), "{part} missing from {secure:?}");
        }
        let loopback = parts(CookieMode::LoopbackHttp);
        for part in ["refresh=abc", "HttpOnly", "SameSite=Strict", "Path=/auth", "Max-Age=60"] {
            assert!(loopback.iter().any(|attribute| attribute == part), "{part} missing from {loopback:?}");
        }
        assert!(!loopback.iter().any(|attribute| attribute == "Secure"), "{loopback:?}");
        for cleared in cleared_refresh_cookies() {
            assert!(cleared.to_str().unwrap().contains("Max-Age=0"));
        }
    }
}
