//! Start-up: the private data directory, the signing secret, the database, the demo account, the sweep.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Router;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use crate::auth::devices::DeviceCookies;
use crate::auth::dpop::nonces::Nonces;
use crate::auth::dpop::replays::Replays;
use crate::auth::live_sessions::LiveSessions;
use crate::auth::passwords::{CredentialError, NewUser, PasswordChecks, add_user};
use crate::auth::rotation::PROVEN_GRACE;
use crate::auth::throttle::Throttle;
use crate::auth::tokens::{AccessTokens, RefreshTokens, derive_key};
use crate::clock::{Clock, DatabaseTime, Resync};
use crate::config::{DEMO_PASSWORD, DEMO_USERNAME, ServerConfig, SettingsError};
use crate::http::router::{self, InvalidOrigin};
use crate::http::security::content_security_policy;
use crate::metrics::Metrics;
use crate::revocations;
use crate::state::{AppState, SharedState};
use crate::store::Store;

const SECRET_FILE: &str = "signing-secret";
/// The purposes the keys are derived for: one secret, separate keys for separate jobs.
const ACCESS_TOKEN_KEY: &str = "access-token-signing";
const SEAL_KEY: &str = "refresh-grace-seal";
const DEVICE_KEY: &str = "device-cookie";
const FINGERPRINT_KEY: &str = "fingerprint";
const DPOP_NONCE_KEY: &str = "dpop-nonce";
/// How long a periodic read of the database's clock may take before it is skipped.
const CLOCK_READ_WAIT: Duration = Duration::from_secs(5);
const DATABASE_FILE: &str = "sessions.db";
const MIN_SECRET_BYTES: usize = 32;
const SWEEP_EVERY: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot use the data directory {path}")]
    DataDir { path: PathBuf, source: io::Error },
    #[error(
        "the data directory {data_dir} is inside --static-dir {static_dir}, which is served to anyone: keep the \
         signing secret and the database elsewhere"
    )]
    DataDirServed { data_dir: PathBuf, static_dir: PathBuf },
    #[error("the signing secret must be at least {MIN_SECRET_BYTES} bytes")]
    WeakSecret,
    #[error("the signing secret file {0} is empty; delete it to have a new one generated (every session then ends)")]
    EmptySecretFile(PathBuf),
    #[error(
        "this database's instances sign with another secret (fingerprint {stored}; this one's is {ours}): start \
         every instance with the same --secret, or, to rotate, with the new --secret and the old one as \
         --previous-secret"
    )]
    SecretMismatch { stored: String, ours: String },
    #[error("cannot open the database")]
    Database(#[from] sqlx::Error),
    #[error("cannot bring the database schema up to date")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("cannot create the demo account")]
    DemoAccount(#[source] CredentialError),
    #[error("cannot prepare password checks")]
    PasswordChecks(#[source] CredentialError),
    #[error(transparent)]
    InvalidOrigin(#[from] InvalidOrigin),
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

/// Opens (or creates) the data directory and database, seeds the demo account when asked on an empty database,
/// starts the sweep of ended sessions, and builds the router: the API and the built app
/// for every other path.
pub async fn build_app(config: ServerConfig) -> Result<(SharedState, Router), StartupError> {
    config.settings.validate()?;
    refuse_served_data_dir(&config.data_dir, config.static_dir.as_deref())?;
    let data_dir_error = |source| StartupError::DataDir { path: config.data_dir.clone(), source };
    private_dir(&config.data_dir).map_err(data_dir_error)?;
    let secret = match config.signing_secret {
        Some(secret) => secret.into_bytes(),
        None => stored_secret(&config.data_dir)?,
    };
    if secret.len() < MIN_SECRET_BYTES {
        return Err(StartupError::WeakSecret);
    }
    let previous = config.previous_secret.map(String::into_bytes);
    if previous.as_ref().is_some_and(|previous| previous.len() < MIN_SECRET_BYTES) {
        return Err(StartupError::WeakSecret);
    }

    let store = match &config.database_url {
        Some(url) => Store::connect(url).await?,
        None => Store::open(&config.data_dir.join(DATABASE_FILE)).await?,
    };
    if store.is_postgres() {
        agree_on_the_secret(&store, &secret, previous.as_deref()).await?;
    }
    // On PostgreSQL every instance keeps the database's time, from the first thing it dates.
    let reading = match config.follow_database_clock {
        Some(every) => store.read_database_clock().await?.map(|reading| (reading, every)),
        None => None,
    };
    let (clock, followed): (Arc<dyn Clock>, _) = match reading {
        Some((reading, every)) => {
            let machine_behind = reading.database_ms.div_euclid(1_000) - config.clock.now();
            if machine_behind.abs() > 1 {
                tracing::warn!(
                    event = "clock_offset",
                    machine_behind,
                    "this machine's clock is {machine_behind} s behind the database's (negative: ahead); dating by the database's"
                );
            }
            let time = Arc::new(DatabaseTime::new(reading));
            (time.clone(), Some((time, every)))
        }
        None => (config.clock, None),
    };
    // What the previous secret signed lives one access lifetime (or one grace window, a bound session's minute
    // among them) from the first start that named it, however often the server starts again with it.
    let previous_until = match &previous {
        Some(previous) => {
            let started = store.rotation_started_at(&fingerprint(previous), clock.now()).await?;
            let grace = config.settings.refresh_grace.max(PROVEN_GRACE);
            Some(started + config.settings.access_token_ttl.max(grace))
        }
        None => None,
    };
    let created_demo_account = config.demo_account && store.user_count().await? == 0;
    if created_demo_account {
        let demo = NewUser {
            username: DEMO_USERNAME,
            password: DEMO_PASSWORD,
            display_name: "Demo User",
            email: "demo@example.com",
        };
        add_user(&store, demo, clock.now()).await.map_err(StartupError::DemoAccount)?;
    }

    let index_html = config.static_dir.as_deref().map(|dir| dir.join("index.html"));
    let startup_index = index_html.as_deref().and_then(|path| std::fs::read_to_string(path).ok());
    let settings = config.settings;
    let password_checks = PasswordChecks::new(settings.password_checks, settings.password_check_wait)
        .map_err(StartupError::PasswordChecks)?;
    // On PostgreSQL the limits hold across every instance on the database.
    let throttle = if store.is_postgres() { Throttle::shared(store.clone()) } else { Throttle::in_memory() };
    let dpop_proofs = if store.is_postgres() { Replays::shared(store.clone()) } else { Replays::in_memory() };
    let mut access_tokens = AccessTokens::new(
        &derive_key(&secret, ACCESS_TOKEN_KEY),
        &settings.issuer,
        &settings.audience,
        settings.access_token_ttl,
    );
    let mut refresh_tokens = RefreshTokens::new(derive_key(&secret, SEAL_KEY));
    let mut devices = DeviceCookies::new(derive_key(&secret, DEVICE_KEY));
    if let (Some(previous), Some(previous_until)) = (&previous, previous_until) {
        access_tokens = access_tokens.accepting_previous(&derive_key(previous, ACCESS_TOKEN_KEY), previous_until);
        refresh_tokens = refresh_tokens.accepting_previous(derive_key(previous, SEAL_KEY), previous_until);
        devices = devices.accepting_previous(derive_key(previous, DEVICE_KEY), previous_until);
    }
    let app = Arc::new(AppState {
        store,
        access_tokens,
        refresh_tokens,
        devices,
        settings,
        clock,
        metrics: Metrics::default(),
        throttle,
        live_sessions: LiveSessions::default(),
        password_checks,
        dpop_nonces: Nonces::new(derive_key(&secret, DPOP_NONCE_KEY)),
        dpop_proofs,
        content_security_policy: content_security_policy(startup_index.as_deref()),
        index_html,
        created_demo_account,
        stopping: tokio::sync::watch::Sender::new(false),
    });
    let router = router::build(&app, config.static_dir).await?;
    tokio::spawn(sweep_periodically(Arc::downgrade(&app)));
    if app.store.is_postgres() {
        tokio::spawn(revocations::listen(Arc::downgrade(&app)));
    }
    if let Some((time, every)) = followed {
        tokio::spawn(follow_the_database_periodically(Arc::downgrade(&app), time, every));
    }
    Ok((app, router))
}

/// Instances sharing a database must share the secret (otherwise each signs out the others' users): the
/// database keeps a fingerprint of it. The first instance records its own; a later one must match it, or match
/// with its `--previous-secret` (a rotation, which records the new one).
async fn agree_on_the_secret(store: &Store, secret: &[u8], previous: Option<&[u8]>) -> Result<(), StartupError> {
    let ours = fingerprint(secret);
    match store.agree_on_secret(&ours, previous.map(fingerprint).as_deref()).await? {
        None => Ok(()),
        Some(stored) => Err(StartupError::SecretMismatch { stored, ours }),
    }
}

/// Eight bytes of a key derived from the secret, in hex: names a secret without revealing it.
fn fingerprint(secret: &[u8]) -> String {
    derive_key(secret, FINGERPRINT_KEY)[..8].iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Deletes ended sessions every few minutes, for as long as the server lives.
async fn sweep_periodically(app: Weak<AppState>) {
    let mut ticks = tokio::time::interval(SWEEP_EVERY);
    loop {
        ticks.tick().await;
        let Some(app) = app.upgrade() else { return };
        if *app.stopping.borrow() {
            return;
        }
        match app.sweep().await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(event = "sessions_swept", deleted, "deleted ended sessions"),
            Err(error) => tracing::warn!(%error, "cannot sweep ended sessions"),
        }
    }
}

/// Reads the database's clock every `every` and follows it when it moved (see [`DatabaseTime::resync`]), until
/// the server stops.
async fn follow_the_database_periodically(app: Weak<AppState>, time: Arc<DatabaseTime>, every: Duration) {
    let Some(mut stopping) = app.upgrade().map(|app| app.stopping.subscribe()) else { return };
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopping.wait_for(|stopping| *stopping) => return,
        }
        let Some(store) = app.upgrade().map(|app| app.store.clone()) else { return };
        match tokio::time::timeout(CLOCK_READ_WAIT, store.read_database_clock()).await {
            Ok(Ok(Some(reading))) => match time.resync(reading) {
                Resync::Moved(by_ms) => {
                    tracing::warn!(event = "database_clock_moved", by_ms, "the database's clock moved; following it");
                }
                Resync::InStep | Resync::TooSlow => {}
            },
            Ok(Ok(None)) => return,
            Ok(Err(error)) => tracing::warn!(%error, "cannot read the database's clock; keeping the time followed"),
            Err(_) => tracing::warn!("the database's clock did not answer in time; keeping the time followed"),
        }
    }
}

/// The data directory must not be served: refused when it is, or would be once created, inside the static
/// directory (compared after resolving symlinks, as far as the paths exist).
fn refuse_served_data_dir(data_dir: &Path, static_dir: Option<&Path>) -> Result<(), StartupError> {
    let Some(static_dir) = static_dir else { return Ok(()) };
    let (data, served) = (resolved(data_dir), resolved(static_dir));
    if data.starts_with(&served) {
        return Err(StartupError::DataDirServed {
            data_dir: data_dir.to_path_buf(),
            static_dir: static_dir.to_path_buf(),
        });
    }
    Ok(())
}

/// `path` absolute, with its longest existing prefix's symlinks resolved.
fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    while existing.canonicalize().is_err() {
        let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else { return absolute };
        rest.push(name);
        existing = parent;
    }
    let mut resolved = existing.canonicalize().unwrap_or_else(|_| existing.to_path_buf());
    resolved.extend(rest.into_iter().rev());
    resolved
}

/// The data directory holds the signing secret and password hashes: the owner's alone.
fn private_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(path)
}

/// The secret generated on first start and kept, readable by the owner only, in the data directory. It is
/// written whole or not at all (a temporary file renamed into place), so a crash cannot leave an empty one.
fn stored_secret(data_dir: &Path) -> Result<Vec<u8>, StartupError> {
    let path = data_dir.join(SECRET_FILE);
    let data_dir_error = |source| StartupError::DataDir { path: data_dir.to_path_buf(), source };
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().is_empty() => Err(StartupError::EmptySecretFile(path)),
        Ok(text) => {
            owner_only(&path).map_err(data_dir_error)?;
            Ok(text.trim().as_bytes().to_vec())
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let secret = URL_SAFE_NO_PAD.encode(bytes);
            write_atomically(&path, &secret).map_err(data_dir_error)?;
            Ok(secret.into_bytes())
        }
        Err(error) => Err(data_dir_error(error)),
    }
}

/// A secret file written by hand, or by an older start, may be readable by others: narrowed to the owner. One
/// that is not (a read-only mount of a secret, say) is left as it is.
fn owner_only(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 == 0 {
            return Ok(());
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

fn write_atomically(path: &Path, contents: &str) -> io::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}
