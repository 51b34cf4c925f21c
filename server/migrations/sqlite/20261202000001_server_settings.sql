-- What the server keeps about itself: when a secret rotation began (and, on PostgreSQL, the secret's fingerprint).
CREATE TABLE IF NOT EXISTS server_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
