//! # ha-transcode: the media pipeline of media-ha
//!
//! Probe a file, decide how a client can play it, and when it must be transcoded run the
//! transcode in an isolated, supervised worker process that writes segment-exact HLS, so a
//! segment produced on one replica splices with the next one produced on another.
//!
//! This is the only crate of media-ha that links FFmpeg.
//!
//! ## Layout
//! (modules are listed here as they land)
//!
//! | module | what |
//! |---|---|
//! | [`error`] | the crate's one [`Error`], converting into [`ha_core::Error`] |
//! | [`hls`] | segment-exact HLS: segment math, VOD playlists, atomic vetoable publish |
//! | [`encode`] | libx264/AAC and Intel QSV settings as pure builders; the QSV probe |
//! | [`worker`] | the isolated transcode worker process and its [`Supervisor`](worker::Supervisor) |
//! | [`probe`] | [`probe::probe`]: what is in a file, as serde data ([`probe::MediaProbe`]) |
//! | [`decision`] | [`decision::decide`]: direct play, direct stream or transcode, from a Jellyfin device profile |
//! | [`thumbnail`] | [`thumbnail::extract_frame`]: one still frame of a video (artwork when a file has none) |
//! | [`manager`] | [`manager::TranscodeManager`]: cluster-wide job ownership, takeover, dedup, admission, cleanup |

pub mod decision;
pub mod encode;
pub mod error;
pub mod hls;
pub mod manager;
pub mod probe;
pub mod thumbnail;
pub mod worker;

pub use error::{Error, Result};

// The README's example (the crates.io front page) is compiled as a doc test, so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
