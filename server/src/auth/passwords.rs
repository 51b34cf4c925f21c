//! Password storage (Argon2id with OWASP's parameters) and the account commands of the server binary.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::store::{Store, User};

const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;
const MIN_PASSWORD_CHARS: usize = 8;
/// The most memory a stored hash may ask a check for (ours ask for [`MEMORY_KIB`]); above it, a refusal.
const MAX_MEMORY_KIB: u32 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the password must have at least {MIN_PASSWORD_CHARS} characters")]
    PasswordTooShort,
    #[error("the username must be 1 to 64 letters, digits, '.', '_' or '-'")]
    InvalidUsername,
    #[error("the user {0:?} already exists")]
    UserExists(String),
    #[error("there is no user {0:?}")]
    NoSuchUser(String),
    #[error("could not hash the password: {0}")]
    Hashing(String),
    #[error("cannot start a password-check thread")]
    Thread(#[source] std::io::Error),
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("constant Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash_password(password: &str) -> Result<String, CredentialError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| CredentialError::Hashing(error.to_string()))
}

/// Argon2 verifications on a fixed set of threads, one per permitted check, each owning one block of Argon2
/// memory allocated at its first check and reused for every later one: however many sign-ins arrive, the
/// checks take at most `permits` cores and `permits` × 19 MiB. A flood queues here (for `wait` at most) instead.
/// (Hashing on tokio's blocking pool instead let every new thread's allocator arena keep its own 19 MiB: 400
/// sign-ins grew the server by 450 MB.)
pub struct PasswordChecks {
    permits: Arc<Semaphore>,
    wait: Duration,
    /// Sign-ins waiting for a check now, and every one that ever asked for a check.
    waiting: AtomicUsize,
    asked: AtomicU64,
    /// Verifications the threads ran (a check whose client went away is skipped).
    ran: Arc<AtomicU64>,
    /// To the checking threads; they end when it is dropped.
    jobs: mpsc::Sender<Check>,
}

/// One verification for a checking thread, and where to answer. It holds its permit until the thread is done
/// with it, so a client that goes away frees no place while its check still waits in the queue: the queue
/// never holds more checks than there are threads.
struct Check {
    password: String,
    stored_hash: Option<String>,
    answer: oneshot::Sender<bool>,
    _permit: OwnedSemaphorePermit,
}

/// The password checks' queue, for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckStats {
    /// Sign-ins waiting for a free check now.
    pub waiting: usize,
    /// Sign-ins that asked for a check since start (checked, busy, or still waiting).
    pub asked: u64,
    /// Verifications run since start.
    pub ran: u64,
}

/// Why a password was not checked.
#[derive(Debug, thiserror::Error)]
pub enum Unchecked {
    /// Every password check is busy and stayed so for the whole wait.
    #[error("every password check is busy")]
    Busy,
    /// The checking threads are gone (they end only when the server does).
    #[error("the password-check threads have stopped")]
    Stopped,
}

impl PasswordChecks {
    pub fn new(permits: usize, wait: Duration) -> Result<Self, CredentialError> {
        let permits = permits.max(1);
        // Verified instead when the account is unknown or its stored hash unreadable: the same work either way.
        let dummy_hash: Arc<str> = hash_password("no account has this password")?.into();
        let (jobs, queue) = mpsc::channel::<Check>();
        let queue = Arc::new(Mutex::new(queue));
        let ran = Arc::new(AtomicU64::new(0));
        for index in 0..permits {
            let (queue, dummy_hash, ran) = (Arc::clone(&queue), Arc::clone(&dummy_hash), Arc::clone(&ran));
            std::thread::Builder::new()
                .name(format!("password-check-{index}"))
                .spawn(move || check_passwords(&queue, &dummy_hash, &ran))
                .map_err(CredentialError::Thread)?;
        }
        Ok(Self {
            permits: Arc::new(Semaphore::new(permits)),
            wait,
            waiting: AtomicUsize::new(0),
            asked: AtomicU64::new(0),
            ran,
            jobs,
        })
    }

    /// Whether `password` matches `stored_hash`; `None` (an unknown user) still costs one verification.
    pub async fn verify(&self, password: String, stored_hash: Option<String>) -> Result<bool, Unchecked> {
        self.asked.fetch_add(1, Ordering::Relaxed);
        let waiting = Waiting::on(&self.waiting);
        let permit = tokio::time::timeout(self.wait, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| Unchecked::Busy)?
            .map_err(|_| Unchecked::Stopped)?;
        drop(waiting);
        let (answer, answered) = oneshot::channel();
        // A permit is held, so a thread is free (or about to be) for this check.
        self.jobs.send(Check { password, stored_hash, answer, _permit: permit }).map_err(|_| Unchecked::Stopped)?;
        answered.await.map_err(|_| Unchecked::Stopped)
    }

    /// How many sign-ins wait for a free check now, and how many ever asked for one: for `/metrics`.
    pub fn stats(&self) -> CheckStats {
        CheckStats {
            waiting: self.waiting.load(Ordering::Relaxed),
            asked: self.asked.load(Ordering::Relaxed),
            ran: self.ran.load(Ordering::Relaxed),
        }
    }
}

/// One sign-in counted in [`PasswordChecks::waiting`] until dropped (also when the client goes away).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn on(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A checking thread: takes checks from the queue until the sender is dropped, in one block of memory.
fn check_passwords(queue: &Mutex<mpsc::Receiver<Check>>, dummy_hash: &str, ran: &AtomicU64) {
    let mut memory = Vec::new();
    loop {
        let next = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv();
        let Ok(check) = next else { return };
        // Nobody waits for the answer any more (the client went away): no work for it.
        if check.answer.is_closed() {
            continue;
        }
        ran.fetch_add(1, Ordering::Relaxed);
        let verification = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            verify_password(&check.password, check.stored_hash.as_deref(), dummy_hash, &mut memory)
        }));
        // A panic inside Argon2 is a failed check, not a 500 that tells the attacker something, and the thread
        // goes on checking.
        let _ = check.answer.send(verification.unwrap_or(false));
    }
}

/// Whether `password` matches `stored_hash`, computed in `memory` (grown once to the hash's size, then reused).
/// Constant work whether or not the account exists and its stored hash is usable: a missing or unreadable
/// hash (or one asking for more than [`MAX_MEMORY_KIB`]) is replaced by the dummy, verified, and refused.
fn verify_password(password: &str, stored_hash: Option<&str>, dummy_hash: &str, memory: &mut Vec<Block>) -> bool {
    let stored = stored_hash.and_then(Verification::of);
    let usable = stored.is_some();
    let Some(verification) = stored.or_else(|| Verification::of(dummy_hash)) else { return false };
    verification.matches(password, memory) && usable
}

/// What verifying against one PHC string needs, read from it.
struct Verification {
    argon2: Argon2<'static>,
    salt: Vec<u8>,
    expected: Output,
}

impl Verification {
    fn of(phc: &str) -> Option<Self> {
        let hash = PasswordHash::new(phc).ok()?;
        let params = Params::try_from(&hash).ok().filter(|params| params.m_cost() <= MAX_MEMORY_KIB)?;
        let algorithm = Algorithm::try_from(hash.algorithm).ok()?;
        let version = hash.version.map_or(Ok(Version::default()), Version::try_from).ok()?;
        let mut salt = [0u8; 64];
        let salt = hash.salt?.decode_b64(&mut salt).ok()?.to_vec();
        Some(Self { argon2: Argon2::new(algorithm, version, params), salt, expected: hash.hash? })
    }

    fn matches(&self, password: &str, memory: &mut Vec<Block>) -> bool {
        let blocks = self.argon2.params().block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        let mut output = vec![0u8; self.expected.len()];
        let computed = self.argon2.hash_password_into_with_memory(
            password.as_bytes(),
            &self.salt,
            &mut output,
            &mut memory[..blocks],
        );
        // `Output`'s comparison takes constant time.
        computed.is_ok() && Output::new(&output).is_ok_and(|output| output == self.expected)
    }
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub display_name: &'a str,
    pub email: &'a str,
}

/// The one rule for usernames: 1 to 64 ASCII letters, digits, '.', '_' or '-', unique exactly as written. A
/// sign-in with any other name is refused before anything is counted or looked up.
pub fn is_valid_username(username: &str) -> bool {
    (1..=64).contains(&username.len())
        && username.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

pub async fn add_user(store: &Store, user: NewUser<'_>, now: i64) -> Result<i64, CredentialError> {
    if !is_valid_username(user.username) {
        return Err(CredentialError::InvalidUsername);
    }
    if store.user_by_username(user.username).await?.is_some() {
        return Err(CredentialError::UserExists(user.username.to_owned()));
    }
    let password_hash = hash_in_background(user.password).await?;
    let id = store
        .insert_user(&User {
            id: 0,
            username: user.username.to_owned(),
            display_name: user.display_name.to_owned(),
            email: user.email.to_owned(),
            password_hash,
            created_at: now,
        })
        .await?;
    Ok(id)
}

/// Sets a new password and revokes every session of the user.
pub async fn set_password(store: &Store, username: &str, password: &str, now: i64) -> Result<(), CredentialError> {
    let user =
        store.user_by_username(username).await?.ok_or_else(|| CredentialError::NoSuchUser(username.to_owned()))?;
    let password_hash = hash_in_background(password).await?;
    store.set_password(user.id, &password_hash, now).await?;
    Ok(())
}

async fn hash_in_background(password: &str) -> Result<String, CredentialError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(CredentialError::PasswordTooShort);
    }
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|error| CredentialError::Hashing(error.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_with_argon2id_and_owasp_parameters() {
        let hash = hash_password("a fine password").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        let dummy = hash_password("the dummy password").unwrap();
        let memory = &mut Vec::new();
        assert!(verify_password("a fine password", Some(&hash), &dummy, memory));
        assert_eq!(memory.len(), 19_456, "one block of memory, reused");
        assert!(!verify_password("another password", Some(&hash), &dummy, memory));
        assert!(!verify_password("a fine password", Some("not a hash"), &dummy, memory));
        assert!(!verify_password("the dummy password", Some("not a hash"), &dummy, memory), "the dummy never signs in");
        assert!(!verify_password("the dummy password", None, &dummy, memory));
        let greedy = hash.replace("m=19456", "m=1048576");
        assert!(!verify_password("a fine password", Some(&greedy), &dummy, memory), "a hash asking for 1 GiB");
        assert_eq!(memory.len(), 19_456);
        // A hash made with other parameters (an older policy) still verifies, with its own parameters.
        let params = Params::new(4096, 3, 1, None).unwrap();
        let older = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"an older password", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(verify_password("an older password", Some(&older), &dummy, memory));
        assert!(!verify_password("another password", Some(&older), &dummy, memory));
    }
}
