//! The transcode worker: an isolated child process, and the supervisor that runs it.
//!
//! Why a process: decoding untrusted files can crash or hang inside libav*. In a child, a
//! segfault costs one job, not the replica; a hang is noticed by a deadline and killed; and the
//! CPU-bound pipeline never runs on the async runtime's threads, where it would starve lease
//! renewals.
//!
//! | item | what |
//! |---|---|
//! | [`JobSpec`](crate::spec::JobSpec) | what to transcode (JSON on the worker's stdin) |
//! | [`WorkerEvent`] | what the worker reports (JSON lines on stdout) |
//! | [`Supervisor`] | spawns, reads reports, publishes, cancels, detects crash/hang |
//! | [`WorkerError`] | why a run failed (crash, stall, FFmpeg, veto, a broken pipe) |
//! | [`LIFELINE_ENV`] | the worker exits the moment its server dies (end of its stdin pipe) |
//! | [`run_worker_main`] | the worker's entry point, for a binary or a re-executed host |
//! | [`qsv_status`] | is Intel QSV usable on this node (probed once, cached; the render node from [`RENDER_NODE_ENV`]) |

pub(crate) mod error;
mod lifeline;
pub(crate) mod pipeline;
mod protocol;
mod supervisor;
mod worker_main;

pub use crate::encode::hw_probe::{probe_qsv, qsv_status, ProbeStage, QsvStatus};
pub use crate::encode::qsv::{render_node, DEFAULT_RENDER_NODE, RENDER_NODE_ENV};
pub use error::WorkerError;
pub use lifeline::{LIFELINE_ENV, ORPHANED_EXIT};
pub use protocol::WorkerEvent;
pub use supervisor::{JobHandle, JobSummary, Supervisor, SupervisorConfig, WorkerCommand};
#[cfg(feature = "fault-injection")]
#[cfg_attr(docsrs, doc(cfg(feature = "fault-injection")))]
pub use worker_main::FAULT_ENV;
pub use worker_main::{run_worker, run_worker_main};
