//! The bookkeeping of the progress coalescer: which session wrote when, the one report of
//! each session that still waits for its write, and, per user and item, the newest position
//! acknowledged but not yet stored (what this replica's reads overlay on the stores' answer,
//! so a client reads back what it reported). Pure: the clock is a parameter (ms).

use std::collections::{HashMap, HashSet};

use media_ha::core::{Session, UserItemData};

/// A progress report that has not reached the stores yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The session as it reads after the report (what is playing, where).
    pub session: Session,
    /// The item reported on.
    pub item_id: String,
    /// The item's runtime (for the live event's played percentage).
    pub runtime_ticks: Option<i64>,
    /// The position the client reported, when it sent one.
    pub position_ticks: Option<i64>,
    /// When the report arrived (ms since the epoch): the `last_played` it writes, and what a
    /// deferred write compares with a newer one already stored.
    pub at_ms: u64,
}

/// What to do with a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Write it now: the session's first report here, or its interval has passed (or the
    /// table is full, or coalescing is off).
    Write,
    /// Kept; the flusher writes it when the session's interval has passed.
    Deferred,
}

/// The newest report of one user on one item that the stores do not have yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unwritten {
    /// When it was reported (the `last_played` its write stores).
    pub at_ms: u64,
    /// The position it carries, when one was reported.
    pub position_ticks: Option<i64>,
}

impl Unwritten {
    /// Puts this report over what the stores answered, unless they already hold something
    /// newer (a stop or a mark written meanwhile, on any replica).
    pub fn overlay(self, data: &mut UserItemData) {
        if data
            .last_played_ms
            .is_some_and(|stored| stored >= self.at_ms)
        {
            return;
        }
        data.last_played_ms = Some(self.at_ms);
        if let Some(position) = self.position_ticks {
            data.position_ticks = position;
        }
    }
}

#[derive(Debug)]
struct Entry {
    last_write_ms: u64,
    pending: Option<Report>,
}

/// Sessions by token hash: when each last wrote, and its pending report.
#[derive(Debug)]
pub struct Coalescing {
    every_ms: u64,
    max_entries: usize,
    entries: HashMap<String, Entry>,
    /// Sessions whose report `due` or `drain` handed out and whose write is not done yet.
    in_flight: HashSet<String>,
    /// By user, then item: the newest report kept here or in flight. At most one entry per
    /// pending or in-flight report, so bounded with the table.
    unwritten: HashMap<String, HashMap<String, Unwritten>>,
}

impl Coalescing {
    /// At most one write per `every_ms` per session; at most `max_entries` sessions tracked
    /// (beyond that, reports of new sessions are written at once, so memory stays bounded
    /// whatever a client sends).
    pub fn new(every_ms: u64, max_entries: usize) -> Self {
        Self {
            every_ms,
            max_entries,
            entries: HashMap::new(),
            in_flight: HashSet::new(),
            unwritten: HashMap::new(),
        }
    }

    /// Records `report` of session `key` at `now_ms`. Also hands back a pending report on
    /// another item that this one displaces: the caller writes it now (it holds that item's
    /// resume point, which no later report of this session repeats).
    pub fn report(
        &mut self,
        key: &str,
        mut report: Report,
        now_ms: u64,
    ) -> (Decision, Option<Report>) {
        if self.every_ms == 0 {
            return (Decision::Write, None);
        }
        if let Some(entry) = self.entries.get_mut(key) {
            let (same_item, displaced) = match entry.pending.take() {
                Some(p) if p.item_id == report.item_id => (Some(p), None),
                other => (None, other),
            };
            // A report without a position keeps the one it replaces (it is not written).
            if report.position_ticks.is_none() {
                report.position_ticks = same_item.and_then(|p| p.position_ticks);
            }
            if now_ms < entry.last_write_ms.saturating_add(self.every_ms) {
                remember(&mut self.unwritten, &report);
                entry.pending = Some(report);
                return (Decision::Deferred, displaced);
            }
            entry.last_write_ms = now_ms;
            return (Decision::Write, displaced);
        }
        if self.entries.len() < self.max_entries {
            self.entries.insert(
                key.to_owned(),
                Entry {
                    last_write_ms: now_ms,
                    pending: None,
                },
            );
        }
        (Decision::Write, None)
    }

    /// A deferred write failed (a store outage): keeps `report` for the next flush unless a
    /// newer report of its session is already waiting.
    pub fn requeue(&mut self, key: &str, report: Report) {
        if self.entries.len() >= self.max_entries && !self.entries.contains_key(key) {
            return;
        }
        let entry = self.entries.entry(key.to_owned()).or_insert(Entry {
            last_write_ms: 0,
            pending: None,
        });
        if entry.pending.is_none() {
            remember(&mut self.unwritten, &report);
            entry.pending = Some(report);
        }
    }

    /// `report` was written (or given up): reads no longer overlay it, nor anything older of
    /// the same user and item.
    pub fn stored(&mut self, report: &Report) {
        let user = &report.session.user_id;
        let Some(items) = self.unwritten.get_mut(user) else {
            return;
        };
        if items
            .get(&report.item_id)
            .is_some_and(|u| u.at_ms <= report.at_ms)
        {
            items.remove(&report.item_id);
            if items.is_empty() {
                self.unwritten.remove(user);
            }
        }
    }

    /// What this replica holds for `user_id` on `item_id` that the stores do not have yet.
    pub fn unwritten(&self, user_id: &str, item_id: &str) -> Option<Unwritten> {
        self.unwritten.get(user_id)?.get(item_id).copied()
    }

    /// Whether any report waits for its write (reads need no overlay otherwise).
    pub fn has_unwritten(&self) -> bool {
        !self.unwritten.is_empty()
    }

    /// The session as its pending report left it (newer than any cached copy).
    pub fn pending_session(&self, key: &str) -> Option<&Session> {
        self.entries
            .get(key)
            .and_then(|e| e.pending.as_ref())
            .map(|r| &r.session)
    }

    /// The session stops (or starts something else): forgets it and hands back what was
    /// pending, which that write supersedes or must write first.
    pub fn finish(&mut self, key: &str) -> Option<Report> {
        let pending = self.entries.remove(key).and_then(|e| e.pending);
        if let Some(report) = &pending {
            self.stored(report);
        }
        pending
    }

    /// Whether a report of session `key` handed out by `due` or `drain` is still being written.
    pub fn in_flight(&self, key: &str) -> bool {
        self.in_flight.contains(key)
    }

    /// The write of the report of session `key` handed out by `due` or `drain` is done
    /// (after a [`requeue`](Self::requeue) if it failed).
    pub fn written(&mut self, key: &str) {
        self.in_flight.remove(key);
    }

    /// The pending reports whose interval has passed at `now_ms` (their sessions count as
    /// written now, and in flight until [`written`](Self::written)); sessions idle for a
    /// whole interval are forgotten.
    pub fn due(&mut self, now_ms: u64) -> Vec<Report> {
        let every = self.every_ms;
        let mut out = Vec::new();
        let in_flight = &mut self.in_flight;
        self.entries.retain(|key, entry| {
            let next = entry.last_write_ms.saturating_add(every);
            if now_ms < next {
                return true;
            }
            match entry.pending.take() {
                Some(report) => {
                    in_flight.insert(key.clone());
                    out.push(report);
                    entry.last_write_ms = now_ms;
                    true
                }
                // Nothing reported for a whole interval: the next report writes at once.
                None => false,
            }
        });
        out
    }

    /// Every pending report (shutdown; in flight until [`written`](Self::written)); the
    /// table is emptied.
    pub fn drain(&mut self) -> Vec<Report> {
        let mut out = Vec::new();
        for (key, entry) in self.entries.drain() {
            if let Some(report) = entry.pending {
                self.in_flight.insert(key);
                out.push(report);
            }
        }
        out
    }

    /// Sessions tracked (for tests and metrics).
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Keeps `report` as the newest unwritten one of its user and item, unless a newer is kept.
fn remember(unwritten: &mut HashMap<String, HashMap<String, Unwritten>>, report: &Report) {
    let slot = unwritten
        .entry(report.session.user_id.clone())
        .or_default()
        .entry(report.item_id.clone())
        .or_insert(Unwritten {
            at_ms: 0,
            position_ticks: None,
        });
    if report.at_ms >= slot.at_ms {
        *slot = Unwritten {
            at_ms: report.at_ms,
            position_ticks: report.position_ticks.or(slot.position_ticks),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(position: i64, at_ms: u64) -> Report {
        Report {
            session: Session {
                id: "s".into(),
                token_hash: "t".into(),
                user_id: "u".into(),
                user_name: "user".into(),
                device_id: "d".into(),
                device_name: "d".into(),
                client: "c".into(),
                client_version: "1".into(),
                now_playing: None,
                created_ms: 0,
                last_activity_ms: at_ms,
            },
            item_id: "i".into(),
            runtime_ticks: None,
            position_ticks: Some(position),
            at_ms,
        }
    }

    #[test]
    fn first_report_writes_then_one_write_per_interval() {
        let mut c = Coalescing::new(10_000, 10);
        assert_eq!(c.report("s", report(1, 0), 0).0, Decision::Write);
        for t in 1..100 {
            let at = t as u64 * 10;
            assert_eq!(c.report("s", report(t, at), at), (Decision::Deferred, None));
        }
        assert!(c.due(9_999).is_empty(), "not before the interval");
        let due = c.due(10_000);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].position_ticks, Some(99), "the last report wins");
        assert!(c.due(10_001).is_empty(), "written once");
        assert_eq!(
            c.report("s", report(100, 15_000), 15_000).0,
            Decision::Deferred
        );
        assert_eq!(
            c.report("s", report(101, 20_000), 20_000).0,
            Decision::Write
        );
    }

    #[test]
    fn idle_sessions_are_forgotten_and_the_table_is_bounded() {
        let mut c = Coalescing::new(1_000, 2);
        assert_eq!(c.report("a", report(1, 0), 0).0, Decision::Write);
        assert_eq!(c.report("b", report(1, 0), 0).0, Decision::Write);
        // Full: a third session is written every time rather than tracked.
        assert_eq!(c.report("c", report(1, 0), 0).0, Decision::Write);
        assert_eq!(c.report("c", report(2, 1), 1).0, Decision::Write);
        c.requeue("c", report(2, 1));
        assert_eq!(c.len(), 2, "a requeue does not grow a full table");
        assert_eq!(c.len(), 2);
        assert!(c.due(1_000).is_empty());
        assert_eq!(c.len(), 0, "nothing pending for an interval: forgotten");
    }

    #[test]
    fn finish_hands_back_the_pending_report_and_drain_empties() {
        let mut c = Coalescing::new(1_000, 10);
        c.report("a", report(1, 0), 0);
        c.report("a", report(2, 5), 5);
        assert_eq!(
            c.pending_session("a").map(|s| s.user_id.as_str()),
            Some("u")
        );
        assert_eq!(c.finish("a").and_then(|r| r.position_ticks), Some(2));
        assert_eq!(c.finish("a"), None);
        c.report("b", report(1, 0), 0);
        c.report("b", report(3, 5), 5);
        assert_eq!(c.drain().len(), 1);
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn a_handed_out_report_is_in_flight_until_written() {
        let mut c = Coalescing::new(1_000, 10);
        c.report("a", report(1, 0), 0);
        c.report("a", report(2, 5), 5);
        assert!(!c.in_flight("a"));
        let due = c.due(1_000);
        assert_eq!(due.len(), 1);
        assert!(c.in_flight("a"), "a stop must wait for this write");
        assert_eq!(c.finish("a"), None, "nothing pending any more");
        c.written("a");
        assert!(!c.in_flight("a"));
        c.report("b", report(1, 0), 0);
        c.report("b", report(2, 5), 5);
        assert_eq!(c.drain().len(), 1);
        assert!(c.in_flight("b"));
        c.written("b");
        assert!(!c.in_flight("b"));
    }

    #[test]
    fn zero_interval_writes_every_report() {
        let mut c = Coalescing::new(0, 10);
        assert_eq!(c.report("a", report(1, 0), 0).0, Decision::Write);
        assert_eq!(c.report("a", report(2, 0), 0).0, Decision::Write);
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn a_report_on_another_item_hands_the_pending_one_back() {
        let mut c = Coalescing::new(1_000, 10);
        c.report("a", report(1, 0), 0);
        c.report("a", report(2, 5), 5);
        let mut other = report(3, 6);
        other.item_id = "j".into();
        let (decision, displaced) = c.report("a", other, 6);
        assert_eq!(decision, Decision::Deferred);
        assert_eq!(displaced.and_then(|r| r.position_ticks), Some(2));
        assert_eq!(c.due(1_000).len(), 1, "only the newest report waits");
    }

    #[test]
    fn a_failed_write_is_retried_unless_a_newer_report_waits() {
        let mut c = Coalescing::new(1_000, 10);
        c.report("a", report(1, 0), 0);
        c.report("a", report(2, 5), 5);
        let due = c.due(1_000);
        c.requeue("a", due[0].clone());
        assert!(c.pending_session("a").is_some());
        c.report("a", report(3, 1_001), 1_001);
        c.requeue("a", report(2, 5));
        assert_eq!(
            c.drain()[0].position_ticks,
            Some(3),
            "the newer report stays"
        );
    }

    #[test]
    fn reads_see_a_deferred_report_until_it_is_stored() {
        let mut c = Coalescing::new(1_000, 10);
        c.report("a", report(1, 0), 0);
        assert_eq!(
            c.unwritten("u", "i"),
            None,
            "written through: nothing to overlay"
        );
        c.report("a", report(2, 5), 5);
        c.report("a", report(3, 6), 6);
        let seen = c.unwritten("u", "i").expect("the deferred report");
        assert_eq!((seen.at_ms, seen.position_ticks), (6, Some(3)));
        assert_eq!(c.unwritten("u", "other"), None);
        assert_eq!(c.unwritten("someone else", "i"), None);

        let due = c.due(1_000);
        assert!(c.unwritten("u", "i").is_some(), "in flight: still overlaid");
        c.stored(&report(2, 5));
        assert!(
            c.unwritten("u", "i").is_some(),
            "an older write keeps the newer"
        );
        c.stored(&due[0]);
        assert_eq!(c.unwritten("u", "i"), None);
        assert!(!c.has_unwritten(), "nothing kept once stored");
    }

    #[test]
    fn a_report_without_a_position_keeps_the_one_it_replaces() {
        let mut c = Coalescing::new(1_000, 10);
        c.report("a", report(1, 0), 0);
        c.report("a", report(2, 5), 5);
        let mut paused = report(0, 6);
        paused.position_ticks = None;
        c.report("a", paused, 6);
        assert_eq!(
            c.unwritten("u", "i").and_then(|u| u.position_ticks),
            Some(2)
        );
        assert_eq!(c.due(1_000)[0].position_ticks, Some(2), "and writes it");
    }

    #[test]
    fn a_stop_or_a_requeue_moves_the_overlay_with_the_report() {
        let mut c = Coalescing::new(1_000, 10);
        c.report("a", report(1, 0), 0);
        c.report("a", report(2, 5), 5);
        assert!(c.finish("a").is_some());
        assert_eq!(
            c.unwritten("u", "i"),
            None,
            "the stop's own write supersedes it"
        );

        c.report("a", report(1, 10), 10);
        c.report("a", report(2, 15), 15);
        let due = c.due(1_010);
        c.stored(&due[0]);
        c.requeue("a", due[0].clone());
        assert_eq!(
            c.unwritten("u", "i").map(|u| u.at_ms),
            Some(15),
            "a failed write is overlaid again until retried"
        );
    }

    #[test]
    fn the_overlay_never_hides_a_newer_stored_state() {
        let unwritten = Unwritten {
            at_ms: 100,
            position_ticks: Some(7),
        };
        let mut newer = UserItemData::empty("u", "i");
        newer.last_played_ms = Some(200);
        newer.position_ticks = 0;
        unwritten.overlay(&mut newer);
        assert_eq!((newer.position_ticks, newer.last_played_ms), (0, Some(200)));
        let mut older = UserItemData::empty("u", "i");
        older.last_played_ms = Some(50);
        unwritten.overlay(&mut older);
        assert_eq!((older.position_ticks, older.last_played_ms), (7, Some(100)));
        let mut untouched = UserItemData::empty("u", "i");
        unwritten.overlay(&mut untouched);
        assert_eq!(untouched.position_ticks, 7);
    }
}
