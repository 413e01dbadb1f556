//! `GET /protocol`: the site protocol the server decides under, read-only, for admins and prescribers
//! (`App::site_protocol`): its name and SHA-256 (which every decision records), and every setting by
//! section with its value and source, flagged UNCONFIRMED (a word and an icon) where its source says so
//! — the entries `ketacare protocol show` lists for a medical director's sign-off. `?unconfirmed=1`
//! shows only those.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use crate::PagesState;
use crate::layout::Chrome;
use crate::page_error::{PageError, render};
use crate::signed_in::SignedIn;

#[derive(Template)]
#[template(path = "protocol.html")]
struct ProtocolPage {
    chrome: Chrome,
    name: String,
    sha256: String,
    setting_count: usize,
    unconfirmed_count: usize,
    only_unconfirmed: bool,
    sections: Vec<ProtocolSection>,
}

struct ProtocolSection {
    /// `trd`, `eligibility.rule_class`.
    name: String,
    settings: Vec<SettingRow>,
}

struct SettingRow {
    /// The key within its section.
    key: String,
    path: String,
    value: String,
    source: String,
    unconfirmed: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct ProtocolQuery {
    #[serde(default)]
    unconfirmed: Option<String>,
}

/// `GET /protocol`.
pub async fn protocol(
    State(state): State<PagesState>,
    signed: SignedIn,
    Query(query): Query<ProtocolQuery>,
) -> Result<Response, PageError> {
    let view = state.app.site_protocol(&signed.actor).await?;
    let only_unconfirmed = query.unconfirmed.is_some();
    let mut sections: Vec<ProtocolSection> = Vec::new();
    for setting in view.settings.iter().filter(|setting| setting.unconfirmed || !only_unconfirmed) {
        let (section, key) = setting.path.rsplit_once('.').unwrap_or(("", setting.path.as_str()));
        let row = SettingRow {
            key: key.to_owned(),
            path: setting.path.clone(),
            value: setting.value.clone(),
            source: setting.source.clone(),
            unconfirmed: setting.unconfirmed,
        };
        match sections.last_mut() {
            Some(last) if last.name == section => last.settings.push(row),
            _ => sections.push(ProtocolSection { name: section.to_owned(), settings: vec![row] }),
        }
    }
    let page = ProtocolPage {
        chrome: Chrome::signed_in("Site protocol", "protocol", &signed.principal),
        setting_count: view.settings.len(),
        unconfirmed_count: view.settings.iter().filter(|setting| setting.unconfirmed).count(),
        name: view.name,
        sha256: view.sha256,
        only_unconfirmed,
        sections,
    };
    Ok(render(&page))
}
