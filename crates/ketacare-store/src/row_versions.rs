//! Row versions: the SHA-256 of each stored version of a clinical or account row, carried by the audit
//! event of the write that stored it, so that `audit verify` can re-hash the rows as they are now and
//! find any that were edited, deleted or inserted behind the application's back.
//!
//! A write names the rows it changed with [`touch!`] (a table and the leading columns of its key); the
//! job's next audit event ([`append_audit!`](crate::audit::append_audit)) reads those rows back inside
//! the same transaction, hashes them and carries the hashes, so the hashes are exactly what commits.
//! [`COVERED_TABLES`] lists every covered table with its key and every column; a test checks the list
//! against the migrated schema of both backends, so a new column cannot be left out of the hash.

use std::collections::BTreeMap;
use std::future::Future;

use futures_util::TryStreamExt as _;
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;

/// A table whose rows are covered by row versions.
#[derive(Debug)]
pub struct CoveredTable {
    pub name: &'static str,
    /// The primary key's columns, in key order.
    pub key_columns: &'static [KeyColumn],
    /// Every column of the table, in a fixed order (the hash's order); the key's columns included.
    pub columns: &'static [&'static str],
}

/// A key column and how its values are bound in a query.
#[derive(Debug, Clone, Copy)]
pub struct KeyColumn {
    pub name: &'static str,
    pub integer: bool,
}

const fn text_key(name: &'static str) -> KeyColumn {
    KeyColumn { name, integer: false }
}

const fn integer_key(name: &'static str) -> KeyColumn {
    KeyColumn { name, integer: true }
}

/// Covered tables created by migrations after schema 7 (row versions): empty when schema 7's baseline
/// event was written, so the baseline does not read them (they do not exist yet at that point).
pub const TABLES_CREATED_AFTER_ROW_VERSIONS: &[&str] = &[
    "consent_forms",
    "patient_consents",
    "stock_lots",
    "stock_entries",
    "session_notes",
    "note_signatures",
    "measurements_not_applicable",
    "self_report_links",
    "clinic_calendar",
    "clinic_holidays",
];

/// Every table whose rows `audit verify` checks: the clinical record and the accounts. Not covered:
/// `audit_events` itself (the hash chain covers it), `ketacare_migrations` (checked against the shipped
/// migrations), login sessions (`sessions`: touched on every request, ended by logout and expiry),
/// `idempotency_keys` (a cache of responses) and `login_failures` (throttle counters).
pub const COVERED_TABLES: &[CoveredTable] = &[
    CoveredTable {
        name: "clinic_calendar",
        key_columns: &[text_key("calendar_id")],
        columns: &["calendar_id", "open_weekdays", "chairs", "updated_by", "updated_at", "version"],
    },
    CoveredTable {
        name: "clinic_holidays",
        key_columns: &[text_key("holiday_id")],
        columns: &[
            "holiday_id",
            "holiday_date",
            "label",
            "status",
            "added_by",
            "added_at",
            "entered_in_error_reason",
            "entered_in_error_by",
            "entered_in_error_at",
            "version",
        ],
    },
    CoveredTable {
        name: "users",
        key_columns: &[text_key("user_id")],
        columns: &["user_id", "username", "password_hash", "role", "active", "must_change_password", "created_at"],
    },
    CoveredTable {
        name: "api_tokens",
        key_columns: &[text_key("token_id")],
        columns: &["token_id", "token_sha256", "user_id", "role", "label", "created_at", "revoked_at"],
    },
    CoveredTable {
        name: "patients",
        key_columns: &[text_key("patient_id")],
        columns: &[
            "patient_id",
            "pseudonym",
            "mrn",
            "given_name",
            "family_name",
            "birth_date",
            "birth_year",
            "sex_at_birth",
            "status",
            "version",
            "created_at",
            "created_by",
            "updated_at",
            "updated_by",
        ],
    },
    CoveredTable {
        name: "consent_forms",
        key_columns: &[text_key("form_id"), integer_key("version")],
        columns: &[
            "form_id",
            "version",
            "modality",
            "title",
            "body_text",
            "body_sha256",
            "valid_for_days",
            "created_at",
            "created_by",
        ],
    },
    CoveredTable {
        name: "patient_consents",
        key_columns: &[text_key("patient_id"), text_key("consent_id")],
        columns: &[
            "patient_id",
            "consent_id",
            "form_id",
            "form_version",
            "modality",
            "signed_on",
            "valid_until",
            "signer_name",
            "signer_relationship",
            "witnessed_by",
            "withdrawn_on",
            "withdrawal_reason",
            "status",
            "version",
            "created_at",
            "created_by",
            "updated_at",
            "updated_by",
        ],
    },
    CoveredTable {
        name: "amendments",
        key_columns: &[text_key("patient_id"), text_key("amendment_id")],
        columns: &[
            "patient_id",
            "amendment_id",
            "resource_type",
            "resource_id",
            "from_version",
            "prior_json",
            "new_json",
            "reason",
            "amended_by",
            "amended_at",
        ],
    },
    CoveredTable {
        name: "scale_results",
        key_columns: &[text_key("patient_id"), text_key("scale_result_id")],
        columns: &[
            "patient_id",
            "scale_result_id",
            "scale",
            "answers_json",
            "total",
            "administered_on",
            "status",
            "version",
            "created_at",
            "created_by",
        ],
    },
    CoveredTable {
        name: "assessments",
        key_columns: &[text_key("patient_id"), text_key("assessment_id")],
        columns: &[
            "patient_id",
            "assessment_id",
            "as_of",
            "case_json",
            "decision_json",
            "rules_version",
            "protocol_sha256",
            "status",
            "version",
            "created_at",
            "created_by",
        ],
    },
    CoveredTable {
        name: "chart_records",
        key_columns: &[text_key("patient_id"), text_key("record_id")],
        columns: &[
            "patient_id",
            "record_id",
            "section",
            "episode_id",
            "recorded_on",
            "body_json",
            "status",
            "version",
            "created_at",
            "created_by",
            "updated_at",
            "updated_by",
        ],
    },
    CoveredTable {
        name: "treatment_plans",
        key_columns: &[text_key("patient_id"), text_key("plan_id")],
        columns: &[
            "patient_id",
            "plan_id",
            "plan_json",
            "status",
            "version",
            "created_at",
            "created_by",
            "updated_at",
            "updated_by",
            "concurrent_plan_reason",
        ],
    },
    CoveredTable {
        name: "scheduled_sessions",
        key_columns: &[text_key("patient_id"), text_key("plan_id"), integer_key("position")],
        columns: &[
            "patient_id",
            "plan_id",
            "position",
            "session_number",
            "step",
            "phase",
            "planned_at",
            "status",
            "treatment_session_id",
        ],
    },
    CoveredTable {
        name: "treatment_sessions",
        key_columns: &[text_key("patient_id"), text_key("session_id")],
        columns: &[
            "patient_id",
            "session_id",
            "plan_id",
            "scheduled_position",
            "modality",
            "facts_json",
            "observation_count",
            "rems_submitted_at",
            "rems_submitted_by",
            "status",
            "version",
            "created_at",
            "created_by",
            "updated_at",
            "updated_by",
            "order_id",
            "stage",
            "alert_revision",
            "discharged_at",
            "discharged_by",
            "signed_at",
            "signed_by",
        ],
    },
    CoveredTable {
        name: "session_observations",
        key_columns: &[text_key("patient_id"), text_key("session_id"), integer_key("sequence")],
        columns: &[
            "patient_id",
            "session_id",
            "sequence",
            "observation_json",
            "recorded_at",
            "recorded_by",
            "late_entry_reason",
        ],
    },
    CoveredTable {
        name: "session_alert_changes",
        key_columns: &[
            text_key("patient_id"),
            text_key("session_id"),
            integer_key("sequence"),
            integer_key("change_index"),
        ],
        columns: &[
            "patient_id",
            "session_id",
            "sequence",
            "change_index",
            "alert_id",
            "change_kind",
            "level",
            "alert_json",
        ],
    },
    CoveredTable {
        name: "session_alert_log",
        key_columns: &[
            text_key("patient_id"),
            text_key("session_id"),
            integer_key("revision"),
            integer_key("log_position"),
        ],
        columns: &[
            "patient_id",
            "session_id",
            "revision",
            "log_position",
            "sequence",
            "change_index",
            "alert_id",
            "change_kind",
            "level",
            "alert_json",
            "changed_at",
        ],
    },
    CoveredTable {
        name: "alert_acknowledgements",
        key_columns: &[text_key("patient_id"), text_key("acknowledgement_id")],
        columns: &[
            "patient_id",
            "acknowledgement_id",
            "session_id",
            "alert_id",
            "acknowledged_by",
            "acknowledged_at",
            "note",
            "recorded_at",
        ],
    },
    CoveredTable {
        name: "administrations",
        key_columns: &[text_key("patient_id"), text_key("administration_id")],
        columns: &[
            "patient_id",
            "administration_id",
            "session_id",
            "administration_json",
            "lot_number",
            "status",
            "recorded_at",
            "recorded_by",
        ],
    },
    CoveredTable {
        name: "dose_orders",
        key_columns: &[text_key("patient_id"), text_key("order_id")],
        columns: &[
            "patient_id",
            "order_id",
            "plan_id",
            "modality",
            "order_json",
            "status",
            "version",
            "signed_by",
            "signed_at",
            "updated_at",
            "updated_by",
        ],
    },
    CoveredTable {
        name: "session_overrides",
        key_columns: &[text_key("patient_id"), text_key("override_id")],
        columns: &["patient_id", "override_id", "session_id", "item", "reason", "recorded_by", "recorded_at"],
    },
    CoveredTable {
        name: "observation_corrections",
        key_columns: &[text_key("patient_id"), text_key("session_id"), integer_key("sequence")],
        columns: &["patient_id", "session_id", "sequence", "reason", "corrected_by", "corrected_at"],
    },
    CoveredTable {
        name: "measurements_not_applicable",
        key_columns: &[text_key("patient_id"), text_key("marking_id")],
        columns: &[
            "patient_id",
            "marking_id",
            "plan_id",
            "scale",
            "due_at",
            "reason",
            "status",
            "marked_by",
            "marked_role",
            "marked_at",
            "entered_in_error_reason",
            "entered_in_error_by",
            "entered_in_error_at",
            "version",
        ],
    },
    CoveredTable {
        name: "session_notes",
        key_columns: &[text_key("patient_id"), text_key("note_id")],
        columns: &[
            "patient_id",
            "note_id",
            "session_id",
            "kind",
            "addendum_to",
            "text",
            "author_id",
            "author_role",
            "version",
            "created_at",
            "updated_at",
        ],
    },
    CoveredTable {
        name: "note_signatures",
        key_columns: &[text_key("patient_id"), text_key("note_id"), text_key("kind")],
        columns: &[
            "patient_id",
            "note_id",
            "kind",
            "signed_by",
            "signer_role",
            "signed_at",
            "text_sha256",
            "cosignature_required",
        ],
    },
    CoveredTable {
        name: "self_report_links",
        key_columns: &[text_key("patient_id"), text_key("link_id")],
        columns: &[
            "patient_id",
            "link_id",
            "scale",
            "token_sha256",
            "created_at",
            "created_by",
            "expires_at",
            "used_at",
            "scale_result_id",
            "suicidality_alert",
            "alert_acknowledged_at",
            "alert_acknowledged_by",
        ],
    },
    CoveredTable {
        name: "stock_lots",
        key_columns: &[text_key("lot_id")],
        columns: &[
            "lot_id",
            "drug",
            "ndc",
            "lot_number",
            "expiry_date",
            "location",
            "version",
            "created_at",
            "created_by",
        ],
    },
    CoveredTable {
        name: "stock_entries",
        key_columns: &[text_key("entry_id")],
        columns: &[
            "entry_id",
            "lot_id",
            "kind",
            "quantity_mg",
            "supplier",
            "party",
            "patient_id",
            "session_id",
            "administration_id",
            "witness_id",
            "note",
            "expected_mg",
            "discrepancy_mg",
            "status",
            "recorded_at",
            "recorded_by",
            "error_reason",
            "error_by",
            "error_at",
            "resolution_reason",
            "resolved_by",
            "resolved_at",
        ],
    },
];

/// The covered table named `name`; panics for a name not in [`COVERED_TABLES`] (a bug of the caller, and
/// every write's tests reach it).
pub(crate) fn covered_table(name: &str) -> &'static CoveredTable {
    COVERED_TABLES
        .iter()
        .find(|table| table.name == name)
        .unwrap_or_else(|| panic!("{name} is not a table covered by row versions"))
}

/// One value of a key, bound with its column's type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum KeyValue {
    Text(String),
    Integer(i64),
}

impl From<&str> for KeyValue {
    fn from(value: &str) -> Self {
        KeyValue::Text(value.to_owned())
    }
}

impl From<&String> for KeyValue {
    fn from(value: &String) -> Self {
        KeyValue::Text(value.clone())
    }
}

impl From<i64> for KeyValue {
    fn from(value: i64) -> Self {
        KeyValue::Integer(value)
    }
}

impl From<&i64> for KeyValue {
    fn from(value: &i64) -> Self {
        KeyValue::Integer(*value)
    }
}

/// Rows a write changed: those of `table` whose leading key columns equal `key_prefix` (the whole key
/// for one row, fewer columns for a range such as a plan's scheduled sessions).
#[derive(Debug, Clone)]
pub(crate) struct TouchedRows {
    pub(crate) table: &'static CoveredTable,
    pub(crate) key_prefix: Vec<KeyValue>,
}

impl PartialEq for TouchedRows {
    fn eq(&self, other: &Self) -> bool {
        self.table.name == other.table.name && self.key_prefix == other.key_prefix
    }
}

/// Names rows the current writer job changed, to be hashed into its next audit event:
/// `touch!(tx, "patients", [&patient_id])`, or a key prefix for several rows.
macro_rules! touch {
    ($tx:expr, $table:expr, [$($key:expr),+ $(,)?]) => {{
        $tx.audit.touch($crate::row_versions::TouchedRows {
            table: $crate::row_versions::covered_table($table),
            key_prefix: vec![$($crate::row_versions::KeyValue::from($key)),+],
        });
    }};
}
pub(crate) use touch;

/// The hash of one row as stored, or of its absence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(into = "(String, String, String)", try_from = "(String, String, String)")]
pub struct RowVersion {
    pub table: String,
    /// The row's key: a JSON array of its key columns' values as text, e.g. `["p-1","s-2","3"]`.
    pub key: String,
    /// SHA-256 (hex) of the row's columns.
    pub sha256: String,
}

impl From<RowVersion> for (String, String, String) {
    fn from(version: RowVersion) -> Self {
        (version.table, version.key, version.sha256)
    }
}

impl TryFrom<(String, String, String)> for RowVersion {
    type Error = String;
    fn try_from((table, key, sha256): (String, String, String)) -> Result<Self, String> {
        if sha256.len() != 64 || !sha256.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(format!("row version of {table} {key}: {sha256:?} is not a SHA-256"));
        }
        Ok(RowVersion { table, key, sha256 })
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The key text and hash of a row read by [`select_sql`]: its columns as text (or NULL), key columns first.
fn row_version(table: &CoveredTable, values: &[Option<String>]) -> RowVersion {
    let key_count = table.key_columns.len();
    let key = serde_json::to_string(&values[..key_count]).expect("strings serialize");
    let canonical = serde_json::to_string(&(table.name, &values[key_count..])).expect("strings serialize");
    RowVersion { table: table.name.to_owned(), key, sha256: sha256_hex(canonical.as_bytes()) }
}

/// `SELECT` of a table's key columns, then all its columns, each as text (the same text on both backends
/// for the types used: TEXT and integers), for the rows whose first `prefix_len` key columns are bound.
fn select_sql(table: &CoveredTable, prefix_len: usize) -> String {
    let as_text = |column: &str| format!("CAST({column} AS TEXT)");
    let selected: Vec<String> = table
        .key_columns
        .iter()
        .map(|column| as_text(column.name))
        .chain(table.columns.iter().map(|column| as_text(column)))
        .collect();
    let mut sql = format!("SELECT {} FROM {}", selected.join(", "), table.name);
    for (index, column) in table.key_columns.iter().take(prefix_len).enumerate() {
        sql.push_str(if index == 0 { " WHERE " } else { " AND " });
        sql.push_str(&format!("{} = ${}", column.name, index + 1));
    }
    sql
}

/// One `SELECT` of every touched group's rows, as `UNION ALL` (one round trip for a write's rows
/// however many tables it touched): each row as its table's name and a JSON array of its key columns,
/// then all its columns, as text (`json_array` is SQLite's `json_array`, PostgreSQL's
/// `json_build_array`). Parameters are numbered across the groups in order.
fn touched_sql(touched: &[&TouchedRows], json_array: &str) -> String {
    let mut parameter = 0;
    let mut selects = Vec::with_capacity(touched.len());
    for rows in touched {
        let table = rows.table;
        let values: Vec<String> = table
            .key_columns
            .iter()
            .map(|column| column.name)
            .chain(table.columns.iter().copied())
            .map(|column| format!("CAST({column} AS TEXT)"))
            .collect();
        let mut select =
            format!("SELECT '{}', CAST({json_array}({}) AS TEXT) FROM {}", table.name, values.join(", "), table.name);
        for (index, column) in table.key_columns.iter().take(rows.key_prefix.len()).enumerate() {
            parameter += 1;
            select.push_str(if index == 0 { " WHERE " } else { " AND " });
            select.push_str(&format!("{} = ${parameter}", column.name));
        }
        selects.push(select);
    }
    selects.join(" UNION ALL ")
}

/// Reading row versions over a connection of either backend.
pub(crate) trait RowVersionSource: Send {
    /// The current versions of the touched rows, deduplicated and in (table, key) order.
    fn touched_row_versions<'a>(
        &'a mut self,
        touched: &'a [TouchedRows],
    ) -> impl Future<Output = Result<Vec<RowVersion>, sqlx::Error>> + Send + 'a;

    /// Calls `visit` with the current version of every row of `table`.
    fn scan_row_versions<'a, F: FnMut(RowVersion) + Send + 'a>(
        &'a mut self,
        table: &'static CoveredTable,
        visit: F,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'a;
}

macro_rules! impl_row_version_source {
    ($connection:ty, $json_array:expr) => {
        impl RowVersionSource for $connection {
            async fn touched_row_versions<'a>(
                &'a mut self,
                touched: &'a [TouchedRows],
            ) -> Result<Vec<RowVersion>, sqlx::Error> {
                let mut groups: Vec<&TouchedRows> = Vec::new();
                for rows in touched {
                    if !groups.contains(&rows) {
                        groups.push(rows);
                    }
                }
                let sql = touched_sql(&groups, $json_array);
                let mut query = sqlx::query(&sql);
                for value in groups.iter().flat_map(|rows| &rows.key_prefix) {
                    query = match value {
                        KeyValue::Text(text) => query.bind(text.clone()),
                        KeyValue::Integer(integer) => query.bind(*integer),
                    };
                }
                let mut versions = BTreeMap::new();
                for row in query.fetch_all(&mut *self).await? {
                    let table_name: String = row.try_get(0)?;
                    let values_json: String = row.try_get(1)?;
                    let table = covered_table(&table_name);
                    let values: Vec<Option<String>> = serde_json::from_str(&values_json)
                        .map_err(|error| sqlx::Error::Decode(format!("row of {table_name}: {error}").into()))?;
                    let version = row_version(table, &values);
                    versions.insert((version.table.clone(), version.key.clone()), version);
                }
                Ok(versions.into_values().collect())
            }

            async fn scan_row_versions<'a, F: FnMut(RowVersion) + Send + 'a>(
                &'a mut self,
                table: &'static CoveredTable,
                mut visit: F,
            ) -> Result<u64, sqlx::Error> {
                let sql = select_sql(table, 0);
                let mut rows = sqlx::query(&sql).fetch(&mut *self);
                let mut count = 0;
                while let Some(row) = rows.try_next().await? {
                    let values = (0..row.len()).map(|index| row.try_get(index)).collect::<Result<Vec<_>, _>>()?;
                    visit(row_version(table, &values));
                    count += 1;
                }
                Ok(count)
            }
        }
    };
}

impl_row_version_source!(SqliteConnection, "json_array");
impl_row_version_source!(PgConnection, "json_build_array");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_select_reads_every_touched_group_with_parameters_numbered_across_them() {
        let session = TouchedRows {
            table: covered_table("treatment_sessions"),
            key_prefix: vec![KeyValue::from("p"), KeyValue::from("s")],
        };
        let log = TouchedRows {
            table: covered_table("session_alert_log"),
            key_prefix: vec![KeyValue::from("p"), KeyValue::from("s"), KeyValue::from(2_i64)],
        };
        let sql = touched_sql(&[&session, &log], "json_array");
        assert!(sql.starts_with("SELECT 'treatment_sessions', CAST(json_array(CAST(patient_id AS TEXT), "), "{sql}");
        assert!(
            sql.contains(" FROM treatment_sessions WHERE patient_id = $1 AND session_id = $2 UNION ALL SELECT 'session_alert_log'"),
            "{sql}"
        );
        assert!(sql.ends_with("WHERE patient_id = $3 AND session_id = $4 AND revision = $5"), "{sql}");
    }

    #[test]
    fn a_select_binds_the_leading_key_columns() {
        let table = covered_table("scheduled_sessions");
        let sql = select_sql(table, 2);
        assert!(sql.ends_with("FROM scheduled_sessions WHERE patient_id = $1 AND plan_id = $2"), "{sql}");
        assert!(sql.starts_with("SELECT CAST(patient_id AS TEXT), CAST(plan_id AS TEXT), CAST(position AS TEXT), "));
    }

    #[test]
    fn a_row_hash_changes_with_any_column_and_the_key_is_readable() {
        let table = covered_table("users");
        let row = |role: &str| {
            let mut values: Vec<Option<String>> = vec![Some("u-1".into())];
            values.extend(
                ["u-1", "alice", "$argon2id$…", role, "1", "0", "2026-01-01T00:00:00.000000Z"]
                    .map(|value| Some(value.to_owned())),
            );
            row_version(table, &values)
        };
        assert_eq!(row("nurse").key, r#"["u-1"]"#);
        assert_ne!(row("nurse").sha256, row("admin").sha256);
        assert_eq!(row("nurse"), row("nurse"));
    }

    #[test]
    fn every_covered_table_lists_its_key_among_its_columns() {
        for table in COVERED_TABLES {
            for key in table.key_columns {
                assert!(table.columns.contains(&key.name), "{}: key column {} is not hashed", table.name, key.name);
            }
        }
    }

    #[test]
    fn a_row_version_serializes_as_a_triple_and_refuses_a_bad_hash() {
        let version = RowVersion { table: "users".into(), key: r#"["u"]"#.into(), sha256: "a".repeat(64) };
        let json = serde_json::to_string(&version).unwrap();
        assert_eq!(json, format!(r#"["users","[\"u\"]","{}"]"#, "a".repeat(64)));
        assert_eq!(serde_json::from_str::<RowVersion>(&json).unwrap(), version);
        assert!(serde_json::from_str::<RowVersion>(r#"["users","[]","zz"]"#).is_err());
    }
}
