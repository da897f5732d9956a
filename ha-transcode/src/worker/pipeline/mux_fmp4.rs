//! Writes one fMP4 segment (and, when asked, the init segment): a fresh mp4 muxer context per
//! segment, cut after the moov. See [`crate::hls::fmp4`] for the muxer options and why.

use std::path::Path;

use ffmpeg_next::{codec, ffi, format, Dictionary};

use super::annexb::parameter_sets;
use super::assembler::Track;
use super::mux::{add_streams, write_packets, Written};
use super::{ff, EncodedPacket};
use crate::hls::fmp4::split_init;
use crate::worker::error::{Result, WorkerError};

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
    let first_video = packets
        .iter()
        .find(|(t, _)| *t == Track::Video)
        .and_then(|(_, p)| p.packet.data());
    let vparams =
        video_stream_parameters(video, first_video).map_err(|what| invalid(path, what))?;

    let mut octx = format::output_as(path, "mp4").map_err(ff("creating a segment file"))?;
    add_streams(&mut octx, vparams, audio)?;
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
    let written = write_packets(&mut octx, audio.is_some(), packets)?;
    // In fragmented mode the trailer flushes the one pending fragment (moof+mdat).
    octx.write_trailer().map_err(ff("finishing a segment"))?;
    drop(octx);

    let bytes = std::fs::read(path).map_err(|source| io(path, source))?;
    let cut = split_init(&bytes).ok_or_else(|| invalid(path, "the muxer wrote no moov"))?;
    std::fs::write(path, &bytes[cut..]).map_err(|source| io(path, source))?;
    if let Some(init) = init_path {
        std::fs::write(init, &bytes[..cut]).map_err(|source| io(init, source))?;
    }
    Ok(written)
}

/// `hvc1` as an FFmpeg codec tag (`MKTAG('h','v','c','1')`, first letter in the low byte).
const HVC1: u32 = u32::from_le_bytes(*b"hvc1");

/// The video stream's parameters as the mp4 muxer gets them, from the encoder's `video`:
///
/// - extradata: when the encoder left it empty (libx264 without a global header), the
///   parameter sets of the segment's first video packet (`first_video_packet`, Annex B), so
///   `empty_moov` can write `avcC`/`hvcC` before any packet;
/// - HEVC gets the `hvc1` sample entry instead of movenc's default `hev1`: Apple players (and
///   Apple's HLS authoring spec) refuse `hev1` in fMP4, and with `hvc1` movenc marks the
///   `hvcC` parameter-set arrays complete. Other codecs keep the muxer's default tag (`avc1`).
///
/// Pure configuration, no muxing: the error is what is wrong with the input.
fn video_stream_parameters(
    video: &codec::Parameters,
    first_video_packet: Option<&[u8]>,
) -> std::result::Result<codec::Parameters, &'static str> {
    let hevc = video.id() == codec::Id::HEVC;
    let mut vparams = video.clone();
    if extradata_len(&vparams) == 0 {
        let sets = first_video_packet
            .map(|d| parameter_sets(d, hevc))
            .unwrap_or_default();
        if sets.is_empty() {
            return Err("the segment's first video packet has no SPS/PPS");
        }
        set_extradata(&mut vparams, &sets)?;
    }
    if hevc {
        set_codec_tag(&mut vparams, HVC1);
    }
    Ok(vparams)
}

#[allow(unsafe_code)]
fn set_codec_tag(params: &mut codec::Parameters, tag: u32) {
    // SAFETY: `params` is a clone we own, so its AVCodecParameters is valid and unshared;
    // codec_tag is a plain integer field the muxer reads (and validates) at write_header.
    unsafe { (*params.as_mut_ptr()).codec_tag = tag }
}

fn io(path: &Path, source: std::io::Error) -> WorkerError {
    WorkerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn invalid(path: &Path, what: &str) -> WorkerError {
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
fn set_extradata(
    params: &mut codec::Parameters,
    data: &[u8],
) -> std::result::Result<(), &'static str> {
    let len = i32::try_from(data.len()).map_err(|_| "huge extradata")?;
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
            return Err("out of memory for extradata");
        }
        std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
        (*par).extradata = buf;
        (*par).extradata_size = len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(id: codec::Id) -> codec::Parameters {
        let mut p = codec::Parameters::new();
        p.set_medium(ffmpeg_next::media::Type::Video);
        p.set_id(id);
        p
    }

    #[allow(unsafe_code)]
    fn codec_tag(params: &codec::Parameters) -> u32 {
        // SAFETY: `params` owns a valid AVCodecParameters for as long as it lives; we only
        // read one field.
        unsafe { (*params.as_ptr()).codec_tag }
    }

    fn extradata(params: &codec::Parameters) -> Vec<u8> {
        let len = usize::try_from(extradata_len(params)).unwrap();
        if len == 0 {
            return Vec::new();
        }
        #[allow(unsafe_code)]
        // SAFETY: a non-zero extradata_size means extradata points at that many bytes, owned
        // by `params` (set by set_extradata) and alive while `params` is borrowed.
        unsafe {
            std::slice::from_raw_parts((*params.as_ptr()).extradata, len).to_vec()
        }
    }

    const HEVC_KEY_FRAME: &[u8] = &[
        0, 0, 0, 1, 0x40, 0x01, 0xaa, // VPS (type 32)
        0, 0, 0, 1, 0x42, 0x01, 0xbb, // SPS (type 33)
        0, 0, 0, 1, 0x44, 0x01, 0xcc, // PPS (type 34)
        0, 0, 0, 1, 0x26, 0x01, 0xdd, // IDR_W_RADL slice (type 19)
    ];

    #[test]
    fn hvc1_tag_constant_is_ffmpegs_mktag() {
        let mktag =
            u32::from(b'h') | u32::from(b'v') << 8 | u32::from(b'c') << 16 | u32::from(b'1') << 24;
        assert_eq!(HVC1, mktag);
    }

    #[test]
    fn hevc_gets_the_hvc1_sample_entry_and_its_parameter_sets() {
        let out = video_stream_parameters(&params(codec::Id::HEVC), Some(HEVC_KEY_FRAME)).unwrap();
        assert_eq!(out.id(), codec::Id::HEVC);
        assert_eq!(codec_tag(&out), HVC1);
        assert_eq!(
            extradata(&out),
            HEVC_KEY_FRAME[..21].to_vec(),
            "VPS+SPS+PPS, no slice"
        );
    }

    #[test]
    fn hevc_with_encoder_extradata_keeps_it_and_still_gets_hvc1() {
        let mut enc = params(codec::Id::HEVC);
        set_extradata(&mut enc, &HEVC_KEY_FRAME[..21]).unwrap();
        set_codec_tag(&mut enc, u32::from_le_bytes(*b"hev1"));
        let out = video_stream_parameters(&enc, None).unwrap();
        assert_eq!(codec_tag(&out), HVC1);
        assert_eq!(extradata(&out), HEVC_KEY_FRAME[..21].to_vec());
        assert_eq!(
            codec_tag(&enc),
            u32::from_le_bytes(*b"hev1"),
            "input untouched"
        );
    }

    #[test]
    fn h264_keeps_the_default_tag() {
        let key_frame = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 7,
        ];
        let out = video_stream_parameters(&params(codec::Id::H264), Some(&key_frame)).unwrap();
        assert_eq!(codec_tag(&out), 0, "movenc picks avc1");
        assert_eq!(extradata(&out), key_frame[..13].to_vec());
    }

    #[test]
    fn no_parameter_sets_is_an_error() {
        let slice_only = [0, 0, 0, 1, 0x26, 0x01, 0xdd];
        for first in [None, Some(&slice_only[..])] {
            assert!(video_stream_parameters(&params(codec::Id::HEVC), first).is_err());
        }
    }
}
