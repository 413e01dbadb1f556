-- ketacare schema 1 for PostgreSQL: accounts, sessions, API tokens, patients, amendments, scale results,
-- assessments, idempotency keys and the hash-chained audit log. Released migrations are never edited.
-- Times are RFC 3339 UTC text with six fractional digits, so they sort as text.

-- Refuses the statement it is attached to: the append-only and never-deleted tables use it.
CREATE FUNCTION ketacare_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ketacare: % on % is refused (append-only or never-deleted table)', TG_OP, TG_TABLE_NAME;
END;
$$;

CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,          -- Argon2id PHC string
    role          TEXT NOT NULL CHECK (role IN ('admin', 'prescriber', 'nurse', 'analyst', 'auditor')),
    active        BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    -- Set for generated (one-time) passwords: the account may do nothing but change it.
    must_change_password BIGINT NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
    created_at    TEXT NOT NULL
);

-- A cookie session; the cookie carries a random secret, the table keeps only its SHA-256.
CREATE TABLE sessions (
    session_sha256 TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (user_id),
    csrf_token     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    last_seen_at   TEXT NOT NULL,
    expires_at     TEXT NOT NULL          -- absolute expiry; idle expiry is measured from last_seen_at
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- A bearer token: stored hashed, scoped to a role no higher than its user's, revocable.
CREATE TABLE api_tokens (
    token_id     TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (user_id),
    role         TEXT NOT NULL CHECK (role IN ('admin', 'prescriber', 'nurse', 'analyst', 'auditor')),
    label        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
);

-- Identifying fields (names, birth date, MRN) next to de-identified ones (pseudonym, birth year)
-- that an analyst may see. `version` drives optimistic concurrency; corrections go to amendments.
CREATE TABLE patients (
    patient_id    TEXT PRIMARY KEY,
    pseudonym     TEXT NOT NULL UNIQUE,
    mrn           TEXT,
    given_name    TEXT NOT NULL,
    family_name   TEXT NOT NULL,
    birth_date    TEXT NOT NULL,
    birth_year    BIGINT NOT NULL,
    sex_at_birth  TEXT NOT NULL CHECK (sex_at_birth IN ('female', 'male')),
    status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'entered_in_error')),
    version       BIGINT NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    created_by    TEXT NOT NULL REFERENCES users (user_id),
    updated_at    TEXT NOT NULL,
    updated_by    TEXT NOT NULL REFERENCES users (user_id)
);
CREATE INDEX patients_by_family_name ON patients (family_name, given_name);
CREATE TRIGGER patients_never_deleted BEFORE DELETE OR TRUNCATE ON patients
    FOR EACH STATEMENT EXECUTE FUNCTION ketacare_refuse_change();

-- Every change of a clinical row keeps the prior value, the author, the time and the reason.
CREATE TABLE amendments (
    patient_id    TEXT NOT NULL REFERENCES patients (patient_id),
    amendment_id  TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    from_version  BIGINT NOT NULL,
    prior_json    TEXT NOT NULL,
    new_json      TEXT NOT NULL,
    reason        TEXT NOT NULL,
    amended_by    TEXT NOT NULL REFERENCES users (user_id),
    amended_at    TEXT NOT NULL,
    PRIMARY KEY (patient_id, amendment_id)
);
CREATE INDEX amendments_by_resource ON amendments (patient_id, resource_type, resource_id);
CREATE TRIGGER amendments_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON amendments
    FOR EACH STATEMENT EXECUTE FUNCTION ketacare_refuse_change();

-- A rating scale administered: item answers (JSON array) and the total.
CREATE TABLE scale_results (
    patient_id      TEXT NOT NULL REFERENCES patients (patient_id),
    scale_result_id TEXT NOT NULL,
    scale           TEXT NOT NULL,
    answers_json    TEXT,
    total           BIGINT,
    administered_on TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'entered_in_error')),
    version         BIGINT NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    created_by      TEXT NOT NULL REFERENCES users (user_id),
    PRIMARY KEY (patient_id, scale_result_id)
);
CREATE TRIGGER scale_results_never_deleted BEFORE DELETE OR TRUNCATE ON scale_results
    FOR EACH STATEMENT EXECUTE FUNCTION ketacare_refuse_change();

-- One run of the engine: the case as posted, the decision report, and what it was made under.
CREATE TABLE assessments (
    patient_id      TEXT NOT NULL REFERENCES patients (patient_id),
    assessment_id   TEXT NOT NULL,
    as_of           TEXT NOT NULL,
    case_json       TEXT NOT NULL,
    decision_json   TEXT NOT NULL,
    rules_version   TEXT NOT NULL,
    protocol_sha256 TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'entered_in_error')),
    version         BIGINT NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    created_by      TEXT NOT NULL REFERENCES users (user_id),
    PRIMARY KEY (patient_id, assessment_id)
);
CREATE INDEX assessments_by_time ON assessments (patient_id, created_at);
CREATE TRIGGER assessments_never_deleted BEFORE DELETE OR TRUNCATE ON assessments
    FOR EACH STATEMENT EXECUTE FUNCTION ketacare_refuse_change();

-- The stored answer to a creating request, so a retry with the same key does not duplicate.
CREATE TABLE idempotency_keys (
    actor_id        TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_sha256  TEXT NOT NULL,
    status_code     BIGINT NOT NULL,
    response_json   TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (actor_id, idempotency_key)
);

-- Append-only and hash-chained: hash = SHA-256 of the row's canonical content, which includes prev_hash.
CREATE TABLE audit_events (
    seq         BIGINT PRIMARY KEY,
    occurred_at TEXT NOT NULL,
    actor_id    TEXT,
    actor_role  TEXT,
    action      TEXT NOT NULL,
    resource    TEXT NOT NULL,
    patient_id  TEXT,
    request_id  TEXT,
    outcome     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_events_by_patient ON audit_events (patient_id, seq);
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION ketacare_refuse_change();
