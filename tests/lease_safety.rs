//! Lease safety under faults: many contenders, several processes, one checker.
//!
//! See `tests/support/safety/mod.rs` and `docs/RELIABILITY.md`.

#[path = "support/safety/mod.rs"]
mod safety;
