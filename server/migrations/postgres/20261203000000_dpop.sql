-- DPoP (RFC 9449): the key a session is bound to (its JWK SHA-256 thumbprint; NULL for a Bearer session), and the
-- proofs seen while they can still be fresh, shared by every instance so that a replay at another is refused.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS jkt TEXT;
CREATE TABLE IF NOT EXISTS dpop_proofs (
    key BYTEA PRIMARY KEY,
    until BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS dpop_proofs_by_end ON dpop_proofs (until);
