//! Which sessions are live, kept in memory so that Bearer requests rarely touch the database.
//!
//! Every request is still checked against this set. Revocations made by this process (logout, reuse detection,
//! signing out a device, a password change) remove the session at once; those made by another process (the
//! `user set-password` command, another instance on the same database) are seen within [`RECHECK_SECONDS`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::store::{Store, User};

pub const RECHECK_SECONDS: i64 = 1;
const SWEEP_THRESHOLD: usize = 10_000;

struct Entry {
    user: Arc<User>,
    expires_at: i64,
    checked_at: i64,
}

#[derive(Default)]
pub struct LiveSessions {
    entries: RwLock<HashMap<String, Entry>>,
}

impl LiveSessions {
    /// The session's user while the session is live; `None` once it is revoked, expired or unknown.
    pub async fn user_of(&self, store: &Store, session_id: &str, now: i64) -> Result<Option<Arc<User>>, sqlx::Error> {
        if let Some(entry) = self.read().get(session_id)
            && now - entry.checked_at < RECHECK_SECONDS
            && now < entry.expires_at
        {
            return Ok(Some(Arc::clone(&entry.user)));
        }
        let Some((user, expires_at)) = store.live_session_user(session_id, now).await? else {
            self.forget(session_id);
            return Ok(None);
        };
        let user = Arc::new(user);
        let mut entries = self.write();
        if entries.len() >= SWEEP_THRESHOLD {
            entries.retain(|_, entry| now - entry.checked_at < RECHECK_SECONDS);
        }
        entries.insert(session_id.to_owned(), Entry { user: Arc::clone(&user), expires_at, checked_at: now });
        Ok(Some(user))
    }

    pub fn forget(&self, session_id: &str) {
        self.write().remove(session_id);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
