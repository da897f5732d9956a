//! # ha-transcode: the media pipeline of media-ha
//!
//! Probe a file, decide how a client can play it, and when it must be transcoded run the
//! transcode in an isolated, supervised worker process that writes segment-exact HLS, so a
//! segment produced on one replica splices with the next one produced on another. Replicas
//! share transcode jobs through a [`manager::TranscodeManager`] on the `ha-core` stores.
//!
//! This is the only crate of media-ha that links FFmpeg.
//!
//! ## From a file to a segment
//!
//! 1. [`probe::probe`] reads what is in a file ([`probe::MediaProbe`], serde data).
//! 2. [`decision::decide`] picks direct play, direct stream or transcode for a Jellyfin
//!    [`decision::DeviceProfile`].
//! 3. For a transcode, describe the output as a [`manager::Rendition`] (codecs and sizes come
//!    from [`spec`]) and ask a [`manager::TranscodeManager`] for segments: it runs one job per
//!    rendition cluster-wide, in a worker process ([`worker`]), and answers each request when
//!    its segment is published.
//! 4. [`hls`] writes the playlists that name those segments.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use ha_core::memory::{MemoryEventBus, MemoryJobStore, MemoryLeaseManager, MemorySlotLimiter};
//! use ha_core::SystemClock;
//! use ha_transcode::decision::{decide, DecideOptions, DeviceProfile, PlayMethod};
//! use ha_transcode::manager::{
//!     ManagerConfig, ManagerStores, Rendition, SharedDirStorage, TranscodeManager, Viewer,
//!     WorkerRunner,
//! };
//! use ha_transcode::spec::{AudioSettings, HardwarePreference, RateControl, VideoSettings};
//! use ha_transcode::worker::{Supervisor, SupervisorConfig, WorkerCommand};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let probe = ha_transcode::probe::probe("/media/film.mkv").await?;
//! let decision = decide(&DeviceProfile::web_browser(), &probe, &DecideOptions::default())?;
//! if decision.method == PlayMethod::Transcode {
//!     // One node with in-process stores; a cluster passes Redis or PostgreSQL stores.
//!     let stores = ManagerStores {
//!         leases: Arc::new(MemoryLeaseManager::new()),
//!         jobs: Arc::new(MemoryJobStore::new()),
//!         slots: Arc::new(MemorySlotLimiter::new()),
//!         events: Arc::new(MemoryEventBus::new()),
//!     };
//!     let worker = WorkerCommand::new("/usr/local/bin/ha-transcode-worker");
//!     let manager = TranscodeManager::new(
//!         ManagerConfig::new("node-a"),
//!         stores.clone(),
//!         Arc::new(SharedDirStorage::new("/var/cache/media-ha/hls")),
//!         Arc::new(WorkerRunner::new(Supervisor::new(SupervisorConfig::new(worker)))),
//!         SystemClock::shared(),
//!     )?;
//!     manager.start(stores.events.clone()).await?;
//!     let rendition = Rendition {
//!         item_id: "film".into(),
//!         source: "/media/film.mkv".into(),
//!         duration_ms: (probe.duration_secs.unwrap_or_default() * 1000.0) as u64,
//!         segment_ms: 3_000,
//!         video: VideoSettings {
//!             codec: Default::default(),
//!             target_height: Some(720),
//!             rate: RateControl::Crf { crf: 23, maxrate: None, bufsize: None },
//!             preset: "veryfast".into(),
//!             profile: None,
//!             level: None,
//!             low_power: false,
//!         },
//!         audio: Some(AudioSettings::default()),
//!         audio_stream: None,
//!         subtitle_stream: None,
//!         hardware: HardwarePreference::Software,
//!         container: Default::default(),
//!     };
//!     let playlist = rendition.media_playlist("");
//!     let viewer = Viewer { user_id: "alice".into(), play_session_id: None };
//!     let first = manager.segment(&rendition.keyed(), 0, &viewer).await?;
//!     println!("{playlist}\nsegment 0 is at {}", first.display());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! ## Modules
//!
//! | module | what |
//! |---|---|
//! | [`probe`] | [`probe::probe`]: what is in a file, as serde data ([`probe::MediaProbe`]) |
//! | [`decision`] | [`decision::decide`]: direct play, direct stream or transcode, from a Jellyfin device profile |
//! | [`spec`] | [`spec::JobSpec`] and the output settings: what a transcode produces |
//! | [`thumbnail`] | [`thumbnail::extract_frame`]: one still frame of a video (artwork when a file has none) |
//! | [`telemetry`] | the names the manager reports through the `metrics` facade (jobs, takeovers, segment waits) |
//! | [`manager`] | [`manager::TranscodeManager`]: cluster-wide job ownership, takeover, dedup, admission, cleanup |
//! | [`worker`] | the isolated worker process, its [`Supervisor`](worker::Supervisor), the QSV probe |
//! | [`hls`] | segment-exact HLS: segment naming and math, playlists, the vetoable publish gate |
//!
//! Errors are split where a caller decides differently: inspecting media (probe, decision,
//! thumbnail) returns the crate's [`Error`]; a transcode run (the worker, its supervisor, the
//! publish gate) returns [`worker::WorkerError`]; a segment request returns
//! [`manager::SegmentError`] (capacity, ownership, timeouts: what a server turns into an HTTP
//! status); a manager's settings are checked into a [`manager::ConfigError`]. Each keeps its
//! source and converts into [`ha_core::Error`].
//!
//! ## Features
//!
//! - `fault-injection`: the worker honours `worker::FAULT_ENV` (crash or stall on purpose).
//!   For tests only.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod decision;
pub(crate) mod encode;
mod error;
pub mod hls;
pub mod manager;
pub mod probe;
pub mod spec;
pub mod telemetry;
pub mod thumbnail;
pub mod worker;

pub use error::{Error, Result};

// The README's example (the crates.io front page) is compiled as a doc test, so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
