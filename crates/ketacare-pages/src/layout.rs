//! What every page shares: its title, the signed-in user with the CSRF token of the sign-out form,
//! and which navigation links the role may follow.

use ketacare_app::policy::{Permission, allows};
use ketacare_app::{Principal, Role};

/// The frame around every page (`templates/base.html`).
#[derive(Debug, Clone)]
pub struct Chrome {
    pub title: String,
    /// `worklist` or `patients`: the navigation link marked as the current page.
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
    ChromeUser {
        username: principal.username.clone(),
        role: role.as_str(),
        csrf_token: principal.csrf_token.clone().unwrap_or_default(),
        sees_worklist: !principal.must_change_password && allows(role, Permission::ReadSessions),
        sees_patients: !principal.must_change_password && allows(role, Permission::ReadPatients),
    }
}
