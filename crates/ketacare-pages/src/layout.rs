//! What every page shares: its title, the signed-in user with the CSRF token of the sign-out form,
//! and which navigation links the role may follow.

use ketacare_app::policy::{Permission, allows};
use ketacare_app::{Principal, Role};

/// The frame around every page (`templates/base.html`).
#[derive(Debug, Clone)]
pub struct Chrome {
    pub title: String,
    /// `worklist`, `patients`, `stock`, `outcomes`, `users`, `protocol`, `audit` or `tokens`: the navigation link marked as the
    /// current page.
    pub current: &'static str,
    pub user: Option<ChromeUser>,
}

/// The signed-in user as the page header shows them.
#[derive(Debug, Clone)]
pub struct ChromeUser {
    pub username: String,
    pub role: &'static str,
    pub csrf_token: String,
    pub sees_worklist: bool,
    pub sees_patients: bool,
    /// Admins: users and roles.
    pub sees_users: bool,
    /// Admins and prescribers: the protocol in effect.
    pub sees_protocol: bool,
    /// Auditors and admins: the audit log.
    pub sees_audit: bool,
    /// Everyone who has chosen their password: their own API tokens.
    pub sees_tokens: bool,
    /// Admins, prescribers, nurses and auditors: the controlled-substance record.
    pub sees_stock: bool,
    /// Admins, prescribers and analysts: the cohort outcomes report.
    pub sees_outcomes: bool,
}

impl Chrome {
    /// A page nobody is signed in to (login, errors before sign-in).
    pub fn anonymous(title: &str) -> Chrome {
        Chrome { title: title.to_owned(), current: "", user: None }
    }

    pub fn signed_in(title: &str, current: &'static str, principal: &Principal) -> Chrome {
        Chrome { title: title.to_owned(), current, user: Some(chrome_user(principal)) }
    }
}

fn chrome_user(principal: &Principal) -> ChromeUser {
    let role: Role = principal.role;
    let may = |permission| !principal.must_change_password && allows(role, permission);
    ChromeUser {
        username: principal.username.clone(),
        role: role.as_str(),
        csrf_token: principal.csrf_token.clone().unwrap_or_default(),
        sees_worklist: may(Permission::ReadSessions),
        sees_patients: may(Permission::ReadPatients),
        sees_users: may(Permission::ManageUsers),
        sees_protocol: may(Permission::ReadProtocol),
        sees_audit: may(Permission::ReadAudit),
        sees_tokens: !principal.must_change_password,
        sees_stock: may(Permission::ReadControlledSubstances),
        sees_outcomes: may(Permission::ReadOutcomes),
    }
}

/// Where a role starts after signing in: the first page of the navigation it may open (the worklist for
/// clinical staff, the patient list for analysts, the audit log for auditors).
pub fn home_path(principal: &Principal) -> &'static str {
    let role = principal.role;
    if principal.must_change_password {
        "/password"
    } else if allows(role, Permission::ReadSessions) {
        "/worklist"
    } else if allows(role, Permission::ReadPatients) {
        "/patients"
    } else if allows(role, Permission::ReadAudit) {
        "/audit"
    } else {
        "/account/tokens"
    }
}
