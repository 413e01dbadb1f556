//! What the patient's after-care sheet tells them beyond the rules: whom to call. The clinic's phone
//! number and a crisis line are deployment settings (`ketacare serve --clinic-phone`, `--crisis-line`),
//! not clinical rules: the protocol holds no crisis line text.

use crate::App;

/// Whom a patient calls after a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AfterCareContacts {
    /// The clinic's phone number as printed (`+1 555 0100`), or none when not configured.
    pub clinic_phone: Option<String>,
    /// A crisis line as printed (`988 Suicide & Crisis Lifeline: call or text 988`), or none.
    pub crisis_line: Option<String>,
}

impl App {
    /// The same application printing `contacts` on the after-care sheet.
    pub fn with_after_care_contacts(mut self, contacts: AfterCareContacts) -> App {
        self.after_care = std::sync::Arc::new(contacts);
        self
    }

    /// Whom the after-care sheet tells the patient to call.
    pub fn after_care_contacts(&self) -> &AfterCareContacts {
        &self.after_care
    }
}
