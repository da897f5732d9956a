//! What the encoder builders need to know about the input video.

/// The transfer characteristic, as far as tone mapping cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transfer {
    /// SDR (BT.709, BT.601, unknown).
    #[default]
    Sdr,
    /// HDR10 / PQ (SMPTE ST 2084).
    Pq,
    /// Hybrid log-gamma (ARIB STD-B67).
    Hlg,
}

impl Transfer {
    /// True for PQ and HLG: the output must be tone-mapped to SDR.
    pub fn is_hdr(self) -> bool {
        !matches!(self, Transfer::Sdr)
    }

    /// The zscale/tonemap_vaapi name of the transfer.
    pub fn zscale_name(self) -> &'static str {
        match self {
            Transfer::Sdr => "bt709",
            Transfer::Pq => "smpte2084",
            Transfer::Hlg => "arib-std-b67",
        }
    }
}

/// The input video stream, described for the builders.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoSource {
    /// FFmpeg codec name of the source (`h264`, `hevc`, `mpeg2video`, …).
    pub codec: String,
    /// Coded width.
    pub width: u32,
    /// Coded height.
    pub height: u32,
    /// Sample aspect ratio `(num, den)`; `(0, 1)` or `(1, 1)` for square pixels.
    pub sample_aspect: (i32, i32),
    /// Bits per luma sample (8, 10, 12).
    pub bit_depth: u8,
    /// Transfer characteristic.
    pub transfer: Transfer,
    /// True for interlaced content (field order other than progressive).
    pub interlaced: bool,
    /// Average frame rate `(num, den)`.
    pub frame_rate: (i32, i32),
}
