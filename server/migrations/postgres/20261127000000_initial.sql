CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    user_agent TEXT NOT NULL,
    revoked_at BIGINT,
    revoke_reason TEXT
);

CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE refresh_tokens (
    hash BYTEA PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    parent_hash BYTEA,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    child_hash BYTEA,
    sealed_child BYTEA
);

CREATE INDEX refresh_tokens_by_session ON refresh_tokens(session_id);
