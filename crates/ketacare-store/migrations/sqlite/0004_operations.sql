-- ketacare schema 4 for SQLite: operations. Failed-login counters, so that login throttling survives a
-- restart and is shared by every server process on the database. Released migrations are never edited.

-- One row per throttled key: the SHA-256 of "account:NAME" or "address:IP" (never the name typed, which
-- may be a password entered in the wrong field), the failures in the current window and the last one.
CREATE TABLE login_failures (
    throttle_key_sha256 TEXT PRIMARY KEY,
    failures            INTEGER NOT NULL CHECK (failures >= 0),
    last_failure_at     TEXT NOT NULL
);
