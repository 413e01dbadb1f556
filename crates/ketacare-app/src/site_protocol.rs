//! The site protocol in effect, read-only: its name, its SHA-256 (which every decision records) and every
//! setting as the file writes it with its source, flagged where the source says UNCONFIRMED (the same
//! entries `ketacare protocol show` lists for sign-off). Reading it is audited as `protocol.read`.

use crate::policy::Permission;
use crate::{Actor, App, AppError};

/// One setting of the protocol in effect.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProtocolSetting {
    /// The dotted path, `trd.min_weeks_at_adequate_dose`.
    pub path: String,
    /// The value as TOML text.
    pub value: String,
    pub source: String,
    /// The source says the value rests on an UNCONFIRMED fact: a medical director signs it off.
    pub unconfirmed: bool,
}

/// The site protocol the server decides under.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SiteProtocolView {
    pub name: String,
    pub sha256: String,
    /// In file order.
    pub settings: Vec<ProtocolSetting>,
}

impl App {
    /// The protocol in effect with every setting's source (admins and prescribers).
    pub async fn site_protocol(&self, actor: &Actor) -> Result<SiteProtocolView, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::ReadProtocol,
                "protocol.read",
                format!("protocol/{}", self.protocol.sha256),
                None,
            )
            .await?;
        let settings = self
            .protocol
            .entries
            .iter()
            .map(|entry| ProtocolSetting {
                path: entry.path.clone(),
                value: entry.value.clone(),
                source: entry.source.clone(),
                unconfirmed: entry.is_unconfirmed(),
            })
            .collect();
        self.store.append_audit(&event).await?;
        Ok(SiteProtocolView { name: self.protocol.name.clone(), sha256: self.protocol.sha256.clone(), settings })
    }
}
