//! Seeded synthetic FHIR bulk exports (`ketacare synth`) and their `truth.csv`.
//!
//! The generator first plans each patient (episodes, antidepressant trials with their doses, fills,
//! gaps and switches, augmentation, exclusion diagnoses), then writes the plan as FHIR resources
//! together with unrelated resources (vital-sign Observations, Encounters, Procedures) in realistic
//! proportions. The expected `label` status is computed from the plan itself, never by running the
//! screen, so the screen can be tested against it. Same seed, same bytes: one SplitMix64 stream per
//! patient, no hash-map iteration anywhere.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use ketacare_core::drugs::{DrugEntry, drug_by_ingredient};
use rust_decimal::prelude::ToPrimitive;

use crate::dates::{DayNumber, days_from_civil, format_date};

/// SplitMix64 (Steele, Lea and Flood 2014): tiny, fast, and good enough for test data.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = self.state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^ (mixed >> 31)
    }

    /// A uniform integer in `low..=high`.
    pub fn between(&mut self, low: i64, high: i64) -> i64 {
        let span = (high - low + 1) as u64;
        low + (self.next_u64() % span) as i64
    }

    /// True with probability `probability`.
    pub fn chance(&mut self, probability: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= probability
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.between(0, items.len() as i64 - 1) as usize]
    }

    fn uuid(&mut self) -> String {
        let high = self.next_u64();
        let low = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            high >> 32,
            (high >> 16) & 0xffff,
            high & 0xfff,
            0x8000 | ((low >> 48) & 0x3fff),
            low & 0xffff_ffff_ffff
        )
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    pub patients: usize,
    pub seed: u64,
    pub gzip: bool,
    /// Multiplies the number of unrelated resources (1.0 = realistic proportions; tests use less).
    pub unrelated_scale: f64,
    /// Patients per output file part (each resource type is split into parts of this many patients).
    pub patients_per_file: usize,
}

impl SynthOptions {
    pub fn new(patients: usize, seed: u64) -> Self {
        SynthOptions { patients, seed, gzip: false, unrelated_scale: 1.0, patients_per_file: 5000 }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthSummary {
    pub patients: usize,
    pub resources: u64,
    pub files: usize,
}

/// A failed generation.
#[derive(Debug, thiserror::Error)]
pub enum WriteSyntheticExportError {
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// The last date any generated fact may have (tests screen as of any later date).
pub fn latest_generated_date() -> DayNumber {
    days_from_civil(2025, 6, 30)
}

/// Antidepressants the generator prescribes (all with a minimum dose in the knowledge base).
const ANTIDEPRESSANTS: &[&str] = &[
    "sertraline",
    "escitalopram",
    "citalopram",
    "fluoxetine",
    "paroxetine",
    "venlafaxine",
    "desvenlafaxine",
    "duloxetine",
    "bupropion",
    "mirtazapine",
    "trazodone",
    "vortioxetine",
    "amitriptyline",
    "nortriptyline",
];
const AUGMENTATION_AGENTS: &[&str] = &["lithium", "aripiprazole", "quetiapine"];

/// How a trial is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recording {
    Dispenses,
    Requests,
    Statement,
}

/// How the drug is named in the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Naming {
    IngredientCode,
    UnknownCodeWithDisplay,
    BrandText,
    ContainedMedication,
}

/// One planned course of one drug.
#[derive(Debug, Clone)]
struct PlannedCourse {
    drug: &'static DrugEntry,
    start: DayNumber,
    /// Event dates with the days each covers.
    fills: Vec<(DayNumber, i32)>,
    daily_dose_mg: Option<f64>,
    recording: Recording,
    naming: Naming,
}

impl PlannedCourse {
    fn end(&self) -> DayNumber {
        self.fills.iter().map(|(date, days)| date + days).max().unwrap_or(self.start)
    }
    fn last_event(&self) -> DayNumber {
        if self.recording == Recording::Statement {
            self.start
        } else {
            self.fills.last().map_or(self.start, |fill| fill.0)
        }
    }
}

#[derive(Debug, Clone)]
struct PlannedEpisode {
    start: DayNumber,
    mdd_diagnosis_dates: Vec<DayNumber>,
    trials: Vec<PlannedCourse>,
    augmentations: Vec<PlannedCourse>,
}

#[derive(Debug, Clone)]
struct PatientPlan {
    id: String,
    birth_date: DayNumber,
    gender: &'static str,
    episodes: Vec<PlannedEpisode>,
    /// ("bipolar" | "psychosis" | "dementia", ICD-10-CM code, date).
    exclusions: Vec<(&'static str, &'static str, DayNumber)>,
    phq9: Vec<(DayNumber, i64)>,
}

/// The `label` verdict the plan implies: (status, trd date). Mirrors the contract's rules over the
/// planned courses, whose construction guarantees the episode and course boundaries the screen will see.
fn label_truth(plan: &PatientPlan) -> (&'static str, Option<DayNumber>) {
    const MIN_COURSE_DAYS: i32 = 42;
    const MAX_COURSE_GAP_DAYS: i32 = 365;
    let mut trd_date = None;
    for episode in &plan.episodes {
        if episode.mdd_diagnosis_dates.is_empty() {
            continue;
        }
        let adequate = |course: &PlannedCourse| {
            let long_enough = course.end() - course.start >= MIN_COURSE_DAYS;
            let minimum = course.drug.min_daily_dose_mg.and_then(|minimum| minimum.to_f64()).unwrap_or(0.0);
            long_enough && course.daily_dose_mg.is_none_or(|dose| dose + 1e-3 >= minimum)
        };
        let mut failed: Vec<&PlannedCourse> = episode
            .trials
            .iter()
            .filter(|course| {
                adequate(course)
                    && episode.trials.iter().any(|other| {
                        other.drug.ingredient != course.drug.ingredient
                            && other.start >= course.start + MIN_COURSE_DAYS
                            && other.start <= course.start + MAX_COURSE_GAP_DAYS
                    })
            })
            .collect();
        failed.sort_by_key(|course| course.start);
        // One failed trial per ingredient (a restarted drug counts once).
        let mut seen: Vec<&str> = Vec::new();
        failed.retain(|course| {
            let first = !seen.contains(&course.drug.ingredient);
            seen.push(course.drug.ingredient);
            first
        });
        let Some(second) = failed.get(1) else { continue };
        trd_date = episode
            .trials
            .iter()
            .chain(episode.augmentations.iter())
            .map(|course| course.start)
            .filter(|start| *start > second.start)
            .min();
        if trd_date.is_some() {
            break;
        }
    }
    let has_antidepressant = plan.episodes.iter().any(|episode| !episode.trials.is_empty());
    let excluding = |before: Option<DayNumber>| {
        plan.exclusions.iter().any(|(kind, _, date)| {
            matches!(*kind, "bipolar" | "psychosis") && before.is_none_or(|before| *date < before)
        })
    };
    match trd_date {
        Some(date) if excluding(Some(date)) => ("excluded", None),
        Some(date) => ("trd", Some(date)),
        None if excluding(None) => ("excluded", None),
        None if has_antidepressant => ("not_trd", None),
        None => ("insufficient_data", None),
    }
}

fn plan_course(
    random: &mut SplitMix64,
    drug: &'static DrugEntry,
    start: DayNumber,
    latest: DayNumber,
    augmentation: bool,
) -> PlannedCourse {
    let minimum = drug.min_daily_dose_mg.and_then(|minimum| minimum.to_f64());
    // Course shapes: early stop (one fill), short, adequate length; some with refill gaps up to the
    // 30-day boundary; some at a low dose.
    let fill_count = match random.between(0, 9) {
        0 | 1 => 1,
        2 => 2,
        _ => random.between(3, 10),
    };
    let recording = match random.between(0, 9) {
        0..=4 => Recording::Dispenses,
        5..=7 => Recording::Requests,
        _ => Recording::Statement,
    };
    let naming = match random.between(0, 9) {
        0..=5 => Naming::IngredientCode,
        6 => Naming::UnknownCodeWithDisplay,
        7 | 8 => Naming::BrandText,
        _ => Naming::ContainedMedication,
    };
    let naming =
        if naming == Naming::IngredientCode && drug.rxcui_ingredient.is_none() { Naming::BrandText } else { naming };
    let daily_dose_mg = match (recording, minimum, augmentation) {
        (Recording::Statement, _, _) | (_, None, _) => None,
        (_, Some(_), true) => Some(5.0),
        (_, Some(minimum), false) => Some(match random.between(0, 9) {
            0 => minimum / 2.0,
            1..=5 => minimum,
            _ => minimum * 2.0,
        }),
    };
    let mut fills = Vec::new();
    match recording {
        Recording::Statement => {
            let days = random.between(20, 300) as i32;
            fills.push((start, days));
        }
        _ => {
            let mut date = start;
            for index in 0..fill_count {
                if date > latest {
                    break;
                }
                let days = if random.chance(0.1) { 90 } else { 30 };
                fills.push((date, days));
                // Next fill: on time, or late by up to the 30-day refill gap (the boundary included).
                let late_by = match random.between(0, 9) {
                    0..=5 => 0,
                    6..=8 => random.between(1, 29) as i32,
                    _ => 30,
                };
                if index + 1 < fill_count {
                    date += days + late_by;
                }
            }
        }
    }
    PlannedCourse { drug, start, fills, daily_dose_mg, recording, naming }
}

fn plan_patient(seed: u64, index: usize) -> PatientPlan {
    let mut random = SplitMix64::new(seed ^ (index as u64).wrapping_mul(0xA076_1D64_78BD_642F));
    let latest = latest_generated_date();
    let id = random.uuid();
    let birth_date =
        days_from_civil(random.between(1940, 2009) as i32, random.between(1, 12) as i32, random.between(1, 28) as i32);
    let gender = if random.chance(0.6) { "female" } else { "male" };
    let mut episodes = Vec::new();
    let mut used_augmentations: Vec<&str> = Vec::new();
    let mut date =
        days_from_civil(random.between(2010, 2021) as i32, random.between(1, 12) as i32, random.between(1, 28) as i32);
    let treated = random.chance(0.9);
    let episode_count = if !treated {
        0
    } else if random.chance(0.7) {
        1
    } else {
        2
    };
    for _ in 0..episode_count {
        if date > latest - 700 {
            break;
        }
        let start = date;
        let mut episode =
            PlannedEpisode { start, mdd_diagnosis_dates: Vec::new(), trials: Vec::new(), augmentations: Vec::new() };
        if random.chance(0.88) {
            episode.mdd_diagnosis_dates.push(start);
        }
        // The latest date (MDD diagnosis or antidepressant event) of the episode so far: the next
        // trial starts well within the 180-day clean gap of it, so the episode does not split.
        let mut last_episode_date = start;
        let trial_count = *random.pick(&[1, 1, 2, 2, 3, 3, 3, 4, 4, 5]);
        let mut used: Vec<&str> = Vec::new();
        let mut trial_start = start + random.between(0, 20) as i32;
        for trial_index in 0..trial_count {
            if trial_start > latest - 700 {
                break;
            }
            let ingredient = loop {
                let candidate = *random.pick(ANTIDEPRESSANTS);
                if !used.contains(&candidate) {
                    break candidate;
                }
            };
            used.push(ingredient);
            let drug = drug_by_ingredient(ingredient).expect("generator drugs are in the knowledge base");
            let course = plan_course(&mut random, drug, trial_start, latest, false);
            last_episode_date = last_episode_date.max(course.last_event());
            if trial_index > 0 && random.chance(0.3) {
                episode.mdd_diagnosis_dates.push(trial_start.max(start));
            }
            // Augmentation begun partway through a trial: at most one per episode, and never the same
            // agent twice for a patient, so two planned augmentation courses cannot merge into one.
            let agent_name = *random.pick::<&str>(AUGMENTATION_AGENTS);
            if random.chance(0.12) && episode.augmentations.is_empty() && !used_augmentations.contains(&agent_name) {
                used_augmentations.push(agent_name);
                let agent = drug_by_ingredient(agent_name).expect("augmentation agents are known");
                let augmentation_start = trial_start + random.between(10, 120) as i32;
                episode.augmentations.push(plan_course(&mut random, agent, augmentation_start, latest, true));
            }
            // A restart of the same drug after a refill gap longer than 30 days: a second course.
            let restart_start = course.end() + random.between(31, 60) as i32;
            // (Only when it stays within the episode: well inside 180 days of the course's last event.)
            let restart =
                (random.chance(0.08) && restart_start <= latest && restart_start - course.last_event() <= 150)
                    .then(|| plan_course(&mut random, drug, restart_start, latest, false));
            episode.trials.push(course);
            if let Some(restart) = restart {
                last_episode_date = last_episode_date.max(restart.last_event());
                episode.trials.push(restart);
            }
            // Next switch: a cross-taper (before 42 days), a usual switch, or a late one.
            let offset = match random.between(0, 9) {
                0 => random.between(5, 41),
                1 => 42,
                2..=7 => random.between(43, 200),
                _ => random.between(201, 420),
            } as i32;
            trial_start = (trial_start + offset).min(last_episode_date + 150).max(trial_start + 1);
        }
        episode.augmentations.retain(|augmentation| augmentation.start >= start);
        let episode_end = episode
            .trials
            .iter()
            .map(PlannedCourse::last_event)
            .chain(episode.mdd_diagnosis_dates.iter().copied())
            .max()
            .unwrap_or(start);
        // Coverage can outlast the last event (a long MedicationStatement has one event at its start).
        let coverage_end =
            episode.trials.iter().chain(episode.augmentations.iter()).map(PlannedCourse::end).max().unwrap_or(start);
        episodes.push(episode);
        // A clean gap of at least 180 days (often much longer) before the next episode, which also starts
        // more than the 30-day refill gap after the coverage ends, so no course runs on into it.
        date = (episode_end + random.between(200, 900) as i32).max(coverage_end + random.between(45, 120) as i32);
    }
    let mut exclusions = Vec::new();
    let span_start = days_from_civil(2008, 1, 1);
    for (probability, kind, codes) in [
        (0.05, "bipolar", &["F31.9", "F31.31", "F31.0"][..]),
        (0.025, "psychosis", &["F20.9", "F29", "F25.0"][..]),
        (0.01, "dementia", &["F03.90", "G30.9"][..]),
    ] {
        if random.chance(probability) {
            let when = random.between(i64::from(span_start), i64::from(latest)) as i32;
            exclusions.push((kind, *random.pick(codes), when));
        }
    }
    let mut phq9 = Vec::new();
    for episode in &episodes {
        for _ in 0..random.between(0, 4) {
            let when = episode.start + random.between(0, 300) as i32;
            if when <= latest {
                phq9.push((when, random.between(3, 27)));
            }
        }
    }
    PatientPlan { id, birth_date, gender, episodes, exclusions, phq9 }
}

/// The output files of one part, one per resource type.
struct PartWriters {
    writers: Vec<(String, Box<dyn Write>)>,
    paths: Vec<PathBuf>,
}

const RESOURCE_FILES: &[&str] = &[
    "Patient",
    "Condition",
    "MedicationRequest",
    "MedicationDispense",
    "MedicationStatement",
    "Observation",
    "Encounter",
    "Procedure",
];

impl PartWriters {
    fn open(folder: &Path, part: usize, gzip: bool) -> Result<Self, WriteSyntheticExportError> {
        let mut writers: Vec<(String, Box<dyn Write>)> = Vec::new();
        let mut paths = Vec::new();
        for name in RESOURCE_FILES {
            let file_name =
                if gzip { format!("{name}.{part:03}.ndjson.gz") } else { format!("{name}.{part:03}.ndjson") };
            let path = folder.join(file_name);
            let file =
                File::create(&path).map_err(|source| WriteSyntheticExportError::Io { path: path.clone(), source })?;
            let buffered = BufWriter::with_capacity(1 << 20, file);
            let writer: Box<dyn Write> =
                if gzip { Box::new(GzEncoder::new(buffered, Compression::fast())) } else { Box::new(buffered) };
            writers.push((name.to_string(), writer));
            paths.push(path);
        }
        Ok(PartWriters { writers, paths })
    }

    fn writer(&mut self, resource: &str) -> &mut dyn Write {
        let position = RESOURCE_FILES.iter().position(|name| *name == resource).expect("known resource file");
        self.writers[position].1.as_mut()
    }
}

fn date_time(date: DayNumber, random: &mut SplitMix64) -> String {
    format!("{}T{:02}:{:02}:00-05:00", format_date(date), random.between(7, 18), random.between(0, 59))
}

/// Writes the export and `truth.csv` into `folder` (created if missing).
pub fn write_synthetic_export(
    folder: &Path,
    options: &SynthOptions,
) -> Result<SynthSummary, WriteSyntheticExportError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteSyntheticExportError::Io { path, source }
    };
    std::fs::create_dir_all(folder).map_err(io_error(folder))?;
    let truth_path = folder.join("truth.csv");
    let mut truth = BufWriter::new(File::create(&truth_path).map_err(io_error(&truth_path))?);
    writeln!(truth, "patient_id,status,trd_date").map_err(io_error(&truth_path))?;
    let mut truth_rows = Vec::with_capacity(options.patients);
    let mut resources = 0u64;
    let mut files = 0usize;
    let patients_per_file = options.patients_per_file.max(1);
    let mut part: Option<PartWriters> = None;
    for index in 0..options.patients {
        if index % patients_per_file == 0 {
            if let Some(finished) = part.take() {
                finish_part(finished)?;
            }
            let opened = PartWriters::open(folder, index / patients_per_file, options.gzip)?;
            files += opened.paths.len();
            part = Some(opened);
        }
        let writers = part.as_mut().expect("a part is open");
        let plan = plan_patient(options.seed, index);
        let (status, trd_date) = label_truth(&plan);
        truth_rows.push(format!("{},{},{}", plan.id, status, trd_date.map(format_date).unwrap_or_default()));
        let mut random = SplitMix64::new(options.seed.wrapping_add(0x5151) ^ (index as u64).wrapping_mul(0x9E37_79B9));
        resources += write_patient(&plan, options, &mut random, writers)
            .map_err(|source| WriteSyntheticExportError::Io { path: folder.to_path_buf(), source })?;
        // A few resources that reference a patient with no Patient resource (reading 16: no row).
        if index % 997 == 0 {
            let orphan = format!("orphan-{index}");
            let line = medication_line(
                "MedicationRequest",
                &orphan,
                &mut random,
                drug_by_ingredient("sertraline").expect("known"),
                days_from_civil(2020, 1, 1),
                30,
                Some(50.0),
                Naming::IngredientCode,
                None,
            );
            writeln!(writers.writer("MedicationRequest"), "{line}").map_err(io_error(folder))?;
            resources += 1;
        }
    }
    if let Some(finished) = part.take() {
        finish_part(finished)?;
    }
    truth_rows.sort();
    for row in truth_rows {
        writeln!(truth, "{row}").map_err(io_error(&truth_path))?;
    }
    truth.flush().map_err(io_error(&truth_path))?;
    Ok(SynthSummary { patients: options.patients, resources, files })
}

fn finish_part(part: PartWriters) -> Result<(), WriteSyntheticExportError> {
    for ((_, mut writer), path) in part.writers.into_iter().zip(part.paths) {
        writer.flush().map_err(|source| WriteSyntheticExportError::Io { path: path.clone(), source })?;
        drop(writer);
    }
    Ok(())
}

fn patient_line(plan: &PatientPlan, random: &mut SplitMix64) -> String {
    let family = random.pick(&["Smith", "Garcia", "Nguyen", "Okafor", "Müller", "Kowalski", "Haddad", "Silva"]);
    let given = random.pick(&["Alex", "Maria", "Sam", "Li", "Fatima", "John", "Aino", "Jonas"]);
    format!(
        concat!(
            r#"{{"resourceType":"Patient","id":"{id}","meta":{{"profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]}},"#,
            r#""text":{{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Generated by ketacare synth</div>"}},"#,
            r#""identifier":[{{"system":"https://github.com/ketacare/synth","value":"{id}"}},{{"type":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR","display":"Medical Record Number"}}],"text":"Medical Record Number"}},"system":"http://hospital.example.org","value":"{mrn}"}}],"#,
            r#""name":[{{"use":"official","family":"{family}","given":["{given}"]}}],"telecom":[{{"system":"phone","value":"555-{phone:03}-{phone2:04}","use":"home"}}],"#,
            r#""gender":"{gender}","birthDate":"{birth}","address":[{{"line":["{house} Example Street"],"city":"Springfield","state":"MA","postalCode":"0{zip:04}","country":"US"}}],"#,
            r#""maritalStatus":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus","code":"M","display":"Married"}}],"text":"M"}},"multipleBirthBoolean":false,"#,
            r#""communication":[{{"language":{{"coding":[{{"system":"urn:ietf:bcp:47","code":"en-US","display":"English (United States)"}}],"text":"English (United States)"}}}}]}}"#
        ),
        id = plan.id,
        mrn = random.uuid(),
        family = family,
        given = given,
        phone = random.between(100, 999),
        phone2 = random.between(0, 9999),
        gender = plan.gender,
        birth = format_date(plan.birth_date),
        house = random.between(1, 999),
        zip = random.between(1000, 9999),
    )
}

fn condition_line(
    patient: &str,
    random: &mut SplitMix64,
    system: &str,
    code: &str,
    display: &str,
    date: DayNumber,
    entered_in_error: bool,
) -> String {
    let verification = if entered_in_error { "entered-in-error" } else { "confirmed" };
    let date_field = if random.chance(0.8) {
        format!(r#""onsetDateTime":"{}","recordedDate":"{}""#, date_time(date, random), date_time(date + 3, random))
    } else {
        format!(r#""recordedDate":"{}""#, date_time(date, random))
    };
    format!(
        concat!(
            r#"{{"resourceType":"Condition","id":"{id}","meta":{{"profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-condition"]}},"#,
            r#""clinicalStatus":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"{clinical}"}}]}},"#,
            r#""verificationStatus":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"{verification}"}}]}},"#,
            r#""category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"encounter-diagnosis","display":"Encounter Diagnosis"}}]}}],"#,
            r#""code":{{"coding":[{{"system":"{system}","code":"{code}","display":"{display}"}}],"text":"{display}"}},"#,
            r#""subject":{{"reference":"Patient/{patient}"}},"encounter":{{"reference":"Encounter/{encounter}"}},{date_field}}}"#
        ),
        id = random.uuid(),
        clinical = if random.chance(0.5) { "active" } else { "resolved" },
        verification = verification,
        system = system,
        code = code,
        display = display,
        patient = patient,
        encounter = random.uuid(),
        date_field = date_field,
    )
}

fn medication_concept(drug: &DrugEntry, naming: Naming, random: &mut SplitMix64, dose_mg: Option<f64>) -> String {
    let strength = dose_mg.map(|dose| format!(" {} MG", dose.round() as i64)).unwrap_or_default();
    let display = format!("{}{} Oral Tablet", drug.ingredient, strength);
    match naming {
        Naming::IngredientCode => format!(
            r#"{{"coding":[{{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"{}","display":"{}"}}],"text":"{}"}}"#,
            drug.rxcui_ingredient.unwrap_or(""),
            display,
            display
        ),
        Naming::UnknownCodeWithDisplay | Naming::ContainedMedication => format!(
            r#"{{"coding":[{{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"{}","display":"{}"}}]}}"#,
            random.between(1_000_000, 1_999_999),
            display
        ),
        Naming::BrandText => {
            let name = drug.other_names.first().copied().unwrap_or(drug.ingredient);
            let mut brand = name.to_string();
            if let Some(first) = brand.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            format!(r#"{{"text":"{brand}{strength} tablet"}}"#)
        }
    }
}

/// A medication resource line of `resource_type` for one fill / order / statement.
#[allow(clippy::too_many_arguments)]
fn medication_line(
    resource_type: &str,
    patient: &str,
    random: &mut SplitMix64,
    drug: &DrugEntry,
    date: DayNumber,
    days: i32,
    daily_dose_mg: Option<f64>,
    naming: Naming,
    status_override: Option<&str>,
) -> String {
    // Half the orders are written as twice-daily half doses.
    let twice_daily = random.chance(0.3);
    let unit_dose = daily_dose_mg.map(|dose| if twice_daily { dose / 2.0 } else { dose });
    let concept = medication_concept(drug, naming, random, unit_dose);
    let medication = if naming == Naming::ContainedMedication {
        format!(
            r##""contained":[{{"resourceType":"Medication","id":"med1","code":{concept}}}],"medicationReference":{{"reference":"#med1"}}"##
        )
    } else {
        format!(r#""medicationCodeableConcept":{concept}"#)
    };
    let dosage = match unit_dose {
        Some(dose) => format!(
            r#","dosageInstruction":[{{"sequence":1,"text":"take as directed","timing":{{"repeat":{{"frequency":{},"period":1,"periodUnit":"d"}}}},"asNeededBoolean":false,"doseAndRate":[{{"type":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/dose-rate-type","code":"ordered","display":"Ordered"}}]}},"doseQuantity":{{"value":{},"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}}}}]}}]"#,
            if twice_daily { 2 } else { 1 },
            dose
        ),
        None => String::new(),
    };
    let id = random.uuid();
    let encounter = random.uuid();
    match resource_type {
        "MedicationRequest" => format!(
            r#"{{"resourceType":"MedicationRequest","id":"{id}","status":"{status}","intent":"order",{medication},"subject":{{"reference":"Patient/{patient}"}},"encounter":{{"reference":"Encounter/{encounter}"}},"authoredOn":"{authored}","requester":{{"reference":"Practitioner/{practitioner}","display":"Dr. Example"}}{dosage},"dispenseRequest":{{"numberOfRepeatsAllowed":0,"quantity":{{"value":{days},"unit":"TAB"}},"expectedSupplyDuration":{{"value":{days},"unit":"days","system":"http://unitsofmeasure.org","code":"d"}}}}}}"#,
            status = status_override.unwrap_or("completed"),
            authored = date_time(date, random),
            practitioner = random.between(1000, 9999),
        ),
        "MedicationDispense" => format!(
            r#"{{"resourceType":"MedicationDispense","id":"{id}","status":"{status}",{medication},"subject":{{"reference":"Patient/{patient}"}},"performer":[{{"actor":{{"reference":"Organization/{pharmacy}","display":"Example Pharmacy"}}}}],"quantity":{{"value":{days},"unit":"TAB"}},"daysSupply":{{"value":{days},"unit":"Day","system":"http://unitsofmeasure.org","code":"d"}},"whenPrepared":"{prepared}","whenHandedOver":"{handed}"{dosage}}}"#,
            status = status_override.unwrap_or("completed"),
            pharmacy = random.between(100, 999),
            prepared = date_time(date, random),
            handed = date_time(date, random),
        ),
        _ => format!(
            r#"{{"resourceType":"MedicationStatement","id":"{id}","status":"{status}",{medication},"subject":{{"reference":"Patient/{patient}"}},"effectivePeriod":{{"start":"{start}","end":"{end}"}},"dateAsserted":"{asserted}","informationSource":{{"reference":"Patient/{patient}"}}}}"#,
            status = status_override.unwrap_or("completed"),
            start = format_date(date),
            end = format_date(date + days),
            asserted = date_time(date + days, random),
        ),
    }
}

fn write_course(
    course: &PlannedCourse,
    patient: &str,
    random: &mut SplitMix64,
    writers: &mut PartWriters,
) -> io::Result<u64> {
    let resource_type = match course.recording {
        Recording::Dispenses => "MedicationDispense",
        Recording::Requests => "MedicationRequest",
        Recording::Statement => "MedicationStatement",
    };
    let mut written = 0;
    for &(date, days) in &course.fills {
        let line = medication_line(
            resource_type,
            patient,
            random,
            course.drug,
            date,
            days,
            course.daily_dose_mg,
            course.naming,
            None,
        );
        writeln!(writers.writer(resource_type), "{line}")?;
        written += 1;
    }
    Ok(written)
}

const VITAL_SIGNS: &[(&str, &str, &str, i64, i64)] = &[
    ("8867-4", "Heart rate", "/min", 55, 100),
    ("9279-1", "Respiratory rate", "/min", 12, 20),
    ("29463-7", "Body Weight", "kg", 50, 120),
    ("8302-2", "Body Height", "cm", 150, 195),
    ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", 18, 40),
    ("8310-5", "Body temperature", "Cel", 36, 38),
    ("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", 70, 140),
    ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported", "{score}", 0, 10),
];

fn observation_line(patient: &str, random: &mut SplitMix64, date: DayNumber) -> String {
    let id = random.uuid();
    let encounter = random.uuid();
    let when = date_time(date, random);
    if random.chance(0.2) {
        return format!(
            r#"{{"resourceType":"Observation","id":"{id}","status":"final","category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"vital-signs"}}]}}],"code":{{"coding":[{{"system":"http://loinc.org","code":"85354-9","display":"Blood pressure panel with all children optional"}}],"text":"Blood pressure panel with all children optional"}},"subject":{{"reference":"Patient/{patient}"}},"encounter":{{"reference":"Encounter/{encounter}"}},"effectiveDateTime":"{when}","issued":"{when}","component":[{{"code":{{"coding":[{{"system":"http://loinc.org","code":"8462-4","display":"Diastolic Blood Pressure"}}],"text":"Diastolic Blood Pressure"}},"valueQuantity":{{"value":{diastolic},"unit":"mm[Hg]","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}}},{{"code":{{"coding":[{{"system":"http://loinc.org","code":"8480-6","display":"Systolic Blood Pressure"}}],"text":"Systolic Blood Pressure"}},"valueQuantity":{{"value":{systolic},"unit":"mm[Hg]","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}}}]}}"#,
            diastolic = random.between(60, 95),
            systolic = random.between(100, 160),
        );
    }
    let (code, display, unit, low, high) = *random.pick(VITAL_SIGNS);
    format!(
        r#"{{"resourceType":"Observation","id":"{id}","status":"final","category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"vital-signs"}}]}}],"code":{{"coding":[{{"system":"http://loinc.org","code":"{code}","display":"{display}"}}],"text":"{display}"}},"subject":{{"reference":"Patient/{patient}"}},"encounter":{{"reference":"Encounter/{encounter}"}},"effectiveDateTime":"{when}","issued":"{when}","valueQuantity":{{"value":{value}.{tenth},"unit":"{unit}","system":"http://unitsofmeasure.org","code":"{unit}"}}}}"#,
        value = random.between(low, high),
        tenth = random.between(0, 9),
    )
}

fn phq9_line(patient: &str, random: &mut SplitMix64, date: DayNumber, total: i64) -> String {
    format!(
        r#"{{"resourceType":"Observation","id":"{id}","status":"final","category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"survey","display":"Survey"}}]}}],"code":{{"coding":[{{"system":"http://loinc.org","code":"44261-6","display":"Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"}}],"text":"PHQ-9 total"}},"subject":{{"reference":"Patient/{patient}"}},"effectiveDateTime":"{when}","issued":"{when}","valueQuantity":{{"value":{total},"unit":"{{score}}","system":"http://unitsofmeasure.org","code":"{{score}}"}}}}"#,
        id = random.uuid(),
        when = date_time(date, random),
    )
}

fn encounter_line(patient: &str, random: &mut SplitMix64, date: DayNumber) -> String {
    // Reading 13: a reason code is not a diagnosis; some encounters carry F31 / F33 reason codes as a trap.
    let reason = match random.between(0, 19) {
        0 => {
            r#","reasonCode":[{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"F31.9","display":"Bipolar disorder, unspecified"}]}]"#
        }
        1 => {
            r#","reasonCode":[{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"F33.1","display":"Major depressive disorder, recurrent, moderate"}]}]"#
        }
        _ => "",
    };
    format!(
        r#"{{"resourceType":"Encounter","id":"{id}","status":"finished","class":{{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"}},"type":[{{"coding":[{{"system":"http://snomed.info/sct","code":"185349003","display":"Encounter for check up (procedure)"}}],"text":"Encounter for check up (procedure)"}}],"subject":{{"reference":"Patient/{patient}"}},"participant":[{{"individual":{{"reference":"Practitioner/{practitioner}","display":"Dr. Example"}}}}],"period":{{"start":"{start}","end":"{start}"}}{reason},"serviceProvider":{{"reference":"Organization/{organization}","display":"Example Clinic"}}}}"#,
        id = random.uuid(),
        practitioner = random.between(1000, 9999),
        start = date_time(date, random),
        organization = random.between(100, 999),
    )
}

fn procedure_line(patient: &str, random: &mut SplitMix64, date: DayNumber) -> String {
    let (code, display) = *random.pick(&[
        ("430193006", "Medication Reconciliation (procedure)"),
        ("710824005", "Assessment of health and social care needs (procedure)"),
        ("171207006", "Depression screening (procedure)"),
        ("428211000124100", "Assessment of substance use (procedure)"),
    ]);
    format!(
        r#"{{"resourceType":"Procedure","id":"{id}","status":"completed","code":{{"coding":[{{"system":"http://snomed.info/sct","code":"{code}","display":"{display}"}}],"text":"{display}"}},"subject":{{"reference":"Patient/{patient}"}},"encounter":{{"reference":"Encounter/{encounter}"}},"performedPeriod":{{"start":"{start}","end":"{start}"}}}}"#,
        id = random.uuid(),
        encounter = random.uuid(),
        start = date_time(date, random),
    )
}

fn write_patient(
    plan: &PatientPlan,
    options: &SynthOptions,
    random: &mut SplitMix64,
    writers: &mut PartWriters,
) -> io::Result<u64> {
    let patient = plan.id.as_str();
    let latest = latest_generated_date();
    let mut written = 1;
    writeln!(writers.writer("Patient"), "{}", patient_line(plan, random))?;
    let icd = "http://hl7.org/fhir/sid/icd-10-cm";
    let snomed = "http://snomed.info/sct";
    for episode in &plan.episodes {
        for &date in &episode.mdd_diagnosis_dates {
            let line = if random.chance(0.25) {
                let (code, display) = *random
                    .pick(&[("370143000", "Major depressive disorder"), ("66344007", "Recurrent major depression")]);
                condition_line(patient, random, snomed, code, display, date, false)
            } else {
                let (code, display) = *random.pick(&[
                    ("F32.1", "Major depressive disorder, single episode, moderate"),
                    ("F32.2", "Major depressive disorder, single episode, severe without psychotic features"),
                    ("F33.1", "Major depressive disorder, recurrent, moderate"),
                    ("F33.2", "Major depressive disorder, recurrent severe without psychotic features"),
                    ("F32.9", "Major depressive disorder, single episode, unspecified"),
                ]);
                condition_line(patient, random, icd, code, display, date, false)
            };
            writeln!(writers.writer("Condition"), "{line}")?;
            written += 1;
        }
        if episode.mdd_diagnosis_dates.is_empty() {
            // Traps: depression codes that are not MDD (reading 13) and an MDD diagnosis entered in error.
            let line = if random.chance(0.5) {
                condition_line(patient, random, icd, "F32.A", "Depression, unspecified", episode.start, false)
            } else {
                condition_line(
                    patient,
                    random,
                    icd,
                    "F33.1",
                    "Major depressive disorder, recurrent, moderate",
                    episode.start,
                    true,
                )
            };
            writeln!(writers.writer("Condition"), "{line}")?;
            written += 1;
        }
        for course in episode.trials.iter().chain(episode.augmentations.iter()) {
            written += write_course(course, patient, random, writers)?;
        }
        // Ignored orders: entered in error, cancelled or declined, of a drug not otherwise used.
        if random.chance(0.08) {
            let drug = drug_by_ingredient("fluvoxamine").expect("known");
            let date = episode.start + random.between(60, 120) as i32;
            let (resource_type, status) = *random.pick(&[
                ("MedicationRequest", "entered-in-error"),
                ("MedicationRequest", "cancelled"),
                ("MedicationDispense", "declined"),
                ("MedicationDispense", "entered-in-error"),
            ]);
            for fill in 0..3 {
                let line = medication_line(
                    resource_type,
                    patient,
                    random,
                    drug,
                    date + fill * 30,
                    30,
                    Some(100.0),
                    Naming::IngredientCode,
                    Some(status),
                );
                writeln!(writers.writer(resource_type), "{line}")?;
                written += 1;
            }
        }
    }
    for &(kind, code, date) in &plan.exclusions {
        let display = match kind {
            "bipolar" => "Bipolar disorder",
            "psychosis" => "Psychotic disorder",
            _ => "Dementia",
        };
        writeln!(writers.writer("Condition"), "{}", condition_line(patient, random, icd, code, display, date, false))?;
        written += 1;
    }
    // An exclusion diagnosis entered in error is ignored.
    if random.chance(0.02) {
        let date = days_from_civil(2015, 1, 1);
        let line = condition_line(patient, random, icd, "F31.9", "Bipolar disorder", date, true);
        writeln!(writers.writer("Condition"), "{line}")?;
        written += 1;
    }
    // Unrelated diagnoses and medications.
    for _ in 0..random.between(0, 3) {
        let (code, display) = *random.pick(&[
            ("I10", "Essential hypertension"),
            ("E11.9", "Type 2 diabetes mellitus"),
            ("F41.1", "Generalized anxiety disorder"),
            ("J45.909", "Asthma"),
        ]);
        let date = random.between(i64::from(days_from_civil(2008, 1, 1)), i64::from(latest)) as i32;
        writeln!(writers.writer("Condition"), "{}", condition_line(patient, random, icd, code, display, date, false))?;
        written += 1;
    }
    for _ in 0..random.between(0, 4) {
        let (code, name) = *random.pick(&[
            ("29046", "lisinopril 10 MG Oral Tablet"),
            ("6809", "metformin 500 MG Oral Tablet"),
            ("83367", "atorvastatin 20 MG Oral Tablet"),
        ]);
        let date = random.between(i64::from(days_from_civil(2008, 1, 1)), i64::from(latest)) as i32;
        let line = format!(
            r#"{{"resourceType":"MedicationRequest","id":"{}","status":"active","intent":"order","medicationCodeableConcept":{{"coding":[{{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"{code}","display":"{name}"}}],"text":"{name}"}},"subject":{{"reference":"Patient/{patient}"}},"authoredOn":"{}"}}"#,
            random.uuid(),
            date_time(date, random)
        );
        writeln!(writers.writer("MedicationRequest"), "{line}")?;
        written += 1;
    }
    for &(date, total) in &plan.phq9 {
        writeln!(writers.writer("Observation"), "{}", phq9_line(patient, random, date, total))?;
        written += 1;
    }
    // Unrelated resources: in Synthea about 57 % of resources are Observations.
    let scale = options.unrelated_scale.max(0.0);
    let encounters = (random.between(8, 30) as f64 * scale).round() as i64;
    let observations = (random.between(40, 120) as f64 * scale).round() as i64;
    let procedures = (random.between(4, 16) as f64 * scale).round() as i64;
    let first = days_from_civil(2008, 1, 1);
    let random_date = |random: &mut SplitMix64| random.between(i64::from(first), i64::from(latest)) as i32;
    for _ in 0..encounters {
        let date = random_date(random);
        writeln!(writers.writer("Encounter"), "{}", encounter_line(patient, random, date))?;
    }
    for _ in 0..observations {
        let date = random_date(random);
        writeln!(writers.writer("Observation"), "{}", observation_line(patient, random, date))?;
    }
    for _ in 0..procedures {
        let date = random_date(random);
        writeln!(writers.writer("Procedure"), "{}", procedure_line(patient, random, date))?;
    }
    written += (encounters + observations + procedures) as u64;
    Ok(written)
}

/// Reads a `truth.csv` written by [`write_synthetic_export`]: (patient_id, status, trd_date).
pub fn read_truth(path: &Path) -> io::Result<Vec<(String, String, String)>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .skip(1)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut fields = line.split(',');
            let mut next = || fields.next().unwrap_or("").to_string();
            (next(), next(), next())
        })
        .collect())
}
