//! The definitions: a patient's dated events become courses, courses fall into episodes, and the
//! preset decides whether and when the patient met a TRD definition (contract sections "Courses",
//! "Episodes", "Presets" and the precise readings). Pure: no I/O.

use ketacare_core::drugs::{DRUGS, DrugRole};
use rust_decimal::prelude::ToPrimitive;

use crate::cardinal::{CardinalEvidence, cardinal_trd};
use crate::dates::{DayNumber, age_in_years};
use crate::extract::{Diagnosis, DiagnosisKind, DrugEvent};
use crate::params::{AugmentationCounts, Exclusion, Preset, RequireMddDiagnosis, ScreenParameters, TrdAt, UnknownDose};

/// Everything the screen keeps about one patient: memory grows with patients and their events, not bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatientRecord {
    pub has_patient_resource: bool,
    pub birth_date: Option<DayNumber>,
    pub drug_events: Vec<DrugEvent>,
    pub diagnoses: Vec<Diagnosis>,
    /// Latest PHQ-9 total on or before `as_of` (ties on a date keep the higher total, so order does not matter).
    pub latest_phq9: Option<(DayNumber, f32)>,
}

impl PatientRecord {
    pub fn note_phq9(&mut self, date: DayNumber, total: f32) {
        let newer = match self.latest_phq9 {
            None => true,
            Some((latest_date, latest_total)) => (date, total) > (latest_date, latest_total),
        };
        if newer {
            self.latest_phq9 = Some((date, total));
        }
    }

    /// Folds another partial record of the same patient (from another file or chunk) into this one.
    pub fn merge(&mut self, other: PatientRecord) {
        self.has_patient_resource |= other.has_patient_resource;
        self.birth_date = self.birth_date.or(other.birth_date);
        self.drug_events.extend(other.drug_events);
        self.diagnoses.extend(other.diagnoses);
        if let Some((date, total)) = other.latest_phq9 {
            self.note_phq9(date, total);
        }
    }
}

/// The screen's verdict for one patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Trd,
    NotTrd,
    Excluded,
    InsufficientData,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Trd, Status::NotTrd, Status::Excluded, Status::InsufficientData];

    pub fn code(self) -> &'static str {
        match self {
            Status::Trd => "trd",
            Status::NotTrd => "not_trd",
            Status::Excluded => "excluded",
            Status::InsufficientData => "insufficient_data",
        }
    }
}

/// One course of one ingredient (contract "Courses"; reading 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Course {
    pub drug: u16,
    pub start: DayNumber,
    /// The first uncovered day.
    pub end: DayNumber,
    pub highest_daily_dose_mg: Option<f32>,
    /// The highest formulation-specific minimum among its events, when a name gave one.
    pub formulation_minimum_mg: Option<f32>,
    pub adequate: bool,
}

impl Course {
    pub fn ingredient(&self) -> &'static str {
        DRUGS[usize::from(self.drug)].ingredient
    }
    fn role(&self) -> DrugRole {
        DRUGS[usize::from(self.drug)].role
    }
}

/// The evidence row for one patient.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientResult {
    pub status: Status,
    pub trd_date: Option<DayNumber>,
    pub episode_start: Option<DayNumber>,
    /// The counted failed adequate courses (distinct ingredients, start order).
    pub counted_courses: Vec<Course>,
    pub exclusions: Vec<&'static str>,
    pub latest_phq9: Option<(DayNumber, f32)>,
    pub cardinal: Option<CardinalEvidence>,
}

/// KNOWLEDGE §1.4: the augmentation agents that are atypical antipsychotics (OHDSI counts only these).
const ATYPICAL_ANTIPSYCHOTICS: &[&str] = &["aripiprazole", "quetiapine", "brexpiprazole", "olanzapine", "cariprazine"];

/// Builds the courses of every antidepressant and augmentation ingredient (ketamine is history only).
pub fn build_courses(events: &[DrugEvent], parameters: &ScreenParameters) -> Vec<Course> {
    let mut sorted: Vec<DrugEvent> =
        events.iter().copied().filter(|event| event.entry().role != DrugRole::Ketamine).collect();
    sorted.sort_by_key(|event| (event.drug, event.date, event.days_covered, event.daily_dose_mg.map(f32::to_bits)));
    let mut courses: Vec<Course> = Vec::new();
    let mut current: Option<Course> = None;
    for event in sorted {
        let days = event.days_covered.unwrap_or(parameters.default_days_supply).max(0);
        let event_end = event.date + days;
        match current.as_mut() {
            // Reading 1 and "Courses": a refill continues when it starts no later than refill_gap_days after the coverage end.
            Some(course) if course.drug == event.drug && event.date - course.end <= parameters.refill_gap_days => {
                course.end = course.end.max(event_end);
                course.highest_daily_dose_mg = max_dose(course.highest_daily_dose_mg, event.daily_dose_mg);
                course.formulation_minimum_mg = max_dose(course.formulation_minimum_mg, event.formulation_minimum_mg);
            }
            _ => {
                if let Some(finished) = current.take() {
                    courses.push(finished);
                }
                current = Some(Course {
                    drug: event.drug,
                    start: event.date,
                    end: event_end,
                    highest_daily_dose_mg: event.daily_dose_mg,
                    formulation_minimum_mg: event.formulation_minimum_mg,
                    adequate: false,
                });
            }
        }
    }
    courses.extend(current);
    for course in &mut courses {
        course.adequate = is_adequate(course, parameters);
    }
    courses.sort_by_key(|course| (course.start, course.ingredient()));
    courses
}

/// The larger of two optional amounts (either one when only one is known).
fn max_dose(first: Option<f32>, second: Option<f32>) -> Option<f32> {
    match (first, second) {
        (Some(first), Some(second)) => Some(first.max(second)),
        (first, second) => first.or(second),
    }
}

/// "Courses": long enough, and at the knowledge base's minimum dose (the formulation's, where its name
/// gives one) when a dose is known.
fn is_adequate(course: &Course, parameters: &ScreenParameters) -> bool {
    if course.end - course.start < parameters.min_course_days {
        return false;
    }
    let minimum = course
        .formulation_minimum_mg
        .or_else(|| DRUGS[usize::from(course.drug)].min_daily_dose_mg.and_then(|minimum| minimum.to_f32()));
    match (course.highest_daily_dose_mg, minimum) {
        // A small tolerance: doses arrive as binary floats (e.g. 0.1 mg steps).
        (Some(dose), Some(minimum)) => dose + 1e-3 >= minimum,
        _ => parameters.unknown_dose == UnknownDose::Adequate,
    }
}

/// Episode start dates (reading 7): MDD diagnoses and antidepressant events, a new episode at a date at
/// least `episode_clean_gap_days` after the previous such date.
pub fn episode_starts(record: &PatientRecord, parameters: &ScreenParameters) -> Vec<DayNumber> {
    let mut dates: Vec<DayNumber> = record
        .drug_events
        .iter()
        .filter(|event| event.entry().role == DrugRole::Antidepressant)
        .map(|event| event.date)
        .chain(
            record
                .diagnoses
                .iter()
                .filter(|diagnosis| diagnosis.kind == DiagnosisKind::MajorDepressiveDisorder)
                .map(|diagnosis| diagnosis.date),
        )
        .collect();
    dates.sort_unstable();
    dates.dedup();
    let mut starts = Vec::new();
    let mut previous: Option<DayNumber> = None;
    for date in dates {
        if previous.is_none_or(|previous| date - previous >= parameters.episode_clean_gap_days) {
            starts.push(date);
        }
        previous = Some(date);
    }
    starts
}

fn is_counted(course: &Course, parameters: &ScreenParameters) -> bool {
    match course.role() {
        DrugRole::Antidepressant => true,
        DrugRole::Augmentation => match parameters.augmentation_counts_as_course {
            AugmentationCounts::No => false,
            AugmentationCounts::Yes => true,
            AugmentationCounts::AtypicalAntipsychotic => ATYPICAL_ANTIPSYCHOTICS.contains(&course.ingredient()),
        },
        DrugRole::Ketamine => false,
    }
}

/// What one episode gives: the failed courses (distinct ingredients, start order) and, when the
/// definition is met, the TRD date.
struct EpisodeOutcome {
    failed_distinct: Vec<Course>,
    trd_date: Option<DayNumber>,
}

fn evaluate_episode(
    courses: &[Course],
    record: &PatientRecord,
    episode: (DayNumber, DayNumber),
    parameters: &ScreenParameters,
) -> EpisodeOutcome {
    let counted: Vec<&Course> = courses.iter().filter(|course| is_counted(course, parameters)).collect();
    // "Presets": failed when a different counted course starts after the course has been adequate
    // (reading 3) and no later than its start + max_course_gap_days (reading 5).
    let failed: Vec<&Course> = counted
        .iter()
        .copied()
        .filter(|course| {
            course.adequate
                && counted.iter().any(|other| {
                    other.drug != course.drug
                        && other.start >= course.start + parameters.min_course_days
                        && other.start <= course.start + parameters.max_course_gap_days
                })
        })
        .collect();
    let mut failed_distinct: Vec<Course> = Vec::new();
    let mut trd_date = None;
    for course in failed {
        if failed_distinct.iter().any(|seen| seen.drug == course.drug) {
            continue;
        }
        failed_distinct.push(*course);
        if failed_distinct.len() < parameters.courses_required {
            continue;
        }
        let candidate = trd_date_after(courses, &failed_distinct, course.start, parameters);
        let Some(candidate) = candidate else { continue };
        let diagnosis_ok = match parameters.require_mdd_diagnosis {
            RequireMddDiagnosis::No => true,
            RequireMddDiagnosis::WithinEpisode => has_mdd_between(record, episode.0, episode.1 - 1),
            RequireMddDiagnosis::Lookback => {
                has_mdd_between(record, candidate - parameters.mdd_lookback_days, candidate)
            }
        };
        if diagnosis_ok {
            trd_date = Some(candidate);
            break;
        }
    }
    if let Some(trd_date) = trd_date {
        failed_distinct.retain(|course| course.start < trd_date);
    }
    EpisodeOutcome { failed_distinct, trd_date }
}

/// `trd_at` for a definition met by the failed course that started at `last_failed_start`.
fn trd_date_after(
    courses: &[Course],
    failed_distinct: &[Course],
    last_failed_start: DayNumber,
    parameters: &ScreenParameters,
) -> Option<DayNumber> {
    courses
        .iter()
        .filter(|course| course.start > last_failed_start)
        .find(|course| match parameters.trd_at {
            TrdAt::NextCourse => matches!(course.role(), DrugRole::Antidepressant | DrugRole::Augmentation),
            TrdAt::IndexEra => is_counted(course, parameters),
            TrdAt::ThirdDrug => {
                is_counted(course, parameters) && failed_distinct.iter().all(|failed| failed.drug != course.drug)
            }
        })
        .map(|course| course.start)
}

fn has_mdd_between(record: &PatientRecord, first: DayNumber, last: DayNumber) -> bool {
    record.diagnoses.iter().any(|diagnosis| {
        diagnosis.kind == DiagnosisKind::MajorDepressiveDisorder && diagnosis.date >= first && diagnosis.date <= last
    })
}

fn exclusion_kind(kind: DiagnosisKind) -> Option<Exclusion> {
    match kind {
        DiagnosisKind::Bipolar => Some(Exclusion::Bipolar),
        DiagnosisKind::Psychosis => Some(Exclusion::Psychosis),
        DiagnosisKind::Dementia => Some(Exclusion::Dementia),
        DiagnosisKind::MajorDepressiveDisorder => None,
    }
}

/// The preset's verdict for one patient, as of `as_of` (facts after it were already dropped).
pub fn screen_patient(record: &PatientRecord, parameters: &ScreenParameters, as_of: DayNumber) -> PatientResult {
    let has_antidepressant = record.drug_events.iter().any(|event| event.entry().role == DrugRole::Antidepressant);
    let mut found: Vec<Exclusion> =
        record.diagnoses.iter().filter_map(|diagnosis| exclusion_kind(diagnosis.kind)).collect();
    found.sort_unstable();
    found.dedup();
    let preset_exclusion_before = |before: Option<DayNumber>| {
        record.diagnoses.iter().any(|diagnosis| {
            exclusion_kind(diagnosis.kind).is_some_and(|kind| parameters.exclusions_before_trd.contains(&kind))
                && before.is_none_or(|before| diagnosis.date < before)
        })
    };

    let mut result = PatientResult {
        status: Status::NotTrd,
        trd_date: None,
        episode_start: None,
        counted_courses: Vec::new(),
        exclusions: Vec::new(),
        latest_phq9: record.latest_phq9,
        cardinal: None,
    };

    if parameters.preset == Preset::Cardinal {
        // Reading 11: cardinal ignores diagnoses; statuses are trd, not_trd and insufficient_data.
        result.cardinal = cardinal_trd(&record.drug_events, parameters);
        result.status = match (&result.cardinal, has_antidepressant) {
            (Some(evidence), _) => {
                result.trd_date = Some(evidence.b1);
                Status::Trd
            }
            (None, true) => Status::NotTrd,
            (None, false) => Status::InsufficientData,
        };
    } else {
        let courses = build_courses(&record.drug_events, parameters);
        let starts = episode_starts(record, parameters);
        let mut met: Option<(DayNumber, DayNumber, Vec<Course>)> = None;
        let mut latest: Option<(DayNumber, Vec<Course>)> = None;
        for (index, &start) in starts.iter().enumerate() {
            let next_start = starts.get(index + 1).copied().unwrap_or(DayNumber::MAX);
            let in_episode: Vec<Course> =
                courses.iter().copied().filter(|course| course.start >= start && course.start < next_start).collect();
            let outcome = evaluate_episode(&in_episode, record, (start, next_start), parameters);
            if let Some(trd_date) = outcome.trd_date {
                met = Some((trd_date, start, outcome.failed_distinct));
                break;
            }
            latest = Some((start, outcome.failed_distinct));
        }
        match met {
            Some((trd_date, start, failed)) => {
                result.episode_start = Some(start);
                result.counted_courses = failed;
                if preset_exclusion_before(Some(trd_date)) {
                    result.status = Status::Excluded;
                } else {
                    result.status = Status::Trd;
                    result.trd_date = Some(trd_date);
                }
            }
            None => {
                if let Some((start, failed)) = latest {
                    result.episode_start = Some(start);
                    result.counted_courses = failed;
                }
                result.status = if preset_exclusion_before(None) {
                    Status::Excluded
                } else if has_antidepressant {
                    Status::NotTrd
                } else {
                    Status::InsufficientData
                };
            }
        }
    }

    result.exclusions = found.iter().map(|kind| kind.code()).collect();
    // Reading 10: reported, never changes the status.
    if record.birth_date.is_some_and(|birth| age_in_years(birth, result.trd_date.unwrap_or(as_of)) < 18) {
        result.exclusions.push("age_under_18");
    }
    result
}
