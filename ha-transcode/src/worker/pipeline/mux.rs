//! Writes one segment: a fresh MPEG-TS output context per segment (see [`crate::hls`] for
//! why), so its bytes depend only on its own packets.

use std::path::Path;

use ffmpeg_next::{codec, encoder, format, Dictionary, Rational};

use super::assembler::Track;
use super::{ff, EncodedPacket};
use crate::error::Result;
use crate::hls::timeline::MPEGTS_TIME_BASE;

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
    let tb = Rational(MPEGTS_TIME_BASE.0, MPEGTS_TIME_BASE.1);
    {
        let mut st = octx
            .add_stream(encoder::find(codec::Id::None))
            .map_err(ff("adding the video stream"))?;
        st.set_parameters(video.clone());
        st.set_time_base(tb);
    }
    if let Some(a) = audio {
        let mut st = octx
            .add_stream(encoder::find(codec::Id::None))
            .map_err(ff("adding the audio stream"))?;
        st.set_parameters(a.clone());
        st.set_time_base(tb);
    }
    let mut opts = Dictionary::new();
    // Our timestamps are already positive and constant-offset; a muxer shift would apply to a
    // full run's first segment only and break splicing.
    opts.set("avoid_negative_ts", "disabled");
    // PAT/PMT at the start of the file; each segment stands alone.
    opts.set("mpegts_flags", "+resend_headers");
    octx.write_header_with(opts)
        .map_err(ff("writing a segment header"))?;
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
            Track::Audio if audio.is_some() => 1,
            Track::Audio => continue,
        };
        p.set_stream(index);
        p.rescale_ts(tb, out_tb.get(index).copied().unwrap_or(tb));
        p.set_position(-1);
        p.write_interleaved(&mut octx)
            .map_err(ff("writing a segment packet"))?;
    }
    octx.write_trailer().map_err(ff("finishing a segment"))?;
    Ok(Written {
        first_pts: first_pts.unwrap_or(0),
        frame_count,
    })
}
