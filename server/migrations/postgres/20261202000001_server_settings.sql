-- What every instance on this database must agree on: the signing secret's fingerprint.
CREATE TABLE IF NOT EXISTS server_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
