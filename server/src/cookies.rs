//! The refresh cookie's exact form: `HttpOnly; Secure; SameSite=Strict; Path=/auth`, with the `__Secure-` name.

use axum::http::HeaderValue;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use session_contract::{REFRESH_COOKIE, REFRESH_COOKIE_PATH};

pub fn refresh_cookie(token: &str, max_age: i64) -> HeaderValue {
    let cookie = Cookie::build((REFRESH_COOKIE, token))
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .path(REFRESH_COOKIE_PATH)
        .max_age(time::Duration::seconds(max_age.max(0)))
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("base64url tokens are valid header text")
}

pub fn cleared_refresh_cookie() -> HeaderValue {
    refresh_cookie("", 0)
}

/// The refresh token the browser sent, if one is present and non-empty.
pub fn presented_refresh_token(jar: &CookieJar) -> Option<&str> {
    jar.get(REFRESH_COOKIE).map(|cookie| cookie.value_trimmed()).filter(|value| !value.is_empty())
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
        assert_eq!(presented_refresh_token(&jar("theme=dark; __Secure-refresh=abc ; other=1")), Some("abc"));
        assert_eq!(presented_refresh_token(&jar("__Secure-refresh=")), None);
        assert_eq!(presented_refresh_token(&CookieJar::new()), None);
    }

    #[test]
    fn the_cookie_is_host_bound_http_only_and_strict() {
        let cookie = refresh_cookie("abc", 60);
        let cookie = cookie.to_str().unwrap();
        for part in ["__Secure-refresh=abc", "HttpOnly", "Secure", "SameSite=Strict", "Path=/auth", "Max-Age=60"] {
            assert!(cookie.split("; ").any(|attribute| attribute == part), "{part} missing from {cookie}");
        }
        assert!(cleared_refresh_cookie().to_str().unwrap().contains("Max-Age=0"));
    }
}
