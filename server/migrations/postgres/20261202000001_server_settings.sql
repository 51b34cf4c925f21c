-- What the server keeps about itself: the signing secret's fingerprint, which every instance on this database
-- must agree on, and when a secret rotation began.
CREATE TABLE IF NOT EXISTS server_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
