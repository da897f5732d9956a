//! What to do about a segment request: the whole takeover protocol as one pure function.
//!
//! # Why pure
//!
//! The decision depends on the job record, the lease, what this node runs and where the viewer
//! is; getting it wrong means either two replicas transcoding the same thing or a viewer stuck
//! on a dead owner. Keeping it free of I/O lets the table of cases below be tested exhaustively,
//! and keeps the async code in the manager to "gather facts, call [`plan`], act".

use ha_core::{JobRecord, JobState};

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
    /// This node owns the job but its run will not reach the segment soon: restart it there.
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
    RefusePoisoned,
    /// The job completed without producing this segment: the source ends before it (a
    /// container duration longer than the video, e.g. an audio tail).
    PastEnd,
}

/// Decides what to do for a segment that does not exist yet.
pub fn plan(f: &Facts<'_>) -> Action {
    if let Some(r) = f.record {
        if r.state == JobState::Failed && r.attempts >= f.max_attempts && f.in_cooldown {
            return Action::RefusePoisoned;
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
                Action::RefusePoisoned,
            ),
            (
                "poisoned is refused even while owned",
                facts(5, Some(&poisoned), Some("b"), None),
                Action::RefusePoisoned,
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
}
