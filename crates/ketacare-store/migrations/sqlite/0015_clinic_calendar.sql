-- ketacare schema 15 for SQLite: the clinic calendar the schedule generator places sessions on. One row
-- (`calendar_id` = 'clinic') holds the weekdays the clinic is open (a comma-separated list of `mon` ... `sun`)
-- and its number of chairs, with who changed it last and when; its changes are audited. Holidays are a list
-- the admin edits (none built in): a holiday is never deleted, it is set aside by marking it entered in
-- error with a reason. At most one active holiday per date. Released migrations are never edited.

CREATE TABLE clinic_calendar (
    calendar_id     TEXT PRIMARY KEY CHECK (calendar_id = 'clinic'),
    open_weekdays   TEXT NOT NULL CHECK (length(open_weekdays) > 0),
    chairs          INTEGER NOT NULL CHECK (chairs BETWEEN 1 AND 1000),
    updated_by      TEXT NOT NULL REFERENCES users (user_id),
    updated_at      TEXT NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1
);
CREATE TRIGGER clinic_calendar_never_deleted BEFORE DELETE ON clinic_calendar
BEGIN SELECT RAISE(ABORT, 'the clinic calendar is never deleted'); END;

CREATE TABLE clinic_holidays (
    holiday_id                TEXT PRIMARY KEY,
    holiday_date              TEXT NOT NULL,   -- clinic-local date, YYYY-MM-DD
    label                     TEXT NOT NULL CHECK (length(trim(label)) > 0),
    status                    TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'entered_in_error')),
    added_by                  TEXT NOT NULL REFERENCES users (user_id),
    added_at                  TEXT NOT NULL,
    entered_in_error_reason   TEXT,
    entered_in_error_by       TEXT REFERENCES users (user_id),
    entered_in_error_at       TEXT,
    version                   INTEGER NOT NULL DEFAULT 1,
    CHECK ((status = 'entered_in_error') = (entered_in_error_reason IS NOT NULL))
);
CREATE UNIQUE INDEX clinic_holidays_one_active ON clinic_holidays (holiday_date) WHERE status = 'active';
CREATE TRIGGER clinic_holidays_never_deleted BEFORE DELETE ON clinic_holidays
BEGIN SELECT RAISE(ABORT, 'holidays are never deleted: mark them entered in error'); END;
