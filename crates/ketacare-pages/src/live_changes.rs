//! `GET /live/session-changes`: the live feed of session changes as server-sent events, for the
//! session page and the worklist to update within a second of a write on any screen, without a reload.
//! The signed-in session cookie authenticates it and `App::watch_session_changes` checks the role and
//! audits the subscription; each event names a patient and a session by id (never patient data), and
//! the page then reads itself again through the audited use cases. The stream ends after
//! [`LIVE_STREAM_LIFETIME`] so the browser reconnects through the cookie check again (a signed-out or
//! expired session stops receiving), and when the server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse as _, Response};
use futures_util::stream;
use ketacare_app::{SessionChange, SessionChangeWatch, WatchedSessionChange};
use serde_json::json;

use crate::PagesState;
use crate::page_error::PageError;
use crate::signed_in::SignedIn;

/// How long one stream lasts before the browser reconnects (and the cookie is checked again).
pub const LIVE_STREAM_LIFETIME: Duration = Duration::from_secs(300);
/// How soon the browser reconnects after a stream ends or drops.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// A comment line this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// Where the stream is.
enum StreamStep {
    /// First the reconnection delay, so the browser's `open` handler knows the stream is live.
    Opening(SessionChangeWatch),
    Following(SessionChangeWatch),
}

/// One change as an event: `event: session`, data `{"patient_id","session_id","kind","alerts_changed"}`.
fn session_event(change: &SessionChange) -> Event {
    let data = json!({
        "patient_id": change.patient_id,
        "session_id": change.session_id,
        "kind": change.kind.as_str(),
        "alerts_changed": change.alerts_changed,
    });
    Event::default().event("session").data(data.to_string())
}

pub async fn session_changes(State(state): State<PagesState>, signed: SignedIn) -> Result<Response, PageError> {
    let watch = state.app.watch_session_changes(&signed.actor).await?;
    let ends_at = tokio::time::Instant::now() + LIVE_STREAM_LIFETIME;
    let events = stream::unfold(StreamStep::Opening(watch), move |step| async move {
        match step {
            StreamStep::Opening(watch) => {
                let hello = Event::default().retry(RECONNECT_AFTER).comment("live");
                Some((Ok::<Event, Infallible>(hello), StreamStep::Following(watch)))
            }
            StreamStep::Following(mut watch) => match tokio::time::timeout_at(ends_at, watch.next()).await {
                // Time to reconnect through the cookie check, or the server is closing: end the stream.
                Err(_) | Ok(WatchedSessionChange::Closing) => None,
                Ok(WatchedSessionChange::Changed(change)) => {
                    Some((Ok(session_event(&change)), StreamStep::Following(watch)))
                }
                Ok(WatchedSessionChange::Missed { count }) => {
                    let missed = Event::default().event("missed").data(json!({ "count": count }).to_string());
                    Some((Ok(missed), StreamStep::Following(watch)))
                }
            },
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE_INTERVAL)).into_response())
}
