//! The checker: a pure function from a history to a verdict.
//!
//! # What is checked, and why only "sure" orders
//!
//! Every event has a wall-clock interval inside which its effect on the store happened. Two
//! events are ordered only when one *ended* before the other *started*; overlapping events may
//! have taken effect in either order, so they are never held against the store. With that:
//!
//! 1. **Token order** — if acquisition A of a key ended before acquisition B of it started,
//!    `A.token < B.token`. This also holds across a restart that lost the store's data: tokens
//!    follow the server clock.
//! 2. **No stale write** — if accepted write A of a key ended before accepted write B of it
//!    started, `B.token >= A.token`: once a token is accepted, older ones stay out.
//! 3. **No overlapping tenures** — a holder's tenure is guaranteed from the end of its
//!    acquisition to the *local* deadline (start of its last successful acquire/renew + TTL),
//!    cut short by any release attempt. Another acquisition of the key lying entirely inside
//!    that window means two holders at once. Only holders that both got writes accepted count
//!    (the harm is two writers), and `slack_us` absorbs clock granularity.
//! 4. **No token reuse** — two successful acquisitions of one key never share a token.
//!
//! A *take-over* (`LeaseManager::take_over`, after the holder's liveness record lapsed) is an
//! acquisition for (1), (2) and (4). For (3) it ends the tenure it replaced where it begins:
//! cutting a live tenure short is what it is for, and what keeps it safe is that the old
//! holder's writes are fenced from then on — which (2) checks.
//!
//! A store that lost its data (Redis without persistence, killed) cannot remember leases or
//! job records; the contract only promises that tokens keep growing. So violations of (2) and
//! (3) whose window contains a data-losing restart are reported apart as *excused*, never
//! silently dropped; (1) and (4) are never excused.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use super::history::{Entry, Event, Fault, Op, Outcome};

/// How many violations of each property are kept with their events (all are counted).
const KEEP: usize = 20;

/// Knobs of the checker.
#[derive(Debug, Clone, Copy)]
pub struct CheckConfig {
    /// An acquisition must end this long before the tenure's deadline to count as overlap.
    pub slack_us: u64,
    /// After a paused process resumes, its writes with pre-pause tokens in this window count
    /// as stale attempts.
    pub after_pause_us: u64,
}

impl Default for CheckConfig {
    fn default() -> Self {
        Self {
            slack_us: 2_000,
            after_pause_us: 2_000_000,
        }
    }
}

/// The four properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Property {
    /// (1) tokens strictly increase across successive acquisitions of a key.
    TokenOrder,
    /// (2) no accepted write with a token older than one already accepted.
    StaleWrite,
    /// (3) no two writers with overlapping guaranteed tenures.
    OverlappingTenures,
    /// (4) no token issued twice for a key.
    TokenReuse,
}

/// One broken property, with the events that show it.
#[derive(Debug, Clone)]
pub struct Violation {
    /// Which property.
    pub property: Property,
    /// The key.
    pub key: String,
    /// The events, earlier first.
    pub events: Vec<Event>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:?} on key {}:", self.property, self.key)?;
        for e in &self.events {
            writeln!(
                f,
                "  [{} .. {}] {} {} {:?} token={:?} ttl_us={} -> {:?}",
                e.start_us, e.end_us, e.process, e.holder, e.op, e.token, e.ttl_us, e.outcome
            )?;
        }
        Ok(())
    }
}

/// What one fault did to the run.
#[derive(Debug, Clone)]
pub struct FaultStat {
    /// The fault.
    pub fault: Fault,
    /// How long it lasted (kill to ready again, freeze to thaw).
    pub took_us: u64,
    /// Operations that failed with an error (unavailable, timeout) overlapping it.
    pub errors: usize,
    /// From its end to the end of the first successful acquisition or accepted write that
    /// started after it.
    pub recovered_us: Option<u64>,
    /// For every key acquired both before and after: was the first token after larger than
    /// every token before? (`None` when no key was.)
    pub tokens_grew: Option<bool>,
}

impl fmt::Display for FaultStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} for {} ms: {} errors, first success {} ms after, tokens grew: {:?}",
            self.fault,
            self.took_us / 1000,
            self.errors,
            self.recovered_us
                .map_or("-".to_owned(), |us| (us / 1000).to_string()),
            self.tokens_grew,
        )
    }
}

/// The verdict and the figures of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Operations recorded.
    pub ops: usize,
    /// Successful acquisitions (take-overs included).
    pub acquired: usize,
    /// Of those, take-overs of a tenure whose holder's liveness record had lapsed.
    pub taken_over: usize,
    /// Accepted writes.
    pub accepted_writes: usize,
    /// Writes rejected as fenced.
    pub fenced_writes: usize,
    /// Writes that found no record.
    pub missing_writes: usize,
    /// Operations that failed with another error (store down, timeout...).
    pub errors: usize,
    /// Writes a paused process made after it resumed with a token it had acquired before it
    /// was frozen: (attempts, fenced, accepted). Accepted ones are fine only if nobody took the
    /// key over meanwhile, which properties (2) and (3) check.
    pub after_pause: (usize, usize, usize),
    /// Faults by kind: restarts, pauses, connection kills.
    pub faults: (usize, usize, usize),
    /// How many violations per property (excused ones not included).
    pub counts: BTreeMap<Property, usize>,
    /// Violations, at most [`KEEP`] per property.
    pub violations: Vec<Violation>,
    /// Violations explained by a data-losing restart.
    pub excused: Vec<Violation>,
    /// How many excused violations in all.
    pub excused_count: usize,
    /// One line per fault, in order.
    pub fault_stats: Vec<FaultStat>,
}

impl Report {
    /// True when no property was broken (excused violations aside).
    pub fn ok(&self) -> bool {
        self.counts.values().all(|&n| n == 0)
    }

    /// The one-line summary, e.g. `lease safety [redis]: 12840 ops, ...: OK`.
    pub fn summary(&self, backend: &str) -> String {
        let (restarts, pauses, kills) = self.faults;
        let verdict = if self.ok() {
            "OK".to_owned()
        } else {
            format!("VIOLATED {:?}", self.counts)
        };
        format!(
            "lease safety [{backend}]: {} ops, {} acquisitions ({} take-overs), {} accepted writes, {} fenced, \
             {} missing, {} errors, {} faults ({restarts} restarts, {pauses} pauses, {kills} conn \
             kills), {} stale-token writes after a pause ({} fenced, {} accepted), {} excused by data \
             loss: {verdict}",
            self.ops,
            self.acquired,
            self.taken_over,
            self.accepted_writes,
            self.fenced_writes,
            self.missing_writes,
            self.errors,
            restarts + pauses + kills,
            self.after_pause.0,
            self.after_pause.1,
            self.after_pause.2,
            self.excused_count,
        )
    }

    fn add(&mut self, v: Violation, excused: bool) {
        if excused {
            self.excused_count += 1;
            if self.excused.len() < KEEP {
                self.excused.push(v);
            }
            return;
        }
        let n = self.counts.entry(v.property).or_default();
        *n += 1;
        if *n <= KEEP {
            self.violations.push(v);
        }
    }
}

/// Checks `entries` (events of every process plus the faults) against the four properties.
pub fn check(entries: &[Entry], config: &CheckConfig) -> Report {
    let mut report = Report::default();
    let mut events: Vec<&Event> = Vec::new();
    let mut losses: Vec<(u64, u64)> = Vec::new();
    let mut pauses: Vec<(&str, u64, u64)> = Vec::new();
    for entry in entries {
        match entry {
            Entry::Event(e) => events.push(e),
            Entry::Fault {
                fault,
                start_us,
                end_us,
            } => match fault {
                Fault::Restart { data_lost } => {
                    report.faults.0 += 1;
                    if *data_lost {
                        losses.push((*start_us, *end_us));
                    }
                }
                Fault::Pause { process } => {
                    report.faults.1 += 1;
                    pauses.push((process, *start_us, *end_us));
                }
                // A frozen store counts with the connection faults: every client hung.
                Fault::ConnKill | Fault::Freeze => report.faults.2 += 1,
            },
        }
    }
    report.ops = events.len();
    for e in &events {
        match (&e.op, &e.outcome) {
            (Op::Acquire, Outcome::Ok) => report.acquired += 1,
            (Op::TakeOver, Outcome::Ok) => {
                report.acquired += 1;
                report.taken_over += 1;
            }
            (Op::Write, Outcome::Ok) => report.accepted_writes += 1,
            (Op::Write, Outcome::Fenced { .. }) => report.fenced_writes += 1,
            (Op::Write, Outcome::Missing) => report.missing_writes += 1,
            (_, Outcome::Error { .. }) => report.errors += 1,
            _ => {}
        }
    }
    for &(process, frozen, resumed) in &pauses {
        // Tokens the process held (acquired) before it was frozen.
        let held: HashSet<(&str, u64)> = events
            .iter()
            .filter(|e| {
                e.process == process
                    && matches!(e.op, Op::Acquire | Op::TakeOver)
                    && e.end_us < frozen
            })
            .filter_map(|e| Some((e.key.as_str(), e.token?)))
            .collect();
        for e in &events {
            let stale = e.token.is_some_and(|t| held.contains(&(e.key.as_str(), t)));
            if e.op == Op::Write
                && e.process == process
                && stale
                && e.start_us >= resumed
                && e.start_us < resumed + config.after_pause_us
            {
                report.after_pause.0 += 1;
                match e.outcome {
                    Outcome::Fenced { .. } => report.after_pause.1 += 1,
                    Outcome::Ok => report.after_pause.2 += 1,
                    _ => {}
                }
            }
        }
    }
    for entry in entries {
        if let Entry::Fault {
            fault,
            start_us,
            end_us,
        } = entry
        {
            report
                .fault_stats
                .push(fault_stat(fault, *start_us, *end_us, &events));
        }
    }
    // A data-losing restart could explain a violation whose window [from, to] it touches.
    let lost_between = |from: u64, to: u64| losses.iter().any(|&(s, e)| e > from && s < to);

    let mut by_key: HashMap<&str, Vec<&Event>> = HashMap::new();
    for e in &events {
        by_key.entry(e.key.as_str()).or_default().push(e);
    }
    let mut keys: Vec<&str> = by_key.keys().copied().collect();
    keys.sort_unstable();
    for key in keys {
        let evs = &by_key[key];
        let acquires: Vec<&Event> = evs
            .iter()
            .copied()
            .filter(|e| {
                matches!(e.op, Op::Acquire | Op::TakeOver)
                    && e.outcome == Outcome::Ok
                    && e.token.is_some()
            })
            .collect();
        let writes: Vec<&Event> = evs
            .iter()
            .copied()
            .filter(|e| e.op == Op::Write && e.outcome == Outcome::Ok && e.token.is_some())
            .collect();
        check_reuse(key, &acquires, &mut report);
        check_order(
            key,
            &acquires,
            Property::TokenOrder,
            &|_, _| false,
            &mut report,
        );
        check_order(
            key,
            &writes,
            Property::StaleWrite,
            &|a, b| lost_between(a.start_us, b.end_us),
            &mut report,
        );
        check_tenures(
            key,
            evs,
            &acquires,
            &writes,
            config,
            &lost_between,
            &mut report,
        );
    }
    report
}

fn fault_stat(fault: &Fault, start: u64, end: u64, events: &[&Event]) -> FaultStat {
    let errors = events
        .iter()
        .filter(|e| matches!(e.outcome, Outcome::Error { .. }))
        .filter(|e| e.end_us >= start && e.start_us <= end)
        .count();
    let success = |e: &&&Event| {
        e.outcome == Outcome::Ok
            && matches!(e.op, Op::Acquire | Op::TakeOver | Op::Write)
            && e.start_us >= end
    };
    let recovered_us = events.iter().filter(success).map(|e| e.end_us - end).min();
    let mut before: HashMap<&str, u64> = HashMap::new();
    let mut after: HashMap<&str, u64> = HashMap::new();
    for e in events {
        let (Op::Acquire | Op::TakeOver, Outcome::Ok, Some(t)) = (e.op, &e.outcome, e.token) else {
            continue;
        };
        if e.end_us < start {
            let b = before.entry(&e.key).or_default();
            *b = (*b).max(t);
        } else if e.start_us > end {
            let a = after.entry(&e.key).or_insert(u64::MAX);
            *a = (*a).min(t);
        }
    }
    let compared: Vec<bool> = before
        .iter()
        .filter_map(|(k, b)| after.get(k).map(|a| a > b))
        .collect();
    FaultStat {
        fault: fault.clone(),
        took_us: end.saturating_sub(start),
        errors,
        recovered_us,
        tokens_grew: (!compared.is_empty()).then(|| compared.iter().all(|&g| g)),
    }
}

fn token(e: &Event) -> u64 {
    e.token.expect("filtered on Some")
}

/// (4): no two successful acquisitions share a token.
fn check_reuse(key: &str, acquires: &[&Event], report: &mut Report) {
    let mut seen: HashMap<u64, &Event> = HashMap::new();
    for a in acquires {
        if let Some(first) = seen.insert(token(a), a) {
            report.add(
                Violation {
                    property: Property::TokenReuse,
                    key: key.to_owned(),
                    events: vec![first.clone(), (*a).clone()],
                },
                false,
            );
        }
    }
}

/// (1) and (2): for `a` ending before `b` starts, `b`'s token must be larger (acquisitions)
/// or not smaller (writes). `excuse(a, b)` says whether a data loss explains the pair.
fn check_order(
    key: &str,
    list: &[&Event],
    property: Property,
    excuse: &dyn Fn(&Event, &Event) -> bool,
    report: &mut Report,
) {
    let strict = property == Property::TokenOrder;
    let broken = |earlier: u64, later: u64| {
        if strict {
            earlier >= later
        } else {
            earlier > later
        }
    };
    let mut by_end: Vec<&Event> = list.to_vec();
    by_end.sort_by_key(|e| e.end_us);
    // prefix_max[i] = max token among by_end[..=i].
    let mut prefix_max = Vec::with_capacity(by_end.len());
    let mut max = 0;
    for e in &by_end {
        max = max.max(token(e));
        prefix_max.push(max);
    }
    for b in list {
        let before = by_end.partition_point(|e| e.end_us < b.start_us);
        if before == 0 || !broken(prefix_max[before - 1], token(b)) {
            continue;
        }
        // Rare: find every earlier event that breaks the property with `b`.
        let culprits: Vec<&Event> = by_end[..before]
            .iter()
            .copied()
            .filter(|a| broken(token(a), token(b)))
            .collect();
        let (a, excused) = match culprits.iter().find(|a| !excuse(a, b)) {
            Some(a) => (*a, false),
            None => (culprits[0], true),
        };
        report.add(
            Violation {
                property,
                key: key.to_owned(),
                events: vec![a.clone(), (*b).clone()],
            },
            excused,
        );
    }
}

/// (3): no acquisition by another writer inside a writer's guaranteed tenure.
fn check_tenures(
    key: &str,
    evs: &[&Event],
    acquires: &[&Event],
    writes: &[&Event],
    config: &CheckConfig,
    lost_between: &dyn Fn(u64, u64) -> bool,
    report: &mut Report,
) {
    let writers: HashSet<u64> = writes.iter().map(|w| token(w)).collect();
    // Per (holder, token): latest guaranteed deadline and earliest release attempt.
    let mut deadline: HashMap<(&str, u64), u64> = HashMap::new();
    let mut released: HashMap<(&str, u64), u64> = HashMap::new();
    // Per token: when the earliest take-over of that tenure began (whatever it answered).
    let mut taken_over: HashMap<u64, u64> = HashMap::new();
    for e in evs {
        if let (Op::TakeOver, Some(old)) = (e.op, e.replaced) {
            let t = taken_over.entry(old).or_insert(u64::MAX);
            *t = (*t).min(e.start_us);
        }
        let Some(t) = e.token else { continue };
        let id = (e.holder.as_str(), t);
        match (e.op, &e.outcome) {
            (Op::Acquire | Op::TakeOver | Op::Renew, Outcome::Ok) => {
                let d = deadline.entry(id).or_default();
                *d = (*d).max(e.start_us + e.ttl_us);
            }
            // Any release attempt may have taken effect, whatever it answered.
            (Op::Release, _) => {
                let r = released.entry(id).or_insert(u64::MAX);
                *r = (*r).min(e.start_us);
            }
            _ => {}
        }
    }
    let mut by_start: Vec<&Event> = acquires
        .iter()
        .copied()
        .filter(|a| writers.contains(&token(a)))
        .collect();
    by_start.sort_by_key(|e| e.start_us);
    for a in &by_start {
        let id = (a.holder.as_str(), token(a));
        let from = a.end_us;
        let until = deadline[&id]
            .min(released.get(&id).copied().unwrap_or(u64::MAX))
            .min(taken_over.get(&token(a)).copied().unwrap_or(u64::MAX));
        let first = by_start.partition_point(|b| b.start_us <= from);
        for b in &by_start[first..] {
            if b.start_us >= until {
                break;
            }
            if token(b) != token(a) && b.end_us + config.slack_us < until {
                report.add(
                    Violation {
                        property: Property::OverlappingTenures,
                        key: key.to_owned(),
                        events: vec![(*a).clone(), (*b).clone()],
                    },
                    lost_between(a.start_us, b.end_us),
                );
            }
        }
    }
}
