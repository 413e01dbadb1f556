-- ketacare schema 10 for PostgreSQL: informed consent. Consent forms are versioned templates the admin keeps
-- (a change is a new version; a version is never changed or deleted), and a patient's consent records which
-- form version was signed, when, by whom (the patient or a legal representative), witnessed by which staff
-- member, until when it is valid, and its withdrawal. The pre-dose gate reads these rows (INFORMED_CONSENT).
-- Consents are never deleted: a withdrawal or an entry in error changes the row with an amendment (schema 1).

CREATE TABLE consent_forms (
    form_id          TEXT NOT NULL,
    version          BIGINT NOT NULL CHECK (version >= 1),
    modality         TEXT NOT NULL CHECK (modality IN ('esketamine', 'iv_racemic_ketamine')),
    title            TEXT NOT NULL,
    body_text        TEXT NOT NULL,
    body_sha256      TEXT NOT NULL,
    -- How long a consent on this version stays valid, in days from its signature; NULL: until withdrawn.
    valid_for_days   BIGINT CHECK (valid_for_days IS NULL OR valid_for_days >= 1),
    created_at       TEXT NOT NULL,
    created_by       TEXT NOT NULL REFERENCES users (user_id),
    PRIMARY KEY (form_id, version)
);
CREATE TRIGGER consent_forms_unchangeable BEFORE UPDATE OR DELETE OR TRUNCATE ON consent_forms
    FOR EACH STATEMENT EXECUTE FUNCTION ketacare_refuse_change();

CREATE TABLE patient_consents (
    patient_id           TEXT NOT NULL REFERENCES patients (patient_id),
    consent_id           TEXT NOT NULL,
    form_id              TEXT NOT NULL,
    form_version         BIGINT NOT NULL,
    modality             TEXT NOT NULL CHECK (modality IN ('esketamine', 'iv_racemic_ketamine')),
    -- Clinic-local dates, YYYY-MM-DD; valid_until is the last day the consent holds (NULL: until withdrawn).
    signed_on            TEXT NOT NULL,
    valid_until          TEXT,
    signer_name          TEXT NOT NULL,
    signer_relationship  TEXT NOT NULL CHECK (signer_relationship IN ('patient', 'legal_representative')),
    witnessed_by         TEXT NOT NULL REFERENCES users (user_id),
    withdrawn_on         TEXT,
    withdrawal_reason    TEXT,
    status               TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'entered_in_error')),
    version              BIGINT NOT NULL DEFAULT 1,
    created_at           TEXT NOT NULL,
    created_by           TEXT NOT NULL REFERENCES users (user_id),
    updated_at           TEXT NOT NULL,
    updated_by           TEXT NOT NULL REFERENCES users (user_id),
    PRIMARY KEY (patient_id, consent_id),
    FOREIGN KEY (form_id, form_version) REFERENCES consent_forms (form_id, version)
);
CREATE INDEX patient_consents_by_modality ON patient_consents (patient_id, modality, signed_on);
CREATE TRIGGER patient_consents_never_deleted BEFORE DELETE OR TRUNCATE ON patient_consents
    FOR EACH STATEMENT EXECUTE FUNCTION ketacare_refuse_change();
