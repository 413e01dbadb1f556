//! Rating scales given during a treatment session, scored as entered: the CADSS-23 (dissociation), the
//! BPRS positive subscale and the MOAA/S (sedation) from their item answers, by the core's scoring; the
//! total is then recorded as an observation of the session through `record_observation`, so the alert
//! engine judges it the moment it is saved, exactly as a total typed in the vital-sign row.

use ketacare_core::scales::cadss::score_cadss23;
use ketacare_core::scales::moaas::score_moaas;
use ketacare_core::scales::score_bprs_positive;
use serde_json::{Map, Value, json};

use crate::policy::{Permission, require};
use crate::{Actor, App, AppError, Created};

/// The in-session scales: (code, observation key).
pub const SESSION_SCALES: [(&str, &str); 3] =
    [("cadss23", "cadss_total"), ("bprs_positive", "bprs_positive_total"), ("moaas", "moaas")];

/// One in-session scale's answers and when they were taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionScaleInput {
    /// `cadss23`, `bprs_positive` or `moaas`.
    pub scale: String,
    /// The item answers in order (`None`: not answered).
    pub answers: Vec<Option<u8>>,
    /// Clinic-local `YYYY-MM-DDTHH:MM`, as an observation's `at`.
    pub at: String,
    pub late_entry_reason: Option<String>,
}

impl App {
    /// Scores an in-session scale and records its total as an observation (`RunSessions`); a scale that
    /// cannot be scored is refused naming the item, audited as `observation.create`, and nothing is stored.
    /// The answer is the observation's (its sequence, and the alerts it raised or changed).
    pub async fn record_session_scale(
        &self,
        actor: &Actor,
        patient_id: &str,
        session_id: &str,
        input: &SessionScaleInput,
        key: Option<&str>,
    ) -> Result<Created, AppError> {
        let scored = (|| {
            require(actor, Permission::RunSessions)?;
            let Some((_, observation_key)) = SESSION_SCALES.iter().find(|(code, _)| *code == input.scale) else {
                return Err(AppError::invalid(
                    "scale",
                    format!("must be cadss23, bprs_positive or moaas, got {:?}", input.scale),
                ));
            };
            let scored = match input.scale.as_str() {
                "cadss23" => score_cadss23(&input.answers).map(|score| score.total),
                "bprs_positive" => score_bprs_positive(&input.answers).map(|score| score.total),
                _ => score_moaas(&input.answers, &self.protocol.scales).map(|score| score.score),
            };
            let total = scored.map_err(|error| AppError::invalid("items", error))?;
            let mut observation = Map::new();
            observation.insert("at".to_owned(), json!(input.at));
            observation.insert((*observation_key).to_owned(), json!(total));
            if let Some(reason) = &input.late_entry_reason {
                observation.insert("late_entry_reason".to_owned(), json!(reason));
            }
            Ok(Value::Object(observation).to_string())
        })();
        match scored {
            Ok(observation) => self.record_observation(actor, patient_id, session_id, &observation, key).await,
            Err(error) => {
                let resource = format!("patient/{patient_id}/session/{session_id}/observations");
                let event = self.audit_event(actor, "observation.create", resource, Some(patient_id));
                Err(self.audit_failure(event, error).await)
            }
        }
    }
}
