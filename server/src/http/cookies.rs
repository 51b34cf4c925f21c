//! The cookies' exact forms: the refresh cookie `HttpOnly; SameSite=Strict; Path=/auth`, the device cookie the
//! same with `Path=/auth/login`, both `Secure` with the `__Secure-` name unless the app is served over plain
//! HTTP on a loopback address.

use axum::http::{HeaderMap, HeaderValue, header};
use axum_extra::extract::cookie::{Cookie, SameSite};
use session_contract::{DEVICE_COOKIE_PATH, REFRESH_COOKIE_PATH, paths};

use crate::auth::cookie_mode::CookieMode;

/// A device cookie lasts this long (each sign-in on the device issues a new one).
const DEVICE_COOKIE_SECONDS: i64 = 180 * 24 * 60 * 60;

pub fn refresh_cookie(mode: CookieMode, token: &str, max_age: i64) -> HeaderValue {
    header(&cookie(mode, mode.cookie_name(), token, REFRESH_COOKIE_PATH, max_age))
}

pub fn device_cookie(mode: CookieMode, value: &str) -> HeaderValue {
    header(&cookie(mode, mode.device_cookie_name(), value, DEVICE_COOKIE_PATH, DEVICE_COOKIE_SECONDS))
}

/// Every cookie of the server: `HttpOnly`, `SameSite=Strict`, `Secure` unless on loopback HTTP.
fn cookie<'a>(mode: CookieMode, name: &'static str, value: &'a str, path: &'static str, max_age: i64) -> Cookie<'a> {
    Cookie::build((name, value))
        .http_only(true)
        .secure(mode == CookieMode::Secure)
        .same_site(SameSite::Strict)
        .path(path)
        .max_age(time::Duration::seconds(max_age.max(0)))
        .build()
}

fn header(cookie: &Cookie<'_>) -> HeaderValue {
    HeaderValue::from_str(&cookie.to_string()).expect("base64url values are valid header text")
}

/// The request paths that read the refresh cookie, and so every `Path=` a planted one could match them with.
const PLANTED_COOKIE_PATHS: [&str; 5] = ["/", "/auth", "/auth/", paths::REFRESH, paths::LOGOUT];

/// Clearing headers for every refresh cookie another site of the domain could have planted with `Domain=`
/// (each of `domains`, each path that reaches the refresh or the logout), leaving this host's own, which has
/// no `Domain`, alone. A planted cookie makes every refresh a `400` until it is gone.
pub fn cleared_planted_refresh_cookies(mode: CookieMode, domains: &[&str]) -> Vec<HeaderValue> {
    let mut cleared = Vec::new();
    for domain in domains {
        for path in PLANTED_COOKIE_PATHS {
            let mut cookie = cookie(mode, mode.cookie_name(), "", path, 0);
            cookie.set_domain(domain.to_string());
            if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
                cleared.push(value);
            }
        }
    }
    cleared
}

/// Clearing headers for the cookie in both its forms: an error answer does not need to know which one is in use.
pub fn cleared_refresh_cookies() -> [HeaderValue; 2] {
    [refresh_cookie(CookieMode::Secure, "", 0), refresh_cookie(CookieMode::LoopbackHttp, "", 0)]
}

pub fn cleared_refresh_cookie(mode: CookieMode) -> HeaderValue {
    refresh_cookie(mode, "", 0)
}

/// What the browser sent under one cookie's name.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented {
    /// No refresh cookie, or an empty one.
    Nothing,
    One(String),
    /// Two or more: another site of the domain planted one (`Domain=`), hoping the server picks it.
    Several(Vec<String>),
    /// More than a browser holds under one name ([`MOST_PRESENTED`]): no browser's request, and none is read.
    TooMany,
}

/// The most values under one cookie name a browser can send here: one per cookie it holds whose domain and path
/// match, that is per domain level of the host (a deep host has five or six, each with or without `Domain=`)
/// and per path above `/auth/logout` (four). Each value costs the server a lookup, so a request with more is
/// refused without reading any.
pub const MOST_PRESENTED: usize = 48;

/// The refresh cookie(s) in every `Cookie` header of `headers`.
pub fn presented_refresh_token(mode: CookieMode, headers: &HeaderMap) -> Presented {
    presented(mode.cookie_name(), headers)
}

/// Every device cookie sent (a planted one among them is checked like any other, and fails: each is signed).
pub fn presented_devices(mode: CookieMode, headers: &HeaderMap) -> Vec<String> {
    match presented(mode.device_cookie_name(), headers) {
        Presented::Nothing | Presented::TooMany => Vec::new(),
        Presented::One(value) => vec![value],
        Presented::Several(values) => values,
    }
}

fn presented(name: &str, headers: &HeaderMap) -> Presented {
    let mut values: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value_trimmed().to_owned())
        .take(MOST_PRESENTED + 1)
        .collect();
    match values.len() {
        0 => Presented::Nothing,
        1 => Some(values.swap_remove(0)).filter(|value| !value.is_empty()).map_or(Presented::Nothing, Presented::One),
        2..=MOST_PRESENTED => Presented::Several(values),
        _ => Presented::TooMany,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_refresh_cookie_among_others_and_refuses_two() {
        let sent = |values: &[&'static str]| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append("cookie", HeaderValue::from_static(value));
            }
            headers
        };
        let one = |token: &str| Presented::One(token.to_owned());
        let several = |tokens: &[&str]| Presented::Several(tokens.iter().map(|token| (*token).to_owned()).collect());
        let secure = CookieMode::Secure;
        let cases: &[(&[&'static str], Presented)] = &[
            (&["theme=dark; __Secure-refresh=abc ; other=1"], one("abc")),
            (&["__Secure-refresh="], Presented::Nothing),
            (&[], Presented::Nothing),
            (&["refresh=abc"], Presented::Nothing),
            (&["__Secure-refresh=abc; __Secure-refresh=planted"], several(&["abc", "planted"])),
            (&["__Secure-refresh=abc", "__Secure-refresh=planted"], several(&["abc", "planted"])),
            (&["__Secure-refresh=abc; __Secure-refresh=abc"], several(&["abc", "abc"])),
            (&["__Secure-refresh=; __Secure-refresh=planted"], several(&["", "planted"])),
        ];
        let most = vec!["__Secure-refresh=x"; MOST_PRESENTED];
        assert_eq!(presented_refresh_token(secure, &sent(&most)), several(&vec!["x"; MOST_PRESENTED]));
        let more = vec!["__Secure-refresh=x"; MOST_PRESENTED + 1];
        assert_eq!(presented_refresh_token(secure, &sent(&more)), Presented::TooMany);
        for (headers, expected) in cases {
            assert_eq!(presented_refresh_token(secure, &sent(headers)), *expected, "{headers:?}");
        }
        assert_eq!(presented_refresh_token(CookieMode::LoopbackHttp, &sent(&["refresh=abc"])), one("abc"));
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
