//! The clinic calendar (schema 15): the weekdays the clinic is open and its number of chairs (one row, its
//! changes audited), and the holidays the admin lists, each kept for good and set aside only by marking it
//! entered in error with a reason. The database refuses a deletion.

use jiff::Timestamp;

use crate::audit::{AuditEvent, append_audit};
use crate::row_versions::touch;
use crate::rows::RowExt;
use crate::users::duplicate_as;
use crate::{Store, StoreError, format_time, on_pool, write_tx};

/// The calendar's settings row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicCalendarSettings {
    /// Comma-separated `mon` ... `sun`, in week order.
    pub open_weekdays: String,
    pub chairs: i64,
    pub updated_by: String,
    pub updated_at: Timestamp,
    pub version: i64,
}

/// One holiday, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicHoliday {
    pub holiday_id: String,
    /// Clinic-local date, `YYYY-MM-DD`.
    pub holiday_date: String,
    pub label: String,
    /// `active` or `entered_in_error`.
    pub status: String,
    pub added_by: String,
    pub added_at: Timestamp,
    pub entered_in_error_reason: Option<String>,
    pub entered_in_error_by: Option<String>,
    pub entered_in_error_at: Option<Timestamp>,
    pub version: i64,
}

const HOLIDAY_COLUMNS: &str = "holiday_id, holiday_date, label, status, added_by, added_at, entered_in_error_reason, \
     entered_in_error_by, entered_in_error_at, version";

fn time(text: &str, column: &str) -> Result<Timestamp, StoreError> {
    text.parse().map_err(|_| StoreError::Corrupt(format!("{column} is not a time: {text}")))
}

fn holiday_from_row(row: &impl RowExt) -> Result<ClinicHoliday, StoreError> {
    Ok(ClinicHoliday {
        holiday_id: row.text("holiday_id")?,
        holiday_date: row.text("holiday_date")?,
        label: row.text("label")?,
        status: row.text("status")?,
        added_by: row.text("added_by")?,
        added_at: time(&row.text("added_at")?, "added_at")?,
        entered_in_error_reason: row.opt_text("entered_in_error_reason")?,
        entered_in_error_by: row.opt_text("entered_in_error_by")?,
        entered_in_error_at: row
            .opt_text("entered_in_error_at")?
            .map(|text| time(&text, "entered_in_error_at"))
            .transpose()?,
        version: row.int("version")?,
    })
}

impl Store {
    /// The calendar's settings, `None` until an admin sets them.
    pub async fn clinic_calendar_settings(&self) -> Result<Option<ClinicCalendarSettings>, StoreError> {
        let sql = "SELECT open_weekdays, chairs, updated_by, updated_at, version FROM clinic_calendar \
                   WHERE calendar_id = 'clinic'";
        on_pool!(self, pool => {
            let row = sqlx::query(sql).fetch_optional(pool).await?;
            row.as_ref()
                .map(|row| {
                    Ok(ClinicCalendarSettings {
                        open_weekdays: row.text("open_weekdays")?,
                        chairs: row.int("chairs")?,
                        updated_by: row.text("updated_by")?,
                        updated_at: time(&row.text("updated_at")?, "updated_at")?,
                        version: row.int("version")?,
                    })
                })
                .transpose()
        })
    }

    /// Sets the calendar's settings: the first time when `expected_version` is `None`, else if the row is still
    /// at `expected_version` ([`StoreError::StaleVersion`] otherwise).
    pub async fn save_clinic_calendar_settings(
        &self,
        open_weekdays: &str,
        chairs: i64,
        expected_version: Option<i64>,
        by: &str,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let at = format_time(at);
        write_tx!(self, [open_weekdays, by, at, audit], tx => {
            let changed = match expected_version {
                None => sqlx::query(
                    "INSERT INTO clinic_calendar (calendar_id, open_weekdays, chairs, updated_by, updated_at, version) \
                     VALUES ('clinic', $1, $2, $3, $4, 1)",
                )
                .bind(&open_weekdays)
                .bind(chairs)
                .bind(&by)
                .bind(&at)
                .execute(&mut *tx.conn)
                .await
                .map_err(duplicate_as("the clinic calendar (send its version to change it)"))?,
                Some(expected) => sqlx::query(
                    "UPDATE clinic_calendar SET open_weekdays = $1, chairs = $2, updated_by = $3, updated_at = $4, \
                     version = version + 1 WHERE calendar_id = 'clinic' AND version = $5",
                )
                .bind(&open_weekdays)
                .bind(chairs)
                .bind(&by)
                .bind(&at)
                .bind(expected)
                .execute(&mut *tx.conn)
                .await?,
            };
            if changed.rows_affected() != 1 {
                let current: Option<(i64,)> =
                    sqlx::query_as("SELECT version FROM clinic_calendar WHERE calendar_id = 'clinic'")
                        .fetch_optional(&mut *tx.conn)
                        .await?;
                let Some((current,)) = current else {
                    return Err(StoreError::NotFound { resource: "clinic calendar", id: "clinic".to_owned() });
                };
                return Err(StoreError::StaleVersion {
                    resource: "clinic calendar",
                    id: "clinic".to_owned(),
                    expected: expected_version.unwrap_or(0),
                    current,
                });
            }
            touch!(tx, "clinic_calendar", ["clinic"]);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    /// Every holiday, active and entered in error, by date.
    pub async fn clinic_holidays(&self) -> Result<Vec<ClinicHoliday>, StoreError> {
        let sql = format!("SELECT {HOLIDAY_COLUMNS} FROM clinic_holidays ORDER BY holiday_date, added_at, holiday_id");
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            rows.iter().map(holiday_from_row).collect()
        })
    }

    /// One holiday, if it exists.
    pub async fn clinic_holiday(&self, holiday_id: &str) -> Result<Option<ClinicHoliday>, StoreError> {
        let sql = format!("SELECT {HOLIDAY_COLUMNS} FROM clinic_holidays WHERE holiday_id = $1");
        on_pool!(self, pool => {
            let row = sqlx::query(&sql).bind(holiday_id).fetch_optional(pool).await?;
            row.as_ref().map(holiday_from_row).transpose()
        })
    }

    /// Stores a new active holiday. A second active holiday on the same date is [`StoreError::Duplicate`].
    pub async fn insert_clinic_holiday(&self, holiday: &ClinicHoliday, audit: &AuditEvent) -> Result<(), StoreError> {
        let added_at = format_time(holiday.added_at);
        write_tx!(self, [holiday, audit, added_at], tx => {
            sqlx::query(
                "INSERT INTO clinic_holidays (holiday_id, holiday_date, label, status, added_by, added_at, version) \
                 VALUES ($1, $2, $3, 'active', $4, $5, 1)",
            )
            .bind(&holiday.holiday_id)
            .bind(&holiday.holiday_date)
            .bind(&holiday.label)
            .bind(&holiday.added_by)
            .bind(&added_at)
            .execute(&mut *tx.conn)
            .await
            .map_err(duplicate_as("an active holiday on this date"))?;
            touch!(tx, "clinic_holidays", [&holiday.holiday_id]);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    /// Marks an active holiday entered in error, with the reason, who and when, if it is still at
    /// `expected_version` ([`StoreError::StaleVersion`] otherwise). The row is kept.
    #[allow(clippy::too_many_arguments)]
    pub async fn mark_clinic_holiday_in_error(
        &self,
        holiday_id: &str,
        expected_version: i64,
        reason: &str,
        by: &str,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let at = format_time(at);
        write_tx!(self, [holiday_id, reason, by, at, audit], tx => {
            let updated = sqlx::query(
                "UPDATE clinic_holidays SET status = 'entered_in_error', entered_in_error_reason = $3, \
                 entered_in_error_by = $4, entered_in_error_at = $5, version = version + 1 \
                 WHERE holiday_id = $1 AND version = $2 AND status = 'active'",
            )
            .bind(&holiday_id)
            .bind(expected_version)
            .bind(&reason)
            .bind(&by)
            .bind(&at)
            .execute(&mut *tx.conn)
            .await?;
            if updated.rows_affected() != 1 {
                let (current,): (i64,) = sqlx::query_as("SELECT version FROM clinic_holidays WHERE holiday_id = $1")
                    .bind(&holiday_id)
                    .fetch_optional(&mut *tx.conn)
                    .await?
                    .ok_or_else(|| StoreError::NotFound { resource: "holiday", id: holiday_id.clone() })?;
                return Err(StoreError::StaleVersion {
                    resource: "holiday",
                    id: holiday_id.clone(),
                    expected: expected_version,
                    current,
                });
            }
            touch!(tx, "clinic_holidays", [&holiday_id]);
            append_audit!(tx, &audit);
        });
        Ok(())
    }
}

impl Store {
    /// Sessions booked on each clinic-local day (`YYYY-MM-DD`) by every active plan but `plan_id` of
    /// `patient_id`; cancelled ones do not count.
    pub async fn sessions_booked_per_day(
        &self,
        patient_id: &str,
        plan_id: &str,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let sql = "SELECT substr(scheduled.planned_at, 1, 10) AS day, COUNT(*) AS booked \
                   FROM scheduled_sessions scheduled JOIN treatment_plans plans \
                   ON plans.patient_id = scheduled.patient_id AND plans.plan_id = scheduled.plan_id \
                   WHERE plans.status = 'active' AND scheduled.status <> 'cancelled' \
                   AND NOT (scheduled.patient_id = $1 AND scheduled.plan_id = $2) \
                   GROUP BY substr(scheduled.planned_at, 1, 10) ORDER BY day";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(patient_id).bind(plan_id).fetch_all(pool).await?;
            rows.iter().map(|row| Ok((row.text("day")?, row.int("booked")?))).collect()
        })
    }
}
