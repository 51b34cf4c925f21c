-- IF NOT EXISTS: databases made before migrations existed already hold these tables and adopt this version.
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    user_agent TEXT NOT NULL,
    revoked_at INTEGER,
    revoke_reason TEXT
);

CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user_id);

CREATE TABLE IF NOT EXISTS refresh_tokens (
    hash BLOB PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    parent_hash BLOB,
    created_at INTEGER NOT NULL,
    used_at INTEGER,
    child_hash BLOB,
    sealed_child BLOB
);

CREATE INDEX IF NOT EXISTS refresh_tokens_by_session ON refresh_tokens(session_id);
