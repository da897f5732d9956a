//! The transcode worker: an isolated child process, and the supervisor that runs it.
//!
//! Why a process: decoding untrusted files can crash or hang inside libav*. In a child, a
//! segfault costs one job, not the replica; a hang is noticed by a deadline and killed; and the
//! CPU-bound pipeline never runs on the async runtime's threads, where it would starve lease
//! renewals.
//!
//! | module | what |
//! |---|---|
//! | [`spec`] | [`JobSpec`]: what to transcode (JSON on the worker's stdin) |
//! | [`protocol`] | [`WorkerEvent`]: what the worker reports (JSON lines on stdout) |
//! | [`supervisor`] | [`Supervisor`]: spawns, reads reports, publishes, cancels, detects crash/hang |
//! | [`lifeline`] | the worker exits the moment its server dies (end of its stdin pipe) |
//! | [`pipeline`] | the in-process transcode the worker runs |
//! | [`main`](run_worker_main) | the worker's entry point, for a binary or a re-executed host |

pub mod lifeline;
pub mod pipeline;
pub mod protocol;
pub mod spec;
pub mod supervisor;
mod worker_main;

pub use protocol::WorkerEvent;
pub use spec::{
    AudioSettings, HardwarePreference, JobSpec, RateControl, SegmentContainer, VideoCodec,
    VideoSettings,
};
pub use supervisor::{JobHandle, JobSummary, Supervisor, SupervisorConfig, WorkerCommand};
pub use worker_main::{run_worker, run_worker_main, FAULT_ENV};
