-- The sign-in and refresh throttles' counters, shared by every instance (see server/src/throttle.rs).
CREATE TABLE throttle_counters (
    key TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    count BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);
