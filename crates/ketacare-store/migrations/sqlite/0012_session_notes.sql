-- ketacare schema 12 for SQLite: session notes with signatures. A note documents one session (at most
-- one per session); an addendum adds to a signed note. A signature records who signed, in which role,
-- when (the server's clock) and the SHA-256 of the exact text; once a note has any signature its row
-- can no longer change. Signatures are append-only, notes never deleted. Released migrations are never
-- edited. (Schema 10 and 11 are consent and the controlled-substance record.)

CREATE TABLE session_notes (
    patient_id  TEXT NOT NULL,
    note_id     TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('note', 'addendum')),
    addendum_to TEXT,                     -- the signed note an addendum adds to
    text        TEXT NOT NULL,
    author_id   TEXT NOT NULL REFERENCES users (user_id),
    author_role TEXT NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (patient_id, note_id),
    FOREIGN KEY (patient_id, session_id) REFERENCES treatment_sessions (patient_id, session_id),
    FOREIGN KEY (patient_id, addendum_to) REFERENCES session_notes (patient_id, note_id),
    CHECK ((kind = 'note') = (addendum_to IS NULL))
);
CREATE UNIQUE INDEX session_notes_one_per_session ON session_notes (patient_id, session_id) WHERE kind = 'note';
CREATE TRIGGER session_notes_never_deleted BEFORE DELETE ON session_notes
BEGIN SELECT RAISE(ABORT, 'session notes are never deleted: add a signed addendum'); END;

-- The author's signature and a prescriber's co-signature, each of the text's SHA-256 at that moment.
CREATE TABLE note_signatures (
    patient_id           TEXT NOT NULL,
    note_id              TEXT NOT NULL,
    kind                 TEXT NOT NULL CHECK (kind IN ('author', 'cosignature')),
    signed_by            TEXT NOT NULL REFERENCES users (user_id),
    signer_role          TEXT NOT NULL,
    signed_at            TEXT NOT NULL,
    text_sha256          TEXT NOT NULL,
    -- On the author's signature: whether the protocol asked for a prescriber's co-signature then.
    cosignature_required INTEGER NOT NULL CHECK (cosignature_required IN (0, 1)),
    PRIMARY KEY (patient_id, note_id, kind),
    FOREIGN KEY (patient_id, note_id) REFERENCES session_notes (patient_id, note_id)
);
CREATE TRIGGER note_signatures_no_update BEFORE UPDATE ON note_signatures
BEGIN SELECT RAISE(ABORT, 'note signatures are append-only'); END;
CREATE TRIGGER note_signatures_no_delete BEFORE DELETE ON note_signatures
BEGIN SELECT RAISE(ABORT, 'note signatures are append-only'); END;
CREATE TRIGGER session_notes_locked_once_signed BEFORE UPDATE ON session_notes
WHEN EXISTS (SELECT 1 FROM note_signatures WHERE patient_id = OLD.patient_id AND note_id = OLD.note_id)
BEGIN SELECT RAISE(ABORT, 'a signed note is locked: add a signed addendum'); END;
