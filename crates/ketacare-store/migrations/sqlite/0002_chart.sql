-- ketacare schema 2 for SQLite: the patient's chart as records (episodes, history conditions,
-- concomitant medicines, medication trials, measurements, blood pressure readings, overrides). Each
-- record's body is one section of the assess case format (docs/case-format.md), checked by the case
-- parser before it is stored; scale results keep to the scale_results table of schema 1. Records are
-- never deleted: corrections are amendments (schema 1), a mistake is status entered_in_error.

CREATE TABLE chart_records (
    patient_id   TEXT NOT NULL REFERENCES patients (patient_id),
    record_id    TEXT NOT NULL,
    section      TEXT NOT NULL CHECK (section IN ('episodes', 'history', 'concomitant', 'trials', 'measurements',
                                                  'blood_pressures', 'overrides')),
    -- A trial's episode (a record of section 'episodes' of the same patient); NULL for other sections.
    episode_id   TEXT,
    -- The clinical date of the record (measured, noted), YYYY-MM-DD; NULL when it has none.
    recorded_on  TEXT,
    body_json    TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'entered_in_error')),
    version      INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL REFERENCES users (user_id),
    updated_at   TEXT NOT NULL,
    updated_by   TEXT NOT NULL REFERENCES users (user_id),
    PRIMARY KEY (patient_id, record_id)
);
CREATE INDEX chart_records_by_section ON chart_records (patient_id, section, created_at);
CREATE TRIGGER chart_records_never_deleted BEFORE DELETE ON chart_records
BEGIN SELECT RAISE(ABORT, 'chart records are never deleted: set status entered_in_error'); END;
