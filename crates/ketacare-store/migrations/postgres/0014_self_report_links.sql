-- ketacare schema 14 for PostgreSQL: patients' self-report links. A nurse or prescriber makes a one-time
-- link for a questionnaire; the link's random token is kept only as its SHA-256. The patient's answers land
-- in scale_results (the chart) in the same transaction that marks the link used, so a link is used at most
-- once. A PHQ-9 whose item 9 reaches the protocol's screen threshold flags the link's alert, which stays on
-- the worklist until a clinician acknowledges it. Links are never deleted. (Schema 13 belongs to another
-- feature.)

CREATE TABLE self_report_links (
    patient_id              TEXT NOT NULL REFERENCES patients (patient_id),
    link_id                 TEXT NOT NULL,
    scale                   TEXT NOT NULL CHECK (scale IN ('phq9', 'gad7', 'qids_sr16')),
    token_sha256            TEXT NOT NULL UNIQUE,
    created_at              TEXT NOT NULL,
    created_by              TEXT NOT NULL REFERENCES users (user_id),
    expires_at              TEXT NOT NULL,
    used_at                 TEXT,
    scale_result_id         TEXT,
    -- 1 when the answers screened positive (PHQ-9 item 9 at or above the protocol's threshold).
    suicidality_alert       BIGINT NOT NULL DEFAULT 0 CHECK (suicidality_alert IN (0, 1)),
    alert_acknowledged_at   TEXT,
    alert_acknowledged_by   TEXT REFERENCES users (user_id),
    PRIMARY KEY (patient_id, link_id),
    FOREIGN KEY (patient_id, scale_result_id) REFERENCES scale_results (patient_id, scale_result_id),
    CHECK ((used_at IS NULL) = (scale_result_id IS NULL)),
    CHECK (suicidality_alert = 1 OR alert_acknowledged_at IS NULL)
);
CREATE INDEX self_report_links_open_alerts ON self_report_links (suicidality_alert, alert_acknowledged_at);
CREATE TRIGGER self_report_links_never_deleted BEFORE DELETE OR TRUNCATE ON self_report_links
    FOR EACH STATEMENT EXECUTE FUNCTION ketacare_refuse_change();

CREATE FUNCTION ketacare_refuse_second_self_report() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.used_at IS NOT NULL AND NEW.used_at IS DISTINCT FROM OLD.used_at THEN
        RAISE EXCEPTION 'ketacare: a self-report link is used once';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER self_report_links_used_once BEFORE UPDATE ON self_report_links
    FOR EACH ROW EXECUTE FUNCTION ketacare_refuse_second_self_report();
