#!/usr/bin/env python3
"""DuckDB reference for `ketacare screen --preset label` (bench/screen.sh).

Reads every *.ndjson file of the export line by line (read_ndjson_objects, so DuckDB, like the screen,
learns each line's type from its resourceType) and runs the label definition in SQL: drug events from
RxNorm ingredient codes or a whole-word name in text/display, courses (30-day refill gap, 42 days,
minimum dose), episodes (180-day clean gap), failure by switch within 365 days, TRD at the next course
after the 2nd failed course, MDD diagnosis within the episode, bipolar/psychosis exclusions strictly
before the TRD date. Reads *.ndjson and *.ndjson.gz. Simplifications, stated: the first coding of each
concept, dose units assumed mg and periods in days, no PHQ-9 or age columns, no formulation-specific
minimum doses. Usage: screen_duckdb.py EXPORT_DIR THREADS [OUT.csv]
"""
import sys
import time

import duckdb

DRUGS = [
    # ingredient, rxcui, minimum mg/day, role, other names
    ("citalopram", "2556", 20, "ad", "celexa cipramil"),
    ("escitalopram", "321988", 10, "ad", "lexapro cipralex"),
    ("fluoxetine", "4493", 20, "ad", "prozac sarafem"),
    ("fluvoxamine", "42355", 100, "ad", "luvox faverin"),
    ("paroxetine", "32937", 20, "ad", "paxil pexeva seroxat brisdelle"),
    ("sertraline", "36437", 50, "ad", "zoloft lustral"),
    ("venlafaxine", "39786", 75, "ad", "effexor efexor"),
    ("desvenlafaxine", "734064", 50, "ad", "pristiq khedezla"),
    ("duloxetine", "72625", 60, "ad", "cymbalta drizalma"),
    ("levomilnacipran", None, 40, "ad", "fetzima"),
    ("milnacipran", None, 100, "ad", "savella ixel"),
    ("bupropion", "42347", 300, "ad", "wellbutrin aplenzin forfivo zyban"),
    ("mirtazapine", "15996", 15, "ad", "remeron remeronsoltab zispin"),
    ("mianserin", None, None, "ad", "tolvon"),
    ("trazodone", "10737", 200, "ad", "desyrel oleptro molipaxin"),
    ("nefazodone", "31565", 300, "ad", "serzone"),
    ("vortioxetine", None, 10, "ad", "trintellix brintellix"),
    ("vilazodone", None, 20, "ad", "viibryd"),
    ("amitriptyline", "704", 150, "ad", "elavil"),
    ("clomipramine", "2597", 100, "ad", "anafranil"),
    ("desipramine", "3247", 150, "ad", "norpramin"),
    ("doxepin", "3638", 100, "ad", "sinequan"),
    ("imipramine", "5691", 150, "ad", "tofranil"),
    ("nortriptyline", "7531", 50, "ad", "pamelor aventyl"),
    ("protriptyline", "8886", 15, "ad", "vivactil"),
    ("trimipramine", "10834", 150, "ad", "surmontil"),
    ("amoxapine", "722", 200, "ad", "asendin"),
    ("maprotiline", "6646", 100, "ad", "ludiomil"),
    ("phenelzine", "8123", 45, "ad", "nardil"),
    ("tranylcypromine", "10734", 30, "ad", "parnate"),
    ("isocarboxazid", "6011", 30, "ad", "marplan"),
    ("selegiline", "9639", 6, "ad", "emsam"),
    ("moclobemide", None, 300, "ad", "aurorix manerix"),
    ("agomelatine", None, 25, "ad", "valdoxan"),
    ("lithium", "6448", None, "aug", "lithobid eskalith priadel camcolit"),
    ("aripiprazole", "89013", None, "aug", "abilify"),
    ("quetiapine", "51272", None, "aug", "seroquel"),
    ("brexpiprazole", None, None, "aug", "rexulti"),
    ("olanzapine", "61381", None, "aug", "zyprexa"),
    ("cariprazine", None, None, "aug", "vraylar"),
    ("liothyronine", None, None, "aug", "cytomel t3"),
]

SQL = """
CREATE TEMP TABLE relevant AS
SELECT rt, json_extract_string(json, [
    '$.subject.reference', '$.status',
    '$.whenHandedOver', '$.whenPrepared', '$.authoredOn', '$.effectivePeriod.start', '$.effectivePeriod.end',
    '$.daysSupply.value', '$.dispenseRequest.expectedSupplyDuration.value',
    '$.medicationCodeableConcept.coding[0].system', '$.medicationCodeableConcept.coding[0].code',
    '$.medicationCodeableConcept.coding[0].display', '$.medicationCodeableConcept.text',
    '$.contained[0].code.coding[0].code', '$.contained[0].code.coding[0].display',
    '$.dosageInstruction[0].doseAndRate[0].doseQuantity.value', '$.dosageInstruction[0].timing.repeat.frequency',
    '$.dosageInstruction[0].timing.repeat.period',
    '$.code.coding[0].system', '$.code.coding[0].code', '$.verificationStatus.coding[0].code',
    '$.onsetDateTime', '$.recordedDate', '$.id']) AS f
FROM (SELECT json, json_extract_string(json, '$.resourceType') AS rt FROM read_ndjson_objects('{glob}'))
WHERE rt IN ('Patient', 'Condition', 'MedicationRequest', 'MedicationDispense', 'MedicationStatement');

CREATE TEMP TABLE events AS
WITH meds AS (
    SELECT row_number() OVER () AS row_id, rt,
        regexp_replace(f[1], '^.*Patient/', '') AS patient_id,
        f[2] AS status,
        CAST(left(CASE rt WHEN 'MedicationDispense' THEN coalesce(f[3], f[4])
                          WHEN 'MedicationRequest' THEN f[5] ELSE f[6] END, 10) AS DATE) AS d,
        CASE rt WHEN 'MedicationDispense' THEN CAST(f[8] AS DOUBLE)
                WHEN 'MedicationRequest' THEN CAST(f[9] AS DOUBLE)
                ELSE greatest(date_diff('day', CAST(left(f[6], 10) AS DATE), CAST(left(f[7], 10) AS DATE)), 1) END AS days,
        CASE WHEN f[10] = 'http://www.nlm.nih.gov/research/umls/rxnorm' THEN f[11] ELSE f[14] END AS code,
        lower(concat_ws(' ', f[13], f[12], f[15])) AS names_text,
        CASE WHEN rt = 'MedicationStatement' THEN NULL
             ELSE CAST(f[16] AS DOUBLE) * coalesce(CAST(f[17] AS DOUBLE), 1) / coalesce(CAST(f[18] AS DOUBLE), 1) END AS dose
    FROM relevant
    WHERE rt IN ('MedicationRequest', 'MedicationDispense', 'MedicationStatement')
      AND NOT (rt = 'MedicationRequest' AND coalesce(f[2], '') IN ('entered-in-error', 'cancelled'))
      AND NOT (rt = 'MedicationDispense' AND coalesce(f[2], '') IN ('entered-in-error', 'cancelled', 'declined'))
      AND NOT (rt = 'MedicationStatement' AND coalesce(f[2], '') = 'entered-in-error')
),
by_code AS (SELECT m.row_id, dr.ingredient FROM meds m JOIN drugs dr ON dr.rxcui = m.code),
words AS (
    SELECT row_id, unnest(string_split_regex(names_text, '[^a-z0-9]+')) AS word
    FROM meds WHERE row_id NOT IN (SELECT row_id FROM by_code)
),
by_name AS (SELECT w.row_id, min(n.ingredient) AS ingredient FROM words w JOIN names n ON n.name = w.word GROUP BY w.row_id)
SELECT m.patient_id, m.d, coalesce(m.days, 30) AS days, m.dose, dr.ingredient, dr.min_dose, dr.role
FROM meds m
JOIN (SELECT * FROM by_code UNION ALL SELECT * FROM by_name) resolved USING (row_id)
JOIN drugs dr USING (ingredient)
WHERE m.d IS NOT NULL AND m.d <= DATE '{as_of}';

CREATE TEMP TABLE diagnoses AS
SELECT regexp_replace(f[1], '^.*Patient/', '') AS patient_id,
       CAST(left(coalesce(f[22], f[23]), 10) AS DATE) AS d,
       CASE WHEN f[19] = 'http://snomed.info/sct' AND f[20] IN ('35489007','370143000','36923009','66344007','310496002') THEN 'mdd'
            WHEN f[19] <> 'http://hl7.org/fhir/sid/icd-10-cm' THEN NULL
            WHEN replace(f[20], '.', '') IN ('F320','F321','F322','F323','F324','F325','F329','F330','F331','F332','F333','F338','F339')
                 OR replace(f[20], '.', '') LIKE 'F334%' THEN 'mdd'
            WHEN f[20] LIKE 'F31%' THEN 'bipolar'
            WHEN regexp_matches(f[20], '^F2[0-9]') THEN 'psychosis'
            ELSE NULL END AS kind
FROM relevant
WHERE rt = 'Condition' AND coalesce(f[21], '') <> 'entered-in-error';

CREATE TEMP TABLE courses AS
WITH ordered AS (
    SELECT *, max(d + CAST(days AS INTEGER)) OVER (PARTITION BY patient_id, ingredient ORDER BY d, days
                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS end_so_far
    FROM events
),
flagged AS (
    SELECT *, sum(CASE WHEN end_so_far IS NULL OR date_diff('day', end_so_far, d) > 30 THEN 1 ELSE 0 END)
                  OVER (PARTITION BY patient_id, ingredient ORDER BY d, days ROWS UNBOUNDED PRECEDING) AS course_no
    FROM ordered
)
SELECT patient_id, ingredient, any_value(role) AS role, min(d) AS start_d, max(d + CAST(days AS INTEGER)) AS end_d,
       max(dose) AS max_dose, any_value(min_dose) AS min_dose,
       date_diff('day', min(d), max(d + CAST(days AS INTEGER))) >= 42
         AND (max(dose) IS NULL OR any_value(min_dose) IS NULL OR max(dose) + 0.001 >= any_value(min_dose)) AS adequate
FROM flagged GROUP BY patient_id, ingredient, course_no;

CREATE TEMP TABLE episodes AS
WITH dates AS (
    SELECT DISTINCT patient_id, d FROM (
        SELECT patient_id, d FROM events WHERE role = 'ad'
        UNION ALL SELECT patient_id, d FROM diagnoses WHERE kind = 'mdd' AND d <= DATE '{as_of}')
),
marked AS (
    SELECT patient_id, d, lag(d) OVER (PARTITION BY patient_id ORDER BY d) AS previous FROM dates
)
SELECT patient_id, d AS episode_start,
       lead(d) OVER (PARTITION BY patient_id ORDER BY d) AS next_start
FROM marked WHERE previous IS NULL OR date_diff('day', previous, d) >= 180;

CREATE TEMP TABLE episode_courses AS
SELECT c.*, e.episode_start, e.next_start
FROM courses c ASOF JOIN episodes e ON c.patient_id = e.patient_id AND c.start_d >= e.episode_start;

CREATE TEMP TABLE failed AS
SELECT c.patient_id, c.episode_start, c.ingredient, min(c.start_d) AS start_d
FROM episode_courses c
WHERE c.role = 'ad' AND c.adequate AND EXISTS (
    SELECT 1 FROM episode_courses o
    WHERE o.patient_id = c.patient_id AND o.episode_start = c.episode_start AND o.role = 'ad'
      AND o.ingredient <> c.ingredient
      AND o.start_d >= c.start_d + 42 AND o.start_d <= c.start_d + 365)
GROUP BY ALL;

CREATE TEMP TABLE met AS
WITH second_failed AS (
    SELECT patient_id, episode_start, start_d FROM (
        SELECT *, row_number() OVER (PARTITION BY patient_id, episode_start ORDER BY start_d, ingredient) AS n FROM failed)
    WHERE n = 2
),
candidates AS (
    SELECT s.patient_id, s.episode_start,
        (SELECT min(c.start_d) FROM episode_courses c
         WHERE c.patient_id = s.patient_id AND c.episode_start = s.episode_start AND c.start_d > s.start_d) AS trd_date
    FROM second_failed s
    JOIN episodes e ON e.patient_id = s.patient_id AND e.episode_start = s.episode_start
    WHERE EXISTS (SELECT 1 FROM diagnoses x WHERE x.patient_id = s.patient_id AND x.kind = 'mdd'
                  AND x.d >= e.episode_start AND (e.next_start IS NULL OR x.d < e.next_start))
)
SELECT patient_id, min(trd_date) AS trd_date FROM candidates WHERE trd_date IS NOT NULL GROUP BY patient_id;

CREATE TEMP TABLE result AS
WITH patients AS (SELECT DISTINCT f[24] AS patient_id FROM relevant WHERE rt = 'Patient')
SELECT p.patient_id,
    CASE
      WHEN m.trd_date IS NOT NULL AND EXISTS (SELECT 1 FROM diagnoses x WHERE x.patient_id = p.patient_id
            AND x.kind IN ('bipolar', 'psychosis') AND x.d < m.trd_date) THEN 'excluded'
      WHEN m.trd_date IS NOT NULL THEN 'trd'
      WHEN EXISTS (SELECT 1 FROM diagnoses x WHERE x.patient_id = p.patient_id AND x.kind IN ('bipolar', 'psychosis')
            AND x.d <= DATE '{as_of}') THEN 'excluded'
      WHEN EXISTS (SELECT 1 FROM events v WHERE v.patient_id = p.patient_id AND v.role = 'ad') THEN 'not_trd'
      ELSE 'insufficient_data' END AS status,
    CASE WHEN m.trd_date IS NOT NULL AND NOT EXISTS (SELECT 1 FROM diagnoses x WHERE x.patient_id = p.patient_id
            AND x.kind IN ('bipolar', 'psychosis') AND x.d < m.trd_date) THEN m.trd_date END AS trd_date
FROM patients p LEFT JOIN met m USING (patient_id);
"""


def main():
    folder, threads = sys.argv[1], int(sys.argv[2])
    out = sys.argv[3] if len(sys.argv) > 3 else None
    as_of = "2025-12-31"
    connection = duckdb.connect()
    connection.execute(f"SET threads = {threads}")
    connection.execute("SET preserve_insertion_order = false")
    connection.execute("CREATE TEMP TABLE drugs (ingredient VARCHAR, rxcui VARCHAR, min_dose DOUBLE, role VARCHAR)")
    connection.executemany("INSERT INTO drugs VALUES (?, ?, ?, ?)", [row[:4] for row in DRUGS])
    connection.execute("CREATE TEMP TABLE names (name VARCHAR, ingredient VARCHAR)")
    connection.executemany(
        "INSERT INTO names VALUES (?, ?)",
        [(name, row[0]) for row in DRUGS for name in [row[0]] + row[4].split()],
    )
    started = time.perf_counter()
    for statement in SQL.format(glob=f"{folder}/*.ndjson*", as_of=as_of).split(";\n"):
        if statement.strip():
            connection.execute(statement)
    rows = connection.execute("SELECT patient_id, status, coalesce(CAST(trd_date AS VARCHAR), '') FROM result ORDER BY patient_id").fetchall()
    seconds = time.perf_counter() - started
    if out:
        with open(out, "w") as handle:
            handle.write("patient_id,status,trd_date\n")
            for row in rows:
                handle.write(",".join(row) + "\n")
    print(f"duckdb {duckdb.__version__}: {len(rows)} patients in {seconds:.2f} s")


if __name__ == "__main__":
    main()
