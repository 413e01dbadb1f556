//! The server enforces what the engine decides about a session: prescribers' dose orders checked against
//! the protocol's hard stops (the same core rules as `ketacare dose`), the pre-dose gate as a refusal of
//! any administration until it passes (overridable holds lifted only by a prescriber's override with a
//! reason), clinical times never later than the server's clock, observations corrected by marking them
//! entered in error with the alerts replayed, and the session's stages (discharge, sign-off that locks it).

use jiff::{SignedDuration, Timestamp};
use ketacare_case::session_format::{SessionInput, alert_changes_json, alert_json, check_session};
use ketacare_core::dosing::{
    DoseHardStop, IvDoseFacts, IvDoseResult, IvPrescription, esketamine_hard_stops, iv_hard_stops, iv_ketamine_dose,
    round_half_up,
};
use ketacare_core::patient::{HeightCm, SexAtBirth, WeightKg};
use ketacare_core::scales::cssrs::{ScreenedRisk, SuicideRisk};
use ketacare_core::session::alerts::replay;
use ketacare_core::session::gate::{GateItem, GateStatus};
use ketacare_store::{
    AmendmentMeta, ObservationCorrectionWrite, RecordStatus, SessionDischarge, SessionStage, StoredAlertChange,
    StoredDoseOrder, StoredSessionOverride, TreatmentSessionRecord,
};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::chart::EvaluationQuery;
use crate::patients::idempotency_key;
use crate::policy::{Permission, require};
use crate::secrets::{new_id, sha256_hex};
use crate::treatment::{
    corrupt, decimal_number, decimal_value, optional_string, parse_object, reason_of, reject_unknown,
};
use crate::{Actor, App, AppError, Created};

/// The override item that lets an administration differ from its order (a prescriber's decision).
pub const DOSE_DIFFERS_FROM_ORDER: &str = "DOSE_DIFFERS_FROM_ORDER";

/// A dose order as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderView {
    pub order_id: String,
    pub patient_id: String,
    pub plan_id: Option<String>,
    pub modality: String,
    pub status: String,
    pub version: i64,
    pub signed_by: String,
    pub signed_at: String,
    /// The computed order: `dose_mg`, and for IV `mg_per_kg`, `infusion_min`, the weight basis and pump
    /// rate; for esketamine `device_count` and `device_mg`.
    pub order: Value,
}

fn order_view(stored: StoredDoseOrder) -> Result<OrderView, AppError> {
    Ok(OrderView {
        order: serde_json::from_str(&stored.order_json).map_err(|error| corrupt("dose order", error))?,
        order_id: stored.order_id,
        patient_id: stored.patient_id,
        plan_id: stored.plan_id,
        modality: stored.modality,
        status: stored.status,
        version: stored.version,
        signed_by: stored.signed_by,
        signed_at: stored.signed_at,
    })
}

/// A refusal by one of the hard stops, naming its field and rule.
fn hard_stop_refusal(stops: &[DoseHardStop]) -> AppError {
    let first = &stops[0];
    let problem =
        stops.iter().map(|stop| format!("{} ({})", stop.problem, stop.rule_id)).collect::<Vec<_>>().join("; ");
    AppError::Refused { field: first.field.to_owned(), rule_id: first.rule_id.to_owned(), problem }
}

fn decimal_field(object: &mut Map<String, Value>, key: &str) -> Result<Option<Decimal>, AppError> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value @ Value::Number(_)) => decimal_value(&value)
            .map(Some)
            .ok_or_else(|| AppError::invalid(key, format!("must be an exact number, got {value}"))),
        Some(_) => Err(AppError::invalid(key, "must be a number")),
    }
}

/// The gate items that still stop a dose once the prescriber's overrides are applied.
fn blocking_gate_items<'a>(items: &'a [GateItem], overrides: &[StoredSessionOverride]) -> Vec<&'a GateItem> {
    items
        .iter()
        .filter(|item| match &item.status {
            GateStatus::Pass => false,
            GateStatus::Hold { overridable: true } => {
                !overrides.iter().any(|override_record| override_record.item == item.item.as_str())
            }
            GateStatus::Hold { overridable: false } | GateStatus::Indeterminate { .. } => true,
        })
        .collect()
}

/// The refusal of a dose while the gate does not allow it: each blocking item with its reason.
pub(crate) fn gate_refusal(items: &[GateItem], overrides: &[StoredSessionOverride]) -> Option<AppError> {
    let blocking = blocking_gate_items(items, overrides);
    let first = blocking.first()?;
    let rule_id = match &first.status {
        GateStatus::Hold { overridable: true } => "GATE_HOLD_NEEDS_PRESCRIBER_OVERRIDE",
        GateStatus::Hold { overridable: false } => "GATE_HOLD",
        _ => "GATE_INDETERMINATE",
    };
    let problem = blocking
        .iter()
        .map(|item| match &item.status {
            GateStatus::Indeterminate { missing } => {
                format!("{} indeterminate (missing {}): {}", item.item.as_str(), missing.join(", "), item.reason)
            }
            GateStatus::Hold { overridable: true } => {
                format!("{} hold, a prescriber may override with a reason: {}", item.item.as_str(), item.reason)
            }
            _ => format!("{} hold, not overridable this session: {}", item.item.as_str(), item.reason),
        })
        .collect::<Vec<_>>()
        .join("; ");
    Some(AppError::Refused {
        field: format!("gate.{}", first.item.as_str()),
        rule_id: rule_id.to_owned(),
        problem: format!("no dose while the pre-dose gate does not pass: {problem}"),
    })
}

impl App {
    /// How far after the server's clock a clinical time may be (protocol `session.max_clock_skew_min`).
    pub(crate) fn latest_allowed_time(&self) -> Timestamp {
        let skew = self.protocol.session.max_clock_skew_min.value;
        self.now() + SignedDuration::from_mins(skew)
    }

    /// Refuses a clinical time later than the server's clock plus the allowed skew.
    pub(crate) fn refuse_future(&self, field: &str, at: Timestamp) -> Result<(), AppError> {
        if at > self.latest_allowed_time() {
            return Err(AppError::Refused {
                field: field.to_owned(),
                rule_id: "TIME_AFTER_SERVER_CLOCK".to_owned(),
                problem: format!(
                    "{at} is later than the server's clock ({}) plus {} min: a clinical time cannot be in the future",
                    self.now(),
                    self.protocol.session.max_clock_skew_min.value
                ),
            });
        }
        Ok(())
    }

    /// Refuses any time of a session document later than the server's clock: the dose's start and end,
    /// the end of monitoring, the discharge scores and every observation.
    pub(crate) fn refuse_future_session_times(&self, input: &SessionInput) -> Result<(), AppError> {
        let dose = input.session.dose();
        for (field, at) in [
            ("dose.started_at", dose.started_at),
            ("dose.ended_at", dose.ended_at),
            ("monitoring_ended_at", input.session.monitoring_ended_at()),
            ("discharge.aldrete.at", input.discharge.aldrete.map(|(at, _)| at)),
            ("discharge.padss.at", input.discharge.padss.map(|(at, _)| at)),
            ("pre_dose.last_food_at", input.pre_dose.last_food_at),
            ("pre_dose.last_liquid_at", input.pre_dose.last_liquid_at),
        ] {
            if let Some(at) = at {
                self.refuse_future(field, at)?;
            }
        }
        for (index, entry) in input.session.timeline().entries().iter().enumerate() {
            self.refuse_future(&format!("observations[{index}].at"), entry.at)?;
        }
        Ok(())
    }

    /// The highest esketamine dose the patient was given in an earlier session (active administrations of
    /// active sessions), for the rule that the maximum dose follows a lower one (KNOWLEDGE §3.5).
    async fn highest_prior_esketamine_mg(
        &self,
        patient_id: &str,
        except_session: Option<&str>,
    ) -> Result<Option<u32>, AppError> {
        let mut highest: Option<u32> = None;
        for session in self.store.treatment_sessions_of(patient_id).await? {
            if session.modality != "esketamine"
                || session.status != "active"
                || Some(session.session_id.as_str()) == except_session
            {
                continue;
            }
            let Some(record) = self.store.treatment_session_record(patient_id, &session.session_id, true).await? else {
                continue;
            };
            let given = given_mg(&record)?;
            if let Some(mg) = rust_decimal::prelude::ToPrimitive::to_u32(&given)
                && mg > 0
            {
                highest = Some(highest.map_or(mg, |prior| prior.max(mg)));
            }
        }
        Ok(highest)
    }

    /// Signs a dose order (prescribers only): IV from `mg_per_kg` and `infusion_min` (protocol defaults when
    /// absent) on the chart's latest height and weight and the patient's sex at birth, through the core's
    /// dose computation; esketamine from `dose_mg`. Either is refused at a hard stop.
    pub async fn create_order(
        &self,
        actor: &Actor,
        patient_id: &str,
        body: &str,
        key: Option<&str>,
    ) -> Result<Created, AppError> {
        let order_id = new_id();
        let event =
            self.audit_event(actor, "order.create", format!("patient/{patient_id}/order/{order_id}"), Some(patient_id));
        if let Err(error) = require(actor, Permission::PrescribeDoses) {
            return Err(self.audit_failure(event, error).await);
        }
        let key = idempotency_key(key)?;
        let request_sha256 = sha256_hex(&format!("order\n{patient_id}\n{body}"));
        if let Some(created) = self.replay_created(actor, key, &request_sha256, "order_id").await? {
            return Ok(created);
        }
        let checked = self.check_order(patient_id, &order_id, body, actor).await;
        let stored = match checked {
            Ok(stored) => stored,
            Err(error) => return Err(self.audit_failure(event, error).await),
        };
        let body = serde_json::to_value(order_view(stored.clone())?).expect("an order view serializes");
        let idempotent = Self::keyed_response(actor, key, &request_sha256, &body);
        match self.store.insert_dose_order(&stored, &event, idempotent.as_ref()).await {
            Ok(()) => Ok(Created { resource_id: order_id, body, replayed: false }),
            Err(error) => self.created_or_failure(actor, key, &request_sha256, "order_id", event, error).await,
        }
    }

    async fn check_order(
        &self,
        patient_id: &str,
        order_id: &str,
        body: &str,
        actor: &Actor,
    ) -> Result<StoredDoseOrder, AppError> {
        let mut object = parse_object(body)?;
        let modality = optional_string(&mut object, "modality")?
            .ok_or_else(|| AppError::invalid("modality", "is required (iv_racemic_ketamine or esketamine)"))?;
        let plan_id = optional_string(&mut object, "plan_id")?;
        let settings = &self.protocol.dosing;
        let order = match modality.as_str() {
            "iv_racemic_ketamine" => {
                let mg_per_kg = decimal_field(&mut object, "mg_per_kg")?.unwrap_or(settings.iv_mg_per_kg.value);
                let infusion_min = decimal_field(&mut object, "infusion_min")?
                    .unwrap_or_else(|| Decimal::from(settings.iv_duration_min.value));
                reject_unknown(&object)?;
                if mg_per_kg <= Decimal::ZERO {
                    return Err(AppError::invalid("mg_per_kg", "must be more than 0"));
                }
                if infusion_min <= Decimal::ZERO {
                    return Err(AppError::invalid("infusion_min", "must be more than 0"));
                }
                let stops = iv_hard_stops(mg_per_kg, infusion_min, settings);
                if !stops.is_empty() {
                    let mut refusal = hard_stop_refusal(&stops);
                    if let AppError::Refused { field, .. } = &mut refusal
                        && field == "dose_mg"
                    {
                        *field = "mg_per_kg".to_owned();
                    }
                    return Err(refusal);
                }
                let case = self.case_of_chart(patient_id, &EvaluationQuery::default()).await?;
                let patient = &case["patient"];
                let decimal_of = |key: &str| decimal_value(&patient[key]);
                let height = decimal_of("height_cm").and_then(|cm| HeightCm::parse(cm).ok());
                let weight = decimal_of("weight_kg").and_then(|kg| WeightKg::parse(kg).ok());
                let sex_at_birth = match patient["sex_at_birth"].as_str() {
                    Some("male") => Some(SexAtBirth::Male),
                    Some("female") => Some(SexAtBirth::Female),
                    _ => None,
                };
                let prescription = IvPrescription {
                    mg_per_kg,
                    duration_min: infusion_min,
                    bag_volume_ml: settings.iv_bag_volume_ml.value,
                    entered_dose_mg: None,
                };
                let dose = match iv_ketamine_dose(IvDoseFacts { height, weight, sex_at_birth }, prescription, settings)
                {
                    IvDoseResult::Computed(dose) => dose,
                    IvDoseResult::Indeterminate { missing } => {
                        return Err(AppError::Refused {
                            field: "chart.measurements".to_owned(),
                            rule_id: "DOSE_INDETERMINATE".to_owned(),
                            problem: format!(
                                "the dose cannot be computed: the chart lacks {} (record a measurement first)",
                                missing.join(", ")
                            ),
                        });
                    }
                };
                json!({
                    "modality": modality,
                    "mg_per_kg": decimal_number(mg_per_kg),
                    "infusion_min": decimal_number(infusion_min),
                    "dose_mg": decimal_number(round_half_up(dose.dose_mg, 1)),
                    "basis": dose.basis.as_str(),
                    "basis_kg": decimal_number(round_half_up(dose.basis_kg, 2)),
                    "bmi": decimal_number(round_half_up(dose.bmi, 2)),
                    "pump_rate_ml_per_h": decimal_number(round_half_up(dose.pump_rate_ml_per_h, 1)),
                    "bag_volume_ml": decimal_number(dose.bag_volume_ml),
                    "warnings": dose.warnings,
                })
            }
            "esketamine" => {
                let dose_mg = decimal_field(&mut object, "dose_mg")?
                    .ok_or_else(|| AppError::invalid("dose_mg", "is required"))?;
                reject_unknown(&object)?;
                let prior = self.highest_prior_esketamine_mg(patient_id, None).await?;
                let stops = esketamine_hard_stops(dose_mg, None, prior, settings);
                if !stops.is_empty() {
                    return Err(hard_stop_refusal(&stops));
                }
                let device_mg = Decimal::from(settings.esketamine_device_mg.value);
                json!({
                    "modality": modality,
                    "dose_mg": decimal_number(dose_mg),
                    "device_mg": decimal_number(device_mg),
                    "device_count": decimal_number(dose_mg / device_mg),
                })
            }
            other => {
                return Err(AppError::invalid(
                    "modality",
                    format!("must be iv_racemic_ketamine or esketamine, got \"{other}\""),
                ));
            }
        };
        if self.store.patient(patient_id).await?.is_none() {
            return Err(AppError::NotFound { resource: "patient", id: patient_id.to_owned() });
        }
        if let Some(plan_id) = &plan_id {
            match self.store.treatment_plan(patient_id, plan_id).await? {
                Some(plan) if plan.status == "active" => {}
                Some(_) => return Err(AppError::invalid("plan_id", "names a plan that is not active")),
                None => return Err(AppError::NotFound { resource: "plan", id: plan_id.clone() }),
            }
        }
        let at = ketacare_store::format_time(self.now());
        Ok(StoredDoseOrder {
            patient_id: patient_id.to_owned(),
            order_id: order_id.to_owned(),
            plan_id,
            modality,
            order_json: order.to_string(),
            status: "active".to_owned(),
            version: 1,
            signed_by: actor.user_id.clone(),
            signed_at: at.clone(),
            updated_at: at,
            updated_by: actor.user_id.clone(),
        })
    }

    /// A patient's dose orders, oldest first.
    pub async fn orders(&self, actor: &Actor, patient_id: &str) -> Result<Vec<OrderView>, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::ReadSessions,
                "order.list",
                format!("patient/{patient_id}/orders"),
                Some(patient_id),
            )
            .await?;
        if self.store.patient(patient_id).await?.is_none() {
            let error = AppError::NotFound { resource: "patient", id: patient_id.to_owned() };
            return Err(self.audit_failure(event, error).await);
        }
        let orders = self.store.dose_orders_of(patient_id).await?;
        self.store.append_audit(&event).await?;
        orders.into_iter().map(order_view).collect()
    }

    /// Discontinues an order or marks it entered in error (prescribers only), with a reason.
    pub async fn set_order_status(
        &self,
        actor: &Actor,
        patient_id: &str,
        order_id: &str,
        expected_version: i64,
        body: &str,
    ) -> Result<OrderView, AppError> {
        let event =
            self.audit_event(actor, "order.amend", format!("patient/{patient_id}/order/{order_id}"), Some(patient_id));
        if let Err(error) = require(actor, Permission::PrescribeDoses) {
            return Err(self.audit_failure(event, error).await);
        }
        let result = async {
            let mut object = parse_object(body)?;
            let reason = reason_of(&mut object)?
                .ok_or_else(|| AppError::invalid("reason", "a change of an order needs a reason"))?;
            let status = optional_string(&mut object, "status")?
                .filter(|status| ["discontinued", "entered_in_error"].contains(&status.as_str()))
                .ok_or_else(|| AppError::invalid("status", "must be discontinued or entered_in_error"))?;
            reject_unknown(&object)?;
            let meta = AmendmentMeta {
                amendment_id: new_id(),
                reason,
                amended_by: actor.user_id.clone(),
                amended_at: self.now(),
            };
            Ok(self.store.set_dose_order_status(patient_id, order_id, expected_version, &status, &meta, &event).await?)
        }
        .await;
        match result {
            Ok(stored) => order_view(stored),
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// The order a session gives, whatever its status now.
    pub(crate) async fn order_of_session(
        &self,
        patient_id: &str,
        order_id: &str,
    ) -> Result<(StoredDoseOrder, Value), AppError> {
        let Some(order) = self.store.dose_order(patient_id, order_id).await? else {
            return Err(corrupt("dose order", format!("{order_id} is missing")));
        };
        let value: Value = serde_json::from_str(&order.order_json).map_err(|error| corrupt("dose order", error))?;
        Ok((order, value))
    }

    /// The active order a session may give: the patient's, of the session's modality.
    pub(crate) async fn active_order(
        &self,
        patient_id: &str,
        order_id: &str,
        modality: &str,
    ) -> Result<(StoredDoseOrder, Value), AppError> {
        let Some(order) = self.store.dose_order(patient_id, order_id).await? else {
            return Err(AppError::invalid("order_id", format!("no dose order {order_id} for this patient")));
        };
        if order.status != "active" {
            return Err(AppError::invalid("order_id", format!("order {order_id} is {}", order.status)));
        }
        if order.modality != modality {
            return Err(AppError::invalid(
                "order_id",
                format!("order {order_id} is for {}, the session is {modality}", order.modality),
            ));
        }
        let value: Value = serde_json::from_str(&order.order_json).map_err(|error| corrupt("dose order", error))?;
        Ok((order, value))
    }

    /// Records a prescriber's override of one overridable hold of the session's gate (`item`, e.g. `BP`),
    /// or of a dose that differs from its order (`DOSE_DIFFERS_FROM_ORDER`), with a `reason`. A hold that
    /// is not overridable (BP at or above the severe band, high suicide risk, no escort, no REMS
    /// enrolment) and an item that does not hold are refused.
    pub async fn record_session_override(
        &self,
        actor: &Actor,
        patient_id: &str,
        session_id: &str,
        expected_version: i64,
        body: &str,
    ) -> Result<crate::treatment::SessionView, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::OverrideSessionHolds,
                "session.override",
                format!("patient/{patient_id}/session/{session_id}/overrides"),
                Some(patient_id),
            )
            .await?;
        let result = async {
            let mut object = parse_object(body)?;
            let reason = reason_of(&mut object)?
                .ok_or_else(|| AppError::invalid("reason", "an override needs a reason (1 to 1000 characters)"))?;
            let item = optional_string(&mut object, "item")?.ok_or_else(|| AppError::invalid("item", "is required"))?;
            reject_unknown(&object)?;
            let record = self.session_record(patient_id, session_id, true).await?;
            if record.session.status != "active" || record.session.stage.is_closed() {
                return Err(AppError::invalid("session", "is closed or entered in error; it takes no overrides"));
            }
            if item != DOSE_DIFFERS_FROM_ORDER {
                let (_, input) = self.rebuild_with_chart(&record).await?;
                let report = check_session(&input, &self.protocol, self.now());
                let Some(gate_item) = report.gate.items.iter().find(|gate_item| gate_item.item.as_str() == item) else {
                    return Err(AppError::invalid("item", format!("{item} is not an item of this session's gate")));
                };
                match gate_item.status {
                    GateStatus::Hold { overridable: true } => {}
                    GateStatus::Hold { overridable: false } => {
                        return Err(AppError::Refused {
                            field: "item".to_owned(),
                            rule_id: "GATE_HOLD".to_owned(),
                            problem: format!("{item} cannot be overridden this session: {}", gate_item.reason),
                        });
                    }
                    GateStatus::Indeterminate { ref missing } => {
                        return Err(AppError::Refused {
                            field: "item".to_owned(),
                            rule_id: "GATE_INDETERMINATE".to_owned(),
                            problem: format!(
                                "{item} is indeterminate: record {} rather than override it",
                                missing.join(", ")
                            ),
                        });
                    }
                    GateStatus::Pass => {
                        return Err(AppError::invalid("item", format!("{item} passes; there is nothing to override")));
                    }
                }
            }
            let override_record = StoredSessionOverride {
                override_id: new_id(),
                item,
                reason,
                recorded_by: actor.user_id.clone(),
                recorded_at: ketacare_store::format_time(self.now()),
            };
            self.store
                .insert_session_override(patient_id, session_id, expected_version, &override_record, &event)
                .await?;
            self.session_record(patient_id, session_id, true).await
        }
        .await;
        self.session_view_or_audited_failure(result, event).await
    }

    /// Marks one observation entered in error (the prescriber, or the nurse who recorded it), with a reason;
    /// the session's alerts are replayed from the remaining observations in time order and stored as the
    /// alert log's next revision, so the session report and the worklist follow.
    pub async fn correct_observation(
        &self,
        actor: &Actor,
        patient_id: &str,
        session_id: &str,
        sequence: i64,
        expected_version: i64,
        body: &str,
    ) -> Result<crate::treatment::SessionView, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::RunSessions,
                "observation.amend",
                format!("patient/{patient_id}/session/{session_id}/observation/{sequence}"),
                Some(patient_id),
            )
            .await?;
        let result = async {
            let mut object = parse_object(body)?;
            let reason = reason_of(&mut object)?
                .ok_or_else(|| AppError::invalid("reason", "a correction needs a reason (1 to 1000 characters)"))?;
            let status = optional_string(&mut object, "status")?
                .filter(|status| status == "entered_in_error")
                .ok_or_else(|| AppError::invalid("status", "must be entered_in_error"))?;
            let _ = status;
            reject_unknown(&object)?;
            let mut record = self.session_record(patient_id, session_id, true).await?;
            let Some(observation) = record.observations.iter_mut().find(|observation| observation.sequence == sequence)
            else {
                return Err(AppError::NotFound { resource: "observation", id: format!("{session_id}/{sequence}") });
            };
            if observation.correction.is_some() {
                return Err(AppError::invalid("status", "the observation is already entered in error"));
            }
            if actor.role != ketacare_store::Role::Prescriber && observation.recorded_by != actor.user_id {
                return Err(AppError::Forbidden {
                    role: actor.role.as_str(),
                    action: "correct an observation another clinician recorded (the prescriber or its recorder may)",
                });
            }
            let now = self.now();
            observation.correction = Some(ketacare_store::ObservationCorrection {
                reason: reason.clone(),
                corrected_by: actor.user_id.clone(),
                corrected_at: ketacare_store::format_time(now),
            });
            let replayed_alert_log = self.replayed_alert_log(&record)?;
            let write = ObservationCorrectionWrite {
                expected_version,
                sequence,
                reason,
                corrected_by: actor.user_id.clone(),
                corrected_at: now,
                replayed_alert_log,
            };
            self.store.correct_observation(patient_id, session_id, &write, &event).await?;
            self.session_record(patient_id, session_id, true).await
        }
        .await;
        self.session_view_or_audited_failure(result, event).await
    }

    /// The session's alert log replayed from its surviving observations in time order; a change keeps the
    /// time it was first recorded when the current log already holds the same change for the same
    /// observation (so an acknowledgement of it still counts), else it is dated now.
    pub(crate) fn replayed_alert_log(
        &self,
        record: &TreatmentSessionRecord,
    ) -> Result<Vec<StoredAlertChange>, AppError> {
        Ok(self.replayed_alerts(record)?.0)
    }

    /// The replayed alert log and the alerts active at its end (as the session report shows them).
    pub(crate) fn replayed_alerts(
        &self,
        record: &TreatmentSessionRecord,
    ) -> Result<(Vec<StoredAlertChange>, Vec<Value>), AppError> {
        let (_, input) = crate::treatment::rebuild(record, &Map::new())?;
        let order = crate::treatment::surviving_observation_sequences(record)?;
        let steps = replay(input.session.timeline(), &self.protocol.alerts);
        let now = ketacare_store::format_time(self.now());
        let mut log = Vec::new();
        for (step, sequence) in steps.iter().zip(order) {
            for (index, (change, value)) in step.changes.iter().zip(alert_changes_json(&input, step)).enumerate() {
                let alert_id = change.alert.id.to_string();
                let change_kind = change.kind.as_str().to_owned();
                let level = change.alert.level.as_str().to_owned();
                let changed_at = record
                    .alert_changes
                    .iter()
                    .find(|prior| {
                        prior.sequence == sequence
                            && prior.alert_id == alert_id
                            && prior.change_kind == change_kind
                            && prior.level == level
                    })
                    .map_or_else(|| now.clone(), |prior| prior.changed_at.clone());
                log.push(StoredAlertChange {
                    sequence,
                    change_index: i64::try_from(index).unwrap_or(i64::MAX),
                    alert_id,
                    change_kind,
                    level,
                    alert_json: value.to_string(),
                    changed_at,
                });
            }
        }
        let active = steps
            .last()
            .map(|step| step.active.iter().map(|alert| alert_json(&input, alert)).collect())
            .unwrap_or_default();
        Ok((log, active))
    }

    /// Discharges a session in monitoring (a nurse or prescriber) once the engine says the patient is ready;
    /// the end of monitoring is the server's clock unless recorded earlier, and the scheduled session it
    /// fulfils becomes completed.
    pub async fn discharge_session(
        &self,
        actor: &Actor,
        patient_id: &str,
        session_id: &str,
        expected_version: i64,
    ) -> Result<crate::treatment::SessionView, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::RunSessions,
                "session.discharge",
                format!("patient/{patient_id}/session/{session_id}"),
                Some(patient_id),
            )
            .await?;
        let result = async {
            let record = self.session_record(patient_id, session_id, true).await?;
            if record.session.status != "active" {
                return Err(AppError::invalid("session", "was entered in error"));
            }
            if record.session.stage != SessionStage::Monitoring {
                return Err(AppError::invalid(
                    "stage",
                    format!(
                        "a session is discharged from monitoring (after a dose); it is {}",
                        record.session.stage.as_str()
                    ),
                ));
            }
            let now = self.now();
            let mut facts: Map<String, Value> =
                serde_json::from_str(&record.session.facts_json).map_err(|error| corrupt("session facts", error))?;
            if facts.get("monitoring_ended_at").is_none_or(Value::is_null) {
                let zone = crate::treatment::clinic_zone(&facts)?;
                facts.insert("monitoring_ended_at".to_owned(), json!(crate::treatment::local_minute(now, &zone)));
            }
            let mut judged = record.clone();
            judged.session.facts_json = Value::Object(facts.clone()).to_string();
            let (_, input) = self.rebuild_with_chart(&judged).await?;
            let report = check_session(&input, &self.protocol, now);
            if report.discharge.status != ketacare_core::session::discharge::DischargeStatus::Ready {
                let open: Vec<String> = report
                    .discharge
                    .criteria
                    .iter()
                    .filter(|criterion| criterion.status != ketacare_core::session::discharge::CriterionStatus::Met)
                    .map(|criterion| {
                        format!("{} {}: {}", criterion.id.as_str(), criterion.status.as_str(), criterion.reason)
                    })
                    .collect();
                return Err(AppError::Refused {
                    field: "discharge".to_owned(),
                    rule_id: "DISCHARGE_NOT_READY".to_owned(),
                    problem: format!("the patient is not ready to leave: {}", open.join("; ")),
                });
            }
            let discharge = SessionDischarge {
                expected_version,
                facts_json: Value::Object(facts).to_string(),
                discharged_at: now,
                discharged_by: actor.user_id.clone(),
            };
            self.store.discharge_session(patient_id, session_id, &discharge, &event).await?;
            self.session_record(patient_id, session_id, true).await
        }
        .await;
        self.session_view_or_audited_failure(result, event).await
    }

    /// Signs a discharged session (prescribers): it is locked, and later changes are amendments with a reason.
    pub async fn sign_session(
        &self,
        actor: &Actor,
        patient_id: &str,
        session_id: &str,
        expected_version: i64,
    ) -> Result<crate::treatment::SessionView, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::SignSessions,
                "session.sign",
                format!("patient/{patient_id}/session/{session_id}"),
                Some(patient_id),
            )
            .await?;
        let result = async {
            let record = self.session_record(patient_id, session_id, false).await?;
            if record.session.stage != SessionStage::Discharged || record.session.status != "active" {
                return Err(AppError::invalid(
                    "stage",
                    format!("a session is signed once discharged; it is {}", record.session.stage.as_str()),
                ));
            }
            self.store
                .sign_session(patient_id, session_id, expected_version, self.now(), &actor.user_id, &event)
                .await?;
            self.session_record(patient_id, session_id, true).await
        }
        .await;
        self.session_view_or_audited_failure(result, event).await
    }

    /// What the chart already knows for a session's pre-dose gate, with where each value came from: whether
    /// the patient can become pregnant (no for a male sex at birth), and PHQ-9 item 9 and the C-SSRS risk
    /// recorded within `session.chart_screen_max_age_days` of today. The session's own values win. And the
    /// informed consent to the session's `modality` today, from the consent records alone (a session
    /// cannot state it: [`refuse_informed_consent_as_fact`]).
    pub(crate) async fn chart_pre_dose(
        &self,
        record: &TreatmentSessionRecord,
    ) -> Result<(Map<String, Value>, Vec<Value>), AppError> {
        let patient_id = record.session.patient_id.as_str();
        let mut values = Map::new();
        let mut sources = Vec::new();

        let Some(patient) = self.store.patient(patient_id).await? else { return Ok((values, sources)) };
        if patient.sex_at_birth == "male" {
            values.insert("can_become_pregnant".to_owned(), json!(false));
            sources.push(json!({ "field": "pre_dose.can_become_pregnant", "value": false,
                "source": "chart: sex at birth male" }));
        }
        // The latest measurement that says whether the patient is pregnant, and the latest chart BP.
        let mut records = self.store.chart_records(patient_id).await?;
        records.retain(|record| record.status == RecordStatus::Active);
        records.sort_by(|a, b| a.recorded_on.cmp(&b.recorded_on).then(a.created_at.cmp(&b.created_at)));
        let body = |record: &ketacare_store::ChartRecord| -> Value {
            serde_json::from_str(&record.body_json).unwrap_or(Value::Null)
        };
        if let Some(record) = records
            .iter()
            .rev()
            .find(|record| record.section == "measurements" && body(record)["pregnant"].is_boolean())
            .filter(|record| body(record)["pregnant"] == json!(true))
        {
            // A recorded pregnancy holds the gate as a positive test would (KNOWLEDGE §2.1, §2.3).
            values.insert("pregnancy_test".to_owned(), json!("positive"));
            sources.push(json!({ "field": "pre_dose.pregnancy_test", "value": "positive",
                "source": format!("chart: pregnant recorded on {} (record {})",
                    record.recorded_on.as_deref().unwrap_or("?"), record.record_id) }));
        }
        if let Some(record) = records.iter().rev().find(|record| record.section == "blood_pressures") {
            // Shown for comparison only: the gate classifies this session's own two pre-dose readings
            // (KNOWLEDGE §2.4), and the alert baseline is the session's first reading.
            let reading = body(record);
            sources.push(json!({ "field": "chart_baseline_bp", "used_by_gate": false,
                "value": format!("{}/{}", reading["systolic"], reading["diastolic"]),
                "source": format!("chart: blood pressure of {} (record {})",
                    record.recorded_on.as_deref().unwrap_or("?"), record.record_id) }));
        }
        let max_age_days = self.protocol.session.chart_screen_max_age_days.value;
        let today = self.today();
        let oldest = today.checked_sub(jiff::Span::new().days(max_age_days)).unwrap_or(today);
        let mut results = self.store.scale_results(patient_id).await?;
        results.retain(|result| {
            result.status == RecordStatus::Active
                && result.administered_on.parse::<jiff::civil::Date>().is_ok_and(|on| on >= oldest && on <= today)
        });
        results.sort_by(|a, b| a.administered_on.cmp(&b.administered_on).then(a.created_at.cmp(&b.created_at)));
        let answers = |result: &ketacare_store::StoredScaleResult| -> Option<Value> {
            result.answers_json.as_deref().and_then(|text| serde_json::from_str(text).ok())
        };
        if let Some((result, item9)) = results.iter().rev().filter(|result| result.scale == "phq9").find_map(|result| {
            answers(result).and_then(|items| items.get(8).and_then(Value::as_i64)).map(|item9| (result, item9))
        }) {
            values.insert("phq9_item9".to_owned(), json!(item9));
            sources.push(json!({ "field": "pre_dose.phq9_item9", "value": item9,
                "source": format!("chart: PHQ-9 of {} (record {})", result.administered_on, result.scale_result_id) }));
        }
        if let Some((result, risk)) = results.iter().rev().filter(|result| result.scale == "cssrs").find_map(|result| {
            let answers = answers(result)?;
            let parsed = ketacare_case::parse_cssrs_section("cssrs", &answers).ok()?;
            // An incomplete screen counts for the level its answers already reach when that blocks
            // (moderate or high); otherwise the gate asks for a screen rather than guess.
            let risk = match ketacare_core::scales::cssrs::assess_cssrs(&parsed).risk {
                ScreenedRisk::Level(risk) => risk,
                ScreenedRisk::Indeterminate {
                    at_least: at_least @ (SuicideRisk::High | SuicideRisk::Moderate),
                    ..
                } => at_least,
                ScreenedRisk::Indeterminate { .. } => return None,
            };
            Some((result, risk))
        }) {
            values.insert("cssrs_risk".to_owned(), json!(risk.as_str()));
            sources.push(json!({ "field": "pre_dose.cssrs_risk", "value": risk.as_str(),
                "source": format!("chart: C-SSRS of {} (record {})", result.administered_on, result.scale_result_id) }));
        }
        let (consent, consent_source) =
            self.informed_consent_on(patient_id, &record.session.modality, self.consent_day(record)).await?;
        values.insert("informed_consent".to_owned(), json!(consent.as_str()));
        sources
            .push(json!({ "field": "pre_dose.informed_consent", "value": consent.as_str(), "source": consent_source }));
        Ok((values, sources))
    }

    /// The session document and engine input with the chart's pre-dose facts filled in where the session
    /// has none.
    pub(crate) async fn rebuild_with_chart(
        &self,
        record: &TreatmentSessionRecord,
    ) -> Result<(Value, SessionInput), AppError> {
        let (chart, _) = self.chart_pre_dose(record).await?;
        crate::treatment::rebuild(record, &chart)
    }

    /// Checks an administration against the session's gate (with the prescriber's overrides), the
    /// protocol's hard stops and the session's order.
    pub(crate) async fn check_administration_allowed(
        &self,
        record: &TreatmentSessionRecord,
        new_dose_mg: Decimal,
        device_count: Option<u32>,
    ) -> Result<(), AppError> {
        let (_, input) = self.rebuild_with_chart(record).await?;
        let now = self.now();
        let report = check_session(&input, &self.protocol, now);
        if let Some(refusal) = gate_refusal(&report.gate.items, &record.overrides) {
            return Err(refusal);
        }
        let settings = &self.protocol.dosing;
        let total_mg = given_mg(record)?;
        let order_id = record.session.order_id.as_deref().ok_or_else(|| AppError::Refused {
            field: "order_id".to_owned(),
            rule_id: "NO_PRESCRIBER_ORDER".to_owned(),
            problem: "the session carries no prescriber's dose order; a dose is given against one".to_owned(),
        })?;
        let (_, order) = self.active_order(&record.session.patient_id, order_id, &record.session.modality).await?;
        let ordered_mg = decimal_value(&order["dose_mg"]).ok_or_else(|| corrupt("order dose", "is not a number"))?;
        let overridden = record.overrides.iter().any(|override_record| override_record.item == DOSE_DIFFERS_FROM_ORDER);
        let dose = input.session.dose();
        let differs = |problem: String| -> Result<(), AppError> {
            if overridden {
                return Ok(());
            }
            Err(AppError::Refused {
                field: "dose_mg".to_owned(),
                rule_id: DOSE_DIFFERS_FROM_ORDER.to_owned(),
                problem: format!("{problem}; a prescriber may record an override with a reason"),
            })
        };
        if record.session.modality == "esketamine" {
            let prior =
                self.highest_prior_esketamine_mg(&record.session.patient_id, Some(&record.session.session_id)).await?;
            let mut stops = esketamine_hard_stops(new_dose_mg, device_count, Some(u32::MAX), settings);
            stops.extend(
                esketamine_hard_stops(total_mg, None, prior, settings)
                    .into_iter()
                    .filter(|stop| stop.rule_id != "ESKETAMINE_DEVICE_MULTIPLE"),
            );
            if !stops.is_empty() {
                return Err(hard_stop_refusal(&stops));
            }
            if total_mg > ordered_mg {
                differs(format!(
                    "{} mg given in this session with this administration is more than the {} mg ordered",
                    total_mg.normalize(),
                    ordered_mg.normalize()
                ))?;
            }
        } else {
            let basis_kg =
                decimal_value(&order["basis_kg"]).ok_or_else(|| corrupt("order basis", "is not a number"))?;
            let infusion_min = match (dose.started_at, dose.ended_at) {
                (Some(started), Some(ended)) => {
                    Some(Decimal::from(ended.duration_since(started).as_secs()) / Decimal::from(60))
                }
                _ => None,
            };
            let mut stops = iv_hard_stops(total_mg / basis_kg, infusion_min.unwrap_or(Decimal::MAX), settings);
            for stop in &mut stops {
                if stop.field == "infusion_min" {
                    stop.field = "ended_at";
                }
            }
            if !stops.is_empty() {
                return Err(hard_stop_refusal(&stops));
            }
            if total_mg != ordered_mg {
                differs(format!(
                    "{} mg given differs from the {} mg ordered",
                    total_mg.normalize(),
                    ordered_mg.normalize()
                ))?;
            }
            let ordered_min =
                decimal_value(&order["infusion_min"]).ok_or_else(|| corrupt("order minutes", "is not a number"))?;
            if let Some(minutes) = infusion_min
                && minutes < ordered_min
            {
                differs(format!(
                    "an infusion over {} min is shorter than the {} min ordered",
                    round_half_up(minutes, 1).normalize(),
                    ordered_min.normalize()
                ))?;
            }
        }
        Ok(())
    }
}

/// Refuses a session document that states `pre_dose.informed_consent`: on the server the consent records
/// decide it (`chart_pre_dose`), so that no typed value can stand in for a signed consent.
pub(crate) fn refuse_informed_consent_as_fact(input: &SessionInput) -> Result<(), AppError> {
    if input.pre_dose.informed_consent.is_some() {
        return Err(AppError::invalid(
            "pre_dose.informed_consent",
            "is read from the patient's consent records (POST /api/v1/patients/{patient_id}/consents), not recorded in a session",
        ));
    }
    Ok(())
}

/// The total dose the session's active administrations record.
pub(crate) fn given_mg(record: &TreatmentSessionRecord) -> Result<Decimal, AppError> {
    let mut total = Decimal::ZERO;
    for administration in record.administrations.iter().filter(|administration| administration.status == "active") {
        let value: Value = serde_json::from_str(&administration.administration_json)
            .map_err(|error| corrupt("administration", error))?;
        total += decimal_value(&value["dose_mg"]).ok_or_else(|| corrupt("administration dose", "is not a number"))?;
    }
    Ok(total)
}
