//! The in-process transcode of one run: demux → decode → filter → encode → segments.
//!
//! Runs on the worker process's main thread (never on an async runtime). Resume: the input is
//! seeked to the key frame before the run's first segment, frames before `k·T` are decoded and
//! dropped, the first kept frame is forced to an IDR, and timestamps keep the source timeline
//! plus [`TS_OFFSET_90K`](crate::hls::TS_OFFSET_90K) — so a run started at `k` produces the
//! same segments `k..` as a full run.

mod annexb;
pub(crate) mod assembler;
mod audio;
mod encode_stage;
pub(crate) mod fifo;
mod mux;
mod mux_fmp4;
mod video;

use std::path::PathBuf;

use ffmpeg_next::{format, media, Packet};

use self::assembler::{SegmentAssembler, Track};
use crate::hls::naming::{is_valid_run_tag, run_temp_name, segment_file_name_for, INIT_FILE_NAME};
use crate::hls::timeline::{rescale, SegmentTimeline};
use crate::hls::SegmentReport;
use crate::spec::{HardwarePreference, JobSpec, SegmentContainer};
use crate::worker::error::{Result, WorkerError};
use crate::worker::protocol::WorkerEvent;

/// An encoded packet and the segment it belongs to.
pub(crate) struct EncodedPacket {
    segment: u32,
    packet: Packet,
}

/// The segments a run produces, inclusive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunWindow {
    first: u32,
    last: u32,
}

/// Maps an FFmpeg error into [`WorkerError::Ffmpeg`] with what was being done.
pub(crate) fn ff(what: &str) -> impl Fn(ffmpeg_next::Error) -> WorkerError + '_ {
    move |source| WorkerError::Ffmpeg {
        what: what.to_owned(),
        source,
    }
}

/// Test faults, honoured only with the `fault-injection` feature (see `worker::FAULT_ENV`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
pub(crate) enum Fault {
    /// `std::process::abort()` after reporting this many segments.
    Crash(u32),
    /// Sleep forever after reporting this many segments.
    Stall(u32),
}

/// Runs `spec` with `hardware`, reporting through `emit`. Returns how many segments were
/// written.
pub(crate) fn run(
    spec: &JobSpec,
    hardware: HardwarePreference,
    fault: Option<Fault>,
    emit: &mut dyn FnMut(WorkerEvent),
) -> Result<u32> {
    if let Some(tag) = spec.run_tag.as_deref().filter(|t| !is_valid_run_tag(t)) {
        return Err(WorkerError::InvalidJob(format!(
            "run tag {tag:?} is not 1-64 of [A-Za-z0-9_-]"
        )));
    }
    ffmpeg_next::init().map_err(ff("initialising FFmpeg"))?;
    let mut ictx = format::input(&spec.input).map_err(|source| WorkerError::NotMedia {
        path: spec.input.clone(),
        source,
    })?;
    // The source timeline starts at the earliest start of the streams we use (what the
    // container's start_time is), so segments are the same whatever the container offset.
    let start_us = ictx
        .streams()
        .filter(|s| {
            let m = s.parameters().medium();
            m == media::Type::Video || (spec.audio.is_some() && m == media::Type::Audio)
        })
        .filter(|s| s.start_time() != ffmpeg_next::ffi::AV_NOPTS_VALUE)
        .map(|s| {
            let tb = s.time_base();
            rescale(
                s.start_time(),
                (tb.numerator(), tb.denominator()),
                (1, 1_000_000),
            )
        })
        .min()
        .unwrap_or(0);
    let duration_ms = u64::try_from(ictx.duration().max(0) / 1000).unwrap_or(0);
    let timeline = SegmentTimeline::new(spec.segment_ms, duration_ms)
        .ok_or_else(|| WorkerError::InvalidJob("segment length is zero".into()))?;
    let count = timeline.segment_count();
    if spec.start_segment >= count {
        return Err(WorkerError::InvalidJob(format!(
            "start segment {} is past the last segment {}",
            spec.start_segment,
            count.saturating_sub(1)
        )));
    }
    let window = RunWindow {
        first: spec.start_segment,
        last: spec.end_segment.map_or(count - 1, |e| e.min(count - 1)),
    };
    let us = (1, 1_000_000);
    let vstream = ictx.streams().best(media::Type::Video).ok_or_else(|| {
        WorkerError::InvalidJob(format!("{} has no video stream", spec.input.display()))
    })?;
    let v_index = vstream.index();
    let v_tb = vstream.time_base();
    let v_origin = rescale(start_us, us, (v_tb.numerator(), v_tb.denominator()));
    let mut video = video::VideoChain::new(&vstream, v_origin, window, spec, hardware)?;
    let mut audio = match (spec.audio, ictx.streams().best(media::Type::Audio)) {
        (Some(settings), Some(astream)) => {
            let tb = astream.time_base();
            let origin = rescale(start_us, us, (tb.numerator(), tb.denominator()));
            Some((
                astream.index(),
                audio::AudioChain::new(&astream, origin, window, settings, spec.segment_ms)?,
            ))
        }
        _ => None,
    };
    if window.first > 0 {
        // Seek to the key frame before k·T, less the audio pre-roll (two AAC frames ≈ 43 ms
        // at 48 kHz, plus decoder delay): frames before k·T are decoded and dropped.
        let target = start_us + timeline.segment_start_ms(window.first) as i64 * 1000 - 250_000;
        ictx.seek(target, ..target)
            .map_err(ff("seeking to the first segment"))?;
    }

    let mut asm: SegmentAssembler<EncodedPacket> = SegmentAssembler::new(audio.is_some());
    let mut written = 0u32;
    let mut started = false;
    let mut out: Vec<EncodedPacket> = Vec::new();
    let mut aout: Vec<EncodedPacket> = Vec::new();
    let mut ctx = WriteCtx {
        spec,
        timeline: &timeline,
        fault,
        init_written: false,
    };

    for (stream, packet) in ictx.packets() {
        let index = stream.index();
        if index == v_index && !video.past_end {
            video.decode(Some(&packet), &mut out)?;
        } else if let Some((a_index, chain)) = audio.as_mut() {
            if index == *a_index && !chain.past_end {
                chain.decode(Some(&packet), &mut aout)?;
            }
        }
        if !started {
            if let Some(reason) = video.fallback_reason.take() {
                emit(WorkerEvent::Fallback { reason });
            }
            if let (Some((w, h)), Some(kind)) = (video.output_size(), video.encoder_kind()) {
                started = true;
                emit(WorkerEvent::Started {
                    width: w,
                    height: h,
                    hardware: match kind {
                        video::VideoEncoderKind::Qsv => HardwarePreference::Qsv,
                        video::VideoEncoderKind::Software => HardwarePreference::Software,
                    },
                    segment_count: count,
                });
            }
        }
        feed(&mut asm, &mut out, &mut aout);
        written += ctx.write_ready(&mut asm, &video, audio.as_ref().map(|a| &a.1), emit)?;
        let audio_done = audio.as_ref().is_none_or(|a| a.1.past_end);
        if video.past_end && audio_done {
            break;
        }
    }
    video.decode(None, &mut out)?;
    asm_end_video(&mut asm, &mut out, &mut aout);
    if let Some((_, chain)) = audio.as_mut() {
        chain.decode(None, &mut aout)?;
    }
    feed(&mut asm, &mut out, &mut aout);
    asm.end(Track::Audio);
    written += ctx.write_ready(&mut asm, &video, audio.as_ref().map(|a| &a.1), emit)?;
    if written == 0 && video.output_size().is_none() {
        return Err(WorkerError::InvalidJob(
            "no video frame in the requested segments".into(),
        ));
    }
    Ok(written)
}

fn feed(
    asm: &mut SegmentAssembler<EncodedPacket>,
    out: &mut Vec<EncodedPacket>,
    aout: &mut Vec<EncodedPacket>,
) {
    for p in out.drain(..) {
        asm.push(Track::Video, p.segment, p);
    }
    for p in aout.drain(..) {
        asm.push(Track::Audio, p.segment, p);
    }
}

fn asm_end_video(
    asm: &mut SegmentAssembler<EncodedPacket>,
    out: &mut Vec<EncodedPacket>,
    aout: &mut Vec<EncodedPacket>,
) {
    feed(asm, out, aout);
    asm.end(Track::Video);
}

struct WriteCtx<'a> {
    spec: &'a JobSpec,
    timeline: &'a SegmentTimeline,
    fault: Option<Fault>,
    /// fMP4: whether this run already wrote its init segment (with its first segment).
    init_written: bool,
}

impl WriteCtx<'_> {
    fn run_tag(&self) -> Option<&str> {
        self.spec.run_tag.as_deref()
    }

    fn write_ready(
        &mut self,
        asm: &mut SegmentAssembler<EncodedPacket>,
        video: &video::VideoChain,
        audio: Option<&audio::AudioChain>,
        emit: &mut dyn FnMut(WorkerEvent),
    ) -> Result<u32> {
        let mut n = 0;
        while let Some((index, packets)) = asm.pop_ready() {
            let Some(vparams) = video.parameters() else {
                break;
            };
            if !packets.iter().any(|(t, _)| *t == Track::Video) {
                continue; // no video frame in this interval (a gap): nothing to publish
            }
            let container = self.spec.container;
            let temp_path: PathBuf = self.spec.output_dir.join(run_temp_name(
                &segment_file_name_for(container, index),
                self.run_tag(),
            ));
            let aparams = audio.map(audio::AudioChain::parameters);
            let mut init_temp_path = None;
            let w = match container {
                SegmentContainer::MpegTs => {
                    mux::write_segment(&temp_path, &vparams, aparams.as_ref(), packets)?
                }
                SegmentContainer::Fmp4 => {
                    let init = (!self.init_written).then(|| {
                        self.spec
                            .output_dir
                            .join(run_temp_name(INIT_FILE_NAME, self.run_tag()))
                    });
                    let w = mux_fmp4::write_segment(
                        index,
                        &temp_path,
                        init.as_deref(),
                        &vparams,
                        aparams.as_ref(),
                        packets,
                    )?;
                    self.init_written = true;
                    init_temp_path = init;
                    w
                }
            };
            let _ = self.timeline;
            emit(WorkerEvent::Segment(SegmentReport {
                index,
                temp_path,
                duration_secs: w.frame_count as f64 * video.frame_duration_90k() as f64 / 90_000.0,
                first_pts: w.first_pts,
                frame_count: w.frame_count,
                init_temp_path,
            }));
            n += 1;
            match self.fault {
                Some(Fault::Crash(after)) if n >= after => std::process::abort(),
                Some(Fault::Stall(after)) if n >= after => loop {
                    std::thread::sleep(std::time::Duration::from_secs(3600));
                },
                _ => {}
            }
        }
        Ok(n)
    }
}
