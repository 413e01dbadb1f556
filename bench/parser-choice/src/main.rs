//! Which JSON parser reads the screen's resources fastest: serde_json, sonic-rs, simd-json (serde API).
#![allow(dead_code)]
use std::borrow::Cow;
use std::time::Instant;
use serde::Deserialize;
// ---- Borrowed FHIR shapes: only the fields the screen reads; serde skips the rest. ----

#[derive(Deserialize, Default)]
struct Coding<'a> {
    #[serde(borrow, default)]
    system: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    display: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct CodeableConcept<'a> {
    #[serde(borrow, default)]
    coding: Vec<Coding<'a>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct Reference<'a> {
    #[serde(borrow, default)]
    reference: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct Period<'a> {
    #[serde(borrow, default)]
    start: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    end: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct Quantity<'a> {
    #[serde(default)]
    value: Option<f64>,
    #[serde(borrow, default)]
    unit: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    code: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ContainedResource<'a> {
    #[serde(borrow, default, rename = "resourceType")]
    resource_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    code: Option<CodeableConcept<'a>>,
}

#[derive(Deserialize, Default)]
struct TimingRepeat<'a> {
    #[serde(default)]
    frequency: Option<f64>,
    #[serde(default)]
    period: Option<f64>,
    #[serde(borrow, default, rename = "periodUnit")]
    period_unit: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct Timing<'a> {
    #[serde(borrow, default)]
    repeat: Option<TimingRepeat<'a>>,
}

#[derive(Deserialize, Default)]
struct DoseAndRate<'a> {
    #[serde(borrow, default, rename = "doseQuantity")]
    dose_quantity: Option<Quantity<'a>>,
}

#[derive(Deserialize, Default)]
struct Dosage<'a> {
    #[serde(borrow, default)]
    timing: Option<Timing<'a>>,
    #[serde(borrow, default, rename = "doseAndRate")]
    dose_and_rate: Vec<DoseAndRate<'a>>,
}

/// The medication fields shared by the four medication resources.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct MedicationResource<'a> {
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    subject: Option<Reference<'a>>,
    #[serde(borrow, default)]
    medication_codeable_concept: Option<CodeableConcept<'a>>,
    #[serde(borrow, default)]
    medication_reference: Option<Reference<'a>>,
    #[serde(borrow, default)]
    contained: Vec<ContainedResource<'a>>,
    #[serde(borrow, default)]
    dosage_instruction: Vec<Dosage<'a>>,
    // MedicationRequest
    #[serde(borrow, default)]
    authored_on: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    dispense_request: Option<DispenseRequest<'a>>,
    // MedicationDispense
    #[serde(borrow, default)]
    when_handed_over: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    when_prepared: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    days_supply: Option<Quantity<'a>>,
    // MedicationStatement, MedicationAdministration
    #[serde(borrow, default)]
    effective_date_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    effective_period: Option<Period<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DispenseRequest<'a> {
    #[serde(borrow, default)]
    expected_supply_duration: Option<Quantity<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatientResource<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow, default)]
    birth_date: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConditionResource<'a> {
    #[serde(borrow, default)]
    subject: Option<Reference<'a>>,
    #[serde(borrow, default)]
    code: Option<CodeableConcept<'a>>,
    #[serde(borrow, default)]
    verification_status: Option<CodeableConcept<'a>>,
    #[serde(borrow, default)]
    onset_date_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    recorded_date: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObservationResource<'a> {
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    subject: Option<Reference<'a>>,
    #[serde(borrow, default)]
    code: Option<CodeableConcept<'a>>,
    #[serde(borrow, default)]
    value_quantity: Option<Quantity<'a>>,
    #[serde(default)]
    value_integer: Option<f64>,
    #[serde(borrow, default)]
    effective_date_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    effective_period: Option<Period<'a>>,
    #[serde(borrow, default)]
    issued: Option<Cow<'a, str>>,
}


fn lines_of(paths: &[String]) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).unwrap();
        for line in bytes.split(|b| *b == b'\n') { if !line.is_empty() { lines.push(line.to_vec()); } }
    }
    lines
}

fn time<F: FnMut(&[u8]) -> usize>(name: &str, lines: &[Vec<u8>], mut f: F) {
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    let mut best = f64::MAX; let mut check = 0;
    for _ in 0..5 {
        let start = Instant::now();
        check = 0;
        for line in lines { check += f(line); }
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!("{name:40} {:8.1} MB/s  ({check})", bytes as f64 / 1e6 / best);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args.iter().position(|a| a == "--all").unwrap();
    let medication = lines_of(&args[..split]);
    let all = lines_of(&args[split + 1..]);
    let count = |r: &MedicationResource| r.contained.len() + r.dosage_instruction.len() + r.medication_codeable_concept.as_ref().map_or(0, |c| c.coding.len());
    time("medication: serde_json borrowed", &medication, |l| { let r: MedicationResource = serde_json::from_slice(l).unwrap(); count(&r) });
    time("medication: sonic-rs borrowed", &medication, |l| { let r: MedicationResource = sonic_rs::from_slice(l).unwrap(); count(&r) });
    let mut scratch = Vec::new();
    time("medication: simd-json serde (copy)", &medication, |l| { scratch.clear(); scratch.extend_from_slice(l); let r: MedicationResource = simd_json::serde::from_slice(&mut scratch).unwrap(); count(&r) });
    time("all lines: serde_json IgnoredAny", &all, |l| { let _: serde::de::IgnoredAny = serde_json::from_slice(l).unwrap(); 1 });
    time("all lines: sonic-rs IgnoredAny", &all, |l| { let _: serde::de::IgnoredAny = sonic_rs::from_slice(l).unwrap(); 1 });
    time("all lines: sonic-rs skip (LazyValue)", &all, |l| { let v: sonic_rs::LazyValue = sonic_rs::from_slice(l).unwrap(); v.as_raw_str().len().min(1) });
    let mut scratch2 = Vec::new();
    time("all lines: simd-json tape (copy)", &all, |l| { scratch2.clear(); scratch2.extend_from_slice(l); let t = simd_json::to_tape(&mut scratch2).unwrap(); t.0.len().min(1) });
}
