//! HDR metadata that only a decoded frame carries.
//!
//! Why decode at all: HEVC as x265 (and most encoders) writes it carries the HDR10 mastering
//! display and content light level in SEI messages inside the bitstream. FFmpeg 5.1 exports
//! those as *frame* side data; they reach the *stream* side data only when the container
//! stores them too (Matroska `MasteringMetadata`, MP4 `mdcv`/`clli`), which many files lack.
//! HDR10+ (SMPTE ST 2094-40) is dynamic metadata: per-frame SEI only. So for PQ streams —
//! the only ones where any of this matters — the probe decodes the first frame.
//!
//! Bounded: single-threaded decoder (the first frame comes out of the first packets, with no
//! frame-thread delay), at most [`MAX_PACKETS`] packets read, and the probe's deadline
//! interrupt still covers every read. Best effort: a stream that does not decode leaves the
//! fields at what the container said; the probe itself does not fail for it.

use ffmpeg_next::format::context::Input;
use ffmpeg_next::frame::{self, side_data::Type as FrameData};
use ffmpeg_next::{codec, Packet};

use super::hdr_meta::{content_light, mastering_display};
use super::model::{ContentLightLevel, MasteringDisplay};

/// Most packets (of all streams) read while looking for the first video frame.
const MAX_PACKETS: usize = 256;

/// HDR metadata found on the first decoded frame.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct FrameHdr {
    pub mastering_display: Option<MasteringDisplay>,
    pub content_light: Option<ContentLightLevel>,
    pub hdr10_plus: bool,
}

/// Decodes the first frame of stream `index` of `input` and reads its HDR side data.
/// `None` when no frame decoded within the bounds.
pub(super) fn first_frame_hdr(input: &mut Input, index: usize) -> Option<FrameHdr> {
    let params = input.stream(index)?.parameters();
    let mut decoder = codec::Context::from_parameters(params)
        .and_then(|c| c.decoder().video())
        .map_err(|e| tracing::debug!("probe: no decoder for the first frame: {e}"))
        .ok()?;
    let mut frame = frame::Video::empty();
    let mut packet = Packet::empty();
    for _ in 0..MAX_PACKETS {
        if packet.read(input).is_err() {
            // End of file (or a read error): drain what the decoder holds.
            let _ = decoder.send_eof();
            return decoder
                .receive_frame(&mut frame)
                .ok()
                .map(|()| read_frame(&frame));
        }
        if packet.stream() != index {
            continue;
        }
        if decoder.send_packet(&packet).is_err() {
            continue; // a damaged packet: try the next one
        }
        if decoder.receive_frame(&mut frame).is_ok() {
            return Some(read_frame(&frame));
        }
    }
    None
}

fn read_frame(frame: &frame::Video) -> FrameHdr {
    FrameHdr {
        mastering_display: frame
            .side_data(FrameData::MasteringDisplayMetadata)
            .and_then(|sd| mastering_display(sd.data())),
        content_light: frame
            .side_data(FrameData::ContentLightLevel)
            .and_then(|sd| content_light(sd.data())),
        hdr10_plus: frame.side_data(FrameData::DYNAMIC_HDR_PLUS).is_some(),
    }
}
