-- ketacare schema 11 for PostgreSQL: the controlled-substance record (issue 16), the DEA-style log a clinic
-- keeps for Schedule III ketamine and REMS esketamine: lots by drug, lot number and location, and one
-- append-only entry per receipt, withdrawal for an administration, witnessed waste, return and count. The
-- log is the clinic's, not a patient's (a withdrawal names its patient), so it is keyed by its own ids.
-- Nothing is deleted: a wrong entry is marked entered_in_error with a reason and recorded anew; a count's
-- discrepancy stays flagged until an admin resolves it with a reason. Quantities are exact decimals as
-- text, in mg. Released migrations are never edited.

CREATE TABLE stock_lots (
    lot_id      TEXT PRIMARY KEY,
    drug        TEXT NOT NULL CHECK (drug IN ('ketamine', 'esketamine')),
    ndc         TEXT NOT NULL,
    lot_number  TEXT NOT NULL,
    expiry_date TEXT NOT NULL,
    location    TEXT NOT NULL,
    -- Raised by every entry of the lot: an entry is written only against the version its balance was read at.
    version     BIGINT NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL REFERENCES users (user_id),
    UNIQUE (drug, lot_number, location)
);
CREATE TRIGGER stock_lots_never_deleted BEFORE DELETE OR TRUNCATE ON stock_lots
    FOR EACH STATEMENT EXECUTE FUNCTION ketacare_refuse_change();

CREATE TABLE stock_entries (
    entry_id          TEXT PRIMARY KEY,
    lot_id            TEXT NOT NULL REFERENCES stock_lots (lot_id),
    kind              TEXT NOT NULL CHECK (kind IN ('received', 'withdrawn', 'wasted', 'returned', 'count')),
    -- The quantity moved, or for a count the quantity counted.
    quantity_mg       TEXT NOT NULL,
    supplier          TEXT,
    party             TEXT,
    patient_id        TEXT REFERENCES patients (patient_id),
    session_id        TEXT,
    administration_id TEXT,
    witness_id        TEXT REFERENCES users (user_id),
    note              TEXT,
    -- A count: the running balance it was compared with, and counted − balance when they differ.
    expected_mg       TEXT,
    discrepancy_mg    TEXT,
    status            TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'entered_in_error')),
    recorded_at       TEXT NOT NULL,
    recorded_by       TEXT NOT NULL REFERENCES users (user_id),
    error_reason      TEXT,
    error_by          TEXT REFERENCES users (user_id),
    error_at          TEXT,
    resolution_reason TEXT,
    resolved_by       TEXT REFERENCES users (user_id),
    resolved_at       TEXT
);
CREATE INDEX stock_entries_by_lot ON stock_entries (lot_id, recorded_at);
CREATE INDEX stock_entries_by_time ON stock_entries (recorded_at);
CREATE TRIGGER stock_entries_never_deleted BEFORE DELETE OR TRUNCATE ON stock_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ketacare_refuse_change();

-- What an entry records never changes; only its status (once) and a count's resolution (once) are set.
CREATE FUNCTION ketacare_stock_entry_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.entry_id IS DISTINCT FROM OLD.entry_id OR NEW.lot_id IS DISTINCT FROM OLD.lot_id
       OR NEW.kind IS DISTINCT FROM OLD.kind OR NEW.quantity_mg IS DISTINCT FROM OLD.quantity_mg
       OR NEW.recorded_at IS DISTINCT FROM OLD.recorded_at OR NEW.recorded_by IS DISTINCT FROM OLD.recorded_by
       OR NEW.witness_id IS DISTINCT FROM OLD.witness_id OR NEW.patient_id IS DISTINCT FROM OLD.patient_id
       OR NEW.administration_id IS DISTINCT FROM OLD.administration_id
       OR NEW.expected_mg IS DISTINCT FROM OLD.expected_mg OR NEW.discrepancy_mg IS DISTINCT FROM OLD.discrepancy_mg
       OR (OLD.status = 'entered_in_error' AND NEW.status IS DISTINCT FROM OLD.status)
       OR (OLD.resolved_at IS NOT NULL AND NEW.resolved_at IS DISTINCT FROM OLD.resolved_at) THEN
        RAISE EXCEPTION 'ketacare: stock entries are append-only: only a status or a resolution is set, once';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER stock_entries_append_only BEFORE UPDATE ON stock_entries
    FOR EACH ROW EXECUTE FUNCTION ketacare_stock_entry_guard();
