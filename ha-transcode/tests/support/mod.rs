//! Helpers shared by the integration tests of `ha-transcode`.
//!
//! Test media is never checked in and never mocked: [`clips`] makes small real files with the
//! `ffmpeg` CLI from lavfi sources (testsrc2 for video, sine for audio), so every test runs
//! against what FFmpeg really produces.
//!
//! Each test binary compiles this module separately and uses only part of it.
#![allow(dead_code, unused_imports)]

pub mod clips;
pub mod dovi;
pub mod hdr10plus;
pub mod hls_check;
pub mod mp4_box;
pub mod resume_run;

pub use clips::{scratch_dir, Clip};
