//! The lease safety harness (issue 8): contenders, fault injection, a history of every
//! operation, and a checker that judges the history. Used by `tests/lease_safety*.rs`.
//!
//! | module | what |
//! |---|---|
//! | [`history`] | events with wall-clock intervals; in memory or JSON lines per process |
//! | [`checker`] | the four properties, a pure function over a history (`checker_tests.rs`) |
//! | [`contender`] | careless holders: acquire, claim, write, renew, release or walk away |
//! | [`backends`] | which store, opened afresh by every process |
//! | [`broken`] | deliberately broken stores the checker must reject |
//! | [`child`] | contender processes: the test binary re-executing itself |
//! | [`faults`] | store restart, SIGSTOP/SIGCONT of a contender, dropped connections |
//! | [`driver`] | one run: contenders + fault rotation + collection + check |
//! | [`recorded`] | the same history from reference-server processes (a store layer) |

pub mod backends;
pub mod broken;
pub mod checker;
pub mod child;
pub mod contender;
pub mod driver;
pub mod faults;
pub mod history;
pub mod recorded;

#[cfg(test)]
mod checker_tests;
