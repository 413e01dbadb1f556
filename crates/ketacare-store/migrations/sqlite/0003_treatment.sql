-- ketacare schema 3 for SQLite: treatment plans and their scheduled sessions, treatment sessions with
-- their observations, the alert changes the engine made, alert acknowledgements and drug administrations.
-- Every table is patient-owned (keyed by patient_id first) and nothing is deleted. Session and plan facts
-- are stored as the JSON fragments of the documents of docs/sessions.md, so that the server rebuilds the
-- same document the CLI reads and the engine sees the same facts. Released migrations are never edited.

-- A prescribed plan: the plan document as posted (or last amended); corrections go to amendments.
CREATE TABLE treatment_plans (
    patient_id  TEXT NOT NULL REFERENCES patients (patient_id),
    plan_id     TEXT NOT NULL,
    plan_json   TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled', 'entered_in_error')),
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL REFERENCES users (user_id),
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL REFERENCES users (user_id),
    PRIMARY KEY (patient_id, plan_id)
);
CREATE TRIGGER treatment_plans_never_deleted BEFORE DELETE ON treatment_plans
BEGIN SELECT RAISE(ABORT, 'treatment plans are never deleted: set status entered_in_error'); END;

-- One session of a plan's generated schedule, by its position in the schedule.
CREATE TABLE scheduled_sessions (
    patient_id           TEXT NOT NULL REFERENCES patients (patient_id),
    plan_id              TEXT NOT NULL,
    position             INTEGER NOT NULL,
    session_number       INTEGER,
    step                 TEXT NOT NULL,
    phase                TEXT NOT NULL,
    planned_at           TEXT NOT NULL,          -- clinic-local with offset
    status               TEXT NOT NULL CHECK (status IN ('scheduled', 'completed', 'missed', 'cancelled')),
    treatment_session_id TEXT,
    PRIMARY KEY (patient_id, plan_id, position),
    FOREIGN KEY (patient_id, plan_id) REFERENCES treatment_plans (patient_id, plan_id)
);
CREATE TRIGGER scheduled_sessions_never_deleted BEFORE DELETE ON scheduled_sessions
BEGIN SELECT RAISE(ABORT, 'scheduled sessions are never deleted: set status entered_in_error'); END;

-- A treatment session: the session document without its observations (modality, care setting, time zone,
-- dose, pre_dose, discharge, rems, monitoring_ended_at). `version` rises with every write to the session,
-- observations included: it is the precondition that keeps concurrent observations from racing.
CREATE TABLE treatment_sessions (
    patient_id           TEXT NOT NULL REFERENCES patients (patient_id),
    session_id           TEXT NOT NULL,
    plan_id              TEXT,
    scheduled_position   INTEGER,
    modality             TEXT NOT NULL,
    facts_json           TEXT NOT NULL,
    observation_count    INTEGER NOT NULL DEFAULT 0,
    rems_submitted_at    TEXT,
    rems_submitted_by    TEXT REFERENCES users (user_id),
    status               TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'entered_in_error')),
    version              INTEGER NOT NULL DEFAULT 1,
    created_at           TEXT NOT NULL,
    created_by           TEXT NOT NULL REFERENCES users (user_id),
    updated_at           TEXT NOT NULL,
    updated_by           TEXT NOT NULL REFERENCES users (user_id),
    PRIMARY KEY (patient_id, session_id)
);
CREATE TRIGGER treatment_sessions_never_deleted BEFORE DELETE ON treatment_sessions
BEGIN SELECT RAISE(ABORT, 'treatment sessions are never deleted: set status entered_in_error'); END;

-- One vital-sign set, as an element of the session document's `observations`; `sequence` counts from 1.
CREATE TABLE session_observations (
    patient_id       TEXT NOT NULL,
    session_id       TEXT NOT NULL,
    sequence         INTEGER NOT NULL,
    observation_json TEXT NOT NULL,
    recorded_at      TEXT NOT NULL,
    recorded_by      TEXT NOT NULL,
    PRIMARY KEY (patient_id, session_id, sequence),
    FOREIGN KEY (patient_id, session_id) REFERENCES treatment_sessions (patient_id, session_id)
);
CREATE TRIGGER session_observations_no_update BEFORE UPDATE ON session_observations
BEGIN SELECT RAISE(ABORT, 'observations are append-only'); END;
CREATE TRIGGER session_observations_no_delete BEFORE DELETE ON session_observations
BEGIN SELECT RAISE(ABORT, 'observations are append-only'); END;
-- An observation raises its session's version and count in the same statement that inserts it.
CREATE TRIGGER session_observations_counted AFTER INSERT ON session_observations
BEGIN
    UPDATE treatment_sessions SET version = version + 1, observation_count = observation_count + 1,
        updated_at = NEW.recorded_at, updated_by = NEW.recorded_by
        WHERE patient_id = NEW.patient_id AND session_id = NEW.session_id;
END;

-- What the alert engine did when an observation was entered: raised, escalated, de-escalated, resolved.
CREATE TABLE session_alert_changes (
    patient_id   TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    sequence     INTEGER NOT NULL,
    change_index INTEGER NOT NULL,
    alert_id     TEXT NOT NULL,
    change_kind  TEXT NOT NULL,
    level        TEXT NOT NULL,
    alert_json   TEXT NOT NULL,
    PRIMARY KEY (patient_id, session_id, sequence, change_index),
    FOREIGN KEY (patient_id, session_id) REFERENCES treatment_sessions (patient_id, session_id)
);
CREATE TRIGGER session_alert_changes_no_update BEFORE UPDATE ON session_alert_changes
BEGIN SELECT RAISE(ABORT, 'alert changes are append-only'); END;
CREATE TRIGGER session_alert_changes_no_delete BEFORE DELETE ON session_alert_changes
BEGIN SELECT RAISE(ABORT, 'alert changes are append-only'); END;

-- A clinician saw an alert; it stays active until the engine resolves it.
CREATE TABLE alert_acknowledgements (
    patient_id         TEXT NOT NULL,
    acknowledgement_id TEXT NOT NULL,
    session_id         TEXT NOT NULL,
    alert_id           TEXT NOT NULL,
    acknowledged_by    TEXT NOT NULL REFERENCES users (user_id),
    acknowledged_at    TEXT NOT NULL,
    note               TEXT,
    recorded_at        TEXT NOT NULL,
    PRIMARY KEY (patient_id, acknowledgement_id),
    FOREIGN KEY (patient_id, session_id) REFERENCES treatment_sessions (patient_id, session_id)
);
CREATE TRIGGER alert_acknowledgements_no_update BEFORE UPDATE ON alert_acknowledgements
BEGIN SELECT RAISE(ABORT, 'alert acknowledgements are append-only'); END;
CREATE TRIGGER alert_acknowledgements_no_delete BEFORE DELETE ON alert_acknowledgements
BEGIN SELECT RAISE(ABORT, 'alert acknowledgements are append-only'); END;

-- One administration of drug: a dose given from a lot (esketamine: devices; IV: an infusion).
CREATE TABLE administrations (
    patient_id        TEXT NOT NULL,
    administration_id TEXT NOT NULL,
    session_id        TEXT NOT NULL,
    administration_json TEXT NOT NULL,
    lot_number        TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'entered_in_error')),
    recorded_at       TEXT NOT NULL,
    recorded_by       TEXT NOT NULL REFERENCES users (user_id),
    PRIMARY KEY (patient_id, administration_id),
    FOREIGN KEY (patient_id, session_id) REFERENCES treatment_sessions (patient_id, session_id)
);
CREATE TRIGGER administrations_never_deleted BEFORE DELETE ON administrations
BEGIN SELECT RAISE(ABORT, 'administrations are never deleted: set status entered_in_error'); END;

