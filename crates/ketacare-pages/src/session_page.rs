//! The session page: chart the next vital sign, see and act on alerts, know when the patient can go.
//! It shows the pre-dose gate (each item's status, reason and source, and where each pre-dose value came
//! from), the order's dose and what was given, the active alerts with their acknowledgements, the alert
//! log, the vital-sign entry form (SBP → DBP → HR → SpO2 → RR → MOAA/S → CADSS, Enter saves, the time
//! defaults to now in the clinic's zone), the entries with "entered in error", the SVG chart, discharge
//! readiness and the REMS form's gaps, with the discharge and sign buttons for the roles that may, and
//! for prescribers an override of an overridable hold of the gate, with its reason typed (empty by
//! default) and the overrides already recorded.
//! The dose is given (with its lot number) and corrected, and the pre-dose checks and the discharge
//! assessment recorded, through the forms of `session_forms.rs`; an entry entered in error comes back
//! in the entry form to be recorded right; the REMS form's preview and the printable record are pages
//! of their own (`rems_form_page.rs`, `printable_records.rs`), made from the same use cases.
//! Every write goes through the same use case as the API, and the page reloads after it (post,
//! redirect, get) showing what the entry raised.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::DateTime;
use ketacare_app::policy::{Permission, allows};
use ketacare_app::{AppError, PatientView, SessionView};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::PagesState;
use crate::display::{
    age, clinic_zone, clock_time, date_time, html_id, level_class, level_icon, level_word, path_segment, value_text,
    words,
};
use crate::fact_forms::{FactsFormView, fact_groups};
use crate::layout::Chrome;
use crate::page_error::{PageError, render};
use crate::session_forms::{
    AdministrationRow, DoseForm, DoseFormView, FactsSection, RefusedFacts, administration_rows, dose_form_view,
    own_section,
};
use crate::signed_in::{SignedIn, same_site_form};
use crate::treatment_forms::FormErrors;
use crate::vital_signs_chart::{VitalSignsPoint, vital_signs_svg};

/// The vital-sign fields in the order they are measured and tabbed through: (form name and id, the
/// observation's key, label, unit, lowest and highest value the field offers).
const VITAL_SIGN_FIELDS: [(&str, &str, &str, &str, i64, i64); 7] = [
    ("systolic", "systolic_mmhg", "BP systolic", "mmHg", 40, 300),
    ("diastolic", "diastolic_mmhg", "BP diastolic", "mmHg", 20, 200),
    ("heart_rate", "heart_rate_bpm", "Heart rate", "bpm", 20, 250),
    ("spo2", "spo2_percent", "SpO2", "%", 50, 100),
    ("respiratory_rate", "respiratory_rate_per_min", "Resp. rate", "/min", 2, 60),
    ("moaas", "moaas", "MOAA/S", "0–5", 0, 5),
    ("cadss", "cadss_total", "CADSS", "total", 0, 92),
];

#[derive(Template)]
#[template(path = "session.html")]
pub struct SessionPage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub patient_name: String,
    /// The patient as the printable record heads it (MRN and birth date, or the pseudonym).
    pub patient_identity: Vec<(String, String)>,
    pub patient_href: String,
    pub session_id: String,
    pub session_href: String,
    pub heading: String,
    pub stage: String,
    pub record_status: String,
    pub version: i64,
    pub saved: Option<String>,
    /// What a form just saved, for the notice at the top.
    pub done: Option<&'static str>,
    pub action_error: Option<String>,
    pub gate_outcome: String,
    pub gate_items: Vec<GateItem>,
    pub pre_dose_values: Vec<PreDoseValue>,
    pub order_lines: Vec<(String, String)>,
    pub administrations: Vec<AdministrationRow>,
    pub active_alerts: Vec<AlertItem>,
    pub any_new_alert: bool,
    pub alert_log: Vec<AlertLogItem>,
    /// Every acknowledgement, of alerts still active or not (`BP 205/122 mmHg: acknowledged by … at 10:59:
    /// note`), for the printable record, which keeps them after the alert resolved.
    pub acknowledgement_log: Vec<String>,
    pub observations: Vec<ObservationRow>,
    pub chart_svg: String,
    pub discharge_status: String,
    pub discharge_earliest: String,
    pub discharge_criteria: Vec<CriterionItem>,
    /// Who discharged and signed the session, and when.
    pub sign_off: Vec<(String, String)>,
    pub rems_required: bool,
    pub rems_status: String,
    pub rems_missing: Vec<String>,
    pub rems_href: String,
    pub can_run: bool,
    pub show_form: bool,
    pub show_discharge: bool,
    pub show_sign: bool,
    pub form: VitalSignsForm,
    /// The dose form, while a dose may be given.
    pub dose_form: Option<DoseFormView>,
    /// The pre-dose checks and the discharge assessment, for the roles that run sessions.
    pub pre_dose_form: Option<FactsFormView>,
    pub discharge_form: Option<FactsFormView>,
}

pub struct GateItem {
    pub item: String,
    pub status: String,
    pub status_class: &'static str,
    pub reason: String,
    pub source: String,
    /// The gate's code for the item (`BP`), which an override names.
    pub code: String,
    /// A prescriber may override this hold now (with a reason).
    pub overridable_now: bool,
    /// The override reason as typed, and the server's refusal, when an override was refused.
    pub override_reason: String,
    pub override_error: Option<String>,
    /// Overrides already recorded for this item: who, when, why.
    pub overrides: Vec<String>,
    /// Where what the item needs is recorded, when it does not pass there (the patient's consents).
    pub fix_href: Option<String>,
}

pub struct PreDoseValue {
    pub field: String,
    pub value: String,
    pub source: String,
}

pub struct AlertItem {
    pub anchor: String,
    pub level_word: String,
    pub level_icon: &'static str,
    pub level_class: &'static str,
    pub summary: String,
    pub detail: String,
    pub action: String,
    pub source: String,
    pub since: String,
    pub age: String,
    pub acknowledgements: Vec<String>,
    pub acknowledge_href: String,
    /// Raised or changed by the entry just saved.
    pub new: bool,
}

pub struct AlertLogItem {
    pub time: String,
    pub change: String,
    pub level_word: String,
    pub level_icon: &'static str,
    pub summary: String,
}

pub struct ObservationRow {
    pub sequence: i64,
    pub time: String,
    pub blood_pressure: String,
    pub heart_rate: String,
    pub spo2: String,
    pub respiratory_rate: String,
    pub moaas: String,
    pub cadss: String,
    pub other: String,
    pub entered_in_error: bool,
    pub note: String,
    pub correct_href: String,
    /// The correction's reason as typed and the server's words, when a correction was refused.
    pub correction_reason: String,
    pub correction_error: Option<String>,
}

pub struct CriterionItem {
    pub criterion: String,
    pub status: String,
    pub status_class: &'static str,
    pub reason: String,
}

/// The entry form's values (kept when the server refuses them) and errors.
pub struct VitalSignsForm {
    action: String,
    at: String,
    time_zone: String,
    late_entry_reason: String,
    entry_key: String,
    fields: Vec<VitalField>,
    /// `(field id, message)`: what the server refused, for the error summary.
    errors: Vec<(String, String)>,
    autofocus: bool,
    /// The time is the server's now (the script keeps it at now until someone edits it).
    defaults_to_now: bool,
    /// Why the form is filled as it is (an entry being corrected).
    notice: Option<String>,
}

struct VitalField {
    id: &'static str,
    label: &'static str,
    unit: &'static str,
    min: i64,
    max: i64,
    value: String,
    error: Option<String>,
}

impl VitalSignsForm {
    fn time_error(&self) -> Option<&str> {
        self.errors.iter().find(|(id, _)| id == "at" || id == "late_entry_reason").map(|(_, message)| message.as_str())
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct SessionQuery {
    #[serde(default)]
    saved: Option<i64>,
    /// An entry just marked entered in error: the entry form comes back filled with it.
    #[serde(default)]
    reenter: Option<i64>,
    /// A dose just marked entered in error: the dose form comes back filled with it.
    #[serde(default)]
    reenter_dose: Option<String>,
    /// What a form just saved (`dose`, `pre-dose`, `discharge-assessment`).
    #[serde(default)]
    done: Option<String>,
}

/// What a session page shows besides the stored session: a saved entry, a refused form or action.
#[derive(Default)]
pub struct PageState {
    pub saved: Option<i64>,
    pub entry: Option<EntryForm>,
    pub errors: Vec<(String, String)>,
    pub action_error: Option<String>,
    /// A refused override: the item, the reason as typed, and the server's words.
    pub refused_override: Option<(String, String, String)>,
    /// A refused correction: the record's anchor (`entry-3`, `dose-ID`), the reason as typed, the words.
    pub refused_correction: Option<(String, String, String)>,
    pub reenter_entry: Option<i64>,
    pub reenter_dose: Option<String>,
    /// The dose form as typed, when refused.
    pub dose: Option<DoseForm>,
    pub refused_facts: Option<RefusedFacts>,
    pub done: Option<&'static str>,
    /// The page is the printable record: people are named by username alone.
    pub for_print: bool,
}

fn status_class(status: &str) -> &'static str {
    match status {
        "pass" | "met" | "proceed" | "ready" => "status-good",
        "hold" | "not_met" | "fail" | "not_ready" => "status-bad",
        _ => "status-unsure",
    }
}

fn number_text(value: &Value) -> String {
    if value.is_null() { String::new() } else { value_text(value) }
}

/// Who did something, by name: `you (demo.nurse)` on the screen for the reader's own acts, the
/// account's username otherwise (and on a printout always, where "you" names no one); the start of the
/// id only for an account the names do not hold.
fn user_label(user_id: &str, signed: &SignedIn, names: &UserNames, for_print: bool) -> String {
    if user_id == signed.principal.user_id {
        if for_print { signed.principal.username.clone() } else { format!("you ({})", signed.principal.username) }
    } else {
        names.get(user_id).cloned().unwrap_or_else(|| format!("user {}", user_id.get(..8).unwrap_or(user_id)))
    }
}

/// Usernames by user id, read through `App::user_names`.
pub type UserNames = std::collections::BTreeMap<String, String>;

/// The chart's points: the judged timeline's observations (entries in error are already left out).
fn chart_points(document: &Value) -> (Vec<VitalSignsPoint>, Option<i64>, jiff::civil::Time) {
    let observations: Vec<(DateTime, &Value)> = document["observations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|observation| Some((observation["at"].as_str()?.parse::<DateTime>().ok()?, observation)))
        .collect();
    let dose_at = document["dose"]["started_at"].as_str().and_then(|text| text.parse::<DateTime>().ok());
    let Some(start) = observations.iter().map(|(at, _)| *at).chain(dose_at).min() else {
        return (Vec::new(), None, jiff::civil::Time::midnight());
    };
    let minutes = |at: DateTime| at.since(start).ok().and_then(|span| span.total(jiff::Unit::Minute).ok());
    #[allow(clippy::cast_possible_truncation)]
    let whole = |at: DateTime| minutes(at).map(|value| value.round() as i64);
    let points = observations
        .iter()
        .filter_map(|(at, observation)| {
            Some(VitalSignsPoint {
                minute: whole(*at)?,
                systolic_mmhg: observation["systolic_mmhg"].as_i64(),
                diastolic_mmhg: observation["diastolic_mmhg"].as_i64(),
                heart_rate_bpm: observation["heart_rate_bpm"].as_i64(),
                spo2_percent: observation["spo2_percent"].as_i64(),
            })
        })
        .collect();
    (points, dose_at.and_then(whole), start.time())
}

/// The session page's content, as the page and the printable record show it.
pub async fn session_page(
    state: &PagesState,
    signed: &SignedIn,
    patient_id: &str,
    session_id: &str,
    page_state: PageState,
) -> Result<SessionPage, PageError> {
    let app = &state.app;
    let zone = clinic_zone(app);
    let now = app.now();
    let view: SessionView = app.get_session(&signed.actor, patient_id, session_id).await?;
    let (patient_name, patient_identity) = match app.get_patient(&signed.actor, patient_id).await? {
        PatientView::Identified(patient) => (
            format!("{} {}", patient.given_name, patient.family_name),
            vec![
                ("MRN".to_owned(), patient.mrn.clone().unwrap_or_else(|| "\u{2014}".to_owned())),
                ("Born".to_owned(), patient.birth_date.clone()),
                ("Sex at birth".to_owned(), patient.sex_at_birth.clone()),
            ],
        ),
        PatientView::DeIdentified(patient) => {
            (patient.pseudonym.clone(), vec![("Pseudonym".to_owned(), patient.pseudonym)])
        }
    };
    // Everyone the page says did something, named through the app (not the reader: the principal names them).
    let mut user_ids: Vec<String> = view
        .overrides
        .iter()
        .map(|recorded| recorded.recorded_by.clone())
        .chain(view.acknowledgements.iter().map(|acknowledgement| acknowledgement.acknowledged_by.clone()))
        .chain(view.discharged_by.iter().cloned())
        .chain(view.signed_by.iter().cloned())
        .filter(|user_id| *user_id != signed.principal.user_id)
        .collect();
    user_ids.sort();
    user_ids.dedup();
    let names = if user_ids.is_empty() { UserNames::new() } else { app.user_names(&signed.actor, &user_ids).await? };
    let for_print = page_state.for_print;
    let who = |user_id: &str| user_label(user_id, signed, &names, for_print);
    let session_href = format!("/patients/{patient_id}/sessions/{session_id}");
    let report = &view.report;
    let document = &view.document;
    let modality = value_text(&document["modality"]);
    let heading = format!(
        "{} session, {}",
        if modality == "esketamine" { "Esketamine" } else { "IV ketamine" },
        date_time(document["dose"]["planned_at"].as_str().unwrap_or(&view.created_at), &zone)
    );
    let may_override = allows(signed.principal.role, Permission::OverrideSessionHolds)
        && view.status == "active"
        && !matches!(view.stage.as_str(), "discharged" | "locked");
    let gate_items = report["gate"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            let status = value_text(&item["status"]);
            let code = value_text(&item["item"]);
            let refused = page_state.refused_override.as_ref().filter(|(item, _, _)| *item == code);
            GateItem {
                item: words(&code),
                status_class: status_class(&status),
                status: words(&status).to_uppercase(),
                reason: value_text(&item["reason"]),
                source: value_text(&item["source"]),
                overridable_now: may_override && status == "hold" && item["overridable"] == json!(true),
                override_reason: refused.map(|(_, reason, _)| reason.clone()).unwrap_or_default(),
                override_error: refused.map(|(_, _, error)| error.clone()),
                fix_href: (code == "INFORMED_CONSENT" && status != "pass")
                    .then(|| format!("/patients/{}/consents", view.patient_id)),
                overrides: view
                    .overrides
                    .iter()
                    .filter(|recorded| recorded.item == code)
                    .map(|recorded| {
                        format!(
                            "overridden by {} at {}: {}",
                            who(&recorded.recorded_by),
                            date_time(&recorded.recorded_at, &zone),
                            recorded.reason
                        )
                    })
                    .collect(),
                code,
            }
        })
        .collect();
    // Where each pre-dose value came from: the chart (as `pre_dose_sources` says) or this session.
    let mut pre_dose_values: Vec<PreDoseValue> = Vec::new();
    let chart_source = |field: &str| {
        view.pre_dose_sources
            .iter()
            .find(|source| source["field"].as_str() == Some(field))
            .map(|source| value_text(&source["source"]))
    };
    for (key, value) in document["pre_dose"].as_object().into_iter().flatten() {
        pre_dose_values.push(PreDoseValue {
            field: words(key),
            value: value_text(value),
            source: chart_source(&format!("pre_dose.{key}")).unwrap_or_else(|| "recorded in this session".to_owned()),
        });
    }
    for source in &view.pre_dose_sources {
        let field = source["field"].as_str().unwrap_or_default();
        if !field.starts_with("pre_dose.") {
            let used =
                if source["used_by_gate"] == json!(false) { " (for comparison; not used by the gate)" } else { "" };
            pre_dose_values.push(PreDoseValue {
                field: words(field),
                value: value_text(&source["value"]),
                source: format!("{}{used}", value_text(&source["source"])),
            });
        }
    }
    let mut order_lines = Vec::new();
    if let Some(order) = &view.order {
        order_lines.push(("Ordered dose".to_owned(), format!("{} mg", value_text(&order["dose_mg"]))));
        if !order["device_count"].is_null() {
            order_lines.push((
                "Devices".to_owned(),
                format!("{} × {} mg", value_text(&order["device_count"]), value_text(&order["device_mg"])),
            ));
        }
        if !order["mg_per_kg"].is_null() {
            order_lines.push(("Per kg".to_owned(), format!("{} mg/kg", value_text(&order["mg_per_kg"]))));
        }
        if !order["infusion_min"].is_null() {
            order_lines.push(("Infusion".to_owned(), format!("{} min", value_text(&order["infusion_min"]))));
        }
        order_lines.push((
            "Order".to_owned(),
            format!(
                "{}, signed {}",
                words(&value_text(&order["status"])),
                date_time(order["signed_at"].as_str().unwrap_or_default(), &zone)
            ),
        ));
    } else {
        order_lines.push(("Order".to_owned(), "no dose order on this session".to_owned()));
    }
    let administrations = administration_rows(&view, &session_href, page_state.refused_correction.as_ref(), &zone);
    let saved_at = page_state.saved.and_then(|sequence| {
        view.observation_log
            .iter()
            .find(|entry| entry["sequence"].as_i64() == Some(sequence))
            .and_then(|entry| entry["observation"]["at"].as_str().map(str::to_owned))
    });
    let is_new = |alert: &Value| {
        saved_at
            .as_deref()
            .is_some_and(|at| alert["updated_at"].as_str().is_some_and(|updated| updated.starts_with(at)))
    };
    let active_alerts: Vec<AlertItem> = report["alerts"]["active"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|alert| {
            let id = value_text(&alert["id"]);
            let level = value_text(&alert["level"]);
            let raised = alert["raised_at"].as_str().unwrap_or_default();
            AlertItem {
                anchor: html_id("alert-", &id),
                level_word: level_word(&level),
                level_icon: level_icon(&level),
                level_class: level_class(&level),
                summary: value_text(&alert["summary"]),
                detail: value_text(&alert["detail"]),
                action: value_text(&alert["recommended_action"]),
                source: value_text(&alert["source"]),
                since: clock_time(raised, &zone),
                age: age(alert["updated_at"].as_str().unwrap_or(raised), now, &zone),
                acknowledgements: view
                    .acknowledgements
                    .iter()
                    .filter(|acknowledgement| acknowledgement.alert_id == id)
                    .map(|acknowledgement| {
                        let note = acknowledgement.note.as_deref().map(|note| format!(": {note}")).unwrap_or_default();
                        format!(
                            "acknowledged by {} at {}{note}",
                            who(&acknowledgement.acknowledged_by),
                            clock_time(&acknowledgement.acknowledged_at, &zone)
                        )
                    })
                    .collect(),
                acknowledge_href: format!("{session_href}/alerts/{}/acknowledgement", path_segment(&id)),
                new: is_new(alert),
            }
        })
        .collect();
    let any_new_alert = active_alerts.iter().any(|alert: &AlertItem| alert.new);
    let alert_log = view
        .alert_log
        .iter()
        .map(|change| {
            let level = value_text(&change["level"]);
            AlertLogItem {
                time: clock_time(change["at"].as_str().unwrap_or_default(), &zone),
                change: words(&value_text(&change["change"])),
                level_word: level_word(&level),
                level_icon: level_icon(&level),
                summary: value_text(&change["summary"]),
            }
        })
        .collect();
    let acknowledgement_log = view
        .acknowledgements
        .iter()
        .map(|acknowledgement| {
            let summary = view
                .alert_log
                .iter()
                .find(|change| change["id"].as_str() == Some(acknowledgement.alert_id.as_str()))
                .map_or_else(|| format!("alert {}", acknowledgement.alert_id), |change| value_text(&change["summary"]));
            let note = acknowledgement.note.as_deref().map(|note| format!(": {note}")).unwrap_or_default();
            format!(
                "{summary}: acknowledged by {} at {}{note}",
                who(&acknowledgement.acknowledged_by),
                clock_time(&acknowledgement.acknowledged_at, &zone)
            )
        })
        .collect();
    let observations = view
        .observation_log
        .iter()
        .map(|entry| {
            let observation = &entry["observation"];
            let sequence = entry["sequence"].as_i64().unwrap_or_default();
            let blood_pressure = match (observation["systolic_mmhg"].is_null(), observation["diastolic_mmhg"].is_null())
            {
                (true, true) => String::new(),
                _ => format!(
                    "{}/{}",
                    number_text(&observation["systolic_mmhg"]),
                    number_text(&observation["diastolic_mmhg"])
                ),
            };
            let mut other = Vec::new();
            if let Some(events) = observation["adverse_events"].as_array().filter(|events| !events.is_empty()) {
                other.push(format!("adverse events: {}", value_text(&Value::Array(events.clone()))));
            }
            let entered_in_error = entry["status"] == "entered_in_error";
            let anchor = format!("entry-{sequence}");
            let refusal = page_state.refused_correction.as_ref().filter(|(target, _, _)| *target == anchor);
            let note = if entered_in_error {
                format!("entered in error: {}", value_text(&entry["correction"]["reason"]))
            } else if !entry["late_entry_reason"].is_null() {
                format!("late entry: {}", value_text(&entry["late_entry_reason"]))
            } else {
                String::new()
            };
            ObservationRow {
                sequence,
                time: clock_time(observation["at"].as_str().unwrap_or_default(), &zone),
                blood_pressure,
                heart_rate: number_text(&observation["heart_rate_bpm"]),
                spo2: number_text(&observation["spo2_percent"]),
                respiratory_rate: number_text(&observation["respiratory_rate_per_min"]),
                moaas: number_text(&observation["moaas"]),
                cadss: number_text(&observation["cadss_total"]),
                other: other.join("; "),
                entered_in_error,
                note,
                correct_href: format!("{session_href}/observations/{sequence}/entered-in-error"),
                correction_reason: refusal.map(|(_, reason, _)| reason.clone()).unwrap_or_default(),
                correction_error: refusal.map(|(_, _, message)| message.clone()),
            }
        })
        .collect();
    let (points, dose_minute, start) = chart_points(document);
    let discharge = &report["discharge"];
    let discharge_status = value_text(&discharge["status"]);
    let discharge_criteria = discharge["criteria"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|criterion| {
            let status = value_text(&criterion["status"]);
            CriterionItem {
                criterion: words(&value_text(&criterion["criterion"])).to_lowercase(),
                status_class: status_class(&status),
                status: words(&status).to_uppercase(),
                reason: value_text(&criterion["reason"]),
            }
        })
        .collect();
    let rems = &view.rems_form;
    let role = signed.principal.role;
    let can_run = allows(role, Permission::RunSessions);
    let stage = view.stage.as_str();
    let active = view.status == "active";
    let time_zone = value_text(&document["time_zone"]);
    let session_zone = jiff::tz::TimeZone::get(&time_zone).unwrap_or(zone.clone());
    let now_local = now.to_zoned_datetime(session_zone).strftime("%Y-%m-%dT%H:%M").to_string();
    // The entry form: as typed when refused; else, after an entry was marked entered in error, filled
    // with that entry at its time (a late entry saying which it replaces); else empty, at now.
    let reentered = page_state.reenter_entry.filter(|_| page_state.entry.is_none()).and_then(|sequence| {
        view.observation_log
            .iter()
            .find(|entry| entry["sequence"].as_i64() == Some(sequence) && entry["status"] == "entered_in_error")
            .map(|entry| {
            let observation = &entry["observation"];
            let text = |key: &str| number_text(&observation[key]);
            let reason = value_text(&entry["correction"]["reason"]);
            (
                EntryForm {
                    at: observation["at"].as_str().map(|at| at.get(..16).unwrap_or(at).to_owned()).unwrap_or_default(),
                    systolic: text("systolic_mmhg"),
                    diastolic: text("diastolic_mmhg"),
                    heart_rate: text("heart_rate_bpm"),
                    spo2: text("spo2_percent"),
                    respiratory_rate: text("respiratory_rate_per_min"),
                    moaas: text("moaas"),
                    cadss: text("cadss_total"),
                    late_entry_reason: format!("replaces entry {sequence}, entered in error: {reason}"),
                    ..EntryForm::default()
                },
                format!(
                    "Entry {sequence} is marked entered in error. Its values are in the form at its time: correct what was wrong and save, or leave the form."
                ),
            )
        })
    });
    let (entry, entry_notice) = match (page_state.entry, reentered) {
        (Some(entry), _) => (entry, None),
        (None, Some((entry, notice))) => (entry, Some(notice)),
        (None, None) => (EntryForm::default(), None),
    };
    let errors = page_state.errors;
    let fields = VITAL_SIGN_FIELDS
        .iter()
        .map(|&(id, key, label, unit, min, max)| VitalField {
            id,
            label,
            unit,
            min,
            max,
            value: entry.value_of(id).to_owned(),
            error: errors.iter().find(|(field, _)| field == id || field == key).map(|(_, message)| message.clone()),
        })
        .collect();
    let defaults_to_now = entry.at.is_empty();
    let form_at = if defaults_to_now { now_local.clone() } else { entry.at.clone() };
    let open_for_dose = can_run && active && matches!(stage, "in_progress" | "monitoring");
    let dose_form = open_for_dose.then(|| {
        dose_form_view(
            &view,
            &session_href,
            page_state.dose,
            page_state.reenter_dose.as_deref(),
            now_local.clone(),
            &zone,
        )
    });
    let mut refused_facts = page_state.refused_facts;
    let mut facts_form = |section: FactsSection| {
        let refused = refused_facts.take_if(|refused| refused.section == section);
        let (typed, reason, errors) = match refused {
            Some(refused) => (Some(refused.values), refused.reason, refused.errors),
            None => (None, String::new(), FormErrors::default()),
        };
        let recorded = json!({ section.key(): own_section(&view, section.key()) });
        let mut groups = fact_groups(section.groups(), &recorded, typed.as_ref(), &errors);
        // Say where the chart supplies a value the session does not record.
        for field in groups.iter_mut().flat_map(|group| group.fields.iter_mut()) {
            if let Some(source) =
                view.pre_dose_sources.iter().find(|source| source["field"].as_str() == Some(field.name))
            {
                field.hint = format!(
                    "from the chart: {} ({}); record a value here to replace it for this session",
                    value_text(&source["value"]),
                    value_text(&source["source"])
                );
            }
        }
        FactsFormView {
            id: section.anchor(),
            action: format!("{session_href}/{}", section.anchor()),
            version: view.version,
            groups,
            reason,
            errors,
            notice: None,
        }
    };
    let pre_dose_form = (can_run && active && stage != "locked").then(|| facts_form(FactsSection::PreDose));
    let discharge_form = (can_run && active && stage != "locked").then(|| facts_form(FactsSection::Discharge));
    let mut sign_off = Vec::new();
    if let Some(at) = &view.discharged_at {
        let by = view.discharged_by.as_deref().map(who).unwrap_or_default();
        sign_off.push(("Discharged".to_owned(), format!("{} by {by}", date_time(at, &zone))));
    }
    if let Some(at) = &view.signed_at {
        let by = view.signed_by.as_deref().map(who).unwrap_or_default();
        sign_off.push(("Signed and locked".to_owned(), format!("{} by {by}", date_time(at, &zone))));
    }
    Ok(SessionPage {
        chrome: Chrome::signed_in(&format!("Session — {patient_name}"), "", &signed.principal),
        csrf_token: signed.principal.csrf_token.clone().unwrap_or_default(),
        patient_href: format!("/patients/{patient_id}"),
        session_id: session_id.to_owned(),
        patient_name,
        patient_identity,
        heading,
        stage: words(stage),
        record_status: words(&view.status),
        version: view.version,
        saved: page_state.saved.map(|sequence| {
            format!(
                "Entry {sequence} saved{}.",
                saved_at.as_deref().map(|at| format!(" for {}", clock_time(at, &zone))).unwrap_or_default()
            )
        }),
        done: page_state.done,
        action_error: page_state.action_error,
        gate_outcome: words(&value_text(&report["gate"]["outcome"])).to_uppercase(),
        gate_items,
        pre_dose_values,
        order_lines,
        administrations,
        active_alerts,
        any_new_alert,
        alert_log,
        acknowledgement_log,
        observations,
        chart_svg: vital_signs_svg(&points, dose_minute, start),
        discharge_status: words(&discharge_status).to_uppercase(),
        discharge_earliest: discharge["earliest_at"]
            .as_str()
            .map(|at| format!("earliest {}", clock_time(at, &zone)))
            .unwrap_or_default(),
        discharge_criteria,
        sign_off,
        rems_required: rems["required"] == json!(true),
        rems_status: if !rems["submitted_at"].is_null() {
            format!("submitted {}", date_time(rems["submitted_at"].as_str().unwrap_or_default(), &zone))
        } else if rems["complete"] == json!(true) {
            format!("complete, not yet submitted; due {}", value_text(&rems["due_on"]))
        } else {
            format!("incomplete; due {}", value_text(&rems["due_on"]))
        },
        rems_missing: rems["missing"].as_array().into_iter().flatten().map(value_text).collect(),
        rems_href: format!("{session_href}/rems-form"),
        can_run,
        show_form: can_run && active && stage != "locked",
        show_discharge: can_run && active && stage == "monitoring",
        show_sign: allows(role, Permission::SignSessions) && active && stage == "discharged",
        session_href: session_href.clone(),
        form: VitalSignsForm {
            action: format!("{session_href}/observations"),
            at: form_at,
            time_zone,
            late_entry_reason: entry.late_entry_reason.clone(),
            entry_key: format!("page-{session_id}-v{}", view.version),
            fields,
            errors,
            autofocus: page_state.saved.is_some(),
            defaults_to_now,
            notice: entry_notice,
        },
        dose_form,
        pre_dose_form,
        discharge_form,
    })
}

/// What `?done=` says was saved, in words (only these; anything else says nothing).
fn done_notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "dose" => Some("The dose was recorded; it is under Dose."),
        "pre-dose" => Some("The pre-dose checks were saved; the gate below is judged with them."),
        "discharge-assessment" => {
            Some("The discharge assessment was saved; discharge readiness below is judged with it.")
        }
        _ => None,
    }
}

/// `GET /patients/{patient_id}/sessions/{session_id}` (`?saved=N` after an entry was saved,
/// `?reenter=N` / `?reenter_dose=ID` after one was marked entered in error, `?done=` after a form).
pub async fn session(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id)): Path<(String, String)>,
    Query(query): Query<SessionQuery>,
) -> Result<Response, PageError> {
    let page_state = PageState {
        saved: query.saved,
        reenter_entry: query.reenter,
        reenter_dose: query.reenter_dose,
        done: done_notice(query.done.as_deref()),
        ..PageState::default()
    };
    Ok(render(&session_page(&state, &signed, &patient_id, &session_id, page_state).await?))
}

/// The entry form as posted.
#[derive(Debug, Default, Deserialize)]
pub struct EntryForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    entry_key: String,
    #[serde(default)]
    at: String,
    #[serde(default)]
    late_entry_reason: String,
    #[serde(default)]
    systolic: String,
    #[serde(default)]
    diastolic: String,
    #[serde(default)]
    heart_rate: String,
    #[serde(default)]
    spo2: String,
    #[serde(default)]
    respiratory_rate: String,
    #[serde(default)]
    moaas: String,
    #[serde(default)]
    cadss: String,
}

impl EntryForm {
    fn value_of(&self, id: &str) -> &str {
        match id {
            "systolic" => &self.systolic,
            "diastolic" => &self.diastolic,
            "heart_rate" => &self.heart_rate,
            "spo2" => &self.spo2,
            "respiratory_rate" => &self.respiratory_rate,
            "moaas" => &self.moaas,
            "cadss" => &self.cadss,
            _ => "",
        }
    }

    /// The observation document of docs/sessions.md: the filled fields only, numbers as typed (the
    /// use case's reader checks them and names the field); text that is not a whole number is refused
    /// here, naming its field.
    fn observation(&self) -> Result<String, Vec<(String, String)>> {
        let mut observation = Map::new();
        observation.insert("at".to_owned(), json!(self.at.trim()));
        let mut errors = Vec::new();
        for (id, key, label, _, _, _) in VITAL_SIGN_FIELDS {
            let text = self.value_of(id).trim();
            if text.is_empty() {
                continue;
            }
            match text.parse::<i64>() {
                Ok(number) => {
                    observation.insert(key.to_owned(), json!(number));
                }
                Err(_) => errors.push((id.to_owned(), format!("{label} must be a whole number, got \"{text}\""))),
            }
        }
        if observation.len() == 1 && errors.is_empty() {
            errors.push(("systolic".to_owned(), "Enter at least one value".to_owned()));
        }
        if !self.late_entry_reason.trim().is_empty() {
            observation.insert("late_entry_reason".to_owned(), json!(self.late_entry_reason.trim()));
        }
        if errors.is_empty() { Ok(Value::Object(observation).to_string()) } else { Err(errors) }
    }
}

/// The form field a use case's refusal names (`systolic_mmhg`, `at`, `observations[3].moaas` …).
fn form_field_of(field: &str) -> String {
    let last = field.rsplit(['.', '/']).next().unwrap_or(field);
    VITAL_SIGN_FIELDS.iter().find(|(_, key, _, _, _, _)| *key == last).map_or_else(
        || if last == "late_entry_reason" { last.to_owned() } else { "at".to_owned() },
        |(id, ..)| (*id).to_owned(),
    )
}

pub(crate) fn read_form<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, PageError> {
    if !same_site_form(headers) {
        return Err(PageError::FormRejected);
    }
    serde_urlencoded::from_bytes(body).map_err(|_| PageError::FormRejected)
}

/// `POST …/observations`: records the entry through `App::record_observation` (alerts evaluated as it
/// is stored), then reloads the page showing what it raised; a refused entry comes back with the
/// server's words under its field and everything typed kept.
pub async fn record_observation(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: EntryForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    let refused = |form: EntryForm, errors: Vec<(String, String)>| async {
        let page_state = PageState { entry: Some(form), errors, ..PageState::default() };
        let page = session_page(&state, &signed, &patient_id, &session_id, page_state).await?;
        Ok::<Response, PageError>((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
    };
    let document = match form.observation() {
        Ok(document) => document,
        Err(errors) => return refused(form, errors).await,
    };
    let key = (!form.entry_key.is_empty()).then_some(form.entry_key.as_str());
    match state.app.record_observation(&signed.actor, &patient_id, &session_id, &document, key).await {
        Ok(created) => {
            let sequence = created.body["sequence"].as_i64().unwrap_or_default();
            Ok(Redirect::to(&format!("/patients/{patient_id}/sessions/{session_id}?saved={sequence}#alerts"))
                .into_response())
        }
        Err(AppError::Invalid { field, problem } | AppError::Refused { field, problem, .. }) => {
            let id = form_field_of(&field);
            refused(form, vec![(id, format!("{field}: {problem}"))]).await
        }
        Err(AppError::IdempotencyKeyReused { .. }) => {
            refused(
                form,
                vec![(
                    "systolic".to_owned(),
                    "This form was already sent with other values; the page has been reloaded, enter the values again"
                        .to_owned(),
                )],
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

/// Re-renders the session page with an action's refusal at the top (status 422 or 409).
async fn action_refused(
    state: &PagesState,
    signed: &SignedIn,
    patient_id: &str,
    session_id: &str,
    error: AppError,
) -> Result<Response, PageError> {
    let (status, message) = match error {
        AppError::Invalid { field, problem } | AppError::Refused { field, problem, .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, format!("{field}: {problem}"))
        }
        AppError::StaleVersion { .. } => (
            StatusCode::CONFLICT,
            "The session changed since this page was loaded (someone else charted); here it is as it is now — check it and try again.".to_owned(),
        ),
        other => return Err(other.into()),
    };
    let page_state = PageState { action_error: Some(message), ..PageState::default() };
    let page = session_page(state, signed, patient_id, session_id, page_state).await?;
    Ok((status, render(&page)).into_response())
}

#[derive(Debug, Deserialize)]
struct AcknowledgeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    note: String,
}

/// `POST …/alerts/{alert_id}/acknowledgement`: records that the caller saw the alert (now), with a note.
pub async fn acknowledge_alert(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id, alert_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: AcknowledgeForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    let note = form.note.trim();
    let document = if note.is_empty() { json!({}) } else { json!({ "note": note }) };
    match state
        .app
        .acknowledge_alert(&signed.actor, &patient_id, &session_id, &alert_id, &document.to_string(), None)
        .await
    {
        Ok(_) => {
            Ok(Redirect::to(&format!("/patients/{patient_id}/sessions/{session_id}#{}", html_id("alert-", &alert_id)))
                .into_response())
        }
        Err(error) => action_refused(&state, &signed, &patient_id, &session_id, error).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct VersionForm {
    #[serde(default)]
    pub csrf_token: String,
    #[serde(default)]
    pub version: i64,
    #[serde(default)]
    pub reason: String,
}

/// `POST …/observations/{sequence}/entered-in-error`: marks an entry entered in error with a reason (the
/// use case replays the alerts without it); the page comes back with the entry form filled with it at its
/// time, so the right values are one Enter away. A refusal (no reason, someone else's entry) is shown
/// beside the reason, kept as typed.
pub async fn mark_entered_in_error(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id, sequence)): Path<(String, String, i64)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: VersionForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    let document = crate::session_forms::entered_in_error_body(&form.reason);
    let result =
        state.app.correct_observation(&signed.actor, &patient_id, &session_id, sequence, form.version, &document).await;
    let (status, message) = match result {
        Ok(_) => {
            let href = format!("/patients/{patient_id}/sessions/{session_id}?reenter={sequence}#entry");
            return Ok(Redirect::to(&href).into_response());
        }
        Err(error) => crate::session_forms::correction_refusal(error)?,
    };
    let page_state = PageState {
        refused_correction: Some((format!("entry-{sequence}"), form.reason, message)),
        ..PageState::default()
    };
    let page = session_page(&state, &signed, &patient_id, &session_id, page_state).await?;
    Ok((status, render(&page)).into_response())
}

/// `POST …/discharge`: discharges when the engine says the patient is ready (else the refusal names the
/// open criteria).
pub async fn discharge(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: VersionForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    match state.app.discharge_session(&signed.actor, &patient_id, &session_id, form.version).await {
        Ok(_) => Ok(Redirect::to(&format!("/patients/{patient_id}/sessions/{session_id}#discharge")).into_response()),
        Err(error) => action_refused(&state, &signed, &patient_id, &session_id, error).await,
    }
}

/// `POST …/signature`: a prescriber signs a discharged session, which locks it.
pub async fn sign(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: VersionForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    match state.app.sign_session(&signed.actor, &patient_id, &session_id, form.version).await {
        Ok(_) => Ok(Redirect::to(&format!("/patients/{patient_id}/sessions/{session_id}#discharge")).into_response()),
        Err(error) => action_refused(&state, &signed, &patient_id, &session_id, error).await,
    }
}

#[derive(Debug, Deserialize)]
struct OverrideForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    version: i64,
    #[serde(default)]
    item: String,
    #[serde(default)]
    reason: String,
}

/// `POST …/overrides`: a prescriber overrides one overridable hold of the gate, with a reason, through
/// `App::record_session_override`; a refusal (no reason, a hold that cannot be overridden, a stale page)
/// comes back beside the reason field with the reason kept.
pub async fn record_override(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: OverrideForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    // An empty reason is left out, so the use case says that an override needs one.
    let reason = form.reason.trim();
    let document =
        if reason.is_empty() { json!({ "item": form.item }) } else { json!({ "item": form.item, "reason": reason }) }
            .to_string();
    let (status, message) = match state
        .app
        .record_session_override(&signed.actor, &patient_id, &session_id, form.version, &document)
        .await
    {
        Ok(_) => {
            return Ok(Redirect::to(&format!("/patients/{patient_id}/sessions/{session_id}#gate")).into_response());
        }
        Err(AppError::Invalid { field, problem }) => (StatusCode::UNPROCESSABLE_ENTITY, format!("{field}: {problem}")),
        Err(AppError::Refused { field, problem, rule_id }) => {
            (StatusCode::UNPROCESSABLE_ENTITY, format!("{field}: {problem} ({rule_id})"))
        }
        Err(AppError::StaleVersion { .. }) => (
            StatusCode::CONFLICT,
            "The session changed since this page was loaded; check the gate as it is now and send the override again"
                .to_owned(),
        ),
        Err(other) => return Err(other.into()),
    };
    let page_state = PageState { refused_override: Some((form.item, form.reason, message)), ..PageState::default() };
    let page = session_page(&state, &signed, &patient_id, &session_id, page_state).await?;
    Ok((status, render(&page)).into_response())
}
