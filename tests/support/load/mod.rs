//! The load test's pieces (`tests/server_load.rs`): the library it serves, the HLS viewers it
//! simulates, how long each phase runs (short in the test command, long with `HA_SOAK=1`), and
//! the wrk runner. The replica processes come from `tests/support/cluster/`.
//!
//! `library.rs` and `wrk.rs` are also included by the bench harness (`benches/harness/server/`),
//! so the figures there and the test's are taken the same way.

pub mod library;
pub mod plan;
pub mod viewers;
pub mod wrk;
