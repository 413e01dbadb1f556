-- ketacare schema 5 for SQLite: what the server needs to enforce the engine's session decisions.
-- Prescribers' dose orders; prescribers' overrides of overridable pre-dose holds; observations marked
-- entered in error; an alert log kept by revision (a correction replays the session's alerts as a new
-- revision; earlier revisions stay); the session's clinical stage (in progress, monitoring, discharged,
-- locked) beside its record status. Nothing is deleted. Released migrations are never edited.

-- A dose order signed by a prescriber: what nurses administer against. `order_json` holds the computed
-- order (mg, and for IV the mg/kg, weight basis and infusion minutes; for esketamine the devices).
CREATE TABLE dose_orders (
    patient_id  TEXT NOT NULL REFERENCES patients (patient_id),
    order_id    TEXT NOT NULL,
    plan_id     TEXT,
    modality    TEXT NOT NULL CHECK (modality IN ('iv_racemic_ketamine', 'esketamine')),
    order_json  TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'discontinued', 'entered_in_error')),
    version     INTEGER NOT NULL DEFAULT 1,
    signed_by   TEXT NOT NULL REFERENCES users (user_id),
    signed_at   TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL REFERENCES users (user_id),
    PRIMARY KEY (patient_id, order_id)
);
CREATE TRIGGER dose_orders_never_deleted BEFORE DELETE ON dose_orders
BEGIN SELECT RAISE(ABORT, 'dose orders are never deleted: set status entered_in_error'); END;

-- A prescriber's override of one overridable pre-dose hold (or of a dose that differs from the order).
CREATE TABLE session_overrides (
    patient_id  TEXT NOT NULL,
    override_id TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    item        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    recorded_by TEXT NOT NULL REFERENCES users (user_id),
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (patient_id, override_id),
    FOREIGN KEY (patient_id, session_id) REFERENCES treatment_sessions (patient_id, session_id)
);
CREATE TRIGGER session_overrides_no_update BEFORE UPDATE ON session_overrides
BEGIN SELECT RAISE(ABORT, 'overrides are append-only'); END;
CREATE TRIGGER session_overrides_no_delete BEFORE DELETE ON session_overrides
BEGIN SELECT RAISE(ABORT, 'overrides are append-only'); END;

-- An observation marked entered in error: the observation row stays as it was.
CREATE TABLE observation_corrections (
    patient_id   TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    sequence     INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    corrected_by TEXT NOT NULL REFERENCES users (user_id),
    corrected_at TEXT NOT NULL,
    PRIMARY KEY (patient_id, session_id, sequence),
    FOREIGN KEY (patient_id, session_id, sequence) REFERENCES session_observations (patient_id, session_id, sequence)
);
CREATE TRIGGER observation_corrections_no_update BEFORE UPDATE ON observation_corrections
BEGIN SELECT RAISE(ABORT, 'observation corrections are append-only'); END;
CREATE TRIGGER observation_corrections_no_delete BEFORE DELETE ON observation_corrections
BEGIN SELECT RAISE(ABORT, 'observation corrections are append-only'); END;

-- The alert engine's changes by revision: revision 0 is the log as observations were entered; each
-- correction or late entry replays the surviving observations in time order as the next revision. The
-- session's `alert_revision` names the current one. The schema-3 table keeps the changes it holds (copied
-- here as revision 0) and takes no new rows.
CREATE TABLE session_alert_log (
    patient_id   TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    revision     INTEGER NOT NULL,
    log_position INTEGER NOT NULL,          -- the change's place in its revision's time order
    sequence     INTEGER NOT NULL,          -- the observation whose judgement made the change
    change_index INTEGER NOT NULL,
    alert_id     TEXT NOT NULL,
    change_kind  TEXT NOT NULL,
    level        TEXT NOT NULL,
    alert_json   TEXT NOT NULL,
    changed_at   TEXT NOT NULL,          -- when the server recorded the change (an acknowledgement after it covers it)
    PRIMARY KEY (patient_id, session_id, revision, log_position),
    FOREIGN KEY (patient_id, session_id) REFERENCES treatment_sessions (patient_id, session_id)
);
CREATE TRIGGER session_alert_log_no_update BEFORE UPDATE ON session_alert_log
BEGIN SELECT RAISE(ABORT, 'alert changes are append-only'); END;
CREATE TRIGGER session_alert_log_no_delete BEFORE DELETE ON session_alert_log
BEGIN SELECT RAISE(ABORT, 'alert changes are append-only'); END;
INSERT INTO session_alert_log (patient_id, session_id, revision, log_position, sequence, change_index, alert_id,
    change_kind, level, alert_json, changed_at)
    SELECT logged.patient_id, logged.session_id, 0, logged.sequence * 1000 + logged.change_index, logged.sequence,
        logged.change_index, logged.alert_id, logged.change_kind, logged.level, logged.alert_json, observation.recorded_at
    FROM session_alert_changes logged
    JOIN session_observations observation ON observation.patient_id = logged.patient_id
        AND observation.session_id = logged.session_id AND observation.sequence = logged.sequence;
CREATE INDEX session_alert_log_by_alert ON session_alert_log (patient_id, session_id, alert_id);

ALTER TABLE treatment_sessions ADD COLUMN order_id TEXT;
ALTER TABLE treatment_sessions ADD COLUMN stage TEXT NOT NULL DEFAULT 'in_progress'
    CHECK (stage IN ('in_progress', 'monitoring', 'discharged', 'locked'));
ALTER TABLE treatment_sessions ADD COLUMN alert_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE treatment_sessions ADD COLUMN discharged_at TEXT;
ALTER TABLE treatment_sessions ADD COLUMN discharged_by TEXT REFERENCES users (user_id);
ALTER TABLE treatment_sessions ADD COLUMN signed_at TEXT;
ALTER TABLE treatment_sessions ADD COLUMN signed_by TEXT REFERENCES users (user_id);
-- Why a prescriber started a plan beside an active one of the same modality (one is the rule).
ALTER TABLE treatment_plans ADD COLUMN concurrent_plan_reason TEXT;
-- Why an observation was entered with a time earlier than the one before it.
ALTER TABLE session_observations ADD COLUMN late_entry_reason TEXT;
