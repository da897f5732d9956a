//! Writes one segment: a fresh MPEG-TS output context per segment (see [`crate::hls`] for
//! why), so its bytes depend only on its own packets.

use std::path::Path;

use ffmpeg_next::{codec, encoder, format, Dictionary, Rational};

use super::assembler::Track;
use super::{ff, EncodedPacket};
use crate::hls::timeline::MPEGTS_TIME_BASE;
use crate::worker::error::Result;

/// What a written segment holds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Written {
    pub first_pts: i64,
    pub frame_count: u32,
}

/// Writes `packets` (timestamps already in 90 kHz with the offset) to `path` as MPEG-TS.
pub(super) fn write_segment(
    path: &Path,
    video: &codec::Parameters,
    audio: Option<&codec::Parameters>,
    packets: Vec<(Track, EncodedPacket)>,
) -> Result<Written> {
    let mut octx = format::output_as(path, "mpegts").map_err(ff("creating a segment file"))?;
    add_streams(&mut octx, video.clone(), audio)?;
    let mut opts = Dictionary::new();
    // Our timestamps are already positive and constant-offset; a muxer shift would apply to a
    // full run's first segment only and break splicing.
    opts.set("avoid_negative_ts", "disabled");
    // PAT/PMT at the start of the file; each segment stands alone.
    opts.set("mpegts_flags", "+resend_headers");
    octx.write_header_with(opts)
        .map_err(ff("writing a segment header"))?;
    let written = write_packets(&mut octx, audio.is_some(), packets)?;
    octx.write_trailer().map_err(ff("finishing a segment"))?;
    Ok(written)
}

/// Adds the video stream (index 0) and, when given, the audio stream (index 1), both in the
/// 90 kHz time base the packets carry. Shared by the MPEG-TS and the fMP4 muxer.
pub(super) fn add_streams(
    octx: &mut format::context::Output,
    video: codec::Parameters,
    audio: Option<&codec::Parameters>,
) -> Result<()> {
    let tb = Rational(MPEGTS_TIME_BASE.0, MPEGTS_TIME_BASE.1);
    {
        let mut st = octx
            .add_stream(encoder::find(codec::Id::None))
            .map_err(ff("adding the video stream"))?;
        st.set_parameters(video);
        st.set_time_base(tb);
    }
    if let Some(a) = audio {
        let mut st = octx
            .add_stream(encoder::find(codec::Id::None))
            .map_err(ff("adding the audio stream"))?;
        st.set_parameters(a.clone());
        st.set_time_base(tb);
    }
    Ok(())
}

/// Writes `packets` (90 kHz) into the streams [`add_streams`] made, after the header, rescaled
/// to whatever time base the muxer chose; audio packets are dropped when there is no audio
/// stream. Returns the first video PTS and the video frame count.
pub(super) fn write_packets(
    octx: &mut format::context::Output,
    has_audio: bool,
    packets: Vec<(Track, EncodedPacket)>,
) -> Result<Written> {
    let tb = Rational(MPEGTS_TIME_BASE.0, MPEGTS_TIME_BASE.1);
    let out_tb: Vec<Rational> = octx.streams().map(|s| s.time_base()).collect();
    let mut first_pts: Option<i64> = None;
    let mut frame_count = 0u32;
    for (track, enc) in packets {
        let mut p = enc.packet;
        let index = match track {
            Track::Video => {
                frame_count += 1;
                let pts = p.pts().unwrap_or(0);
                first_pts = Some(first_pts.map_or(pts, |f: i64| f.min(pts)));
                0
            }
            Track::Audio if has_audio => 1,
            Track::Audio => continue,
        };
        p.set_stream(index);
        p.rescale_ts(tb, out_tb.get(index).copied().unwrap_or(tb));
        p.set_position(-1);
        p.write_interleaved(octx)
            .map_err(ff("writing a segment packet"))?;
    }
    Ok(Written {
        first_pts: first_pts.unwrap_or(0),
        frame_count,
    })
}
