//! Settings with the defaults of docs/API.md; every lifetime is in seconds so tests can use short ones. They are
//! checked once, here, by [`Settings::validate`] and [`ConnectionLimits::validate`]: `build_app` and `serve`
//! call them, so the binary, the tests and the e2e suite get the same checks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use crate::auth::cookie_mode::CookieMode;
use crate::auth::dpop::DpopMode;
use crate::auth::site_origin::SiteOrigin;
use crate::clock::{Clock, SystemClock};

/// How often an instance on PostgreSQL sets its clock to the database's.
pub const FOLLOW_DATABASE_CLOCK_EVERY: Duration = Duration::from_secs(60);

pub const DEMO_USERNAME: &str = "demo";
pub const DEMO_PASSWORD: &str = "correct-horse-battery";

#[derive(Debug, Clone)]
pub struct Settings {
    pub access_token_ttl: i64,
    pub session_ttl: i64,
    pub idle_timeout: i64,
    /// How long a just-rotated refresh token may be presented again and get the same child, while nobody has used
    /// that child (0 turns it off for every session). A DPoP-bound session's parent, presented with a proof of its
    /// key, gets a minute at least (`rotation::PROVEN_GRACE`).
    pub refresh_grace: i64,
    /// Rotations one session may make in a minute (its sign-in counts as one); more get `429`.
    pub session_refresh_limit: u32,
    pub issuer: String,
    pub audience: String,
    /// Origins other than the server's own that may call the API with credentials (enables CORS for them).
    pub allowed_origins: Vec<String>,
    /// The origin of the URL users open (`--public-url`): a state-changing request's `Origin` must be it (or an
    /// allowed origin). `None` only where the server itself serves plain HTTP on a loopback address; then the
    /// `Origin` must be `http://` and the request's `Host`, a loopback name.
    pub public_origin: Option<SiteOrigin>,
    /// Proxies whose `X-Forwarded-For` names the client; from any other peer the header is ignored.
    pub trusted_proxies: Vec<IpNet>,
    /// How many Argon2 verifications run at once; further sign-ins wait up to `password_check_wait`.
    pub password_checks: usize,
    pub password_check_wait: Duration,
    /// `Secure` or not, from the public URL (see [`CookieMode::for_public_url`]).
    pub cookie_mode: CookieMode,
    /// Whether sessions are bound to the client's key (DPoP). The binary's `--dpop` defaults to `required` (the
    /// app this repository serves always binds); here, for tests and embedders, to `allowed`.
    pub dpop: DpopMode,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            access_token_ttl: 15 * 60,
            session_ttl: 7 * 24 * 60 * 60,
            idle_timeout: 24 * 60 * 60,
            refresh_grace: 10,
            session_refresh_limit: 12,
            issuer: "session-server".to_owned(),
            audience: "session-app".to_owned(),
            allowed_origins: Vec::new(),
            public_origin: None,
            trusted_proxies: Vec::new(),
            password_checks: std::thread::available_parallelism().map_or(1, usize::from),
            password_check_wait: Duration::from_secs(5),
            cookie_mode: CookieMode::Secure,
            dpop: DpopMode::Allowed,
        }
    }
}

impl Settings {
    /// Every lifetime positive, the grace not negative, at least one password check.
    ///
    /// # Errors
    /// The first setting that is out of range, named by its command-line flag.
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (flag, seconds) in [
            ("access-ttl", self.access_token_ttl),
            ("session-ttl", self.session_ttl),
            ("idle-timeout", self.idle_timeout),
        ] {
            if seconds <= 0 {
                return Err(SettingsError::NotPositive(flag));
            }
        }
        if self.refresh_grace < 0 {
            return Err(SettingsError::NegativeGrace);
        }
        if self.password_checks == 0 {
            return Err(SettingsError::Zero("password-checks"));
        }
        if self.session_refresh_limit < 2 {
            return Err(SettingsError::BelowTwo("session-refresh-limit"));
        }
        Ok(())
    }
}

/// A setting out of range, named by its command-line flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A lifetime or timeout of zero or less.
    #[error("--{0} must be a positive number of seconds")]
    NotPositive(&'static str),
    /// A negative grace window.
    #[error("--refresh-grace cannot be negative")]
    NegativeGrace,
    /// A count that must be at least one.
    #[error("--{0} must be at least 1")]
    Zero(&'static str),
    /// A limit that must let a sign-in be followed by a refresh.
    #[error("--{0} must be at least 2 (the sign-in counts as one)")]
    BelowTwo(&'static str),
}

/// What one connection may cost: the transport limits `serve` enforces before a request reaches a handler.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// From the connection's start, or the end of its previous answer, to the end of the request's headers;
    /// an idle keep-alive connection is closed after it too.
    pub header_read_timeout: Duration,
    /// From the end of the headers to the answer's head (a slow body included): then `408`.
    pub request_timeout: Duration,
    /// How long an answer may wait for the client to read any of it: a client that stops reading is dropped.
    pub write_timeout: Duration,
    /// Open connections at once; one more is answered `503` and closed.
    pub max_connections: usize,
    /// Open connections from one client address (an IPv4 address, an IPv6 /64); one more is answered `503`.
    pub max_connections_per_address: usize,
    /// Peers the per-address cap does not apply to: the trusted proxies, whose connections carry many clients.
    pub unlimited_peers: Vec<IpNet>,
}

impl ConnectionLimits {
    /// Every timeout and connection cap at least one.
    ///
    /// # Errors
    /// The first limit that is zero, named by its command-line flag.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.header_read_timeout.is_zero() {
            return Err(SettingsError::NotPositive("header-read-timeout"));
        }
        if self.request_timeout.is_zero() {
            return Err(SettingsError::NotPositive("request-timeout"));
        }
        if self.write_timeout.is_zero() {
            return Err(SettingsError::NotPositive("write-timeout"));
        }
        if self.max_connections == 0 {
            return Err(SettingsError::Zero("max-connections"));
        }
        if self.max_connections_per_address == 0 {
            return Err(SettingsError::Zero("max-connections-per-address"));
        }
        Ok(())
    }
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_connections_per_address: 256,
            unlimited_peers: Vec::new(),
        }
    }
}

pub struct ServerConfig {
    pub settings: Settings,
    /// Holds the SQLite database (unless `database_url` names another) and, unless a secret is given, the
    /// generated signing secret.
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL (several instances on one database), `sqlite://…` for another SQLite file;
    /// `None` is `sessions.db` in the data directory.
    pub database_url: Option<String>,
    /// The built app (trunk's `dist/`); `None` serves the API alone.
    pub static_dir: Option<PathBuf>,
    pub signing_secret: Option<String>,
    /// The secret used before `signing_secret` (a rotation): what it signed is still accepted for one access
    /// lifetime after the start, so nobody is signed out by the change.
    pub previous_secret: Option<String>,
    /// Create the demo account (with its published password) when the database has no user.
    pub demo_account: bool,
    /// The machine's clock.
    pub clock: Arc<dyn Clock>,
    /// On PostgreSQL, how often the instance sets its clock to the database's (also once at start); `None`:
    /// never, for tests that move `clock` by hand.
    pub follow_database_clock: Option<Duration>,
}

impl ServerConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            settings: Settings::default(),
            data_dir: data_dir.into(),
            database_url: None,
            static_dir: None,
            signing_secret: None,
            previous_secret: None,
            demo_account: false,
            clock: Arc::new(SystemClock),
            follow_database_clock: Some(FOLLOW_DATABASE_CLOCK_EVERY),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn settings_out_of_range_are_named_by_their_flag() {
        let valid = Settings::default();
        assert_eq!(valid.validate(), Ok(()));
        let cases = [
            (Settings { access_token_ttl: 0, ..valid.clone() }, "--access-ttl must be a positive number of seconds"),
            (Settings { session_ttl: -1, ..valid.clone() }, "--session-ttl must be a positive number of seconds"),
            (Settings { idle_timeout: 0, ..valid.clone() }, "--idle-timeout must be a positive number of seconds"),
            (Settings { refresh_grace: -1, ..valid.clone() }, "--refresh-grace cannot be negative"),
            (Settings { password_checks: 0, ..valid.clone() }, "--password-checks must be at least 1"),
            (
                Settings { session_refresh_limit: 1, ..valid.clone() },
                "--session-refresh-limit must be at least 2 (the sign-in counts as one)",
            ),
        ];
        for (settings, message) in cases {
            assert_eq!(settings.validate().map_err(|error| error.to_string()), Err(message.to_owned()));
        }
        assert_eq!(Settings { refresh_grace: 0, ..valid }.validate(), Ok(()), "a grace of 0 turns it off");
    }

    #[test]
    fn connection_limits_of_zero_are_refused() {
        let valid = ConnectionLimits::default();
        assert_eq!(valid.validate(), Ok(()));
        let cases = [
            (ConnectionLimits { header_read_timeout: Duration::ZERO, ..valid.clone() }, "header-read-timeout"),
            (ConnectionLimits { request_timeout: Duration::ZERO, ..valid.clone() }, "request-timeout"),
            (ConnectionLimits { write_timeout: Duration::ZERO, ..valid.clone() }, "write-timeout"),
            (ConnectionLimits { max_connections: 0, ..valid.clone() }, "max-connections"),
            (ConnectionLimits { max_connections_per_address: 0, ..valid.clone() }, "max-connections-per-address"),
        ];
        for (limits, flag) in cases {
            assert!(limits.validate().unwrap_err().to_string().contains(flag), "{flag}");
        }
    }
}
