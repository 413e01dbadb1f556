//! The patient overview's forms: a prescriber prescribes the treatment plan (`App::create_plan`) and
//! signs the dose order (`App::create_order`); a nurse or prescriber starts a treatment session
//! (`App::start_session`), from the overview or from a scheduled session on the worklist. Each form
//! posts to the same use case as the API; a refusal comes back on the overview with the use case's words
//! beside the field it names (and in an error summary at the top of the form), with everything typed
//! kept; a saved form answers 303 to where the result is shown.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use ketacare_app::AppError;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::PagesState;
use crate::page_error::{PageError, render};
use crate::patient_pages::{OverviewForms, overview_page};
use crate::session_page::read_form;
use crate::signed_in::SignedIn;

/// The plan templates a prescriber chooses from (docs/sessions.md, "The plan file"), with their labels.
pub const PLAN_TEMPLATES: [(&str, &str); 3] = [
    ("induction_2x_week_3w", "IV induction: 6 sessions twice weekly, at least 48 h apart"),
    ("induction_3x_week_2w", "IV induction: 6 sessions Monday, Wednesday, Friday"),
    ("esketamine_trd", "Esketamine: weeks 1–4 twice weekly, 5–8 weekly, then every 1–2 weeks"),
];

/// A plan template's label (the code itself for one this page does not know).
pub fn plan_template_label(code: &str) -> String {
    PLAN_TEMPLATES
        .iter()
        .find(|(value, _)| *value == code)
        .map_or_else(|| code.replace('_', " "), |(_, label)| (*label).to_owned())
}

/// The modalities an order is for, with their labels.
pub const ORDER_MODALITIES: [(&str, &str); 2] =
    [("esketamine", "Esketamine nasal spray"), ("iv_racemic_ketamine", "IV racemic ketamine")];

/// One form's typed values and what the server refused, by field id.
#[derive(Debug, Default, Clone)]
pub struct FormErrors {
    /// `(field id, message)`, in the order the summary lists them.
    pub messages: Vec<(String, String)>,
}

impl FormErrors {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The message for the field with this id, if it was refused.
    pub fn of(&self, id: &str) -> Option<&str> {
        self.messages.iter().find(|(field, _)| field == id).map(|(_, message)| message.as_str())
    }

    fn single(id: &str, message: String) -> FormErrors {
        FormErrors { messages: vec![(id.to_owned(), message)] }
    }
}

/// Maps a use case's refusal to the form field it names: the use case's field (its first path segment,
/// `dose.planned_at` → `planned_at`) when the form has one by that name, else the form's first field.
fn refusal_on_form(error: AppError, form_fields: &[&str], aliases: &[(&str, &str)]) -> Result<FormErrors, PageError> {
    let (field, message) = match error {
        AppError::Invalid { field, problem } => (field.clone(), format!("{field}: {problem}")),
        AppError::Refused { field, problem, rule_id } if problem.contains(&rule_id) => {
            (field.clone(), format!("{field}: {problem}"))
        }
        AppError::Refused { field, problem, rule_id } => (field.clone(), format!("{field}: {problem} ({rule_id})")),
        AppError::NotFound { resource, id } => (resource.to_owned(), format!("{resource} {id} was not found")),
        other => return Err(other.into()),
    };
    let alias = aliases.iter().find(|(from, _)| *from == field).map(|(_, to)| *to);
    let segment = field.rsplit('.').next().unwrap_or(&field);
    let id = alias
        .or_else(|| form_fields.iter().copied().find(|id| *id == field || *id == segment))
        .unwrap_or(form_fields[0]);
    Ok(FormErrors::single(id, message))
}

/// A decimal as typed, as a JSON number (exact: serde_json keeps the digits), or the field's error.
pub(crate) fn number_field(id: &str, label: &str, text: &str) -> Result<Option<Value>, (String, String)> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<serde_json::Number>(text) {
        Ok(number) => Ok(Some(Value::Number(number))),
        Err(_) => Err((id.to_owned(), format!("{label} must be a number, got \"{text}\""))),
    }
}

/// Re-renders the overview with the refused form (status 422).
async fn overview_refused(
    state: &PagesState,
    signed: &SignedIn,
    patient_id: &str,
    forms: OverviewForms,
) -> Result<Response, PageError> {
    let page = overview_page(state, signed, patient_id, forms).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

/// The plan form as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct PlanForm {
    #[serde(default)]
    pub csrf_token: String,
    #[serde(default)]
    pub template: String,
    #[serde(default)]
    pub first_session: String,
    #[serde(default)]
    pub maintenance_taper: Option<String>,
    #[serde(default)]
    pub concurrent_plan_reason: String,
    #[serde(skip)]
    pub errors: FormErrors,
}

impl PlanForm {
    const FIELDS: [&'static str; 4] = ["template", "first_session", "maintenance_taper", "concurrent_plan_reason"];

    fn document(&self, time_zone: &str) -> Value {
        let mut document = Map::new();
        document.insert("template".to_owned(), json!(self.template.trim()));
        document.insert("time_zone".to_owned(), json!(time_zone));
        document.insert("first_session".to_owned(), json!(self.first_session.trim()));
        if self.maintenance_taper.is_some() {
            document.insert("maintenance_taper".to_owned(), json!(true));
        }
        let reason = self.concurrent_plan_reason.trim();
        if !reason.is_empty() {
            document.insert("concurrent_plan_reason".to_owned(), json!(reason));
        }
        Value::Object(document)
    }
}

/// `POST /patients/{patient_id}/plans`: prescribes a plan; its schedule appears under Plans.
pub async fn create_plan(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(patient_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let mut form: PlanForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    let document = form.document(state.app.clinic_time_zone());
    match state.app.create_plan(&signed.actor, &patient_id, &document.to_string(), None).await {
        Ok(_) => Ok(Redirect::to(&format!("/patients/{patient_id}?saved=plan#plans")).into_response()),
        Err(error) => {
            form.errors = refusal_on_form(error, &PlanForm::FIELDS, &[("now", "first_session")])?;
            overview_refused(
                &state,
                &signed,
                &patient_id,
                OverviewForms { plan: Some(form), ..OverviewForms::default() },
            )
            .await
        }
    }
}

/// The dose order form as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct OrderForm {
    #[serde(default)]
    pub csrf_token: String,
    #[serde(default)]
    pub modality: String,
    #[serde(default)]
    pub dose_mg: String,
    #[serde(default)]
    pub mg_per_kg: String,
    #[serde(default)]
    pub infusion_min: String,
    #[serde(default)]
    pub plan_id: String,
    #[serde(skip)]
    pub errors: FormErrors,
}

impl OrderForm {
    const FIELDS: [&'static str; 5] = ["modality", "dose_mg", "mg_per_kg", "infusion_min", "plan_id"];

    /// The order document: only the fields of the chosen modality (the use case refuses the others).
    fn document(&self) -> Result<Value, FormErrors> {
        let mut document = Map::new();
        let modality = self.modality.trim();
        document.insert("modality".to_owned(), json!(modality));
        let mut errors = Vec::new();
        let numbers: &[(&str, &str, &str)] = if modality == "iv_racemic_ketamine" {
            &[("mg_per_kg", "mg/kg", &self.mg_per_kg), ("infusion_min", "Infusion minutes", &self.infusion_min)]
        } else {
            &[("dose_mg", "Dose", &self.dose_mg)]
        };
        for (id, label, text) in numbers {
            match number_field(id, label, text) {
                Ok(Some(number)) => {
                    document.insert((*id).to_owned(), number);
                }
                Ok(None) => {}
                Err(error) => errors.push(error),
            }
        }
        if !self.plan_id.trim().is_empty() {
            document.insert("plan_id".to_owned(), json!(self.plan_id.trim()));
        }
        if errors.is_empty() { Ok(Value::Object(document)) } else { Err(FormErrors { messages: errors }) }
    }
}

/// `POST /patients/{patient_id}/orders`: signs a dose order (computed and checked by the core's dose
/// rules, refused at a hard stop); it appears under Dose orders.
pub async fn create_order(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(patient_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let mut form: OrderForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    let refused = match form.document() {
        Ok(document) => match state.app.create_order(&signed.actor, &patient_id, &document.to_string(), None).await {
            Ok(_) => return Ok(Redirect::to(&format!("/patients/{patient_id}?saved=order#orders")).into_response()),
            Err(error) => refusal_on_form(error, &OrderForm::FIELDS, &[("chart.measurements", "mg_per_kg")])?,
        },
        Err(errors) => errors,
    };
    form.errors = refused;
    overview_refused(&state, &signed, &patient_id, OverviewForms { order: Some(form), ..OverviewForms::default() })
        .await
}

/// The start-a-session form as typed: a scheduled session (`plan_id/position`) or none, the order
/// (or none: the patient's one active order of the modality), and the planned time.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct StartForm {
    #[serde(default)]
    pub csrf_token: String,
    #[serde(default)]
    pub slot: String,
    #[serde(default)]
    pub order_id: String,
    #[serde(default)]
    pub planned_at: String,
    #[serde(skip)]
    pub errors: FormErrors,
}

impl StartForm {
    const FIELDS: [&'static str; 3] = ["order_id", "slot", "planned_at"];
}

/// A plan's modality from its template (IV templates, or esketamine's).
fn plan_modality(plan: &Value) -> &'static str {
    if plan["template"].as_str() == Some("esketamine_trd") { "esketamine" } else { "iv_racemic_ketamine" }
}

/// `YYYY-MM-DDTHH:MM` of a clinic-local date-time with seconds and offset.
fn local_minute(text: &str) -> String {
    text.get(..16).unwrap_or(text).to_owned()
}

/// Where a start form's refusal goes: the use case's field names, mapped to the form's.
const START_ALIASES: [(&str, &str); 3] =
    [("dose.planned_at", "planned_at"), ("modality", "order_id"), ("plan", "slot")];

/// The session facts the start form asks for (outer error: the page's; inner: the form's refusal).
async fn start_facts(
    state: &PagesState,
    signed: &SignedIn,
    patient_id: &str,
    form: &StartForm,
) -> Result<Result<Value, FormErrors>, PageError> {
    let app = &state.app;
    let mut facts = Map::new();
    let mut modality = None;
    let mut planned_at = form.planned_at.trim().to_owned();
    let order_id = form.order_id.trim();
    if !order_id.is_empty() {
        let orders = app.orders(&signed.actor, patient_id).await?;
        let Some(order) = orders.iter().find(|order| order.order_id == order_id) else {
            return Ok(Err(FormErrors::single("order_id", format!("order {order_id} is not one of this patient's"))));
        };
        modality = Some(order.modality.clone());
        facts.insert("order_id".to_owned(), json!(order_id));
    }
    if let Some((plan_id, position)) = form.slot.trim().split_once('/') {
        let Ok(position) = position.parse::<i64>() else {
            return Ok(Err(FormErrors::single("slot", "choose a scheduled session from the list".to_owned())));
        };
        let plan = match app.get_plan(&signed.actor, patient_id, plan_id).await {
            Ok(plan) => plan,
            Err(error) => return Ok(Err(refusal_on_form(error, &StartForm::FIELDS, &START_ALIASES)?)),
        };
        modality.get_or_insert_with(|| plan_modality(&plan.plan).to_owned());
        if planned_at.is_empty()
            && let Some(slot) = plan.scheduled_sessions.iter().find(|slot| slot.position == position)
        {
            planned_at = local_minute(&slot.planned_at);
        }
        facts.insert("fulfils".to_owned(), json!({ "plan_id": plan_id, "position": position }));
    }
    let Some(modality) = modality else {
        return Ok(Err(FormErrors::single("order_id", "choose the dose order this session gives".to_owned())));
    };
    if planned_at.is_empty() {
        let zone = crate::display::clinic_zone(app);
        planned_at = app.now().to_zoned_datetime(zone).strftime("%Y-%m-%dT%H:%M").to_string();
    }
    facts.insert("modality".to_owned(), json!(modality));
    facts.insert("time_zone".to_owned(), json!(app.clinic_time_zone()));
    facts.insert("dose".to_owned(), json!({ "planned_at": planned_at }));
    Ok(Ok(Value::Object(facts)))
}

/// `POST /patients/{patient_id}/sessions`: starts a treatment session giving an order (and fulfilling a
/// scheduled session when one is chosen), then opens its page at the pre-dose gate.
pub async fn start_session(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(patient_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let mut form: StartForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    let errors = match start_facts(&state, &signed, &patient_id, &form).await? {
        Ok(facts) => match state.app.start_session(&signed.actor, &patient_id, &facts.to_string(), None).await {
            Ok(created) => {
                let href = format!("/patients/{patient_id}/sessions/{}#gate", created.resource_id);
                return Ok(Redirect::to(&href).into_response());
            }
            Err(error) => refusal_on_form(error, &StartForm::FIELDS, &START_ALIASES)?,
        },
        Err(errors) => errors,
    };
    form.errors = errors;
    overview_refused(&state, &signed, &patient_id, OverviewForms { start: Some(form), ..OverviewForms::default() })
        .await
}
