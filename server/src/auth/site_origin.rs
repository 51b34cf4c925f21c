//! Web origins (scheme, host, port), compared as browsers compare them: the CSRF check's unit.

use axum::http::Uri;

/// An origin such as `https://app.example` (port 443 implied) or `http://127.0.0.1:8080`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteOrigin {
    scheme: String,
    host: String,
    port: u16,
}

impl SiteOrigin {
    /// The origin of an `http://` or `https://` URL (a public URL, or an `Origin` header); `None` for anything
    /// else, `Origin: null` included.
    pub fn parse(url: &str) -> Option<Self> {
        let uri: Uri = url.parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let host = uri.host().filter(|host| !host.is_empty())?.to_ascii_lowercase();
        Some(Self { scheme, host, port: uri.port_u16().unwrap_or(default_port) })
    }

    /// `http://` and the `Host` header's authority: what the server itself serves, without a proxy in front.
    pub fn of_plain_http_host(host: &str) -> Option<Self> {
        Self::parse(&format!("http://{host}"))
    }

    /// Whether `self` is this origin, counting the loopback names (`localhost`, `127.0.0.1`, `[::1]`) of one
    /// loopback origin as the same: a page opened at any of them is the same app on this machine.
    pub fn is(&self, other: &Self) -> bool {
        self == other
            || (self.scheme == other.scheme
                && self.port == other.port
                && is_loopback_host(&self.host)
                && is_loopback_host(&other.host))
    }

    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.host)
    }

    /// The domains a cookie for this origin could have been set with `Domain=` by this host or a sibling: the
    /// host and each parent but the last label (browsers refuse a public suffix anyway). None for an address.
    pub fn cookie_domains(&self) -> Vec<&str> {
        if self.host.starts_with('[') || self.host.parse::<std::net::IpAddr>().is_ok() {
            return Vec::new();
        }
        let mut domains = Vec::new();
        let mut rest = self.host.as_str();
        while let Some((_, parent)) = rest.split_once('.') {
            domains.push(rest);
            rest = parent;
        }
        domains
    }
}

/// `localhost` or a loopback address, bracketed or not.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<std::net::IpAddr>().is_ok_and(|address| address.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_by_scheme_host_and_port() {
        let origin = |url| SiteOrigin::parse(url).unwrap();
        let public = origin("https://app.example");
        let cases = [
            ("https://app.example", true),
            ("https://APP.example:443", true),
            ("https://app.example/", true),
            ("http://app.example", false),
            ("https://app.example:8443", false),
            ("https://evil.app.example", false),
            ("https://app.example.evil", false),
        ];
        for (url, same) in cases {
            assert_eq!(origin(url).is(&public), same, "{url}");
        }
        for refused in ["null", "app.example", "ftp://app.example", "https://", ""] {
            assert_eq!(SiteOrigin::parse(refused), None, "{refused}");
        }
        let local = origin("http://127.0.0.1:8080");
        let domains = |url| SiteOrigin::parse(url).unwrap().cookie_domains().join(" ");
        assert_eq!(domains("https://app.eu.example.com"), "app.eu.example.com eu.example.com example.com");
        assert_eq!(domains("https://example.com"), "example.com");
        assert_eq!(domains("http://localhost:8080"), "");
        assert_eq!(domains("https://192.0.2.1"), "");
        assert_eq!(domains("https://[2001:db8::1]"), "");
        for (url, same) in [
            ("http://localhost:8080", true),
            ("http://[::1]:8080", true),
            ("http://127.0.0.1:8081", false),
            ("https://localhost:8080", false),
            ("http://rebound.example:8080", false),
        ] {
            assert_eq!(origin(url).is(&local), same, "{url}");
        }
    }
}
