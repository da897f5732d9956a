//! Video: decode (frame threading), drop frames outside the run, filter (deinterlace,
//! tone-map, scale), force an IDR at each segment's first frame, encode.

use ffmpeg_next::{
    codec, decoder, encoder, filter, format, frame, picture, threading, Dictionary, Packet,
    Rational,
};

use super::encode_stage::EncodeStage;
use super::{ff, EncodedPacket, RunWindow};
use crate::encode::source::{Transfer, VideoSource};
use crate::encode::{qsv, software, EncoderOptions};
use crate::hls::timeline::{rescale, segment_of, MPEGTS_TIME_BASE};
use crate::spec::{HardwarePreference, JobSpec};
use crate::worker::error::{Result, WorkerError};

/// Which encoder the chain uses, decided when the first frame arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VideoEncoderKind {
    /// libx264.
    Software,
    /// h264_qsv / hevc_qsv from system-memory NV12 frames.
    Qsv,
}

struct Open {
    graph: filter::Graph,
    /// The opened encoder, running on its own thread.
    stage: EncodeStage,
    /// The encoder's parameters, copied before it moved to its thread (for the muxer).
    params: codec::Parameters,
    kind: VideoEncoderKind,
    size: (u32, u32),
}

impl Open {
    fn new(
        graph: filter::Graph,
        encoder: encoder::Video,
        kind: VideoEncoderKind,
        size: (u32, u32),
        segment_ms: u32,
    ) -> Result<Self> {
        let params = codec::Parameters::from(&encoder);
        Ok(Self {
            graph,
            stage: EncodeStage::spawn(encoder, segment_ms)?,
            params,
            kind,
            size,
        })
    }
}

/// The video half of a run.
pub(super) struct VideoChain {
    decoder: decoder::Video,
    codec_name: String,
    tb: Rational,
    origin: i64,
    fps: Rational,
    window: RunWindow,
    spec: JobSpec,
    want: HardwarePreference,
    open: Option<Open>,
    last_forced: Option<u32>,
    /// A decoded frame lay past the last segment: stop feeding.
    pub(super) past_end: bool,
    /// Set when QSV was asked for and could not be opened.
    pub(super) fallback_reason: Option<String>,
}

fn rational(r: Rational) -> (i32, i32) {
    (r.numerator(), r.denominator())
}

fn bit_depth(pix: format::Pixel) -> u8 {
    let name = pix.descriptor().map_or("", |d| d.name());
    if name.contains("16") {
        16
    } else if name.contains("12") {
        12
    } else if name.contains("10") || name.starts_with("p010") {
        10
    } else {
        8
    }
}

fn transfer(t: ffmpeg_next::color::TransferCharacteristic) -> Transfer {
    use ffmpeg_next::color::TransferCharacteristic as T;
    match t {
        T::SMPTE2084 => Transfer::Pq,
        T::ARIB_STD_B67 => Transfer::Hlg,
        _ => Transfer::Sdr,
    }
}

impl VideoChain {
    pub(super) fn new(
        stream: &ffmpeg_next::format::stream::Stream<'_>,
        origin: i64,
        window: RunWindow,
        spec: &JobSpec,
        want: HardwarePreference,
    ) -> Result<Self> {
        let mut ctx = codec::Context::from_parameters(stream.parameters())
            .map_err(ff("video decoder parameters"))?;
        // A bare decoder is single-threaded; frame threading is ~18% faster here.
        ctx.set_threading(threading::Config {
            kind: threading::Type::Frame,
            count: 0,
            ..Default::default()
        });
        let codec_name = ctx
            .codec()
            .map_or_else(|| format!("{:?}", ctx.id()), |c| c.name().to_owned());
        let decoder = ctx
            .decoder()
            .video()
            .map_err(ff("opening the video decoder"))?;
        let fps = [stream.avg_frame_rate(), stream.rate()]
            .into_iter()
            .find(|r| r.numerator() > 0 && r.denominator() > 0)
            .unwrap_or(Rational(25, 1));
        Ok(Self {
            decoder,
            codec_name,
            tb: stream.time_base(),
            origin,
            fps,
            window,
            spec: spec.clone(),
            want,
            open: None,
            last_forced: None,
            past_end: false,
            fallback_reason: None,
        })
    }

    /// Output frame size, once the first frame has been seen.
    pub(super) fn output_size(&self) -> Option<(u32, u32)> {
        self.open.as_ref().map(|o| o.size)
    }

    /// The encoder used, once the first frame has been seen.
    pub(super) fn encoder_kind(&self) -> Option<VideoEncoderKind> {
        self.open.as_ref().map(|o| o.kind)
    }

    /// Codec parameters of the opened encoder (for the muxer).
    pub(super) fn parameters(&self) -> Option<codec::Parameters> {
        self.open.as_ref().map(|o| o.params.clone())
    }

    /// Frame duration in 90 kHz.
    pub(super) fn frame_duration_90k(&self) -> i64 {
        rescale(
            1,
            (self.fps.denominator(), self.fps.numerator()),
            MPEGTS_TIME_BASE,
        )
    }

    fn source_of(&self, f: &frame::Video) -> VideoSource {
        let sar = f.aspect_ratio();
        VideoSource {
            codec: self.codec_name.clone(),
            width: f.width(),
            height: f.height(),
            sample_aspect: rational(sar),
            bit_depth: bit_depth(f.format()),
            transfer: transfer(f.color_transfer_characteristic()),
            interlaced: f.is_interlaced(),
            frame_rate: rational(self.fps),
        }
    }

    fn open_chain(&mut self, first: &frame::Video) -> Result<Open> {
        let source = self.source_of(first);
        let mut kind = match self.want {
            HardwarePreference::Qsv => VideoEncoderKind::Qsv,
            HardwarePreference::Software => VideoEncoderKind::Software,
        };
        if kind == VideoEncoderKind::Qsv {
            match open_qsv_encoder(&source, &self.spec, self.fps) {
                Ok((encoder, size)) => {
                    let graph = self.build_graph(first, &source, "nv12")?;
                    return Open::new(graph, encoder, kind, size, self.spec.segment_ms);
                }
                Err(e) => {
                    self.fallback_reason = Some(ha_core::error_chain(&e));
                    kind = VideoEncoderKind::Software;
                }
            }
        }
        let graph = self.build_graph(first, &source, "yuv420p")?;
        let size = crate::encode::output_size(&source, self.spec.video.target_height);
        let options = software::x264_options(&self.spec.video, &source, self.spec.segment_ms);
        let encoder = open_encoder(
            "libx264",
            size,
            format::Pixel::YUV420P,
            self.fps,
            &source,
            options,
        )?;
        Open::new(graph, encoder, kind, size, self.spec.segment_ms)
    }

    fn build_graph(
        &self,
        f: &frame::Video,
        source: &VideoSource,
        pix: &str,
    ) -> Result<filter::Graph> {
        let mut spec = software::video_filter_graph(source, &self.spec.video);
        if pix != "yuv420p" {
            spec = spec.replace("format=yuv420p", &format!("format={pix}"));
        }
        let sar = match rational(f.aspect_ratio()) {
            (n, d) if n > 0 && d > 0 => (n, d),
            _ => (1, 1),
        };
        let args = format!(
            "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}",
            f.width(),
            f.height(),
            AsRef::<str>::as_ref(&f.format().descriptor().map_or("yuv420p", |d| d.name())),
            self.tb.numerator(),
            self.tb.denominator(),
            sar.0,
            sar.1
        );
        build_graph("buffer", &args, "buffersink", &spec)
    }

    /// Feeds one packet (or EOF with `None`) and collects the packets encoded so far into
    /// `out` (all of them at EOF).
    pub(super) fn decode(
        &mut self,
        packet: Option<&Packet>,
        out: &mut Vec<EncodedPacket>,
    ) -> Result<()> {
        match packet {
            Some(p) => {
                if let Err(e) = self.decoder.send_packet(p) {
                    // A corrupt packet costs a frame, not the job.
                    tracing::debug!("video decoder rejected a packet: {e}");
                    return Ok(());
                }
            }
            None => {
                let _ = self.decoder.send_eof();
            }
        }
        let mut decoded = frame::Video::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            let Some(ts) = decoded.timestamp() else {
                continue;
            };
            let seg = segment_of(ts - self.origin, rational(self.tb), self.spec.segment_ms);
            if seg < self.window.first {
                continue; // before the run: decoded only to reach the first frame of segment k
            }
            if seg > self.window.last {
                self.past_end = true;
                continue;
            }
            decoded.set_pts(Some(ts));
            if self.open.is_none() {
                let open = self.open_chain(&decoded)?;
                self.open = Some(open);
            }
            let Some(open) = self.open.as_mut() else {
                continue;
            };
            open.graph
                .get("in")
                .ok_or_else(|| WorkerError::InvalidJob("filter graph lost its input".into()))?
                .source()
                .add(&decoded)
                .map_err(ff("feeding the video filter"))?;
            self.drain_filter()?;
        }
        if packet.is_none() {
            self.flush(out)?;
        } else if let Some(open) = self.open.as_ref() {
            // Whatever the encoder thread finished meanwhile; the rest comes on a later call.
            open.stage.drain(out);
        }
        Ok(())
    }

    fn drain_filter(&mut self) -> Result<()> {
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        loop {
            let mut filtered = frame::Video::empty();
            let mut sink = open
                .graph
                .get("out")
                .ok_or_else(|| WorkerError::InvalidJob("filter graph lost its output".into()))?;
            let sink_tb = rational(sink.sink().time_base());
            if sink.sink().frame(&mut filtered).is_err() {
                break;
            }
            let Some(ts) = filtered.pts() else { continue };
            let origin = rescale(self.origin, rational(self.tb), sink_tb);
            let rel = ts - origin;
            let seg = segment_of(rel, sink_tb, self.spec.segment_ms);
            filtered.set_pts(Some(rescale(rel, sink_tb, MPEGTS_TIME_BASE)));
            // Reset the decoder's picture type; force I (IDR with forced-idr=1) only at the
            // first frame of each segment.
            if self.last_forced != Some(seg) {
                self.last_forced = Some(seg);
                filtered.set_kind(picture::Type::I);
            } else {
                filtered.set_kind(picture::Type::None);
            }
            open.stage.send(filtered)?;
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut Vec<EncodedPacket>) -> Result<()> {
        if let Some(open) = self.open.as_mut() {
            if let Some(mut src) = open.graph.get("in") {
                let _ = src.source().flush();
            }
        }
        self.drain_filter()?;
        if let Some(open) = self.open.as_mut() {
            open.stage.finish(out)?;
        }
        Ok(())
    }
}

/// Builds `src -> spec -> sink`.
pub(super) fn build_graph(src: &str, args: &str, sink: &str, spec: &str) -> Result<filter::Graph> {
    let mut graph = filter::Graph::new();
    let missing = |name: &str| WorkerError::InvalidJob(format!("FFmpeg lacks the {name} filter"));
    graph
        .add(&filter::find(src).ok_or_else(|| missing(src))?, "in", args)
        .map_err(ff("creating the filter source"))?;
    graph
        .add(&filter::find(sink).ok_or_else(|| missing(sink))?, "out", "")
        .map_err(ff("creating the filter sink"))?;
    graph
        .output("in", 0)
        .and_then(|p| p.input("out", 0))
        .and_then(|p| p.parse(spec))
        .map_err(ff("parsing the filter graph"))?;
    graph
        .validate()
        .map_err(ff("configuring the filter graph"))?;
    Ok(graph)
}

fn open_encoder(
    name: &str,
    size: (u32, u32),
    pix: format::Pixel,
    fps: Rational,
    source: &VideoSource,
    options: EncoderOptions,
) -> Result<encoder::Video> {
    let codec = encoder::find_by_name(name)
        .ok_or_else(|| WorkerError::InvalidJob(format!("FFmpeg lacks the {name} encoder")))?;
    // Build from new_with_codec: from_parameters + open fails with EINVAL on libx264.
    let mut enc = codec::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(ff("creating the video encoder"))?;
    enc.set_width(size.0);
    enc.set_height(size.1);
    enc.set_format(pix);
    enc.set_time_base(Rational(MPEGTS_TIME_BASE.0, MPEGTS_TIME_BASE.1));
    enc.set_frame_rate(Some(fps));
    enc.set_aspect_ratio(Rational(1, 1));
    if source.transfer.is_hdr() {
        use ffmpeg_next::color;
        enc.set_colorspace(color::Space::BT709);
        enc.set_color_primaries(color::Primaries::BT709);
        enc.set_color_transfer_characteristic(color::TransferCharacteristic::BT709);
        enc.set_color_range(color::Range::MPEG);
    }
    let mut dict = Dictionary::new();
    for (k, v) in &options {
        dict.set(k, v);
    }
    // Never set_flags here: it would replace libx264's closed-GOP default.
    enc.open_with(dict).map_err(ff(&format!("opening {name}")))
}

fn open_qsv_encoder(
    source: &VideoSource,
    spec: &JobSpec,
    fps: Rational,
) -> Result<(encoder::Video, (u32, u32))> {
    if let crate::encode::hw_probe::QsvStatus::Unavailable { reason, .. } =
        crate::encode::hw_probe::qsv_status()
    {
        return Err(WorkerError::InvalidJob(format!(
            "QSV unavailable: {reason}"
        )));
    }
    let render_node = qsv::render_node();
    let pipeline = qsv::build_pipeline(
        source,
        &spec.video,
        spec.segment_ms,
        &render_node.to_string_lossy(),
    );
    let enc = open_encoder(
        pipeline.encoder,
        pipeline.output_size,
        format::Pixel::NV12,
        fps,
        source,
        pipeline.encoder_options.clone(),
    )?;
    Ok((enc, pipeline.output_size))
}
