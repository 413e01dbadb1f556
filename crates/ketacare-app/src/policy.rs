//! Who may do what: the one table of permissions by role. Analysts see de-identified patients only;
//! auditors see the audit log and no clinical data.

use ketacare_store::Role;

use crate::{Actor, AppError};

/// Something a use case does that not every role may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// List and read patients (analysts: de-identified).
    ReadPatients,
    CreatePatients,
    AmendPatients,
    RecordAssessments,
    ReadAssessments,
    ManageUsers,
    ReadAudit,
    /// Read the chart and its evaluation (identifying: analysts may not).
    ReadChart,
    /// Record and correct chart entries.
    RecordChart,
    /// Record and correct overrides: a prescriber's documented decision (contracts/assess.md).
    RecordOverrides,
    /// Read the decision on a chart (analysts: de-identified).
    ReadEvaluation,
    /// Start sessions and record their observations, doses, acknowledgements and REMS forms.
    RunSessions,
    ReadSessions,
    PrescribePlans,
    ReadPlans,
    /// Sign dose orders: what nurses administer against.
    PrescribeDoses,
    /// Override an overridable pre-dose hold, or a dose that differs from its order, with a reason.
    OverrideSessionHolds,
    /// Sign a discharged session, which locks it.
    SignSessions,
    /// Export every patient's record (`$export`): admins in full, analysts de-identified.
    ExportInBulk,
    /// Read the site protocol in effect, each setting with its source (admins, who keep it, and
    /// prescribers, who decide under it).
    ReadProtocol,
    /// Read the consent forms and patients' consents.
    ReadConsents,
    /// Record a patient's consent, its withdrawal or its correction.
    RecordConsents,
    /// Keep the consent forms (each change a new version).
    ManageConsentForms,
    /// Read the controlled-substance log, its balances and reports (auditors too: a DEA inspection reads
    /// the log; it names patients by id only).
    ReadControlledSubstances,
    /// Record some entry of the controlled-substance log (the entry's own permission is checked next);
    /// counts need no more.
    RecordControlledSubstances,
    /// Receive stock and return it to a supplier or reverse distributor (admins, who keep the stock).
    ManageControlledSubstanceStock,
    /// Withdraw drug for an administration and waste it before a witness (the clinicians who give it).
    DispenseControlledSubstances,
    /// Resolve a count's discrepancy with a reason.
    ResolveStockDiscrepancies,
    /// Read the clinic calendar (open weekdays, chairs, holidays).
    ReadClinicCalendar,
    /// Keep the clinic calendar (admins).
    ManageClinicCalendar,
    /// Read the clinic's cohort outcomes report (pseudonyms and weeks only, so analysts may).
    ReadOutcomes,
}

impl Permission {
    fn action(self) -> &'static str {
        match self {
            Permission::ReadPatients => "read patients",
            Permission::CreatePatients => "create patients",
            Permission::AmendPatients => "amend patients",
            Permission::RecordAssessments => "record assessments",
            Permission::ReadAssessments => "read assessments",
            Permission::ManageUsers => "manage users",
            Permission::ReadAudit => "read the audit log",
            Permission::ReadChart => "read the chart",
            Permission::RecordChart => "record chart entries",
            Permission::RecordOverrides => "record overrides",
            Permission::ReadEvaluation => "read evaluations",
            Permission::RunSessions => "run treatment sessions",
            Permission::ReadSessions => "read treatment sessions",
            Permission::PrescribePlans => "prescribe treatment plans",
            Permission::ReadPlans => "read treatment plans",
            Permission::PrescribeDoses => "sign dose orders",
            Permission::OverrideSessionHolds => "override a session's holds",
            Permission::SignSessions => "sign sessions",
            Permission::ExportInBulk => "export records in bulk",
            Permission::ReadProtocol => "read the site protocol",
            Permission::ReadConsents => "read consents",
            Permission::RecordConsents => "record consents",
            Permission::ManageConsentForms => "keep the consent forms",
            Permission::ReadControlledSubstances => "read the controlled-substance log",
            Permission::RecordControlledSubstances => "record controlled-substance entries",
            Permission::ManageControlledSubstanceStock => "receive or return controlled-substance stock",
            Permission::DispenseControlledSubstances => "withdraw or waste controlled substances",
            Permission::ResolveStockDiscrepancies => "resolve controlled-substance count discrepancies",
            Permission::ReadClinicCalendar => "read the clinic calendar",
            Permission::ManageClinicCalendar => "keep the clinic calendar",
            Permission::ReadOutcomes => "read the outcomes report",
        }
    }
}

/// Whether `role` has `permission`.
pub fn allows(role: Role, permission: Permission) -> bool {
    use Permission::*;
    use Role::*;
    match permission {
        ReadPatients => matches!(role, Admin | Prescriber | Nurse | Analyst),
        CreatePatients | AmendPatients => matches!(role, Admin | Prescriber | Nurse),
        RecordAssessments => matches!(role, Prescriber | Nurse),
        ReadAssessments => matches!(role, Admin | Prescriber | Nurse),
        ManageUsers => matches!(role, Admin),
        ReadAudit => matches!(role, Admin | Auditor),
        ReadChart => matches!(role, Admin | Prescriber | Nurse),
        RecordChart => matches!(role, Prescriber | Nurse),
        RecordOverrides => matches!(role, Prescriber),
        ReadEvaluation => matches!(role, Admin | Prescriber | Nurse | Analyst),
        RunSessions => matches!(role, Prescriber | Nurse),
        ReadSessions | ReadPlans => matches!(role, Admin | Prescriber | Nurse),
        PrescribePlans | PrescribeDoses | OverrideSessionHolds | SignSessions => matches!(role, Prescriber),
        ExportInBulk => matches!(role, Admin | Analyst),
        ReadProtocol => matches!(role, Admin | Prescriber),
        ReadConsents => matches!(role, Admin | Prescriber | Nurse),
        RecordConsents => matches!(role, Prescriber | Nurse),
        ManageConsentForms => matches!(role, Admin),
        ReadControlledSubstances => matches!(role, Admin | Prescriber | Nurse | Auditor),
        RecordControlledSubstances => matches!(role, Admin | Prescriber | Nurse),
        ManageControlledSubstanceStock | ResolveStockDiscrepancies => matches!(role, Admin),
        DispenseControlledSubstances => matches!(role, Prescriber | Nurse),
        ReadClinicCalendar => matches!(role, Admin | Prescriber | Nurse),
        ManageClinicCalendar => matches!(role, Admin),
        ReadOutcomes => matches!(role, Admin | Prescriber | Analyst),
    }
}

/// Whether `role` sees patients only de-identified.
pub fn de_identified_only(role: Role) -> bool {
    role == Role::Analyst
}

pub(crate) fn require(actor: &Actor, permission: Permission) -> Result<(), AppError> {
    if allows(actor.role, permission) {
        Ok(())
    } else {
        Err(AppError::Forbidden { role: actor.role.as_str(), action: permission.action() })
    }
}
