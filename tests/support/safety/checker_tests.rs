//! The checker on hand-made histories: a good one passes, each kind of bad one is caught, and
//! a data-losing restart excuses only what it can explain. Included by `tests/lease_safety.rs`
//! only, so these run once.

use crate::safety::checker::{check, CheckConfig, Property, Report};
use crate::safety::history::{read_file, Entry, Event, Fault, Op, Outcome, Recorder};

const TTL: u64 = 1_000;

fn ev(holder: &str, op: Op, token: u64, outcome: Outcome, start: u64, end: u64) -> Entry {
    Entry::Event(Event {
        process: holder.split('/').next().unwrap().to_owned(),
        holder: holder.to_owned(),
        key: "k".to_owned(),
        op,
        token: Some(token),
        replaced: None,
        ttl_us: TTL,
        outcome,
        start_us: start,
        end_us: end,
    })
}

fn acquire(holder: &str, token: u64, start: u64, end: u64) -> Entry {
    ev(holder, Op::Acquire, token, Outcome::Ok, start, end)
}

fn write(holder: &str, token: u64, start: u64, end: u64) -> Entry {
    ev(holder, Op::Write, token, Outcome::Ok, start, end)
}

fn fenced(holder: &str, token: u64, current: u64, start: u64, end: u64) -> Entry {
    ev(
        holder,
        Op::Write,
        token,
        Outcome::Fenced { current },
        start,
        end,
    )
}

fn restart(data_lost: bool, start: u64, end: u64) -> Entry {
    Entry::Fault {
        fault: Fault::Restart { data_lost },
        start_us: start,
        end_us: end,
    }
}

fn run(entries: &[Entry]) -> Report {
    // Times here are tiny (µs), so the slack must be too.
    let config = CheckConfig {
        slack_us: 5,
        ..CheckConfig::default()
    };
    check(entries, &config)
}

fn only(report: &Report, property: Property) {
    assert_eq!(
        report.counts.keys().copied().collect::<Vec<_>>(),
        vec![property],
        "{:?}",
        report.violations
    );
}

/// a holds 10, expires; b takes over with 20; a wakes up and is fenced.
fn good_history() -> Vec<Entry> {
    vec![
        acquire("p/a", 10, 0, 10),
        write("p/a", 10, 20, 30),
        ev("p/a", Op::Renew, 10, Outcome::Ok, 300, 310),
        write("p/a", 10, 400, 410),
        // a's deadline is 300 + 1000 = 1300; b acquires after it.
        ev("p/b", Op::Acquire, 0, Outcome::Denied, 500, 510),
        acquire("p/b", 20, 1_400, 1_410),
        write("p/b", 20, 1_420, 1_430),
        fenced("p/a", 10, 20, 1_500, 1_510),
        ev("p/b", Op::Release, 20, Outcome::Ok, 1_600, 1_610),
        // c acquires right after the release, inside b's TTL: fine, b released.
        acquire("p/c", 30, 1_620, 1_630),
        write("p/c", 30, 1_640, 1_650),
        ev("p/a", Op::Renew, 10, Outcome::Lost, 1_700, 1_710),
    ]
}

#[test]
fn a_good_history_passes() {
    let report = run(&good_history());
    assert!(report.ok(), "{:?}", report.violations);
    assert_eq!(report.ops, 12);
    assert_eq!(
        (
            report.acquired,
            report.accepted_writes,
            report.fenced_writes
        ),
        (3, 4, 1)
    );
    assert!(
        report.summary("test").ends_with(": OK"),
        "{}",
        report.summary("test")
    );
}

#[test]
fn concurrent_operations_may_land_in_either_order() {
    // Overlapping intervals: the store may have ordered them either way.
    let h = vec![
        acquire("p/a", 20, 0, 100),
        acquire("p/b", 10, 50, 60),
        write("p/b", 10, 70, 80),
        write("p/a", 20, 75, 200),
    ];
    let report = run(&h);
    // b's acquisition happened inside a's? a's acquire ended at 100, after b's started: no.
    assert!(report.ok(), "{:?}", report.violations);
}

#[test]
fn tokens_going_backwards_are_caught() {
    let mut h = good_history();
    h.push(acquire("p/d", 25, 5_000, 5_010));
    let report = run(&h);
    only(&report, Property::TokenOrder);
}

#[test]
fn a_reused_token_is_caught() {
    let mut h = good_history();
    h.push(acquire("p/d", 30, 5_000, 5_010));
    let report = run(&h);
    assert_eq!(report.counts.get(&Property::TokenReuse), Some(&1));
    // Equal tokens in order are also not increasing.
    assert_eq!(report.counts.get(&Property::TokenOrder), Some(&1));
}

#[test]
fn an_accepted_stale_write_is_caught() {
    let mut h = good_history();
    // a's write with 10 accepted after b's 20 and c's 30 were.
    h.push(write("p/a", 10, 2_000, 2_010));
    let report = run(&h);
    only(&report, Property::StaleWrite);
    assert_eq!(report.counts[&Property::StaleWrite], 1);
    let v = &report.violations[0];
    assert_eq!(v.events[1].token, Some(10));
    assert!(v.to_string().contains("StaleWrite on key k"));
}

#[test]
fn an_acquisition_inside_a_live_tenure_is_caught() {
    let h = vec![
        acquire("p/a", 10, 0, 10),
        write("p/a", 10, 20, 30),
        // a's lease is good until 1000; b gets the key at 500.
        acquire("p/b", 20, 500, 510),
        write("p/b", 20, 520, 530),
        fenced("p/a", 10, 20, 600, 610),
    ];
    let report = run(&h);
    only(&report, Property::OverlappingTenures);
}

#[test]
fn renewals_extend_the_tenure_and_releases_end_it() {
    let base = vec![
        acquire("p/a", 10, 0, 10),
        write("p/a", 10, 20, 30),
        ev("p/a", Op::Renew, 10, Outcome::Ok, 800, 810),
        acquire("p/b", 20, 1_500, 1_510),
        write("p/b", 20, 1_520, 1_530),
    ];
    // Renewed at 800: good until 1800, so b at 1500 overlaps.
    only(&run(&base), Property::OverlappingTenures);
    // A release attempt (even one that errored) at 1400 ends the tenure.
    let mut released = base.clone();
    released.push(ev(
        "p/a",
        Op::Release,
        10,
        Outcome::Error {
            message: "timeout".into(),
        },
        1_400,
        3_000,
    ));
    assert!(run(&released).ok());
    // A failed renew does not extend it.
    let mut lost = base;
    if let Entry::Event(e) = &mut lost[2] {
        e.outcome = Outcome::Lost;
    }
    assert!(run(&lost).ok());
}

#[test]
fn overlap_without_writes_of_both_holders_is_not_a_violation() {
    let h = vec![
        acquire("p/a", 10, 0, 10),
        write("p/a", 10, 20, 30),
        acquire("p/b", 20, 500, 510),
        fenced("p/b", 20, 10, 520, 530),
    ];
    assert!(run(&h).ok());
}

#[test]
fn a_data_losing_restart_excuses_overlap_and_stale_writes_but_not_token_order() {
    let h = vec![
        acquire("p/a", 10, 0, 10),
        write("p/a", 10, 20, 30),
        restart(true, 100, 200),
        acquire("p/b", 20, 300, 310),
        write("p/b", 20, 320, 330),
        // The record was lost: a claims again with its old token and is accepted.
        write("p/a", 10, 400, 410),
    ];
    let report = run(&h);
    // b's write at 320 then a's at 400: stale, but the loss at 100..200 is not between them.
    only(&report, Property::StaleWrite);
    assert_eq!(report.excused_count, 1, "the overlap is excused");

    let mut h2 = h.clone();
    h2.pop();
    h2.push(acquire("p/c", 5, 500, 510));
    let report = run(&h2);
    only(&report, Property::TokenOrder);
    assert_eq!(report.excused_count, 1);
    // c's 5 after the restart is below a's 10 from before it.
    assert_eq!(report.fault_stats[0].tokens_grew, Some(false));

    // A restart that kept the data excuses nothing.
    let mut h3 = h;
    h3[2] = restart(false, 100, 200);
    h3.pop();
    let report = run(&h3);
    only(&report, Property::OverlappingTenures);
    assert_eq!(report.excused_count, 0);
}

#[test]
fn stale_write_across_a_data_loss_is_excused() {
    let h = vec![
        acquire("p/a", 10, 0, 10),
        acquire("p/b", 20, 2_000, 2_010),
        write("p/b", 20, 2_020, 2_030),
        restart(true, 2_100, 2_200),
        write("p/a", 10, 2_300, 2_310),
    ];
    let report = run(&h);
    assert!(report.ok(), "{:?}", report.violations);
    assert_eq!(report.excused_count, 1);
    assert_eq!(report.excused[0].events[1].holder, "p/a");
    let stat = &report.fault_stats[0];
    assert_eq!(
        (stat.took_us, stat.errors, stat.recovered_us),
        (100, 0, Some(110))
    );
    assert_eq!(stat.tokens_grew, None, "no key acquired after the restart");
}

#[test]
fn writes_right_after_a_pause_are_counted() {
    let mut h = good_history();
    h.push(Entry::Fault {
        fault: Fault::Pause {
            process: "p".into(),
        },
        start_us: 600,
        end_us: 1_450,
    });
    let report = run(&h);
    assert!(report.ok());
    assert_eq!(report.faults, (0, 1, 0));
    // Writes of process p after 1450 with a token acquired before 600: a's fenced one at 1500
    // (c's write at 1640 carries a token acquired after the pause).
    assert_eq!(report.after_pause, (1, 1, 0));
}

#[test]
fn histories_round_trip_through_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.jsonl");
    let recorder = Recorder::to_file(&path).unwrap();
    for e in good_history() {
        recorder.record(e);
    }
    recorder.record(restart(true, 1, 2));
    let back = read_file(&path).unwrap();
    let mut expected = good_history();
    expected.push(restart(true, 1, 2));
    assert_eq!(back, expected);
}

fn take_over(holder: &str, token: u64, replaced: u64, start: u64, end: u64) -> Entry {
    let Entry::Event(e) = ev(holder, Op::TakeOver, token, Outcome::Ok, start, end) else {
        unreachable!()
    };
    Entry::Event(Event {
        replaced: Some(replaced),
        ..e
    })
}

/// b takes a's live tenure over (a's liveness lapsed: it was paused); a wakes up inside its
/// TTL and is fenced. Not an overlap: the take-over ended a's tenure.
#[test]
fn a_take_over_ends_the_tenure_it_replaced() {
    let h = vec![
        acquire("p/a", 10, 0, 10),
        write("p/a", 10, 20, 30),
        take_over("q/b", 20, 10, 200, 210),
        write("q/b", 20, 220, 230),
        fenced("p/a", 10, 20, 300, 310),
    ];
    let report = run(&h);
    assert!(report.ok(), "{:?}", report.violations);
    assert_eq!(report.acquired, 2);
    // The same acquisition without the take-over is two writers at once.
    let plain = vec![
        acquire("p/a", 10, 0, 10),
        write("p/a", 10, 20, 30),
        acquire("q/b", 20, 200, 210),
        write("q/b", 20, 220, 230),
    ];
    only(&run(&plain), Property::OverlappingTenures);
}

/// A store whose take-over does not fence the old holder: a's write lands after b's.
#[test]
fn a_write_accepted_from_a_taken_over_tenure_is_stale() {
    let h = vec![
        acquire("p/a", 10, 0, 10),
        take_over("q/b", 20, 10, 200, 210),
        write("q/b", 20, 220, 230),
        write("p/a", 10, 300, 310),
    ];
    only(&run(&h), Property::StaleWrite);
}
