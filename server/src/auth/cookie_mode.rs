//! Whether the refresh cookie is `Secure`: decided once, from the address users reach the app at.
//!
//! Over HTTPS it is `__Secure-refresh; Secure`. On plain HTTP it can only work without `Secure` (WebKit refuses
//! a `Secure` cookie from `http://127.0.0.1`), which is safe only where nobody else can listen: a loopback
//! address. Anything else is refused at start.

use axum::http::Uri;
use session_contract::{DEVICE_COOKIE, LOOPBACK_DEVICE_COOKIE, LOOPBACK_REFRESH_COOKIE, REFRESH_COOKIE};

use crate::auth::site_origin::is_loopback_host;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieMode {
    /// `__Secure-refresh`, `Secure`: the app is served over HTTPS.
    Secure,
    /// `refresh`, not `Secure`: plain HTTP on a loopback address, for development.
    LoopbackHttp,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CookieModeError {
    #[error("the public URL {0:?} is not an http:// or https:// URL with a host")]
    NotAUrl(String),
    #[error(
        "refusing to send the refresh cookie over plain HTTP to {0}, which is not a loopback address: serve the app \
         over HTTPS (behind a TLS proxy) and pass --public-url https://…"
    )]
    InsecureNonLoopback(String),
}

impl CookieMode {
    /// The mode for the URL users open: `https://…` is secure, `http://` only on a loopback host.
    pub fn for_public_url(public_url: &str) -> Result<Self, CookieModeError> {
        let not_a_url = || CookieModeError::NotAUrl(public_url.to_owned());
        let uri: Uri = public_url.parse().map_err(|_| not_a_url())?;
        let host = uri.host().filter(|host| !host.is_empty()).ok_or_else(not_a_url)?;
        match uri.scheme_str() {
            Some("https") => Ok(Self::Secure),
            Some("http") if is_loopback_host(host) => Ok(Self::LoopbackHttp),
            Some("http") => Err(CookieModeError::InsecureNonLoopback(host.to_owned())),
            _ => Err(not_a_url()),
        }
    }

    pub fn cookie_name(self) -> &'static str {
        match self {
            Self::Secure => REFRESH_COOKIE,
            Self::LoopbackHttp => LOOPBACK_REFRESH_COOKIE,
        }
    }

    /// The device cookie's name (see `crate::auth::devices`), with the same prefix rule as the refresh cookie's.
    pub fn device_cookie_name(self) -> &'static str {
        match self {
            Self::Secure => DEVICE_COOKIE,
            Self::LoopbackHttp => LOOPBACK_DEVICE_COOKIE,
        }
    }

    /// The line the server prints at start.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Secure => "Refresh cookie: __Secure-refresh, Secure (the app is served over HTTPS)",
            Self::LoopbackHttp => {
                "Refresh cookie: refresh, not Secure (plain HTTP on a loopback address: for development only)"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_decides_the_cookie() {
        let cases = [
            ("https://app.example", Ok(CookieMode::Secure)),
            ("https://127.0.0.1:8443/", Ok(CookieMode::Secure)),
            ("http://127.0.0.1:8080", Ok(CookieMode::LoopbackHttp)),
            ("http://localhost:3000", Ok(CookieMode::LoopbackHttp)),
            ("http://[::1]:8080", Ok(CookieMode::LoopbackHttp)),
            ("http://127.3.2.1", Ok(CookieMode::LoopbackHttp)),
            ("http://0.0.0.0:8080", Err(CookieModeError::InsecureNonLoopback("0.0.0.0".to_owned()))),
            ("http://app.example", Err(CookieModeError::InsecureNonLoopback("app.example".to_owned()))),
            ("http://192.168.1.5:8080", Err(CookieModeError::InsecureNonLoopback("192.168.1.5".to_owned()))),
            ("ftp://app.example", Err(CookieModeError::NotAUrl("ftp://app.example".to_owned()))),
            ("app.example", Err(CookieModeError::NotAUrl("app.example".to_owned()))),
        ];
        for (url, expected) in cases {
            assert_eq!(CookieMode::for_public_url(url), expected, "{url}");
        }
    }
}
