-- The rotation limit counts a session's tokens of the last minute, and the sweep keeps its newest ones: both
-- read a session's tokens by creation time. The index also serves every lookup by session alone.
CREATE INDEX refresh_tokens_by_session_and_time ON refresh_tokens(session_id, created_at);
DROP INDEX refresh_tokens_by_session;
