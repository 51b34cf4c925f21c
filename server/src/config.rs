//! Settings with the defaults of docs/API.md; every lifetime is in seconds so tests can use short ones.

use std::path::PathBuf;
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};

pub const DEMO_USERNAME: &str = "demo";
pub const DEMO_PASSWORD: &str = "correct-horse-battery";

#[derive(Debug, Clone)]
pub struct Settings {
    pub access_token_ttl: i64,
    pub session_ttl: i64,
    pub idle_timeout: i64,
    /// How long a just-rotated refresh token may be presented again and get the same child (0 turns it off).
    pub refresh_grace: i64,
    pub issuer: String,
    pub audience: String,
    /// Origins other than the server's own that may call the API with credentials (enables CORS for them).
    pub allowed_origins: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            access_token_ttl: 15 * 60,
            session_ttl: 7 * 24 * 60 * 60,
            idle_timeout: 24 * 60 * 60,
            refresh_grace: 10,
            issuer: "session-server".to_owned(),
            audience: "session-app".to_owned(),
            allowed_origins: Vec::new(),
        }
    }
}

pub struct ServerConfig {
    pub settings: Settings,
    /// Holds the SQLite database and, unless a secret is given, the generated signing secret.
    pub data_dir: PathBuf,
    /// The built app (trunk's `dist/`); `None` serves the API alone.
    pub static_dir: Option<PathBuf>,
    pub signing_secret: Option<String>,
    pub expose_metrics: bool,
    pub clock: Arc<dyn Clock>,
}

impl ServerConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            settings: Settings::default(),
            data_dir: data_dir.into(),
            static_dir: None,
            signing_secret: None,
            expose_metrics: false,
            clock: Arc::new(SystemClock),
        }
    }
}
