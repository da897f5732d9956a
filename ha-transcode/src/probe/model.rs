//! What a probe finds: plain, serde-serialisable data.
//!
//! The server stores a [`MediaProbe`] as JSON (`Item::probe_json`) and the playback decision
//! reads it without touching FFmpeg again, so these types hold values (names as FFmpeg spells
//! them, numbers), never FFmpeg handles. Every field a file may lack is an `Option` and
//! defaults when absent, so JSON written by an older version still loads.

use serde::{Deserialize, Serialize};

/// Everything the playback decision and the UI need to know about one media file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaProbe {
    /// The container in the short form clients use in device profiles: `mp4`, `mov`, `m4v`,
    /// `m4a`, `mkv`, `webm`, `ts`, `mp3`, `avi`, ... (from the demuxer and the file extension).
    pub container: String,
    /// The demuxer's own name list, e.g. `mov,mp4,m4a,3gp,3g2,mj2` or `matroska,webm`.
    pub format_name: String,
    /// Duration in seconds, when the container knows it.
    pub duration_secs: Option<f64>,
    /// Overall bit rate in bits per second, when known.
    pub bit_rate: Option<u64>,
    /// File size in bytes.
    pub size: u64,
    /// Every stream, in file order.
    pub streams: Vec<StreamInfo>,
}

impl MediaProbe {
    /// The first video stream (cover art — attached pictures — excluded).
    pub fn video(&self) -> Option<&StreamInfo> {
        self.streams
            .iter()
            .find(|s| s.kind == StreamKind::Video && !s.is_attached_picture)
    }

    /// The audio stream with `index`, or else the default audio stream, or else the first one.
    pub fn audio(&self, index: Option<usize>) -> Option<&StreamInfo> {
        self.stream_of(StreamKind::Audio, index)
    }

    /// The subtitle stream with `index` (subtitles are never picked implicitly).
    pub fn subtitle(&self, index: usize) -> Option<&StreamInfo> {
        self.streams
            .iter()
            .find(|s| s.index == index && s.kind == StreamKind::Subtitle)
    }

    fn stream_of(&self, kind: StreamKind, index: Option<usize>) -> Option<&StreamInfo> {
        let mut of_kind = self.streams.iter().filter(|s| s.kind == kind);
        match index {
            Some(i) => of_kind.find(|s| s.index == i),
            None => {
                let all: Vec<_> = of_kind.collect();
                all.iter()
                    .find(|s| s.is_default)
                    .or_else(|| all.first())
                    .copied()
            }
        }
    }
}

/// What a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamKind {
    /// Pictures.
    Video,
    /// Sound.
    Audio,
    /// Subtitles.
    Subtitle,
    /// Data, attachments (fonts) and anything else.
    #[default]
    Other,
}

/// One stream of a file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamInfo {
    /// The stream's index in the container (what `-map 0:N` and the decision options use).
    pub index: usize,
    /// What it carries.
    pub kind: StreamKind,
    /// FFmpeg's codec name: `h264`, `hevc`, `mpeg2video`, `aac`, `mp3`, `subrip`, ...
    pub codec: String,
    /// Codec profile as FFmpeg names it (`High`, `Main 10`, `LC`), when known.
    pub profile: Option<String>,
    /// Codec level as FFmpeg reports it (H.264 `40` for 4.0, HEVC `120` for 4.0), when known.
    pub level: Option<i32>,
    /// The stream's bit rate in bits per second, when known.
    pub bit_rate: Option<u64>,
    /// ISO 639 language tag, when tagged (`und` is treated as untagged).
    pub language: Option<String>,
    /// Title tag, when present.
    pub title: Option<String>,
    /// Marked default.
    pub is_default: bool,
    /// Marked forced.
    pub is_forced: bool,
    /// Cover art (an attached picture), not a real video track.
    pub is_attached_picture: bool,
    /// Video details, for video streams.
    pub video: Option<VideoInfo>,
    /// Audio details, for audio streams.
    pub audio: Option<AudioInfo>,
    /// Subtitle details, for subtitle streams.
    pub subtitle: Option<SubtitleInfo>,
}

/// Details of a video stream.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VideoInfo {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Average frame rate (frames per second), when known.
    pub avg_frame_rate: Option<f64>,
    /// The container's "real" base frame rate (`r_frame_rate`), when known.
    pub real_frame_rate: Option<f64>,
    /// Pixel format name (`yuv420p`, `yuv420p10le`), when known.
    pub pixel_format: Option<String>,
    /// Bits per sample of the luma plane (8, 10, 12), when known.
    pub bit_depth: Option<u32>,
    /// Field order as coded.
    pub field_order: FieldOrder,
    /// True for interlaced content (any field order other than progressive or unknown).
    pub interlaced: bool,
    /// Transfer characteristic (`bt709`, `smpte2084`, `arib-std-b67`), when signalled.
    pub color_transfer: Option<String>,
    /// Colour primaries (`bt709`, `bt2020`), when signalled.
    pub color_primaries: Option<String>,
    /// Colour space / matrix (`bt709`, `bt2020nc`), when signalled.
    pub color_space: Option<String>,
    /// Colour range (`tv` = limited, `pc` = full), when signalled.
    pub color_range: Option<String>,
    /// Dynamic range classification.
    pub hdr: HdrFormat,
    /// Jellyfin's finer `VideoRangeType` (what `CodecProfiles` conditions test).
    pub range_type: VideoRangeType,
    /// Dolby Vision configuration, when the stream carries one.
    pub dovi: Option<DoviConfig>,
    /// HDR10 static metadata: the mastering display (SMPTE ST 2086), when signalled in the
    /// container or in the first frame.
    pub mastering_display: Option<MasteringDisplay>,
    /// HDR10 static metadata: content light level (MaxCLL / MaxFALL), when signalled.
    pub content_light: Option<ContentLightLevel>,
    /// The first frame carries HDR10+ dynamic metadata (SMPTE ST 2094-40). Only PQ streams
    /// are checked.
    pub hdr10_plus: bool,
}

/// The mastering display of HDR10 static metadata (SMPTE ST 2086). Chromaticities are CIE 1931
/// `[x, y]`, luminances cd/m². Each half is optional, as in the bitstream.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MasteringDisplay {
    /// Display primaries and white point, when signalled.
    pub primaries: Option<DisplayPrimaries>,
    /// Minimum luminance (cd/m²), when signalled.
    pub min_luminance: Option<f64>,
    /// Maximum luminance (cd/m²), when signalled.
    pub max_luminance: Option<f64>,
}

/// Primaries and white point of a mastering display, CIE 1931 `[x, y]`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DisplayPrimaries {
    /// Red primary.
    pub red: [f64; 2],
    /// Green primary.
    pub green: [f64; 2],
    /// Blue primary.
    pub blue: [f64; 2],
    /// White point.
    pub white_point: [f64; 2],
}

/// Content light level of HDR10 static metadata (CTA-861.3), in cd/m².
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ContentLightLevel {
    /// Maximum content light level (MaxCLL).
    pub max_cll: u32,
    /// Maximum frame-average light level (MaxFALL).
    pub max_fall: u32,
}

/// How the fields of an interlaced picture are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldOrder {
    /// Not signalled.
    #[default]
    Unknown,
    /// Progressive.
    Progressive,
    /// Top field coded first, displayed first.
    TopFirst,
    /// Bottom field coded first, displayed first.
    BottomFirst,
    /// Top coded first, bottom displayed first.
    TopCodedBottomFirst,
    /// Bottom coded first, top displayed first.
    BottomCodedTopFirst,
}

impl FieldOrder {
    /// True for every interlaced order.
    pub fn is_interlaced(self) -> bool {
        !matches!(self, FieldOrder::Unknown | FieldOrder::Progressive)
    }
}

/// Dynamic range of a video stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum HdrFormat {
    /// Standard dynamic range (or unsignalled).
    #[default]
    Sdr,
    /// PQ transfer (SMPTE ST 2084), static metadata (HDR10+ too: its dynamic metadata is
    /// extra, see [`VideoInfo::hdr10_plus`] and [`VideoRangeType::Hdr10Plus`]).
    Hdr10,
    /// Hybrid log-gamma (ARIB STD-B67).
    Hlg,
    /// Dolby Vision (a DOVI configuration record is present).
    DolbyVision,
}

impl HdrFormat {
    /// True for anything but SDR: playing it on an SDR screen needs tone mapping.
    pub fn is_hdr(self) -> bool {
        self != HdrFormat::Sdr
    }
}

/// Jellyfin's `VideoRangeType`, the value `CodecProfiles` conditions on `VideoRangeType` test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum VideoRangeType {
    /// Nothing known.
    Unknown,
    /// Standard dynamic range.
    #[default]
    #[serde(rename = "SDR")]
    Sdr,
    /// HDR10 (PQ).
    #[serde(rename = "HDR10")]
    Hdr10,
    /// HDR10+: PQ with SMPTE ST 2094-40 dynamic metadata; an HDR10 device shows it as HDR10.
    #[serde(rename = "HDR10Plus")]
    Hdr10Plus,
    /// HLG.
    #[serde(rename = "HLG")]
    Hlg,
    /// Dolby Vision with no fallback layer a non-DV device can show (profile 5).
    #[serde(rename = "DOVI")]
    Dovi,
    /// Dolby Vision with an HDR10-compatible base layer.
    #[serde(rename = "DOVIWithHDR10")]
    DoviWithHdr10,
    /// Dolby Vision with an HLG-compatible base layer.
    #[serde(rename = "DOVIWithHLG")]
    DoviWithHlg,
    /// Dolby Vision with an SDR-compatible base layer.
    #[serde(rename = "DOVIWithSDR")]
    DoviWithSdr,
}

impl VideoRangeType {
    /// The name Jellyfin uses (`SDR`, `HDR10`, `DOVIWithHDR10`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            VideoRangeType::Unknown => "Unknown",
            VideoRangeType::Sdr => "SDR",
            VideoRangeType::Hdr10 => "HDR10",
            VideoRangeType::Hdr10Plus => "HDR10Plus",
            VideoRangeType::Hlg => "HLG",
            VideoRangeType::Dovi => "DOVI",
            VideoRangeType::DoviWithHdr10 => "DOVIWithHDR10",
            VideoRangeType::DoviWithHlg => "DOVIWithHLG",
            VideoRangeType::DoviWithSdr => "DOVIWithSDR",
        }
    }

    /// The range type a device can fall back to when it does not do Dolby Vision but plays
    /// the base layer (`DOVIWithHDR10` → `HDR10`), or ignores dynamic metadata
    /// (`HDR10Plus` → `HDR10`), if any.
    pub fn fallback(self) -> Option<VideoRangeType> {
        match self {
            VideoRangeType::Hdr10Plus => Some(VideoRangeType::Hdr10),
            VideoRangeType::DoviWithHdr10 => Some(VideoRangeType::Hdr10),
            VideoRangeType::DoviWithHlg => Some(VideoRangeType::Hlg),
            VideoRangeType::DoviWithSdr => Some(VideoRangeType::Sdr),
            _ => None,
        }
    }
}

/// The Dolby Vision decoder configuration record (`dvcC`/`dvvC`) of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DoviConfig {
    /// Major version of the record.
    pub version_major: u8,
    /// Minor version of the record.
    pub version_minor: u8,
    /// Dolby Vision profile (5, 7, 8, ...).
    pub profile: u8,
    /// Dolby Vision level.
    pub level: u8,
    /// A reference processing unit is present.
    pub rpu_present: bool,
    /// An enhancement layer is present.
    pub el_present: bool,
    /// A base layer is present.
    pub bl_present: bool,
    /// What a non-DV decoder sees in the base layer: 0 none, 1 HDR10, 2 SDR, 4 HLG, 6 BT.2100 PQ.
    pub bl_signal_compatibility_id: u8,
}

/// Details of an audio stream.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AudioInfo {
    /// Number of channels.
    pub channels: u32,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel layout as FFmpeg describes it (`mono`, `stereo`, `5.1`, `5.1(side)`), when known.
    pub channel_layout: Option<String>,
}

/// Details of a subtitle stream.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SubtitleInfo {
    /// Text-based (SRT, ASS, WebVTT, mov_text) rather than bitmaps (PGS, DVD, DVB): text can be
    /// converted and delivered separately, bitmaps usually have to be burnt in.
    pub is_text: bool,
}
