-- ketacare schema 9: patients by MRN, so that an import finds each patient it reads by its MRN without
-- scanning every patient (bench/RESULTS.md, "FHIR bulk NDJSON": a scan per imported patient made a bulk
-- import's time grow with the square of the patients). Released migrations are never edited.
CREATE INDEX patients_by_mrn ON patients (mrn);
