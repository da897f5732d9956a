//! The worker dies with its server: end-of-pipe on stdin.
//!
//! # Why
//!
//! A server killed without a word (SIGKILL, OOM killer) leaves its workers running. Before this,
//! a worker noticed only when its next report hit a closed stdout, up to a segment's encode
//! time later (1.3–2.8 s measured), while the replica taking the job over was already
//! decoding the same source: two encoders on one CPU for that long.
//!
//! # Why end-of-pipe and not a parent-death signal
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not the process:
//! the supervisor spawns from whichever tokio thread polls it, and a blocking-pool thread
//! retires after 10 s idle, which would kill a healthy worker. It also has to be set in the
//! child, which races with a parent that dies before the call. The write end of the worker's
//! stdin, by contrast, is held by the supervisor's task until it has reaped the worker, and
//! the kernel closes it the instant the server process dies, whichever way it dies. So the
//! supervisor keeps stdin open after writing the spec, and the worker watches it on a thread
//! of its own: end of file means the server is gone, and the worker exits at once.
//!
//! The lifeline is switched on by [`LIFELINE_ENV`], which the supervisor sets: run by hand
//! (`ha-transcode-worker < spec.json`) the worker reads the spec to end of file as before.

use std::io::{BufRead, Read};

/// Environment variable the supervisor sets (to `stdin`) when it keeps the worker's stdin open
/// for as long as it lives: the spec is then one line, and end of file afterwards means the
/// server died.
pub const LIFELINE_ENV: &str = "HA_TRANSCODE_WORKER_LIFELINE";

/// Exit code of a worker whose server went away (also used when its reports have no reader).
pub const ORPHANED_EXIT: i32 = 3;

/// Whether this worker was started with a lifeline.
pub fn enabled() -> bool {
    std::env::var(LIFELINE_ENV).is_ok_and(|v| v == "stdin")
}

/// Reads the spec from stdin: one line with a lifeline (the pipe stays open), else all of it.
///
/// # Errors
/// The I/O error reading stdin.
pub fn read_spec(lifeline: bool) -> std::io::Result<String> {
    let mut input = String::new();
    let mut stdin = std::io::stdin().lock();
    if lifeline {
        stdin.read_line(&mut input)?;
    } else {
        stdin.read_to_string(&mut input)?;
    }
    Ok(input)
}

/// Watches stdin on a thread of its own and ends the process when it reaches end of file (or
/// fails): the server that held the other end is gone.
pub fn watch() {
    let spawned = std::thread::Builder::new()
        .name("lifeline".into())
        .spawn(|| {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 64];
            // Anything the supervisor writes later is ignored; only the end matters.
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
            std::process::exit(ORPHANED_EXIT);
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no lifeline thread: this worker outlives a killed server until its next report");
    }
}
