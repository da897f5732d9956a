//! The only FFI reads of the probe: fields ffmpeg-next has no (sound) accessor for.
//!
//! ffmpeg-next's `codec::Parameters` exposes only the medium, codec id and bit rate; opening a
//! decoder just to read the rest would cost a codec open per stream per file during a library
//! scan, and fails for codecs without a decoder. So this module copies the plain fields of
//! `AVCodecParameters` into a [`RawParams`] value, once, in one place.
//!
//! Tags are read here too: ffmpeg-next's `DictionaryRef::get` builds a `&str` with
//! `from_utf8_unchecked`, and tags in old AVI/ID3 files are often not UTF-8. We decode lossily.

use std::ffi::{CStr, CString};

use ffmpeg_next::ffi;
use ffmpeg_next::format::stream::Stream;
use ffmpeg_next::util::color;

use super::model::FieldOrder;

/// Plain copies of the `AVCodecParameters` fields the probe reports.
#[derive(Debug, Clone, Default)]
pub(super) struct RawParams {
    pub profile: Option<String>,
    pub level: Option<i32>,
    pub width: u32,
    pub height: u32,
    pub pixel_format: Option<String>,
    pub bit_depth: Option<u32>,
    pub field_order: FieldOrder,
    pub color_transfer: Option<String>,
    pub color_primaries: Option<String>,
    pub color_space: Option<String>,
    pub color_range: Option<String>,
    pub channels: u32,
    pub sample_rate: u32,
    pub channel_layout: Option<String>,
}

/// Copies the codec parameters of `stream`.
#[allow(unsafe_code)]
pub(super) fn read_params(stream: &Stream<'_>) -> RawParams {
    let params = stream.parameters();
    // SAFETY: `as_ptr` points at the stream's `AVCodecParameters`, which lives as long as the
    // format context that `stream` borrows; we only read plain fields and call FFmpeg's
    // read-only name/describe helpers on them. The typed enum fields were written by FFmpeg
    // itself, so they hold valid discriminants.
    unsafe {
        let p = &*params.as_ptr();
        let is_video = p.codec_type == ffi::AVMediaType::AVMEDIA_TYPE_VIDEO;
        let is_audio = p.codec_type == ffi::AVMediaType::AVMEDIA_TYPE_AUDIO;

        let profile = if p.profile >= 0 {
            cstr_lossy(ffi::avcodec_profile_name(p.codec_id, p.profile))
        } else {
            None
        };
        let mut raw = RawParams {
            profile,
            level: (p.level > 0).then_some(p.level),
            ..RawParams::default()
        };

        if is_video {
            raw.width = u32::try_from(p.width).unwrap_or(0);
            raw.height = u32::try_from(p.height).unwrap_or(0);
            let (name, depth) = pixel_format(p.format);
            raw.pixel_format = name;
            raw.bit_depth = depth.or_else(|| {
                (p.bits_per_raw_sample > 0).then(|| p.bits_per_raw_sample.unsigned_abs())
            });
            raw.field_order = field_order(p.field_order);
            raw.color_transfer = known(color::TransferCharacteristic::from(p.color_trc).name());
            raw.color_primaries = known(color::Primaries::from(p.color_primaries).name());
            raw.color_space = known(color::Space::from(p.color_space).name());
            raw.color_range = known(color::Range::from(p.color_range).name());
        }
        if is_audio {
            raw.sample_rate = u32::try_from(p.sample_rate).unwrap_or(0);
            raw.channels = u32::try_from(p.ch_layout.nb_channels).unwrap_or(0);
            if p.ch_layout.order != ffi::AVChannelOrder::AV_CHANNEL_ORDER_UNSPEC {
                let mut buf = [0 as std::os::raw::c_char; 64];
                let n = ffi::av_channel_layout_describe(&p.ch_layout, buf.as_mut_ptr(), buf.len());
                if n > 0 {
                    raw.channel_layout = cstr_lossy(buf.as_ptr());
                }
            }
        }
        raw
    }
}

/// A tag of `stream` (`language`, `title`, ...), decoded lossily.
#[allow(unsafe_code)]
pub(super) fn stream_tag(stream: &Stream<'_>, key: &str) -> Option<String> {
    let key = CString::new(key).ok()?;
    // SAFETY: the stream's metadata dictionary (possibly null, which av_dict_get accepts) lives
    // as long as the format context `stream` borrows; the returned entry's value is a
    // NUL-terminated string owned by the dictionary, copied out before we return.
    unsafe {
        let dict = (*stream.as_ptr()).metadata;
        let entry = ffi::av_dict_get(dict, key.as_ptr(), std::ptr::null(), 0);
        if entry.is_null() {
            None
        } else {
            cstr_lossy((*entry).value)
        }
    }
}

/// Name and luma bit depth of a raw `AVPixelFormat` value.
#[allow(unsafe_code)]
fn pixel_format(format: i32) -> (Option<String>, Option<u32>) {
    let nb = ffi::AVPixelFormat::AV_PIX_FMT_NB as i32;
    if !(0..nb).contains(&format) {
        return (None, None);
    }
    // SAFETY: AVPixelFormat is a C enum with consecutive values from -1 (NONE) to NB, and
    // `format` is checked to lie in [0, NB), so it is a valid discriminant. The descriptor
    // returned by av_pix_fmt_desc_get is static, read-only FFmpeg data (or null).
    unsafe {
        let fmt: ffi::AVPixelFormat = std::mem::transmute::<i32, ffi::AVPixelFormat>(format);
        let desc = ffi::av_pix_fmt_desc_get(fmt);
        if desc.is_null() {
            return (None, None);
        }
        let name = cstr_lossy((*desc).name);
        let depth = ((*desc).nb_components > 0)
            .then(|| u32::try_from((*desc).comp[0].depth).ok())
            .flatten()
            .filter(|d| *d > 0);
        (name, depth)
    }
}

fn field_order(order: ffi::AVFieldOrder) -> FieldOrder {
    use ffi::AVFieldOrder::*;
    match order {
        AV_FIELD_PROGRESSIVE => FieldOrder::Progressive,
        AV_FIELD_TT => FieldOrder::TopFirst,
        AV_FIELD_BB => FieldOrder::BottomFirst,
        AV_FIELD_TB => FieldOrder::TopCodedBottomFirst,
        AV_FIELD_BT => FieldOrder::BottomCodedTopFirst,
        _ => FieldOrder::Unknown,
    }
}

/// FFmpeg's colour names, minus the ones that mean "not signalled".
fn known(name: Option<&str>) -> Option<String> {
    name.filter(|n| !matches!(*n, "unknown" | "unspecified" | "reserved"))
        .map(str::to_owned)
}

/// Copies a C string (null → `None`), replacing invalid UTF-8.
///
/// # Safety
/// `ptr` is null or points at a NUL-terminated string that stays valid during the call.
#[allow(unsafe_code)]
unsafe fn cstr_lossy(ptr: *const std::os::raw::c_char) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-null and NUL-terminated, by this function's contract.
    let s = unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned();
    Some(s)
}
