-- ketacare schema 13 for SQLite: measurements of a plan's measurement plan that staff marked not
-- applicable, each with its reason, who marked it, in which role and when (the server's clock). The
-- measurement is named by its plan, scale and the instant it was due. A marking is never deleted and
-- never edited: it is set aside by marking it entered in error, with a reason (an amendment-style
-- correction). At most one active marking per measurement. Released migrations are never edited.
-- (Schema 10 to 12 are consent, the controlled-substance record and session notes.)

CREATE TABLE measurements_not_applicable (
    patient_id                TEXT NOT NULL,
    marking_id                TEXT NOT NULL,
    plan_id                   TEXT NOT NULL,
    scale                     TEXT NOT NULL CHECK (scale IN ('phq9', 'madrs', 'urinary_symptoms', 'cognition')),
    due_at                    TEXT NOT NULL,   -- the measurement's due instant (RFC 3339, UTC)
    reason                    TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    status                    TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'entered_in_error')),
    marked_by                 TEXT NOT NULL REFERENCES users (user_id),
    marked_role               TEXT NOT NULL,
    marked_at                 TEXT NOT NULL,
    entered_in_error_reason   TEXT,
    entered_in_error_by       TEXT REFERENCES users (user_id),
    entered_in_error_at       TEXT,
    version                   INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (patient_id, marking_id),
    FOREIGN KEY (patient_id, plan_id) REFERENCES treatment_plans (patient_id, plan_id),
    CHECK ((status = 'entered_in_error') = (entered_in_error_reason IS NOT NULL))
);
CREATE UNIQUE INDEX measurements_not_applicable_one_active
    ON measurements_not_applicable (patient_id, plan_id, scale, due_at) WHERE status = 'active';
CREATE TRIGGER measurements_not_applicable_never_deleted BEFORE DELETE ON measurements_not_applicable
BEGIN SELECT RAISE(ABORT, 'not-applicable markings are never deleted: mark them entered in error'); END;
