//! # ha-test-support: what media-ha's integration tests and benches share
//!
//! The integration tests of the workspace live in this package (`tests/*.rs`, one test binary
//! per concern); this library is what they and the comparison harness in `benches/` share, so
//! nothing is pulled in with `#[path]` and nothing is compiled twice.
//!
//! | module | what |
//! |---|---|
//! | [`in_process`] | reference servers started in-process on free ports over a tiny generated library, and a small Jellyfin-style client |
//! | [`cluster`] | reference-server *processes* (replicas) on shared stores, players, kills and rolling restarts, frame-exact stitching |
//! | [`browser`] | hls.js in Debian chromium through HAProxy in front of replica processes |
//! | [`local_cluster`] | `deploy/local-cluster/cluster.sh` driven from a test: the whole deployment on one machine, its failovers, HAProxy's answers, the replicas' lease history |
//! | [`load`] | a generated library, wrk runs and simulated HLS viewers |
//! | [`safety`] | the lease safety harness: contenders, faults, histories and the checker |
//! | [`pg_bench`] | the PostgreSQL store the criterion benches run against |
//! | [`web_client`] | the official jellyfin-web client in Debian's chromium (playwright-core) |
//!
//! Backends come from `ha-testkit` (real Redis and PostgreSQL, never mocks).

pub mod browser;
pub mod cluster;
pub mod in_process;
pub mod load;
pub mod local_cluster;
pub mod pg_bench;
pub mod safety;
pub mod web_client;

/// A scratch directory for generated media that outlives one test: `<target>/tmp`, beside the
/// `<target>/<profile>/deps/` directory the running test binary lives in (what cargo's
/// `CARGO_TARGET_TMPDIR` names for integration tests; a library cannot read that at compile
/// time). Created on first use.
pub fn target_tmpdir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .ancestors()
        .nth(3)
        .expect("the test or bench binary lives in <target>/<profile>/deps")
        .join("tmp");
    std::fs::create_dir_all(&dir).expect("create <target>/tmp");
    dir
}
