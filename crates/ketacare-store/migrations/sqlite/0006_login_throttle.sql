-- ketacare schema 6 for SQLite: login throttling by account and address. Released migrations are never edited.

-- The counters of schema 4 were keyed by the SHA-256 of "account:NAME" for any name typed, so a password
-- typed into the username field could be found again by hashing guesses. They are dropped (a lockout in
-- progress ends with the upgrade) and kept anew: a key is the SHA-256 of an account's id, of an address,
-- or of both together; a name that is not an account is keyed only by an HMAC under a key the server
-- process holds in memory, never written down. `attempts` counts the failures in the window plus the
-- attempts being verified right now, each reserved before its password is checked.
DROP TABLE login_failures;

CREATE TABLE login_failures (
    throttle_key    TEXT PRIMARY KEY,
    -- The key of the account this counter belongs to (its own counter and its per-address ones), so
    -- that an admin's unlock finds them all; NULL for an address's counter.
    account_key     TEXT,
    attempts        INTEGER NOT NULL CHECK (attempts >= 0),
    last_attempt_at TEXT NOT NULL
);
CREATE INDEX login_failures_by_account ON login_failures (account_key);
CREATE INDEX login_failures_by_time ON login_failures (last_attempt_at);
