//! The live feed of session changes for the screens that are open: after a write that changes what a
//! session page or the worklist shows (an observation and the alerts it raised or changed, a correction,
//! an acknowledgement, a dose given, a discharge or signature), the use case publishes the ids of the
//! session it changed on an in-process broadcast channel. The web layer streams them to signed-in
//! screens (server-sent events), which then read the page again through the audited use cases.
//!
//! A notice carries opaque ids and the kind of change only, never patient data, and nothing depends on
//! the feed to be correct: a screen that misses notices is told so and reads its page again, and a
//! reload always shows the stored truth. The feed is per server process: every write of this process
//! reaches every screen connected to it.

use tokio::sync::{broadcast, watch};

use crate::policy::Permission;
use crate::{Actor, App, AppError};

/// How many notices one screen may fall behind before it misses some (and is told to read again).
const NOTICES_KEPT_PER_WATCHER: usize = 256;

/// What kind of write changed a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionChangeKind {
    /// A vital-sign set (or score) was recorded; the alert engine ran on it.
    Observation,
    /// An observation was marked entered in error (the alerts were replayed without it), or the
    /// session's facts, stage, overrides or a dose record were amended.
    Amendment,
    /// Someone acknowledged an alert.
    Acknowledgement,
    /// A dose was given (with its lot number).
    Administration,
    /// A patient's self-report raised a suicidality alert, or a clinician acknowledged one: the notice's
    /// `session_id` is the self-report link's id (the worklist reads itself again; docs/self-report.md).
    SelfReportAlert,
}

impl SessionChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionChangeKind::Observation => "observation",
            SessionChangeKind::Amendment => "amendment",
            SessionChangeKind::Acknowledgement => "acknowledgement",
            SessionChangeKind::Administration => "administration",
            SessionChangeKind::SelfReportAlert => "self_report_alert",
        }
    }
}

/// One session changed: which, how, and whether its alerts changed. Ids only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionChange {
    pub patient_id: String,
    pub session_id: String,
    pub kind: SessionChangeKind,
    /// An alert was raised, escalated, de-escalated or resolved (or the alerts were replayed).
    pub alerts_changed: bool,
}

/// What a watcher learns next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchedSessionChange {
    Changed(SessionChange),
    /// The watcher fell behind and `count` notices were dropped: read the page again.
    Missed {
        count: u64,
    },
    /// The server is shutting down: end the stream so the connection can close.
    Closing,
}

/// The sending side, shared by every clone of the [`App`].
#[derive(Debug)]
pub(crate) struct LiveUpdates {
    changes: broadcast::Sender<SessionChange>,
    closing: watch::Sender<bool>,
}

impl Default for LiveUpdates {
    fn default() -> Self {
        let (changes, _) = broadcast::channel(NOTICES_KEPT_PER_WATCHER);
        let (closing, _) = watch::channel(false);
        LiveUpdates { changes, closing }
    }
}

/// One screen's subscription to the feed.
#[derive(Debug)]
pub struct SessionChangeWatch {
    changes: broadcast::Receiver<SessionChange>,
    closing: watch::Receiver<bool>,
}

impl SessionChangeWatch {
    /// Waits for the next notice.
    pub async fn next(&mut self) -> WatchedSessionChange {
        if *self.closing.borrow() {
            return WatchedSessionChange::Closing;
        }
        tokio::select! {
            received = self.changes.recv() => match received {
                Ok(change) => WatchedSessionChange::Changed(change),
                Err(broadcast::error::RecvError::Lagged(count)) => WatchedSessionChange::Missed { count },
                Err(broadcast::error::RecvError::Closed) => WatchedSessionChange::Closing,
            },
            // Either the flag was raised or the App is gone: both mean the end.
            _ = self.closing.changed() => WatchedSessionChange::Closing,
        }
    }
}

impl App {
    /// Subscribes a screen to the live feed of session changes. Needs the permission to read sessions
    /// (the worklist's); audited as `session_changes.watch`. The notices name patients and sessions by
    /// id only; what changed is read through the audited use cases (`get_session`, `worklist`).
    pub async fn watch_session_changes(&self, actor: &Actor) -> Result<SessionChangeWatch, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::ReadSessions,
                "session_changes.watch",
                "session-changes".to_owned(),
                None,
            )
            .await?;
        // Subscribe before the audit write, so nothing published while it is written is missed.
        let watch =
            SessionChangeWatch { changes: self.live.changes.subscribe(), closing: self.live.closing.subscribe() };
        self.store.append_audit(&event).await?;
        Ok(watch)
    }

    /// Ends every watcher's stream (the server is shutting down, so its connections can close).
    pub fn close_live_updates(&self) {
        self.live.closing.send_replace(true);
    }

    /// Tells the open screens that a session changed (nobody watching is fine).
    pub(crate) fn publish_session_change(
        &self,
        patient_id: &str,
        session_id: &str,
        kind: SessionChangeKind,
        alerts_changed: bool,
    ) {
        let change = SessionChange {
            patient_id: patient_id.to_owned(),
            session_id: session_id.to_owned(),
            kind,
            alerts_changed,
        };
        let _ = self.live.changes.send(change);
    }
}
