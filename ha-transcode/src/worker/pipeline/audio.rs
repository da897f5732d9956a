//! Audio: decode, resample to the output rate and layout, cut 1024-sample frames on the
//! source-aligned grid ([`super::fifo`]), encode AAC, drop packets outside the run.

use ffmpeg_next::{
    codec, decoder, encoder, filter, format, frame, ChannelLayout, Dictionary, Packet, Rational,
};

use super::fifo::GridFifo;
use super::video::build_graph;
use super::{ff, EncodedPacket, RunWindow};
use crate::encode::software;
use crate::hls::timeline::{rescale, segment_of, MPEGTS_TIME_BASE, TS_OFFSET_90K};
use crate::spec::AudioSettings;
use crate::worker::error::{Result, WorkerError};

/// The audio half of a run.
pub(super) struct AudioChain {
    decoder: decoder::Audio,
    tb: Rational,
    origin: i64,
    settings: AudioSettings,
    segment_ms: u32,
    window: RunWindow,
    graph: Option<filter::Graph>,
    encoder: encoder::Audio,
    fifo: GridFifo,
    frame_size: usize,
    /// A packet lay past the last segment: stop feeding.
    pub(super) past_end: bool,
}

impl AudioChain {
    pub(super) fn new(
        stream: &ffmpeg_next::format::stream::Stream<'_>,
        origin: i64,
        window: RunWindow,
        settings: AudioSettings,
        segment_ms: u32,
    ) -> Result<Self> {
        let decoder = codec::Context::from_parameters(stream.parameters())
            .map_err(ff("audio decoder parameters"))?
            .decoder()
            .audio()
            .map_err(ff("opening the audio decoder"))?;
        let codec = encoder::find(codec::Id::AAC)
            .ok_or_else(|| WorkerError::InvalidJob("FFmpeg lacks the AAC encoder".into()))?;
        let mut enc = codec::Context::new_with_codec(codec)
            .encoder()
            .audio()
            .map_err(ff("creating the AAC encoder"))?;
        let channels = settings.channels.clamp(1, 2);
        enc.set_rate(settings.sample_rate as i32);
        enc.set_channel_layout(ChannelLayout::default(i32::from(channels)));
        enc.set_format(format::Sample::F32(format::sample::Type::Planar));
        enc.set_time_base(Rational(1, settings.sample_rate as i32));
        let mut dict = Dictionary::new();
        for (k, v) in software::aac_options(&settings) {
            dict.set(&k, &v);
        }
        let encoder = enc.open_with(dict).map_err(ff("opening the AAC encoder"))?;
        let frame_size = (encoder.frame_size() as usize).max(1);
        let start_sample =
            (i64::from(window.first) * i64::from(segment_ms) * i64::from(settings.sample_rate))
                / 1000;
        let fifo = GridFifo::new(
            usize::from(channels),
            frame_size,
            GridFifo::grid_start(start_sample, frame_size),
        );
        Ok(Self {
            decoder,
            tb: stream.time_base(),
            origin,
            settings: AudioSettings {
                channels,
                ..settings
            },
            segment_ms,
            window,
            graph: None,
            encoder,
            fifo,
            frame_size,
            past_end: false,
        })
    }

    /// Codec parameters of the encoder (for the muxer).
    pub(super) fn parameters(&self) -> codec::Parameters {
        codec::Parameters::from(&self.encoder)
    }

    fn open_graph(&self, f: &frame::Audio) -> Result<filter::Graph> {
        let layout = if f.channel_layout().bits() == 0 {
            ChannelLayout::default(i32::from(f.channels()))
        } else {
            f.channel_layout()
        };
        let args = format!(
            "time_base={}/{}:sample_rate={}:sample_fmt={}:channel_layout=0x{:x}",
            self.tb.numerator(),
            self.tb.denominator(),
            f.rate(),
            f.format().name(),
            layout.bits()
        );
        build_graph(
            "abuffer",
            &args,
            "abuffersink",
            &software::audio_filter_graph(&self.settings),
        )
    }

    /// Feeds one packet (or EOF with `None`) and collects encoded packets into `out`.
    pub(super) fn decode(
        &mut self,
        packet: Option<&Packet>,
        out: &mut Vec<EncodedPacket>,
    ) -> Result<()> {
        match packet {
            Some(p) => {
                if let Err(e) = self.decoder.send_packet(p) {
                    tracing::debug!("audio decoder rejected a packet: {e}");
                    return Ok(());
                }
            }
            None => {
                let _ = self.decoder.send_eof();
            }
        }
        let mut decoded = frame::Audio::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            let Some(ts) = decoded.timestamp() else {
                continue;
            };
            decoded.set_pts(Some(ts));
            if self.graph.is_none() {
                self.graph = Some(self.open_graph(&decoded)?);
            }
            if let Some(g) = self.graph.as_mut() {
                g.get("in")
                    .ok_or_else(|| WorkerError::InvalidJob("audio graph lost its input".into()))?
                    .source()
                    .add(&decoded)
                    .map_err(ff("feeding the audio filter"))?;
            }
            self.drain_filter(out, false)?;
        }
        if packet.is_none() {
            self.finish(out)?;
        }
        Ok(())
    }

    fn drain_filter(&mut self, out: &mut Vec<EncodedPacket>, flush: bool) -> Result<()> {
        if let Some(g) = self.graph.as_mut() {
            let mut sink = g
                .get("out")
                .ok_or_else(|| WorkerError::InvalidJob("audio graph lost its output".into()))?;
            let sink_tb = (
                sink.sink().time_base().numerator(),
                sink.sink().time_base().denominator(),
            );
            let sr_tb = (1, self.settings.sample_rate as i32);
            let origin = rescale(
                self.origin,
                (self.tb.numerator(), self.tb.denominator()),
                sr_tb,
            );
            let mut filtered = frame::Audio::empty();
            while sink.sink().frame(&mut filtered).is_ok() {
                let Some(ts) = filtered.pts() else { continue };
                let at = rescale(ts, sink_tb, sr_tb) - origin;
                let planes: Vec<&[f32]> = (0..filtered.planes())
                    .map(|c| filtered.plane::<f32>(c))
                    .collect();
                self.fifo.push(at, &planes);
            }
        }
        self.encode_fifo(out, flush)
    }

    fn encode_fifo(&mut self, out: &mut Vec<EncodedPacket>, flush: bool) -> Result<()> {
        while let Some((pos, data)) = self.fifo.pop(flush) {
            if self.past_end {
                continue;
            }
            let n = data.first().map_or(0, Vec::len);
            let mut f = frame::Audio::new(
                format::Sample::F32(format::sample::Type::Planar),
                n,
                ChannelLayout::default(i32::from(self.settings.channels)),
            );
            f.set_rate(self.settings.sample_rate);
            for (c, samples) in data.iter().enumerate() {
                f.plane_mut::<f32>(c)[..n].copy_from_slice(samples);
            }
            f.set_pts(Some(pos));
            self.encoder
                .send_frame(&f)
                .map_err(ff("encoding an audio frame"))?;
            self.receive_packets(out);
        }
        Ok(())
    }

    fn receive_packets(&mut self, out: &mut Vec<EncodedPacket>) {
        let sr_tb = (1, self.settings.sample_rate as i32);
        let mut packet = Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            let pts = packet.pts().unwrap_or(0);
            let segment = segment_of(pts, sr_tb, self.segment_ms);
            if segment < self.window.first {
                continue; // pre-roll
            }
            if segment > self.window.last {
                self.past_end = true;
                continue;
            }
            let p90 = rescale(pts, sr_tb, MPEGTS_TIME_BASE) + TS_OFFSET_90K;
            packet.set_pts(Some(p90));
            packet.set_dts(Some(p90));
            packet.set_duration(rescale(self.frame_size as i64, sr_tb, MPEGTS_TIME_BASE));
            out.push(EncodedPacket {
                segment,
                packet: std::mem::replace(&mut packet, Packet::empty()),
            });
        }
    }

    /// Flushes the filter, the FIFO and the encoder.
    pub(super) fn finish(&mut self, out: &mut Vec<EncodedPacket>) -> Result<()> {
        if let Some(g) = self.graph.as_mut() {
            if let Some(mut src) = g.get("in") {
                let _ = src.source().flush();
            }
        }
        self.drain_filter(out, true)?;
        let _ = self.encoder.send_eof();
        self.receive_packets(out);
        Ok(())
    }
}
