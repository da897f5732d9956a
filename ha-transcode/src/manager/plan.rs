//! What to do about a segment request: the whole takeover protocol as one pure function.
//!
//! # Why pure
//!
//! The decision depends on the job record, the lease, what this node runs and where the viewer
//! is; getting it wrong means either two replicas transcoding the same thing or a viewer stuck
//! on a dead owner. Keeping it free of I/O lets the table of cases below be tested exhaustively,
//! and keeps the async code in the manager to "gather facts, call [`plan`], act". It never
//! reads a clock: the manager passes ages measured on its injected clock ([`Hold`]).
//!
//! # Why viewers far apart take turns (and not a second run)
//!
//! One run per job key: two viewers of one rendition far apart (one at minute 5, one at
//! minute 50) would otherwise restart the run on every request, each undoing the other, and
//! neither gets anywhere. A far request therefore moves a run only when no *other* viewer used
//! the run within `near_window`, or once the run has had `seek_hold` to itself ([`Hold`]).
//! A lone viewer's seek is never delayed; two viewers far apart share the encoder in time
//! slices of `seek_hold`, at most one restart per slice, and neither waits longer than a slice
//! (kept below the segment wait). A second concurrent run (a lease sub-key per segment range)
//! would serve both at full speed, but at twice the CPU, and it needs lane-aware records,
//! progress, takeover and cleanup: every fencing argument made twice. Taking turns keeps
//! "one lease, one run, one record per job" — single flight stays exactly as sound as it was.

use std::time::Duration;

use ha_core::{FencingToken, JobRecord, JobState};

/// A run this node is executing for the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalRun {
    /// First segment of the run.
    pub start: u32,
    /// Next segment it will publish.
    pub next: u32,
}

/// Everything [`plan`] looks at.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// The requested segment.
    pub index: u32,
    /// The job record, if live.
    pub record: Option<&'a JobRecord>,
    /// The live lease holder, if any.
    pub holder: Option<&'a str>,
    /// This node's id.
    pub me: &'a str,
    /// This node's run of the job, if it has one.
    pub local_run: Option<LocalRun>,
    /// How far ahead of a run's next segment a request may be and still wait for it.
    pub reach: u32,
    /// Failures after which a job is refused for the cool-down.
    pub max_attempts: u32,
    /// Whether the record's failure is still within its cool-down.
    pub in_cooldown: bool,
    /// Whether segments live only on the replica that wrote them (node-local storage).
    pub node_local: bool,
    /// The live lease's fencing token (set with `holder`).
    pub holder_token: Option<FencingToken>,
    /// Whether the record's owner was reported unreachable recently.
    pub owner_unreachable: bool,
    /// Whether this request may be sent on to the owner (false for a request that already was).
    pub may_forward: bool,
    /// Whether this node's run may be moved for a far request.
    pub hold: Hold,
}

/// Whether a run other viewers use may be moved for a far request (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// How long the current run has been running.
    pub run_age: Duration,
    /// How long ago a viewer other than the requesting one asked for a segment within the
    /// run's reach (`None`: nobody else did).
    pub others_near: Option<Duration>,
    /// How long a used run keeps its place.
    pub seek_hold: Duration,
    /// How recent a request must be to count as using the run.
    pub near_window: Duration,
}

impl Hold {
    /// True when nobody else used the run recently, or it has had its time slice.
    pub fn allows_move(&self) -> bool {
        match self.others_near {
            Some(ago) if ago < self.near_window => self.run_age >= self.seek_hold,
            _ => true,
        }
    }
}

/// What the manager does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nobody owns the job: take the lease and run from `from`.
    Start {
        /// First segment to produce.
        from: u32,
        /// True when an earlier owner's record exists (a takeover, not a fresh start).
        takeover: bool,
    },
    /// This node owns the job, its run will not reach the segment soon, and nobody else holds
    /// on to it (see [`Hold`]): restart it there.
    Restart {
        /// First segment of the new run.
        at: u32,
    },
    /// Another node owns the job and is far from the segment: ask it to restart there, then wait.
    AskOwner {
        /// Where the owner should restart.
        at: u32,
    },
    /// The owner will produce the segment soon: wait for it.
    Wait,
    /// The job failed too often; refuse until the cool-down ends.
    RefusePoisoned {
        /// How many times the job was claimed.
        attempts: u32,
    },
    /// The job completed without producing this segment: the source ends before it (a
    /// container duration longer than the video, e.g. an audio tail).
    PastEnd,
    /// Node-local storage: the record's owner has (or is producing) the segment; fetch it from
    /// the owner's address in the record.
    FetchFromOwner {
        /// The owner's node id.
        node: String,
        /// The owner's advertised address.
        address: String,
    },
    /// Node-local storage, a request already forwarded once: another node owns the job.
    NotOwner {
        /// The owner's node id.
        node: String,
    },
    /// Node-local storage: the live owner advertised no address, so nobody can reach it.
    OwnerUnaddressable {
        /// The owner's node id.
        node: String,
    },
}

/// Decides what to do for a segment that does not exist yet.
pub fn plan(f: &Facts<'_>) -> Action {
    if let Some(r) = f.record {
        if r.state == JobState::Failed && r.attempts >= f.max_attempts && f.in_cooldown {
            return Action::RefusePoisoned {
                attempts: r.attempts,
            };
        }
    }
    if let Some(r) = f.record {
        if r.state == JobState::Completed && f.holder.is_none() && f.index >= r.start_segment {
            if let Some(last) = r.last_segment {
                if f.index > last {
                    return Action::PastEnd;
                }
            }
        }
    }
    if f.node_local {
        if let Some(action) = node_local(f) {
            return action;
        }
    }
    let within =
        |start: u32, next: u32| f.index >= start && f.index <= next.saturating_add(f.reach);
    match f.holder {
        // This node still runs the job but nobody holds its lease: the lease vanished under a
        // live run (the store lost its data, e.g. a Redis restart without persistence). The
        // run's keeper or publish gate stops it within one renewal interval; starting a second
        // run now would leave two workers writing one job. Wait, then start afresh.
        None if f.local_run.is_some() => Action::Wait,
        None => {
            let from = match f.record {
                // Resume right after the last completed segment when the viewer is there.
                Some(r)
                    if within(r.start_segment, r.next_segment()) && f.index >= r.next_segment() =>
                {
                    r.next_segment()
                }
                _ => f.index,
            };
            Action::Start {
                from,
                takeover: f.record.is_some(),
            }
        }
        Some(holder) if holder == f.me => match f.local_run {
            Some(run) if within(run.start, run.next) => Action::Wait,
            // Another viewer uses the run and its slice is not over: wait for the next turn.
            Some(_) if !f.hold.allows_move() => Action::Wait,
            Some(_) => Action::Restart { at: f.index },
            // Between a run ending and its lease being released: wait a moment.
            None => Action::Wait,
        },
        Some(_) => match f.record {
            Some(r)
                if r.state == JobState::Running && !within(r.start_segment, r.next_segment()) =>
            {
                Action::AskOwner { at: f.index }
            }
            _ => Action::Wait,
        },
    }
}

/// Node-local storage: whether the segment is the record owner's business, and what then.
/// `None`: decide as with shared storage (nobody else has the segment: produce it here).
fn node_local(f: &Facts<'_>) -> Option<Action> {
    let r = f.record?;
    let other_holder = f.holder.is_some_and(|h| h != f.me);
    if r.owner_node == f.me {
        // Mine by the record, but somebody else holds the lease: their claim is on its way.
        return other_holder.then_some(Action::Wait);
    }
    let live_owner = f.holder == Some(r.owner_node.as_str()) && f.holder_token == Some(r.token);
    let finished = f.holder.is_none() && matches!(r.state, JobState::Completed | JobState::Stopped);
    if !(live_owner || finished) {
        // Another holder whose claim the record does not show yet: wait for it. No holder and
        // a running or failed record: an orphan, taken over here.
        return other_holder.then_some(Action::Wait);
    }
    if f.owner_unreachable {
        // A live owner is waited for (never run twice); a finished one's segments are made
        // again here.
        return live_owner.then_some(Action::Wait);
    }
    let node = r.owner_node.clone();
    Some(match (&r.owner_addr, f.may_forward) {
        (_, false) => Action::NotOwner { node },
        (Some(address), true) => Action::FetchFromOwner {
            node,
            address: address.clone(),
        },
        (None, true) if live_owner => Action::OwnerUnaddressable { node },
        (None, true) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ha_core::FencingToken;

    fn record(start: u32, last: Option<u32>, state: JobState, attempts: u32) -> JobRecord {
        JobRecord {
            key: "k".into(),
            source: "s".into(),
            profile: "{}".into(),
            owner_node: "b".into(),
            owner_addr: None,
            token: FencingToken(1),
            start_segment: start,
            last_segment: last,
            state,
            attempts,
            failure: None,
            created_ms: 1,
            updated_ms: 1,
        }
    }

    fn facts<'a>(
        index: u32,
        record: Option<&'a JobRecord>,
        holder: Option<&'a str>,
        local_run: Option<LocalRun>,
    ) -> Facts<'a> {
        Facts {
            index,
            record,
            holder,
            me: "a",
            local_run,
            reach: 3,
            max_attempts: 3,
            in_cooldown: true,
            node_local: false,
            holder_token: holder.map(|_| FencingToken(1)),
            owner_unreachable: false,
            may_forward: true,
            hold: Hold {
                run_age: Duration::ZERO,
                others_near: None,
                seek_hold: Duration::from_secs(10),
                near_window: Duration::from_secs(10),
            },
        }
    }

    #[test]
    fn table() {
        let running = record(0, Some(4), JobState::Running, 1);
        let failed_once = record(0, Some(4), JobState::Failed, 1);
        let poisoned = record(0, Some(4), JobState::Failed, 3);
        let run = Some(LocalRun { start: 0, next: 5 });
        let completed = record(0, Some(4), JobState::Completed, 1);
        let cases: Vec<(&str, Facts<'_>, Action)> = vec![
            (
                "completed, asked past what the source held",
                facts(5, Some(&completed), None, None),
                Action::PastEnd,
            ),
            (
                "completed, a produced segment was deleted",
                facts(3, Some(&completed), None, None),
                Action::Start {
                    from: 3,
                    takeover: true,
                },
            ),
            (
                "fresh job",
                facts(0, None, None, None),
                Action::Start {
                    from: 0,
                    takeover: false,
                },
            ),
            (
                "fresh job, seek",
                facts(9, None, None, None),
                Action::Start {
                    from: 9,
                    takeover: false,
                },
            ),
            (
                "orphan, viewer at the edge",
                facts(5, Some(&running), None, None),
                Action::Start {
                    from: 5,
                    takeover: true,
                },
            ),
            (
                "orphan, viewer a bit ahead resumes at first missing",
                facts(7, Some(&running), None, None),
                Action::Start {
                    from: 5,
                    takeover: true,
                },
            ),
            (
                "orphan, viewer far ahead",
                facts(40, Some(&running), None, None),
                Action::Start {
                    from: 40,
                    takeover: true,
                },
            ),
            (
                "orphan, viewer behind (segment deleted)",
                facts(2, Some(&running), None, None),
                Action::Start {
                    from: 2,
                    takeover: true,
                },
            ),
            (
                "failed once is retried",
                facts(5, Some(&failed_once), None, None),
                Action::Start {
                    from: 5,
                    takeover: true,
                },
            ),
            (
                "poisoned is refused",
                facts(5, Some(&poisoned), None, None),
                Action::RefusePoisoned { attempts: 3 },
            ),
            (
                "poisoned is refused even while owned",
                facts(5, Some(&poisoned), Some("b"), None),
                Action::RefusePoisoned { attempts: 3 },
            ),
            (
                "mine locally, but the lease vanished (store lost its data)",
                facts(5, None, None, run),
                Action::Wait,
            ),
            (
                "mine, within reach",
                facts(7, Some(&running), Some("a"), run),
                Action::Wait,
            ),
            (
                "mine, far ahead",
                facts(30, Some(&running), Some("a"), run),
                Action::Restart { at: 30 },
            ),
            (
                "mine, run not yet registered",
                facts(3, Some(&running), Some("a"), None),
                Action::Wait,
            ),
            (
                "theirs, within reach",
                facts(6, Some(&running), Some("b"), None),
                Action::Wait,
            ),
            (
                "theirs, far ahead",
                facts(30, Some(&running), Some("b"), None),
                Action::AskOwner { at: 30 },
            ),
            (
                "theirs, no record yet",
                facts(30, None, Some("b"), None),
                Action::Wait,
            ),
        ];
        for (name, f, want) in cases {
            assert_eq!(plan(&f), want, "{name}");
        }
        let mut cooled = facts(5, Some(&poisoned), None, None);
        cooled.in_cooldown = false;
        assert_eq!(
            plan(&cooled),
            Action::Start {
                from: 5,
                takeover: true
            },
            "cool-down over"
        );
    }

    #[test]
    fn node_local_table() {
        let addressed = |state: JobState| JobRecord {
            owner_addr: Some("http://b:8096".into()),
            ..record(0, Some(4), state, 1)
        };
        let running = addressed(JobState::Running);
        let completed = addressed(JobState::Completed);
        let stopped = addressed(JobState::Stopped);
        let failed = addressed(JobState::Failed);
        let unaddressed = record(0, Some(4), JobState::Running, 1);
        let poisoned = record(0, Some(4), JobState::Failed, 3);
        let mine = JobRecord {
            owner_node: "a".into(),
            ..running.clone()
        };
        let local = |index, record, holder| {
            let mut f = facts(index, record, holder, None);
            f.node_local = true;
            f
        };
        let forwarded = |index, record, holder| {
            let mut f = local(index, record, holder);
            f.may_forward = false;
            f
        };
        let unreachable = |index, record, holder| {
            let mut f = local(index, record, holder);
            f.owner_unreachable = true;
            f
        };
        let stale_token = {
            let mut f = local(3, Some(&running), Some("b"));
            f.holder_token = Some(FencingToken(2));
            f
        };
        let fetch = Action::FetchFromOwner {
            node: "b".into(),
            address: "http://b:8096".into(),
        };
        let cases: Vec<(&str, Facts<'_>, Action)> = vec![
            (
                "live owner elsewhere: fetch from it, within reach or not",
                local(3, Some(&running), Some("b")),
                fetch.clone(),
            ),
            (
                "live owner elsewhere, far ahead: the owner decides about restarting",
                local(30, Some(&running), Some("b")),
                fetch.clone(),
            ),
            (
                "the lease's token is newer than the record's: the claim is on its way",
                stale_token,
                Action::Wait,
            ),
            (
                "another holder than the record's owner",
                local(3, Some(&running), Some("c")),
                Action::Wait,
            ),
            (
                "the record names me but somebody else holds the lease",
                local(3, Some(&mine), Some("c")),
                Action::Wait,
            ),
            (
                "a finished owner still has its files",
                local(2, Some(&completed), None),
                fetch.clone(),
            ),
            (
                "an idle-stopped owner still has its files",
                local(2, Some(&stopped), None),
                fetch.clone(),
            ),
            (
                "completed, past what the source held",
                local(5, Some(&completed), None),
                Action::PastEnd,
            ),
            (
                "orphan (lease expired): taken over here at the first missing segment",
                local(6, Some(&running), None),
                Action::Start {
                    from: 5,
                    takeover: true,
                },
            ),
            (
                "orphan, a segment only the dead owner had: made again from there",
                local(2, Some(&running), None),
                Action::Start {
                    from: 2,
                    takeover: true,
                },
            ),
            (
                "failed elsewhere, not poisoned: retried here",
                local(2, Some(&failed), None),
                Action::Start {
                    from: 2,
                    takeover: true,
                },
            ),
            (
                "finished owner unreachable: regenerated here",
                unreachable(2, Some(&completed), None),
                Action::Start {
                    from: 2,
                    takeover: true,
                },
            ),
            (
                "live owner unreachable: wait for its lease, never run twice",
                unreachable(2, Some(&running), Some("b")),
                Action::Wait,
            ),
            (
                "forwarded to a node that does not own the job",
                forwarded(3, Some(&running), Some("b")),
                Action::NotOwner { node: "b".into() },
            ),
            (
                "forwarded to the owner",
                forwarded(3, Some(&mine), Some("a")),
                Action::Wait,
            ),
            (
                "live owner without an address",
                local(3, Some(&unaddressed), Some("b")),
                Action::OwnerUnaddressable { node: "b".into() },
            ),
            (
                "no record, nobody holds it: start here",
                local(3, None, None),
                Action::Start {
                    from: 3,
                    takeover: false,
                },
            ),
            (
                "poisoned is refused before anything else",
                local(3, Some(&poisoned), None),
                Action::RefusePoisoned { attempts: 3 },
            ),
        ];
        for (name, f, want) in cases {
            assert_eq!(plan(&f), want, "{name}");
        }
    }

    #[test]
    fn far_viewers_take_turns() {
        let running = record(0, Some(4), JobState::Running, 1);
        let run = Some(LocalRun { start: 0, next: 5 });
        let secs = Duration::from_secs;
        let with = |run_age: u64, others_near: Option<u64>| {
            let mut f = facts(30, Some(&running), Some("a"), run);
            f.hold.run_age = secs(run_age);
            f.hold.others_near = others_near.map(secs);
            f
        };
        let restart = Action::Restart { at: 30 };
        let cases: Vec<(&str, Facts<'_>, Action)> = vec![
            (
                "a lone viewer's seek moves the run at once",
                with(1, None),
                restart.clone(),
            ),
            (
                "another viewer used the run just now",
                with(1, Some(0)),
                Action::Wait,
            ),
            ("still inside the slice", with(9, Some(2)), Action::Wait),
            (
                "the slice is over: the far viewer's turn",
                with(10, Some(0)),
                restart.clone(),
            ),
            (
                "the other viewer left (not seen within the window)",
                with(1, Some(10)),
                restart.clone(),
            ),
            (
                "the other viewer was last seen just inside the window",
                with(1, Some(9)),
                Action::Wait,
            ),
        ];
        for (name, f, want) in cases {
            assert_eq!(plan(&f), want, "{name}");
        }
        // A request within reach always waits for the run, held or not.
        let mut near = with(1, Some(0));
        near.index = 7;
        assert_eq!(plan(&near), Action::Wait);
        // The hold never turns a far request into anything but a wait or a restart.
        let mut theirs = with(1, Some(0));
        theirs.holder = Some("b");
        theirs.local_run = None;
        assert_eq!(plan(&theirs), Action::AskOwner { at: 30 });
    }
}
