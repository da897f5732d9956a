//! Playback progress coalesced per session: a storm of reports costs at most one store write
//! per interval per session and replica.
//!
//! # Why
//!
//! Every playing client reports its position every few seconds, and each report was two
//! committed writes (the session's now-playing state and the user's resume position) plus a
//! read and a cluster event: the costliest request a replica serves, and the most frequent
//! (docs/BENCHMARKS.md, "The HA request path"). Only the last position matters, so the
//! reports of one session are folded into one write per `--progress-interval`.
//!
//! # Reading back what was reported
//!
//! A client that reports a position and reads the item back gets that position, whichever
//! report was deferred: this replica's reads of a user's data ([`ProgressCoalescer::overlay`],
//! used by `routes/items.rs`) put the newest report it holds for that user and item over the
//! stores' answer, unless the stores hold something newer. Other replicas see the stored
//! position, up to one interval late (a client behind a load balancer that reads back through
//! another replica at once can see the previous position for that long). While a start or a
//! stop is written, a read racing it may see the stored position for the length of that
//! write.
//!
//! # What "never lost" means here
//!
//! * The **first** report of a session on a replica, every **start** and every **stop** are
//!   written before the response (write-through): a client that stops, or a replica killed
//!   right after a session's first report, loses nothing.
//! * The reports **in between** wait in this replica's memory; the flusher writes the newest
//!   one when the session's interval has passed, and a **drain or shutdown** writes them all.
//!   A replica killed with SIGKILL loses at most the last interval of progress of the sessions
//!   it was coalescing (the stored position is at most `--progress-interval` plus one flusher
//!   tick old), never a stop.
//! * A deferred write never overwrites a newer one: it is skipped when the stored
//!   `last_played` is later than the report (a stop or a mark through any replica meanwhile).
//! * A deferred write goes through `SessionStore::update`, which writes only a session still
//!   live: it cannot bring back a signed-out token. The user's position it carries was
//!   acknowledged while the session was live, so it is written even after a sign-out (it is
//!   the user's own data, not a credential); a sign-out on this replica writes it first.
//! * A start, a stop or a sign-out waits for a deferred write of the same session that the
//!   flusher has already taken ([`ProgressCoalescer::finish`]), so an older write can never
//!   land after them on this replica (it would show the session playing again after a stop).
//! * What others see lags by up to the interval: `/Sessions` (now playing, position) and the
//!   user's other clients' live `UserDataChanged` messages, sent when the write happens.
//!
//! The bookkeeping is in `state.rs` (pure, clock passed in); this file does the I/O.

mod state;

use std::sync::Mutex;
use std::time::Duration;

use media_ha::core::sync::lock;
use media_ha::core::{Session, UserItemData};
use tokio::sync::{watch, Notify};

use state::Coalescing;
pub use state::{Decision, Report};

use crate::dto::UserItemDataDto;
use crate::error::ApiResult;
use crate::live::LiveEvent;
use crate::routes::items::stored_user_data;
use crate::state::AppState;
use crate::timefmt::now_ms;

/// Most sessions whose reports one replica coalesces; reports of further sessions are written
/// at once (a bound on memory whatever clients send: one entry holds one session record).
pub const MAX_SESSIONS: usize = 100_000;

/// The per-replica table of sessions whose progress is being coalesced.
#[derive(Debug)]
pub struct ProgressCoalescer {
    every: Duration,
    state: Mutex<Coalescing>,
    /// Woken whenever a deferred write the flusher took is done.
    written: Notify,
}

impl ProgressCoalescer {
    /// At most one write per `every` per session (zero: every report is written).
    pub fn new(every: Duration) -> Self {
        let every_ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
        Self {
            every,
            state: Mutex::new(Coalescing::new(every_ms, MAX_SESSIONS)),
            written: Notify::new(),
        }
    }

    /// The session as this replica's newest unwritten report left it, if any.
    pub fn pending_session(&self, token_hash: &str) -> Option<Session> {
        lock(&self.state).pending_session(token_hash).cloned()
    }

    /// Records a progress report: [`Decision::Write`] means the caller writes it now; a
    /// displaced report (another item of the same session) is to be written now too.
    pub fn report(&self, report: Report) -> (Decision, Option<Report>) {
        let key = report.session.token_hash.clone();
        lock(&self.state).report(&key, report, now_ms())
    }

    /// The session starts or stops playing, or signs out: waits until no deferred write of it
    /// is under way, then takes out what was pending for it.
    pub async fn finish(&self, token_hash: &str) -> Option<Report> {
        loop {
            let written = self.written.notified();
            tokio::pin!(written);
            // Registered before looking, so a write finishing in between still wakes us.
            written.as_mut().enable();
            {
                let mut state = lock(&self.state);
                if !state.in_flight(token_hash) {
                    return state.finish(token_hash);
                }
            }
            written.await;
        }
    }

    /// Puts what this replica was told and has not stored yet over `data`, as read from the
    /// stores (reads the client makes right after a deferred report see it).
    pub fn overlay(&self, data: &mut UserItemData) {
        self.overlay_all(std::slice::from_mut(data));
    }

    /// [`overlay`](Self::overlay) for several items of one read, under one lock.
    pub fn overlay_all(&self, data: &mut [UserItemData]) {
        if self.every.is_zero() {
            return;
        }
        let state = lock(&self.state);
        if !state.has_unwritten() {
            return;
        }
        for d in data {
            if let Some(unwritten) = state.unwritten(&d.user_id, &d.item_id) {
                unwritten.overlay(d);
            }
        }
    }

    /// Sessions tracked now.
    pub fn len(&self) -> usize {
        lock(&self.state).len()
    }

    /// Whether no session is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How often the flusher looks for due reports: a quarter of the interval, 0.25 to 2.5 s.
    fn tick(&self) -> Duration {
        (self.every / 4).clamp(Duration::from_millis(250), Duration::from_millis(2_500))
    }
}

/// What a write does with the session record (now playing, position) of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionWrite {
    /// The report is being answered: the session must still be live; if it was signed out,
    /// nothing is written (the caller answers 401).
    Required,
    /// A deferred report, acknowledged while the session was live: the session is written
    /// only if still live (`update` never creates one: a sign-out stays a sign-out), the
    /// user's position in any case.
    IfLive,
    /// Only the user's position (a report displaced by another item, or a sign-out's last).
    Skip,
}

/// Writes one report: the session's now-playing state (as `session` says) and the user's
/// position, then tells the user's clients. `Ok(false)`: the session was signed out and
/// `Required` wrote nothing.
///
/// A report older than what is stored (`last_played` later than the report) is skipped: a stop
/// or a mark written meanwhile, on any replica, wins.
///
/// Done or failed, reads stop overlaying the report (a failed deferred one is requeued by
/// the flusher, which overlays it again).
pub async fn write(state: &AppState, report: &Report, session: SessionWrite) -> ApiResult<bool> {
    let result = write_to_stores(state, report, session).await;
    lock(&state.progress.state).stored(report);
    result
}

async fn write_to_stores(
    state: &AppState,
    report: &Report,
    session: SessionWrite,
) -> ApiResult<bool> {
    let user_id = report.session.user_id.clone();
    // The stores' own answer: an overlay of this very table would hide what is stored.
    let mut data = stored_user_data(state, &user_id, &report.item_id).await?;
    if data.last_played_ms.is_some_and(|t| t > report.at_ms) {
        return Ok(true);
    }
    if session != SessionWrite::Skip
        && !state
            .stores
            .sessions
            .update(&report.session, state.config.session_ttl())
            .await?
        && session == SessionWrite::Required
    {
        return Ok(false);
    }
    data.last_played_ms = Some(report.at_ms);
    if let Some(position) = report.position_ticks {
        data.position_ticks = position;
    }
    state.stores.metadata.put_user_data(&data).await?;
    let dto = UserItemDataDto::new(&data, report.runtime_ticks);
    state
        .live
        .publish(LiveEvent::UserData {
            user_id,
            data: vec![serde_json::json!(dto)],
        })
        .await;
    Ok(true)
}

/// Writes `reports` (taken out by `due` or `drain`, so marked in flight); one that fails (a
/// store outage) is kept for the next flush, unless the server is stopping (`retry` false:
/// then it is logged and dropped).
async fn write_all(state: &AppState, reports: Vec<Report>, retry: bool) {
    for report in reports {
        let key = report.session.token_hash.clone();
        let failed = match write(state, &report, SessionWrite::IfLive).await {
            Ok(_) => None,
            Err(err) => {
                tracing::warn!(error = ?err, item = %report.item_id, retry, "could not write a coalesced progress report");
                retry.then_some(report)
            }
        };
        {
            let mut table = lock(&state.progress.state);
            if let Some(report) = failed {
                table.requeue(&key, report);
            }
            table.written(&key);
        }
        state.progress.written.notify_waiters();
    }
}

/// Writes every pending report now (drain and shutdown).
pub async fn flush_all(state: &AppState) {
    let reports = lock(&state.progress.state).drain();
    write_all(state, reports, false).await;
}

/// Writes due reports until `stop` turns true (then the server's shutdown calls
/// [`flush_all`] once no request can add to the table).
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let tick = state.progress.tick();
    loop {
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let due = lock(&state.progress.state).due(now_ms());
        write_all(&state, due, true).await;
    }
}
