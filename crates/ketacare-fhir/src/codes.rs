//! The code systems and codes ketacare writes: LOINC, UCUM, RxNorm, ATC, ICD-10-CM and SNOMED CT from the
//! clinical reference (KNOWLEDGE §8, §1.4, §5), FHIR's own code systems, and ketacare's CodeSystem for
//! what has no standard code (docs/fhir.md lists every ketacare code with its meaning).

/// LOINC.
pub const LOINC: &str = "http://loinc.org";
/// UCUM units.
pub const UCUM: &str = "http://unitsofmeasure.org";
/// RxNorm (RXCUI).
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
/// WHO ATC.
pub const ATC: &str = "http://www.whocc.no/atc";
/// ICD-10-CM.
pub const ICD10CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";
/// SNOMED CT.
pub const SNOMED: &str = "http://snomed.info/sct";
/// FHIR's observation categories (`vital-signs`, `survey`, `exam`).
pub const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
/// FHIR's condition clinical status (`active`, `resolved`).
pub const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
/// FHIR's condition verification status (`confirmed`, `entered-in-error`).
pub const CONDITION_VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
/// FHIR's condition categories (`problem-list-item`, `encounter-diagnosis`).
pub const CONDITION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/condition-category";
/// FHIR's data-absent reasons.
pub const DATA_ABSENT_REASON: &str = "http://terminology.hl7.org/CodeSystem/data-absent-reason";
/// HL7 v3 ActCode: `Encounter.class` (`AMB`, ambulatory).
pub const V3_ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
/// FHIR's medication-statement categories (`outpatient`, `community`, `patient-specified`).
pub const MEDICATION_STATEMENT_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/medication-statement-category";
/// The FHIR vital-signs profile every vital-sign Observation claims.
pub const VITAL_SIGNS_PROFILE: &str = "http://hl7.org/fhir/StructureDefinition/vitalsigns";

/// ketacare's CodeSystem: its canonical URL (docs/fhir.md).
pub const KETACARE: &str = "https://ketacare.org/fhir/CodeSystem/ketacare";
/// Where ketacare's extensions are defined: `{base}/{name}`.
pub const KETACARE_EXTENSION_BASE: &str = "https://ketacare.org/fhir/StructureDefinition";
/// The system of the clinic's medical record numbers.
pub const KETACARE_MRN: &str = "https://ketacare.org/fhir/sid/mrn";
/// The system of ketacare's user accounts' ids (an audit event's agent).
pub const KETACARE_USER: &str = "https://ketacare.org/fhir/sid/user";

/// KNOWLEDGE §8.1: LOINC codes with their display and UCUM unit.
pub mod loinc {
    /// Blood pressure panel.
    pub const BP_PANEL: &str = "85354-9";
    pub const SYSTOLIC: &str = "8480-6";
    pub const DIASTOLIC: &str = "8462-4";
    pub const HEART_RATE: &str = "8867-4";
    pub const RESPIRATORY_RATE: &str = "9279-1";
    /// SpO2: KNOWLEDGE §8.1 gives 2708-6 (the FHIR vital-signs profile's code) plus 59408-5 (pulse oximetry).
    pub const SPO2_ARTERIAL: &str = "2708-6";
    pub const SPO2_PULSE_OXIMETRY: &str = "59408-5";
    pub const BODY_WEIGHT: &str = "29463-7";
    pub const BODY_HEIGHT: &str = "8302-2";
    pub const PHQ9_PANEL: &str = "44249-1";
    pub const PHQ9_TOTAL: &str = "44261-6";
    /// KNOWLEDGE §5.1: PHQ-9 items 1–9 in questionnaire order.
    pub const PHQ9_ITEMS: [&str; 9] =
        ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8"];
    /// KNOWLEDGE §5.1: the difficulty question (item 10), not part of the total.
    pub const PHQ9_DIFFICULTY: &str = "69722-7";
    pub const GAD7_PANEL: &str = "69737-5";
    pub const GAD7_TOTAL: &str = "70274-6";
    /// KNOWLEDGE §5.5: GAD-7 items 1–7 (item 6 is 69689-8; 69689-6 fails the check digit).
    pub const GAD7_ITEMS: [&str; 7] = ["69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"];
}

/// KNOWLEDGE §8.2: SNOMED CT concepts for the diagnoses an episode names.
pub mod snomed {
    pub const DEPRESSIVE_DISORDER: &str = "35489007";
    pub const MAJOR_DEPRESSIVE_DISORDER: &str = "370143000";
    pub const MDD_SINGLE_EPISODE: &str = "36923009";
    pub const RECURRENT_MAJOR_DEPRESSION: &str = "66344007";
    pub const MODERATE_RECURRENT_MAJOR_DEPRESSION: &str = "310496002";
}

/// The LOINC check digit (mod 10, as KNOWLEDGE §5.5 asks every LOINC to be validated in code).
pub fn loinc_check_digit_is_valid(code: &str) -> bool {
    let Some((body, check)) = code.split_once('-') else { return false };
    if body.is_empty() || check.len() != 1 || !body.bytes().all(|byte| byte.is_ascii_digit()) {
        return false;
    }
    // Luhn over the body: double every other digit from the right, starting with the rightmost.
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(position, byte)| {
            let digit = u32::from(byte - b'0');
            if position % 2 == 0 {
                let doubled = digit * 2;
                doubled / 10 + doubled % 10
            } else {
                digit
            }
        })
        .sum();
    let expected = (10 - sum % 10) % 10;
    check.parse::<u32>().is_ok_and(|digit| digit == expected)
}

/// Every LOINC code ketacare writes (for the check-digit test).
pub fn all_loinc_codes() -> Vec<&'static str> {
    let mut codes = vec![
        loinc::BP_PANEL,
        loinc::SYSTOLIC,
        loinc::DIASTOLIC,
        loinc::HEART_RATE,
        loinc::RESPIRATORY_RATE,
        loinc::SPO2_ARTERIAL,
        loinc::SPO2_PULSE_OXIMETRY,
        loinc::BODY_WEIGHT,
        loinc::BODY_HEIGHT,
        loinc::PHQ9_PANEL,
        loinc::PHQ9_TOTAL,
        loinc::PHQ9_DIFFICULTY,
        loinc::GAD7_PANEL,
        loinc::GAD7_TOTAL,
    ];
    codes.extend(loinc::PHQ9_ITEMS);
    codes.extend(loinc::GAD7_ITEMS);
    codes
}

/// ketacare's own codes (system [`KETACARE`]), with their display: what has no standard code.
pub const KETACARE_CODES: &[(&str, &str)] = &[
    ("trd-determination", "Treatment-resistant depression determination"),
    ("treatment-session-iv_racemic_ketamine", "Ketamine treatment session: IV racemic ketamine infusion (off-label)"),
    ("treatment-session-esketamine", "Ketamine treatment session: esketamine nasal spray under the REMS"),
    ("trd-label-definition", "TRD under the label definition (failed agents in the current episode)"),
    ("trd-distinct-classes-definition", "TRD under the distinct-classes definition"),
    ("trd-failed-agent", "An agent counted as a failed adequate trial"),
    ("trd-failed-class", "A drug class counted by the distinct-classes definition"),
    ("trd-trial-reason", "Why a trial was judged not adequate or not failed (drug: REASON_CODE)"),
    ("trd-failure-threshold", "The improvement below which an adequate trial counts as failed"),
    ("met", "Met"),
    ("not_met", "Not met"),
    ("indeterminate", "Indeterminate: data missing"),
    ("madrs-total", "MADRS total score"),
    ("qids-sr16-total", "QIDS-SR16 total score"),
    ("hamd17-total", "HAM-D17 total score"),
    ("cssrs-screen", "C-SSRS screener answers"),
    ("moaas", "MOAA/S score"),
    ("cadss-total", "CADSS total score"),
    ("bprs-positive-total", "BPRS positive-symptom subscale total"),
    ("pregnancy-status", "Pregnant (as recorded for eligibility)"),
    ("breastfeeding-status", "Breastfeeding (as recorded for eligibility)"),
    ("concomitant-class", "A concomitant medicine recorded by class"),
    ("history", "A history finding checked against the contraindication list"),
];

/// The display of a ketacare code; the code itself for a code generated from a closed list (a class or
/// history word, a C-SSRS question).
pub fn ketacare_display(code: &str) -> Option<&'static str> {
    KETACARE_CODES.iter().find(|(known, _)| *known == code).map(|(_, display)| *display)
}
