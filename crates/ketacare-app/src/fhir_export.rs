//! The patient's whole record as FHIR R4 (`Patient/{id}/$everything`): read the chart, the TRD
//! determination on it and the treatment sessions, hand them to `ketacare-fhir` as plain facts, and audit
//! the export as a read of the patient. Same permission as reading the chart (analysts may not: the
//! export identifies the patient).

use std::str::FromStr;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use ketacare_fhir::resources::Bundle;
use ketacare_fhir::{
    AdministrationFacts, BloodPressureFacts, ConcomitantFacts, ConsentFacts, DefinitionResult, EpisodeFacts,
    HistoryFacts, MeasurementFacts, OrderFacts, PatientFacts, PatientRecord, PlanFacts, PlannedSessionFacts,
    ScaleFacts, SessionFacts, TrdDetermination, TrialFacts, TrialJudgement, VitalSignsFacts, patient_everything_bundle,
};
use ketacare_store::{
    ChartRecord, Patient, RecordStatus, StoredDoseOrder, StoredScaleResult, StoredTreatmentPlan, TreatmentSessionRecord,
};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::chart::{EvaluationQuery, current_episode_id};
use crate::policy::{Permission, require};
use crate::secrets::new_id;
use crate::treatment::corrupt;
use crate::{Actor, App, AppError};

fn object(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(object)) => object,
        _ => Map::new(),
    }
}

fn decimal(value: Option<&Value>) -> Option<Decimal> {
    match value? {
        Value::Number(number) => {
            Decimal::from_str(&number.to_string()).or_else(|_| Decimal::from_scientific(&number.to_string())).ok()
        }
        _ => None,
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::to_owned)
}

/// The day part of a stored time (`2026-11-28T09:00:00.000000Z` → `2026-11-28`).
fn day_of(time: &str) -> String {
    time.get(..10).unwrap_or(time).to_owned()
}

/// A clinic-local `YYYY-MM-DDTHH:MM` in `zone` as a FHIR dateTime with its UTC offset.
fn fhir_date_time(local: &str, zone: &TimeZone) -> Result<String, AppError> {
    let civil: DateTime = local.parse().map_err(|error| corrupt("session time", error))?;
    let zoned = zone.to_ambiguous_zoned_datetime(civil).compatible().map_err(|error| corrupt("session time", error))?;
    Ok(zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
}

fn patient_facts(patient: &Patient) -> PatientFacts {
    PatientFacts {
        id: patient.patient_id.clone(),
        mrn: patient.mrn.clone(),
        given_name: patient.given_name.clone(),
        family_name: patient.family_name.clone(),
        birth_date: patient.birth_date.clone(),
        sex_at_birth: patient.sex_at_birth.clone(),
        entered_in_error: patient.status == RecordStatus::EnteredInError,
    }
}

/// The chart's records as the export's facts, section by section.
fn chart_facts(record: &mut PatientRecord, records: &[ChartRecord], current_episode: Option<&str>) {
    for chart_record in records {
        let body = object(&chart_record.body_json);
        let id = chart_record.record_id.clone();
        let entered_in_error = chart_record.status == RecordStatus::EnteredInError;
        let recorded_date = day_of(&chart_record.created_at);
        match chart_record.section.as_str() {
            "episodes" => record.episodes.push(EpisodeFacts {
                id,
                entered_in_error,
                diagnosis: text(body.get("diagnosis")),
                onset_date: text(body.get("onset_date")),
                severity: text(body.get("severity")),
                psychotic_features: body.get("psychotic_features").and_then(Value::as_bool),
                duration_months: decimal(body.get("duration_months")),
                ect_failed_courses: body.get("ect").and_then(|ect| ect.get("failed_courses")).and_then(Value::as_i64),
                ect_bilateral: body.get("ect").and_then(|ect| ect.get("bilateral")).and_then(Value::as_bool),
                recorded_date,
            }),
            "history" => record.history.push(HistoryFacts {
                id,
                entered_in_error,
                code: text(body.get("code")).unwrap_or_default(),
                resolved: body.get("clinical_status").and_then(Value::as_str) == Some("resolved"),
                noted_on: text(body.get("noted_on")),
                recorded_date,
            }),
            "concomitant" => record.concomitant.push(ConcomitantFacts {
                id,
                entered_in_error,
                class: text(body.get("class")).unwrap_or_default(),
                stopped: body.get("clinical_status").and_then(Value::as_str) == Some("stopped"),
                noted_on: text(body.get("noted_on")),
                recorded_date,
            }),
            "trials" => record.trials.push(TrialFacts {
                id,
                entered_in_error,
                drug: text(body.get("drug")).unwrap_or_default(),
                daily_dose_mg: decimal(body.get("daily_dose_mg")),
                weeks: decimal(body.get("weeks")),
                improvement_pct: decimal(body.get("improvement_pct")),
                adherence: text(body.get("adherence")),
                role: text(body.get("role")),
                stop_reason: text(body.get("stop_reason")),
                in_current_episode: current_episode.is_some() && chart_record.episode_id.as_deref() == current_episode,
                episode_id: chart_record.episode_id.clone(),
                recorded_date,
            }),
            "measurements" => record.measurements.push(MeasurementFacts {
                id,
                entered_in_error,
                measured_on: text(body.get("measured_on")).unwrap_or(recorded_date),
                height_cm: decimal(body.get("height_cm")),
                weight_kg: decimal(body.get("weight_kg")),
                pregnant: body.get("pregnant").and_then(Value::as_bool),
                breastfeeding: body.get("breastfeeding").and_then(Value::as_bool),
            }),
            "blood_pressures" => {
                if let (Some(systolic), Some(diastolic)) =
                    (decimal(body.get("systolic")), decimal(body.get("diastolic")))
                {
                    record.blood_pressures.push(BloodPressureFacts {
                        id,
                        entered_in_error,
                        measured_on: text(body.get("measured_on")).unwrap_or(recorded_date),
                        systolic_mmhg: systolic,
                        diastolic_mmhg: diastolic,
                    });
                }
            }
            // Overrides are a prescriber's decisions about rules, not facts about the patient: not exported.
            _ => {}
        }
    }
}

fn scale_facts(result: &StoredScaleResult) -> ScaleFacts {
    let answers: Option<Value> = result.answers_json.as_deref().and_then(|text| serde_json::from_str(text).ok());
    let mut facts = ScaleFacts {
        id: result.scale_result_id.clone(),
        entered_in_error: result.status == RecordStatus::EnteredInError,
        scale: result.scale.clone(),
        administered_on: result.administered_on.clone(),
        total: result.total,
        ..ScaleFacts::default()
    };
    match answers {
        Some(Value::Object(questions)) => {
            facts.cssrs_answers =
                questions.iter().map(|(question, answer)| (question.clone(), answer.as_bool())).collect();
        }
        Some(Value::Array(items)) => facts.items = items.iter().map(Value::as_i64).collect(),
        _ => {}
    }
    facts
}

/// The `trd` part of the chart's report as the export's TRD determination.
fn trd_facts(report: &Value, protocol_sha256: &str, trial_ids: Vec<String>) -> Option<TrdDetermination> {
    let trd = report.get("trd").filter(|trd| trd.is_object())?;
    let strings = |value: &Value| -> Vec<String> {
        value.as_array().into_iter().flatten().filter_map(|item| item.as_str().map(str::to_owned)).collect()
    };
    let definition = |value: &Value, key: &str| DefinitionResult {
        status: value["status"].as_str().unwrap_or("indeterminate").to_owned(),
        counted: strings(&value[key]),
    };
    Some(TrdDetermination {
        as_of: report["as_of"].as_str().unwrap_or_default().to_owned(),
        failure_threshold: trd["failure_threshold"].as_str().unwrap_or_default().to_owned(),
        label: definition(&trd["label"], "failed_agents"),
        distinct_classes: definition(&trd["distinct_classes"], "classes"),
        trials: trd["trials"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|trial| TrialJudgement {
                drug: trial["drug"].as_str().unwrap_or_default().to_owned(),
                adequate: trial["adequate"].as_bool(),
                failed: trial["failed"].as_bool(),
                reasons: strings(&trial["reasons"]),
            })
            .collect(),
        rules_version: ketacare_core::RULES_VERSION.to_owned(),
        protocol_sha256: protocol_sha256.to_owned(),
        trial_ids,
    })
}

fn plan_facts(plan: &StoredTreatmentPlan) -> PlanFacts {
    let document = object(&plan.plan_json);
    PlanFacts {
        id: plan.plan_id.clone(),
        status: plan.status.clone(),
        modality: text(document.get("modality")).unwrap_or_default(),
        created_at: plan.created_at.clone(),
        sessions: plan
            .scheduled
            .iter()
            .map(|row| PlannedSessionFacts {
                session_number: row.session_number,
                step: row.step.clone(),
                phase: row.phase.clone(),
                planned_at: row.planned_at.clone(),
                status: row.status.clone(),
                treatment_session_id: row.treatment_session_id.clone(),
            })
            .collect(),
    }
}

fn order_facts(order: &StoredDoseOrder) -> Result<OrderFacts, AppError> {
    let document = object(&order.order_json);
    let dose_mg = decimal(document.get("dose_mg")).ok_or_else(|| corrupt("dose order", "no dose_mg"))?;
    let instruction = match (decimal(document.get("mg_per_kg")), decimal(document.get("infusion_min"))) {
        (Some(mg_per_kg), Some(minutes)) => {
            format!("{} mg/kg ({} mg) IV over {} min", mg_per_kg.normalize(), dose_mg.normalize(), minutes.normalize())
        }
        _ => match decimal(document.get("device_count")) {
            Some(devices) => format!("{} mg intranasal ({} devices)", dose_mg.normalize(), devices.normalize()),
            None => format!("{} mg", dose_mg.normalize()),
        },
    };
    Ok(OrderFacts {
        id: order.order_id.clone(),
        status: order.status.clone(),
        modality: order.modality.clone(),
        plan_id: order.plan_id.clone(),
        dose_mg,
        instruction,
        signed_at: order.signed_at.clone(),
    })
}

fn session_facts(record: &TreatmentSessionRecord) -> Result<SessionFacts, AppError> {
    let facts = object(&record.session.facts_json);
    let zone_name = facts.get("time_zone").and_then(Value::as_str).unwrap_or("UTC");
    let zone = TimeZone::get(zone_name).map_err(|error| corrupt("session time zone", error))?;
    let mut vital_signs = Vec::new();
    for stored in &record.observations {
        let observation = object(&stored.observation_json);
        let Some(at) = observation.get("at").and_then(Value::as_str) else { continue };
        vital_signs.push(VitalSignsFacts {
            sequence: stored.sequence,
            entered_in_error: stored.correction.is_some(),
            at: fhir_date_time(at, &zone)?,
            systolic_mmhg: decimal(observation.get("systolic_mmhg")),
            diastolic_mmhg: decimal(observation.get("diastolic_mmhg")),
            heart_rate_bpm: decimal(observation.get("heart_rate_bpm")),
            spo2_percent: decimal(observation.get("spo2_percent")),
            respiratory_rate_per_min: decimal(observation.get("respiratory_rate_per_min")),
            moaas: observation.get("moaas").and_then(Value::as_i64),
            cadss_total: observation.get("cadss_total").and_then(Value::as_i64),
            bprs_positive_total: observation.get("bprs_positive_total").and_then(Value::as_i64),
        });
    }
    let mut administrations = Vec::new();
    for stored in &record.administrations {
        let dose = object(&stored.administration_json);
        let Some(started_at) = dose.get("started_at").and_then(Value::as_str) else { continue };
        let ended_at = match dose.get("ended_at").and_then(Value::as_str) {
            Some(local) => Some(fhir_date_time(local, &zone)?),
            None => None,
        };
        administrations.push(AdministrationFacts {
            id: stored.administration_id.clone(),
            entered_in_error: stored.status == "entered_in_error",
            drug: text(dose.get("drug")).unwrap_or_default(),
            dose_mg: decimal(dose.get("dose_mg")).unwrap_or_default(),
            lot_number: stored.lot_number.clone(),
            started_at: fhir_date_time(started_at, &zone)?,
            ended_at,
            device_count: dose.get("device_count").and_then(Value::as_i64),
        });
    }
    Ok(SessionFacts {
        id: record.session.session_id.clone(),
        entered_in_error: record.session.status == "entered_in_error",
        modality: record.session.modality.clone(),
        started_at: record.session.created_at.clone(),
        discharged_at: record.session.discharged_at.clone(),
        vital_signs,
        administrations,
    })
}

impl App {
    /// The patient's record as a FHIR R4 `searchset` Bundle (`Patient/{id}/$everything`), audited as a
    /// read of the patient (`patient.read`, resource `patient/{id}/fhir/$everything`).
    pub async fn fhir_patient_everything(&self, actor: &Actor, patient_id: &str) -> Result<Bundle, AppError> {
        let resource = format!("patient/{patient_id}/fhir/$everything");
        let event = self.audit_event(actor, "patient.read", resource, Some(patient_id));
        match self.assemble_fhir_record(actor, patient_id).await {
            Ok(record) => {
                self.store.append_audit(&event).await?;
                let now = ketacare_store::format_time(self.now());
                Ok(patient_everything_bundle(&record, &new_id(), Some(&now)))
            }
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// The same Bundle for `ketacare export --fhir-bundle`: whoever runs the command holds the database
    /// itself, so no role is checked; the export is audited as `patient.read` by the actor `ketacare-cli`
    /// (as backups are) with no role.
    pub async fn fhir_patient_everything_at_console(
        &self,
        patient_id: &str,
        request_id: &str,
    ) -> Result<Bundle, AppError> {
        let console = Actor {
            user_id: crate::operations::CLI_ACTOR.to_owned(),
            role: ketacare_store::Role::Admin,
            request_id: request_id.to_owned(),
        };
        let mut event = self.audit_event(
            &console,
            "patient.read",
            format!("patient/{patient_id}/fhir/$everything"),
            Some(patient_id),
        );
        event.actor_role = None;
        match self.assemble_fhir_record(&console, patient_id).await {
            Ok(record) => {
                self.store.append_audit(&event).await?;
                let now = ketacare_store::format_time(self.now());
                Ok(patient_everything_bundle(&record, &new_id(), Some(&now)))
            }
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    async fn assemble_fhir_record(&self, actor: &Actor, patient_id: &str) -> Result<PatientRecord, AppError> {
        require(actor, Permission::ReadChart)?;
        let patient = self
            .store
            .patient(patient_id)
            .await?
            .ok_or_else(|| AppError::NotFound { resource: "patient", id: patient_id.to_owned() })?;
        self.fhir_record(&patient).await
    }

    /// The patient's whole record as facts for `ketacare-fhir`. The caller checks the permission and audits.
    pub(crate) async fn fhir_record(&self, patient: &Patient) -> Result<PatientRecord, AppError> {
        let patient_id = patient.patient_id.as_str();
        let mut record = PatientRecord { patient: patient_facts(patient), ..PatientRecord::default() };
        let records = self.store.chart_records(patient_id).await?;
        // The current episode as the chart's assembly names it (docs/api.md): it says which trials count.
        let current_episode = current_episode_id(&records, self.today());
        let case = self.case_of_chart(patient_id, &EvaluationQuery::default()).await?;
        chart_facts(&mut record, &records, current_episode.as_deref());
        record.scales = self.store.scale_results(patient_id).await?.iter().map(scale_facts).collect();
        // The TRD determination on the chart now; a chart that makes no valid case yet has none.
        if !records.is_empty()
            && let Ok(report) = self.evaluate(&case)
        {
            let trial_ids =
                record.trials.iter().filter(|trial| !trial.entered_in_error).map(|trial| trial.id.clone()).collect();
            record.trd = trd_facts(&report, &self.protocol().sha256, trial_ids);
        }
        for plan in self.store.treatment_plans_of(patient_id).await? {
            record.plans.push(plan_facts(&plan));
        }
        for order in self.store.dose_orders_of(patient_id).await? {
            record.orders.push(order_facts(&order)?);
        }
        for session in self.store.treatment_sessions_of(patient_id).await? {
            let Some(session_record) =
                self.store.treatment_session_record(patient_id, &session.session_id, true).await?
            else {
                continue;
            };
            record.sessions.push(session_facts(&session_record)?);
        }
        let forms = self.store.consent_forms().await?;
        for consent in self.store.patient_consents(patient_id).await? {
            let form_title = forms
                .iter()
                .find(|form| form.form_id == consent.form_id && form.version == consent.form_version)
                .map(|form| form.title.clone())
                .unwrap_or_default();
            record.consents.push(ConsentFacts {
                id: consent.consent_id,
                modality: consent.modality.as_str().to_owned(),
                form_id: consent.form_id,
                form_version: consent.form_version,
                form_title,
                signed_on: consent.signed_on.to_string(),
                valid_until: consent.valid_until.map(|day| day.to_string()),
                withdrawn_on: consent.withdrawn_on.map(|day| day.to_string()),
                signer_name: consent.signer_name,
                signer_relationship: consent.signer_relationship.as_str().to_owned(),
                entered_in_error: consent.status == RecordStatus::EnteredInError,
            });
        }
        Ok(record)
    }
}

impl App {
    /// The ids of every patient (entered in error too), `limit` at a time in name order after the patient
    /// `after`: what `ketacare export --ndjson` walks, holding one page at a time.
    pub async fn patient_ids_for_export(&self, after: Option<&str>, limit: i64) -> Result<Vec<String>, AppError> {
        let search = ketacare_store::PatientSearch {
            query: None,
            listing: ketacare_store::PatientListing::ByName,
            include_entered_in_error: true,
            limit,
            offset: 0,
        };
        let page = self.store.search_patients_after(&search, after).await?;
        Ok(page.patients.into_iter().map(|patient| patient.patient_id).collect())
    }
}
