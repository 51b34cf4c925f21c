-- DPoP (RFC 9449): the key a session is bound to (its JWK SHA-256 thumbprint; NULL for a Bearer session). One
-- SQLite instance remembers the proofs it saw in memory.
ALTER TABLE sessions ADD COLUMN jkt TEXT;
