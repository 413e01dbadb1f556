-- ketacare schema 7: audit events carry the versions (SHA-256) of the rows their write stored, so that
-- `audit verify` can re-hash the clinical and account rows as they are now against the chain; and each
-- event says how its own hash is made: plain SHA-256, or HMAC-SHA-256 with the deployment's audit key;
-- and a list request's one event names every patient it showed (`patients_shown`, a JSON array of ids)
-- instead of a row per patient.
-- The rows stored before this migration get their versions in one `audit.row_baseline` event, written by
-- ketacare in the same transaction as this migration. Released migrations are never edited.
ALTER TABLE audit_events ADD COLUMN row_versions TEXT;
ALTER TABLE audit_events ADD COLUMN patients_shown TEXT;
ALTER TABLE audit_events ADD COLUMN hash_algorithm TEXT NOT NULL DEFAULT 'sha256'
    CHECK (hash_algorithm IN ('sha256', 'hmac-sha256'));
