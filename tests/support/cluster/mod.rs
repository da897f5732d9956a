//! Reference-server replicas as separate OS processes, and a client that keeps playing through
//! their exits and restarts.
//!
//! Shared by `tests/server_failover.rs` (which proves the stream survives) and the bench
//! harness's failover figures (`benches/harness/failover.rs`, which times the stall in release
//! mode), so that the stall the harness reports is the stall of the very scenario the test
//! checks frame by frame. Both use it from this crate; the scenarios panic on a broken
//! stream (test code: a failed check is a failed run, and the harness runs each one in its own
//! task so a failure is reported, not fatal).
//!
//! | module | what |
//! |---|---|
//! | [`binary`] | where the reference-server binary is (next to the running test or bench) |
//! | [`media`] | the clip, generated with ffmpeg lavfi |
//! | [`replica`] | one replica process: start, SIGKILL, SIGTERM, restart with the same flags |
//! | [`setup`] | what the replicas share, and starting N of them |
//! | [`client`] | a Jellyfin-style HTTP client |
//! | [`balancer`] | round-robin over the replicas that are up, as a plain load balancer |
//! | [`playback`] | sign in, PlaybackInfo, master and media playlists |
//! | [`job`] | the job record and lease, read straight from Redis |
//! | [`stitch`] | the fetched segments decode with every frame once |
//! | [`timeline`] | when each segment arrived: gaps and stalls |
//! | [`viewer`] | fetches the segments in order through the balancer |
//! | [`owner_exit`] | scenario: the job owner is SIGKILLed or SIGTERMed mid-stream |
//! | [`rolling`] | scenario: every replica SIGTERMed and restarted in turn mid-stream |

pub mod balancer;
pub mod binary;
pub mod client;
pub mod job;
pub mod media;
pub mod owner_exit;
pub mod playback;
pub mod replica;
pub mod rolling;
pub mod setup;
pub mod stitch;
pub mod timeline;
pub mod viewer;

use std::time::Duration;

/// The administrator every replica is started with.
pub const ADMIN: &str = "admin";
/// Their password.
pub const ADMIN_PW: &str = "failover-password";
/// Generous bound for anything that should take seconds (start-up, scan, one segment).
pub const PATIENCE: Duration = Duration::from_secs(60);
/// The job lease TTL the reference server runs with: `ManagerConfig`'s default, which the
/// server does not override. The longest a SIGKILL should stall a viewer, plus the time to
/// produce one segment.
pub fn lease_ttl() -> Duration {
    media_ha::transcode::manager::ManagerConfig::new("any").lease_ttl()
}
/// The reference server's HLS segment length (`examples/reference-server/src/hls.rs`).
pub const SEGMENT_SECS: u32 = 3;
