//! Which sessions are live, kept in memory so that Bearer requests rarely touch the database.
//!
//! Every request is still checked against this set. Revocations made by this process (logout, reuse detection,
//! the rotation limit, signing out a device) remove the session at once, and so does a refresh that finds the
//! session ended; those made by another process (the `user set-password` command, another instance on the same
//! database) are seen within [`RECHECK_SECONDS`];
//! on PostgreSQL they are announced, and while this instance hears the announcements it re-reads a session only
//! every [`LISTENING_RECHECK_SECONDS`].
//!
//! A lookup that read the database *before* a revocation must not put the session back *after* it: every
//! [`LiveSessions::forget`] moves a generation on, and a lookup only remembers what it read if no revocation
//! happened meanwhile.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::store::{LiveSession, User};

pub const RECHECK_SECONDS: i64 = 1;
/// While revocations are heard through `LISTEN`: a safety net for changes made behind the server's back.
pub const LISTENING_RECHECK_SECONDS: i64 = 60;
const SWEEP_THRESHOLD: usize = 10_000;

struct Entry {
    user: Arc<User>,
    live_until: i64,
    checked_at: i64,
}

#[derive(Default)]
struct Entries {
    by_session: HashMap<String, Entry>,
    generation: u64,
}

#[derive(Default)]
pub struct LiveSessions {
    entries: RwLock<Entries>,
    listening: AtomicBool,
}

impl LiveSessions {
    /// The session's user while the session is live; `None` once it is revoked, expired, idle or unknown.
    /// `lookup` asks the database, when the remembered answer is too old.
    pub async fn user_of<E>(
        &self,
        session_id: &str,
        now: i64,
        lookup: impl Future<Output = Result<Option<LiveSession>, E>>,
    ) -> Result<Option<Arc<User>>, E> {
        let recheck = if self.listening.load(Ordering::Relaxed) { LISTENING_RECHECK_SECONDS } else { RECHECK_SECONDS };
        let generation = {
            let entries = self.read();
            if let Some(entry) = entries.by_session.get(session_id)
                && now - entry.checked_at < recheck
                && now < entry.live_until
            {
                return Ok(Some(Arc::clone(&entry.user)));
            }
            entries.generation
        };
        let Some(LiveSession { user, live_until }) = lookup.await?.filter(|session| now < session.live_until) else {
            // Ended elsewhere (or never live): no revocation of this process, so the generation moves only if it
            // was remembered; an ended session's token presented again and again costs no one else's lookups.
            self.forget_remembered(session_id);
            return Ok(None);
        };
        let user = Arc::new(user);
        let mut entries = self.write();
        if entries.generation == generation {
            if entries.by_session.len() >= SWEEP_THRESHOLD {
                entries.by_session.retain(|_, entry| now - entry.checked_at < RECHECK_SECONDS);
            }
            let entry = Entry { user: Arc::clone(&user), live_until, checked_at: now };
            entries.by_session.insert(session_id.to_owned(), entry);
        }
        Ok(Some(user))
    }

    /// Whether revocations by other instances are being heard (so remembered sessions can be trusted longer).
    pub fn set_listening(&self, listening: bool) {
        self.listening.store(listening, Ordering::Relaxed);
    }

    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    /// Forgets every remembered session (announcements may have been missed): each is read again on its next use.
    pub fn forget_all(&self) {
        let mut entries = self.write();
        entries.by_session.clear();
        entries.generation += 1;
    }

    /// A session this instance found ended by a request of its own (a refresh, a lookup): dropped if remembered. Nothing
    /// remembered, nothing moves, so a client presenting an ended session's cookie again and again cannot keep
    /// every other lookup from being remembered; a lookup of this session in flight may still remember it, as
    /// before, until the announcement or the recheck.
    pub fn forget_remembered(&self, session_id: &str) {
        let mut entries = self.write();
        if entries.by_session.remove(session_id).is_some() {
            entries.generation += 1;
        }
    }

    pub fn forget(&self, session_id: &str) {
        let mut entries = self.write();
        entries.by_session.remove(session_id);
        entries.generation += 1;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    fn demo() -> User {
        User {
            id: 1,
            username: "demo".to_owned(),
            display_name: "Demo".to_owned(),
            email: String::new(),
            password_hash: String::new(),
            created_at: 0,
        }
    }

    async fn live(live_until: i64) -> Result<Option<LiveSession>, Infallible> {
        Ok(Some(LiveSession { user: demo(), live_until }))
    }

    async fn gone() -> Result<Option<LiveSession>, Infallible> {
        Ok(None)
    }

    /// A lookup of `session` that reads it as live, then waits while `meanwhile` runs, before it may remember
    /// what it read; its answer.
    async fn lookup_racing(sessions: &LiveSessions, session: &str, meanwhile: impl FnOnce()) -> Option<Arc<User>> {
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let read_first = async {
            released.await.unwrap();
            live(100).await
        };
        let lookup = sessions.user_of(session, 10, read_first);
        let then = async {
            tokio::task::yield_now().await;
            meanwhile();
            release.send(()).unwrap();
        };
        tokio::join!(lookup, then).0.unwrap()
    }

    #[tokio::test]
    async fn a_lookup_that_raced_a_revocation_does_not_resurrect_the_session() {
        let sessions = LiveSessions::default();
        // The lookup read the session as live, then waits; the revocation lands before it is remembered.
        let answer = lookup_racing(&sessions, "s", || sessions.forget("s")).await;
        assert!(answer.is_some(), "the request that read first is answered as it read");
        let after = sessions.user_of("s", 10, gone()).await.unwrap();
        assert!(after.is_none(), "the revoked session came back from the cache");
    }

    #[tokio::test]
    async fn a_session_ended_elsewhere_is_dropped_if_remembered_and_moves_nothing_if_not() {
        let sessions = LiveSessions::default();
        assert!(sessions.user_of("s", 10, live(100)).await.unwrap().is_some());
        sessions.forget_remembered("s");
        assert!(sessions.user_of("s", 10, gone()).await.unwrap().is_none(), "the remembered session stayed");
        // A cookie of an ended session presented again and again must not keep other sessions from being
        // remembered: a lookup in flight still remembers what it read.
        let answer = lookup_racing(&sessions, "t", || sessions.forget_remembered("s")).await;
        assert!(answer.is_some());
        assert!(sessions.user_of("t", 10, gone()).await.unwrap().is_some(), "the other session was not remembered");
    }

    #[tokio::test]
    async fn a_token_of_an_ended_session_presented_again_and_again_keeps_no_other_session_from_being_remembered() {
        use futures_util::FutureExt;
        let sessions = LiveSessions::default();
        // A signed-out user replays their last access token (and its proof) while another user's lookup runs.
        let ended = || assert!(sessions.user_of("s", 10, gone()).now_or_never().unwrap().unwrap().is_none());
        let answer = lookup_racing(&sessions, "t", ended).await;
        assert!(answer.is_some());
        assert!(sessions.user_of("t", 10, gone()).await.unwrap().is_some(), "the other session was not remembered");
    }

    #[tokio::test]
    async fn a_live_session_is_remembered_for_a_second_and_not_past_its_end() {
        let sessions = LiveSessions::default();
        assert!(sessions.user_of("s", 10, live(12)).await.unwrap().is_some());
        assert!(sessions.user_of("s", 10, gone()).await.unwrap().is_some(), "remembered");
        assert!(sessions.user_of("s", 11, gone()).await.unwrap().is_none(), "rechecked after a second");
        assert!(sessions.user_of("t", 20, live(20)).await.unwrap().is_none(), "idle or expired now");
    }
}
