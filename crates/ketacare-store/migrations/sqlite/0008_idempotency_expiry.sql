-- ketacare schema 8: idempotency keys expire after a day (IDEMPOTENCY_KEY_LIFETIME_HOURS); the server
-- deletes expired ones periodically, by their time. Released migrations are never edited.
CREATE INDEX idempotency_keys_by_time ON idempotency_keys (created_at);
