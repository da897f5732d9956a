//! The lease safety harness (issue 8): contenders, fault injection, a history of every
//! operation, and a checker that judges the history. Only `tests/lease_safety.rs` uses it.
//!
//! | module | what |
//! |---|---|
//! | [`history`] | events with wall-clock intervals; in memory or JSON lines per process |
//! | [`checker`] | the four properties, a pure function over a history |

#![allow(dead_code)]

pub mod checker;
#[cfg(test)]
mod checker_tests;
pub mod history;
