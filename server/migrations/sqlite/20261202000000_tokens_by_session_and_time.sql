-- The rotation limit counts a session's tokens of the last minute, by creation time. The index also serves every
-- lookup by session alone. A session also counts its rotations: past a cap set by its lifetime, it is revoked.
CREATE INDEX IF NOT EXISTS refresh_tokens_by_session_and_time ON refresh_tokens(session_id, created_at);
DROP INDEX IF EXISTS refresh_tokens_by_session;
ALTER TABLE sessions ADD COLUMN rotations BIGINT NOT NULL DEFAULT 0;
