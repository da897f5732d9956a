//! Writes one fMP4 segment (and, when asked, the init segment): a fresh mp4 muxer context per
//! segment, cut after the moov. See [`crate::hls::fmp4`] for the muxer options and why.

use std::path::Path;

use ffmpeg_next::{codec, encoder, ffi, format, Dictionary, Rational};

use super::annexb::parameter_sets;
use super::assembler::Track;
use super::mux::Written;
use super::{ff, EncodedPacket};
use crate::error::{Error, Result};
use crate::hls::fmp4::split_init;
use crate::hls::timeline::MPEGTS_TIME_BASE;

/// Writes `packets` of segment `index` (timestamps in 90 kHz with the offset) as one moof+mdat
/// to `path`, and the ftyp+moov to `init_path` when given.
pub(super) fn write_segment(
    index: u32,
    path: &Path,
    init_path: Option<&Path>,
    video: &codec::Parameters,
    audio: Option<&codec::Parameters>,
    packets: Vec<(Track, EncodedPacket)>,
) -> Result<Written> {
    let mut vparams = video.clone();
    if extradata_len(&vparams) == 0 {
        let first_video = packets.iter().find(|(t, _)| *t == Track::Video);
        let sets = first_video
            .and_then(|(_, p)| p.packet.data())
            .map(|d| parameter_sets(d, video.id() == codec::Id::HEVC))
            .unwrap_or_default();
        if sets.is_empty() {
            return Err(invalid(
                path,
                "the segment's first video packet has no SPS/PPS",
            ));
        }
        set_extradata(&mut vparams, &sets)?;
    }

    let mut octx = format::output_as(path, "mp4").map_err(ff("creating a segment file"))?;
    let tb = Rational(MPEGTS_TIME_BASE.0, MPEGTS_TIME_BASE.1);
    {
        let mut st = octx
            .add_stream(encoder::find(codec::Id::None))
            .map_err(ff("adding the video stream"))?;
        st.set_parameters(vparams);
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
    opts.set(
        "movflags",
        "+frag_custom+empty_moov+default_base_moof+frag_discont+skip_trailer",
    );
    opts.set("use_editlist", "0");
    opts.set("video_track_timescale", "90000");
    opts.set("avoid_negative_ts", "disabled");
    // mfhd sequence_number = index + 1: increasing along the playlist, the same in every run.
    opts.set("fragment_index", &(u64::from(index) + 1).to_string());
    octx.write_header_with(opts)
        .map_err(ff("writing a segment header"))?;
    let out_tb: Vec<Rational> = octx.streams().map(|s| s.time_base()).collect();
    let mut first_pts: Option<i64> = None;
    let mut frame_count = 0u32;
    for (track, enc) in packets {
        let mut p = enc.packet;
        let stream = match track {
            Track::Video => {
                frame_count += 1;
                let pts = p.pts().unwrap_or(0);
                first_pts = Some(first_pts.map_or(pts, |f: i64| f.min(pts)));
                0
            }
            Track::Audio if audio.is_some() => 1,
            Track::Audio => continue,
        };
        p.set_stream(stream);
        p.rescale_ts(tb, out_tb.get(stream).copied().unwrap_or(tb));
        p.set_position(-1);
        p.write_interleaved(&mut octx)
            .map_err(ff("writing a segment packet"))?;
    }
    // In fragmented mode the trailer flushes the one pending fragment (moof+mdat).
    octx.write_trailer().map_err(ff("finishing a segment"))?;
    drop(octx);

    let bytes = std::fs::read(path).map_err(|source| io(path, source))?;
    let cut = split_init(&bytes).ok_or_else(|| invalid(path, "the muxer wrote no moov"))?;
    std::fs::write(path, &bytes[cut..]).map_err(|source| io(path, source))?;
    if let Some(init) = init_path {
        std::fs::write(init, &bytes[..cut]).map_err(|source| io(init, source))?;
    }
    Ok(Written {
        first_pts: first_pts.unwrap_or(0),
        frame_count,
    })
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn invalid(path: &Path, what: &str) -> Error {
    io(
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned()),
    )
}

#[allow(unsafe_code)]
fn extradata_len(params: &codec::Parameters) -> i32 {
    // SAFETY: `params` owns or borrows a valid AVCodecParameters for as long as it lives; we
    // only read one field.
    unsafe { (*params.as_ptr()).extradata_size }
}

/// Replaces the extradata of `params` with a copy of `data`.
#[allow(unsafe_code)]
fn set_extradata(params: &mut codec::Parameters, data: &[u8]) -> Result<()> {
    let len = i32::try_from(data.len()).map_err(|_| invalid(Path::new(""), "huge extradata"))?;
    let padding = ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;
    // SAFETY: `params` is a clone we own, so its AVCodecParameters is valid and unshared. The
    // old extradata (if any) was allocated by FFmpeg and is released with av_freep; the new
    // buffer comes from av_mallocz with the zeroed padding FFmpeg requires, holds `len` bytes
    // copied from `data`, and is freed by avcodec_parameters_free when `params` drops.
    unsafe {
        let par = params.as_mut_ptr();
        ffi::av_freep(std::ptr::addr_of_mut!((*par).extradata).cast());
        (*par).extradata_size = 0;
        let buf = ffi::av_mallocz(data.len() + padding).cast::<u8>();
        if buf.is_null() {
            return Err(invalid(Path::new(""), "out of memory for extradata"));
        }
        std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
        (*par).extradata = buf;
        (*par).extradata_size = len;
    }
    Ok(())
}
