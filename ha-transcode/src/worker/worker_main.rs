//! The worker's entry point: read a [`JobSpec`] from stdin, run it, report on stdout; exit
//! at once when the server is gone ([`lifeline`](super::lifeline)).
//!
//! QSV fallback lives here: if the QSV encoder cannot be opened the pipeline already falls back
//! at its first frame; if QSV fails mid-run, the run is restarted in software at the first
//! segment not yet reported — exact segments make that restart seamless. A job never fails
//! because QSV did.

use std::io::Write;

use super::lifeline::{self, ORPHANED_EXIT};

use ha_core::error_chain;

use super::pipeline::{self, Fault};
use super::protocol::WorkerEvent;
use crate::spec::{HardwarePreference, JobSpec};
use crate::worker::error::{Result, WorkerError};

/// Environment variable with a test fault, honoured only by a worker built with the
/// `fault-injection` feature (tests enable it; a production build never reads it):
/// `crash-after:N` aborts the worker after N segments, `stall-after:N` makes it sleep forever.
#[cfg(feature = "fault-injection")]
pub const FAULT_ENV: &str = "HA_TRANSCODE_WORKER_FAULT";

#[cfg(not(feature = "fault-injection"))]
fn fault_from_env() -> Option<Fault> {
    None
}

#[cfg(feature = "fault-injection")]
fn fault_from_env() -> Option<Fault> {
    let v = std::env::var(FAULT_ENV).ok()?;
    let (kind, n) = v.split_once(':')?;
    let n: u32 = n.trim().parse().ok()?;
    match kind {
        "crash-after" => Some(Fault::Crash(n)),
        "stall-after" => Some(Fault::Stall(n)),
        _ => None,
    }
}

/// Runs `spec` in this process, calling `emit` for every report. Falls back from QSV to
/// software on failure, logging the reason once.
///
/// # Errors
/// Any pipeline error of the software path (bad input, FFmpeg failure, I/O).
pub fn run_worker(spec: &JobSpec, emit: &mut dyn FnMut(WorkerEvent)) -> Result<u32> {
    std::fs::create_dir_all(&spec.output_dir).map_err(|source| WorkerError::Io {
        path: spec.output_dir.clone(),
        source,
    })?;
    let fault = fault_from_env();
    let mut next = spec.start_segment;
    let mut total = 0u32;
    let mut emit_tracking = |ev: WorkerEvent, next: &mut u32, total: &mut u32| {
        if let WorkerEvent::Segment(s) = &ev {
            *next = s.index + 1;
            *total += 1;
        }
        emit(ev);
    };
    if spec.hardware == HardwarePreference::Qsv {
        let result = pipeline::run(spec, HardwarePreference::Qsv, fault, &mut |ev| {
            emit_tracking(ev, &mut next, &mut total)
        });
        match result {
            Ok(_) => return Ok(total),
            Err(e) => {
                let reason = error_chain(&e);
                tracing::warn!(%reason, "QSV failed mid-run; continuing in software");
                emit_tracking(WorkerEvent::Fallback { reason }, &mut next, &mut total);
            }
        }
        if spec.end_segment.is_some_and(|e| next > e) {
            return Ok(total);
        }
    }
    let resumed = JobSpec {
        start_segment: next,
        ..spec.clone()
    };
    pipeline::run(&resumed, HardwarePreference::Software, fault, &mut |ev| {
        emit_tracking(ev, &mut next, &mut total)
    })?;
    Ok(total)
}

/// The worker process's `main`: reads a JSON [`JobSpec`] from stdin, writes
/// [`WorkerEvent`] lines to stdout, exits 0 on success and 1 on failure (after an `error`
/// line). A host binary can call this when re-executed in worker mode.
pub fn run_worker_main() -> ! {
    let code = match worker_main_inner() {
        Ok(()) => 0,
        Err(e) => {
            let message = error_chain(&e);
            emit_line(&WorkerEvent::Error { message });
            1
        }
    };
    std::process::exit(code)
}

fn emit_line(ev: &WorkerEvent) {
    let mut out = std::io::stdout().lock();
    // A failed write means the supervisor is gone (its server was SIGKILLed: the pipe's read
    // end closed). Nobody can publish what this worker makes any more, so stop at once instead
    // of transcoding to the end of the file for nothing.
    if writeln!(out, "{}", ev.to_line())
        .and_then(|_| out.flush())
        .is_err()
    {
        std::process::exit(ORPHANED_EXIT);
    }
}

fn worker_main_inner() -> Result<()> {
    let with_lifeline = lifeline::enabled();
    let input = lifeline::read_spec(with_lifeline).map_err(WorkerError::WorkerStdin)?;
    if with_lifeline {
        lifeline::watch();
    }
    let spec: JobSpec =
        serde_json::from_str(input.trim()).map_err(|source| WorkerError::WorkerProtocol {
            line: input.chars().take(200).collect(),
            source,
        })?;
    // Keep FFmpeg's own logging quiet on stderr (the supervisor keeps the tail for crashes).
    ffmpeg_next::log::set_level(ffmpeg_next::log::Level::Error);
    let segments = run_worker(&spec, &mut |ev| emit_line(&ev))?;
    emit_line(&WorkerEvent::Done { segments });
    Ok(())
}
