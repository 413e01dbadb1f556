//! The clinic calendar (issue 14): admins keep the weekdays the clinic is open, its number of chairs and
//! its holidays (a list they edit; none built in; a holiday is set aside by marking it entered in error with
//! a reason); staff read it. Every read and write is audited. The schedule generator takes it, with the
//! sessions other patients' plans already booked on each day, when a plan is made or shown.

use jiff::civil::{Date, Weekday};
use ketacare_core::plan::ClinicCalendar;
use ketacare_store::{ClinicCalendarSettings, ClinicHoliday};
use serde::Serialize;
use serde_json::Value;

use crate::policy::{Permission, require};
use crate::secrets::new_id;
use crate::treatment::{parse_object, reject_unknown};
use crate::{Actor, App, AppError};

/// The weekdays as the calendar writes them, in week order.
const WEEKDAY_WORDS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

/// PROJECT DEFAULT (operational): the most chairs a clinic lists.
const CHAIRS_MAX: i64 = 1000;
/// The longest holiday label or reason kept.
const TEXT_MAX_CHARS: usize = 200;

/// One holiday as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClinicHolidayView {
    pub holiday_id: String,
    pub date: String,
    pub label: String,
    pub status: String,
    pub added_by: String,
    pub added_at: String,
    /// For `If-Match`.
    pub version: i64,
    pub entered_in_error_reason: Option<String>,
    pub entered_in_error_by: Option<String>,
    pub entered_in_error_at: Option<String>,
}

impl ClinicHolidayView {
    fn of(holiday: &ClinicHoliday) -> Self {
        ClinicHolidayView {
            holiday_id: holiday.holiday_id.clone(),
            date: holiday.holiday_date.clone(),
            label: holiday.label.clone(),
            status: holiday.status.clone(),
            added_by: holiday.added_by.clone(),
            added_at: holiday.added_at.to_string(),
            version: holiday.version,
            entered_in_error_reason: holiday.entered_in_error_reason.clone(),
            entered_in_error_by: holiday.entered_in_error_by.clone(),
            entered_in_error_at: holiday.entered_in_error_at.map(|at| at.to_string()),
        }
    }
}

/// The calendar as the API shows it. `set` is false until an admin sets it: every day is then open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClinicCalendarView {
    pub set: bool,
    pub open_weekdays: Vec<String>,
    pub chairs: Option<i64>,
    /// For `If-Match`; `None` before the first setting.
    pub version: Option<i64>,
    pub updated_by: Option<String>,
    pub updated_at: Option<String>,
    /// Every holiday, active and entered in error, by date.
    pub holidays: Vec<ClinicHolidayView>,
}

fn weekdays_of(stored: &str) -> Vec<Weekday> {
    stored
        .split(',')
        .filter_map(|word| WEEKDAY_WORDS.iter().find(|(name, _)| *name == word).map(|(_, weekday)| *weekday))
        .collect()
}

fn text_field(object: &mut serde_json::Map<String, Value>, field: &str) -> Result<String, AppError> {
    let text = match object.remove(field) {
        Some(Value::String(text)) if !text.trim().is_empty() => text.trim().to_owned(),
        Some(Value::String(_)) | None => return Err(AppError::invalid(field, "is required")),
        Some(_) => return Err(AppError::invalid(field, "must be text")),
    };
    if text.chars().count() > TEXT_MAX_CHARS {
        return Err(AppError::invalid(field, format!("must be at most {TEXT_MAX_CHARS} characters")));
    }
    Ok(text)
}

impl App {
    /// The calendar (admins, prescribers and nurses); audited as `clinic_calendar.read`.
    pub async fn clinic_calendar(&self, actor: &Actor) -> Result<ClinicCalendarView, AppError> {
        let event = self.audit_event(actor, "clinic_calendar.read", "clinic-calendar".to_owned(), None);
        let result = async {
            require(actor, Permission::ReadClinicCalendar)?;
            self.clinic_calendar_view().await
        }
        .await;
        match result {
            Ok(view) => {
                self.store.append_audit(&event).await?;
                Ok(view)
            }
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    async fn clinic_calendar_view(&self) -> Result<ClinicCalendarView, AppError> {
        let settings = self.store.clinic_calendar_settings().await?;
        let holidays = self.store.clinic_holidays().await?;
        Ok(ClinicCalendarView {
            set: settings.is_some(),
            open_weekdays: settings
                .as_ref()
                .map(|settings| settings.open_weekdays.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
            chairs: settings.as_ref().map(|settings| settings.chairs),
            version: settings.as_ref().map(|settings| settings.version),
            updated_by: settings.as_ref().map(|settings| settings.updated_by.clone()),
            updated_at: settings.as_ref().map(|settings: &ClinicCalendarSettings| settings.updated_at.to_string()),
            holidays: holidays.iter().map(ClinicHolidayView::of).collect(),
        })
    }

    /// Sets the open weekdays and the chairs (admins): body `{"open_weekdays": ["mon", ...], "chairs": n}`,
    /// at `expected_version` once set (`None` the first time). Audited as `clinic_calendar.update`.
    pub async fn set_clinic_calendar(
        &self,
        actor: &Actor,
        expected_version: Option<i64>,
        body: &str,
    ) -> Result<ClinicCalendarView, AppError> {
        let event = self.audit_event(actor, "clinic_calendar.update", "clinic-calendar".to_owned(), None);
        let result = async {
            require(actor, Permission::ManageClinicCalendar)?;
            let mut object = parse_object(body)?;
            let words = match object.remove("open_weekdays") {
                Some(Value::Array(items)) => items,
                Some(_) => return Err(AppError::invalid("open_weekdays", "must be a list of mon ... sun")),
                None => return Err(AppError::invalid("open_weekdays", "is required")),
            };
            let mut open = Vec::new();
            for (index, item) in words.iter().enumerate() {
                let field = format!("open_weekdays[{index}]");
                let Some(word) = item.as_str().filter(|word| WEEKDAY_WORDS.iter().any(|(name, _)| name == word)) else {
                    return Err(AppError::invalid(
                        &field,
                        format!("must be one of mon, tue, wed, thu, fri, sat, sun, got {item}"),
                    ));
                };
                if open.contains(&word) {
                    return Err(AppError::invalid(&field, format!("{word} is given twice")));
                }
                open.push(word);
            }
            if open.is_empty() {
                return Err(AppError::invalid("open_weekdays", "at least one day must be open"));
            }
            let chairs = match object.remove("chairs") {
                Some(Value::Number(number)) => {
                    number.as_i64().filter(|chairs| (1..=CHAIRS_MAX).contains(chairs)).ok_or_else(|| {
                        AppError::invalid("chairs", format!("must be a whole number from 1 to {CHAIRS_MAX}"))
                    })?
                }
                Some(_) => return Err(AppError::invalid("chairs", "must be a number")),
                None => return Err(AppError::invalid("chairs", "is required")),
            };
            reject_unknown(&object)?;
            let in_week_order: Vec<&str> =
                WEEKDAY_WORDS.iter().map(|(name, _)| *name).filter(|name| open.contains(name)).collect();
            self.store
                .save_clinic_calendar_settings(
                    &in_week_order.join(","),
                    chairs,
                    expected_version,
                    &actor.user_id,
                    self.now(),
                    &event,
                )
                .await?;
            self.clinic_calendar_view().await
        }
        .await;
        match result {
            Ok(view) => Ok(view),
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// Adds a holiday (admins): body `{"date": "YYYY-MM-DD", "label"}`. A second active holiday on a date is
    /// a conflict. Audited as `clinic_holiday.add`.
    pub async fn add_clinic_holiday(&self, actor: &Actor, body: &str) -> Result<ClinicHolidayView, AppError> {
        let event = self.audit_event(actor, "clinic_holiday.add", "clinic-calendar/holidays".to_owned(), None);
        let result = async {
            require(actor, Permission::ManageClinicCalendar)?;
            let mut object = parse_object(body)?;
            let date_text = text_field(&mut object, "date")?;
            let date: Date =
                date_text.parse().ok().filter(|date: &Date| date.to_string() == date_text).ok_or_else(|| {
                    AppError::invalid("date", format!("must be a date YYYY-MM-DD, got {date_text:?}"))
                })?;
            let label = text_field(&mut object, "label")?;
            reject_unknown(&object)?;
            let holiday = ClinicHoliday {
                holiday_id: new_id(),
                holiday_date: date.to_string(),
                label,
                status: "active".to_owned(),
                added_by: actor.user_id.clone(),
                added_at: self.now(),
                entered_in_error_reason: None,
                entered_in_error_by: None,
                entered_in_error_at: None,
                version: 1,
            };
            self.store.insert_clinic_holiday(&holiday, &event).await?;
            Ok(ClinicHolidayView::of(&holiday))
        }
        .await;
        match result {
            Ok(view) => Ok(view),
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// Marks a holiday entered in error (admins): body `{"status": "entered_in_error", "reason"}` at
    /// `expected_version`; the holiday is kept. Audited as `clinic_holiday.amend`.
    pub async fn set_clinic_holiday_in_error(
        &self,
        actor: &Actor,
        holiday_id: &str,
        expected_version: i64,
        body: &str,
    ) -> Result<ClinicHolidayView, AppError> {
        let event =
            self.audit_event(actor, "clinic_holiday.amend", format!("clinic-calendar/holidays/{holiday_id}"), None);
        let result = async {
            require(actor, Permission::ManageClinicCalendar)?;
            let mut object = parse_object(body)?;
            match object.remove("status") {
                Some(Value::String(status)) if status == "entered_in_error" => {}
                Some(other) => {
                    return Err(AppError::invalid("status", format!("must be \"entered_in_error\", got {other}")));
                }
                None => return Err(AppError::invalid("status", "is required (\"entered_in_error\")")),
            }
            let reason = text_field(&mut object, "reason")?;
            reject_unknown(&object)?;
            let holiday = self
                .store
                .clinic_holiday(holiday_id)
                .await?
                .ok_or_else(|| AppError::NotFound { resource: "holiday", id: holiday_id.to_owned() })?;
            if holiday.status != "active" {
                return Err(AppError::invalid("status", "the holiday is already entered in error"));
            }
            self.store
                .mark_clinic_holiday_in_error(holiday_id, expected_version, &reason, &actor.user_id, self.now(), &event)
                .await?;
            let holiday = self
                .store
                .clinic_holiday(holiday_id)
                .await?
                .ok_or_else(|| AppError::NotFound { resource: "holiday", id: holiday_id.to_owned() })?;
            Ok(ClinicHolidayView::of(&holiday))
        }
        .await;
        match result {
            Ok(view) => Ok(view),
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// The calendar the schedule generator takes for a plan (`None` until an admin sets it): the active
    /// holidays, and the sessions of every other active plan booked on each day.
    pub(crate) async fn plan_calendar(
        &self,
        patient_id: &str,
        plan_id: &str,
    ) -> Result<Option<ClinicCalendar>, AppError> {
        let Some(settings) = self.store.clinic_calendar_settings().await? else { return Ok(None) };
        let holidays = self
            .store
            .clinic_holidays()
            .await?
            .into_iter()
            .filter(|holiday| holiday.status == "active")
            .filter_map(|holiday| holiday.holiday_date.parse::<Date>().ok())
            .collect();
        let booked = self
            .store
            .sessions_booked_per_day(patient_id, plan_id)
            .await?
            .into_iter()
            .filter_map(|(day, count)| Some((day.parse::<Date>().ok()?, u32::try_from(count).ok()?)))
            .collect();
        Ok(Some(ClinicCalendar {
            open_weekdays: weekdays_of(&settings.open_weekdays),
            holidays,
            chairs: u32::try_from(settings.chairs).unwrap_or(1),
            booked,
        }))
    }
}
