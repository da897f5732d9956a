//! The Intel Quick Sync pipeline, built the way Jellyfin's `EncodingHelper` drives it on Linux.
//!
//! - Devices: a VAAPI device on the render node with the iHD driver, a QSV device derived from
//!   it, and the QSV device for filters:
//!   `-init_hw_device vaapi=va:/dev/dri/renderD128,driver=iHD -init_hw_device qsv=qs@va
//!   -filter_hw_device qs`.
//! - Decode: `h264_qsv` for 8-bit H.264, `hevc_qsv` for HEVC up to 12-bit; everything else
//!   (MPEG-2, VC-1, VP9, AV1, 10-bit H.264) through VAAPI (`-hwaccel vaapi
//!   -hwaccel_output_format vaapi`) and `hwmap` into QSV.
//! - Filters: `vpp_qsv` scales (and deinterlaces with `deinterlace=2`) QSV surfaces; VAAPI
//!   surfaces go through `deinterlace_vaapi`/`scale_vaapi` then
//!   `hwmap=derive_device=qsv,format=qsv`. HDR→SDR is `tonemap_vaapi` between two hwmaps.
//! - Encode: `h264_qsv`/`hevc_qsv`, `-preset veryfast`, bitrate with `maxrate = b + 1` (VBR
//!   with better allocation), `rc_init_occupancy = 2b`, `bufsize = 4b`, `mbbrc 1`;
//!   `async_depth 1` (works around an i915 hang); `low_power` only when asked.
//! - GOP: QSV ignores forced key frames, so `g` = `keyint_min` = `ceil(segment · fps)`, which
//!   puts an IDR at every segment boundary as long as a run starts on a boundary (ours do).
//!
//! Everything here is pure: the result says what to run; the worker decides whether this
//! node can run it ([`super::hw_probe`]) and falls back to software otherwise.

use super::source::VideoSource;
use super::{gop_frames, output_size, EncoderOptions};
use crate::spec::{RateControl, VideoCodec, VideoSettings};

/// The default render node: the first GPU's (a second GPU is `renderD129`).
pub const DEFAULT_RENDER_NODE: &str = "/dev/dri/renderD128";

/// The environment variable that names the render node QSV uses in this process (the server
/// sets it on the workers it starts; unset: [`DEFAULT_RENDER_NODE`]).
pub const RENDER_NODE_ENV: &str = "MEDIA_HA_RENDER_NODE";

/// The render node QSV uses in this process: [`RENDER_NODE_ENV`] when set and not empty, else
/// [`DEFAULT_RENDER_NODE`].
pub fn render_node() -> std::path::PathBuf {
    std::env::var_os(RENDER_NODE_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| DEFAULT_RENDER_NODE.into(), Into::into)
}

/// How the source is decoded on the GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QsvDecode {
    /// A QSV decoder (`h264_qsv`, `hevc_qsv`); frames arrive as QSV surfaces.
    Qsv(&'static str),
    /// The VAAPI hwaccel of the native decoder; frames arrive as VAAPI surfaces.
    Vaapi,
}

/// A complete QSV transcode: devices, decoder, filter graph and encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QsvPipeline {
    /// The render node the devices are created on.
    pub render_node: String,
    /// How the source is decoded.
    pub decode: QsvDecode,
    /// The video filter graph, from decoded hardware frames to QSV surfaces at output size.
    pub filter_graph: String,
    /// The encoder name (`h264_qsv` or `hevc_qsv`).
    pub encoder: &'static str,
    /// Encoder options.
    pub encoder_options: EncoderOptions,
    /// Output frame size.
    pub output_size: (u32, u32),
}

impl QsvPipeline {
    /// The equivalent ffmpeg CLI arguments from `-init_hw_device` to the encoder options
    /// (without input and output), for logs, benches and checking a node by hand.
    #[cfg(test)]
    pub fn ffmpeg_args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "-init_hw_device".into(),
            format!("vaapi=va:{},driver=iHD", self.render_node),
            "-init_hw_device".into(),
            "qsv=qs@va".into(),
            "-filter_hw_device".into(),
            "qs".into(),
        ];
        match self.decode {
            QsvDecode::Qsv(name) => {
                a.extend(
                    [
                        "-hwaccel",
                        "qsv",
                        "-hwaccel_output_format",
                        "qsv",
                        "-c:v",
                        name,
                    ]
                    .map(String::from),
                );
            }
            QsvDecode::Vaapi => {
                a.extend(
                    [
                        "-hwaccel",
                        "vaapi",
                        "-hwaccel_output_format",
                        "vaapi",
                        "-hwaccel_device",
                        "va",
                    ]
                    .map(String::from),
                );
            }
        }
        a.push("-vf".into());
        a.push(self.filter_graph.clone());
        a.push("-c:v".into());
        a.push(self.encoder.into());
        for (k, v) in &self.encoder_options {
            a.push(format!("-{k}"));
            a.push(v.clone());
        }
        a
    }
}

/// The QSV decoder for `source`, or `None` when it must go through VAAPI.
pub fn qsv_decoder(source: &VideoSource) -> Option<&'static str> {
    match source.codec.as_str() {
        "h264" if source.bit_depth <= 8 => Some("h264_qsv"),
        "hevc" if source.bit_depth <= 12 => Some("hevc_qsv"),
        _ => None,
    }
}

/// Builds the QSV pipeline for `source` with `settings` and segments of `segment_ms`.
pub fn build_pipeline(
    source: &VideoSource,
    settings: &VideoSettings,
    segment_ms: u32,
    render_node: &str,
) -> QsvPipeline {
    let (w, h) = output_size(source, settings.target_height);
    let hdr = source.transfer.is_hdr();
    let decode = qsv_decoder(source).map_or(QsvDecode::Vaapi, QsvDecode::Qsv);
    let tonemap = "tonemap_vaapi=format=nv12:p=bt709:t=bt709:m=bt709";
    // Scale first (keeping 10-bit for HDR so the tone-mapper sees the full range), then
    // tone-map on VAAPI, then hand QSV surfaces to the encoder.
    let scaled_format = if hdr { "p010" } else { "nv12" };
    let filter_graph = match decode {
        QsvDecode::Qsv(_) => {
            let deint = if source.interlaced {
                "deinterlace=2:"
            } else {
                ""
            };
            let vpp = format!("vpp_qsv={deint}w={w}:h={h}:format={scaled_format}");
            if hdr {
                format!(
                    "{vpp},hwmap=derive_device=vaapi,{tonemap},hwmap=derive_device=qsv,format=qsv"
                )
            } else {
                vpp
            }
        }
        QsvDecode::Vaapi => {
            let mut parts = Vec::new();
            if source.interlaced {
                parts.push("deinterlace_vaapi=rate=frame".to_owned());
            }
            parts.push(format!("scale_vaapi=w={w}:h={h}:format={scaled_format}"));
            if hdr {
                parts.push(tonemap.to_owned());
            }
            parts.push("hwmap=derive_device=qsv,format=qsv".to_owned());
            parts.join(",")
        }
    };
    let encoder = match settings.codec {
        VideoCodec::H264 => "h264_qsv",
        VideoCodec::Hevc => "hevc_qsv",
    };
    QsvPipeline {
        render_node: render_node.to_owned(),
        decode,
        filter_graph,
        encoder,
        encoder_options: encoder_options(settings, source, segment_ms),
        output_size: (w, h),
    }
}

/// `h264_qsv`/`hevc_qsv` options (also used when only the encoder runs on the GPU).
pub fn encoder_options(
    settings: &VideoSettings,
    source: &VideoSource,
    segment_ms: u32,
) -> EncoderOptions {
    let gop = gop_frames(segment_ms, source.frame_rate).to_string();
    let mut o: EncoderOptions = vec![
        ("preset".into(), settings.preset.clone()),
        ("g".into(), gop.clone()),
        ("keyint_min".into(), gop),
        ("async_depth".into(), "1".into()),
    ];
    match settings.rate {
        RateControl::Bitrate { bitrate, .. } => {
            o.push(("mbbrc".into(), "1".into()));
            o.push(("b".into(), bitrate.to_string()));
            o.push(("maxrate".into(), (bitrate + 1).to_string()));
            o.push(("rc_init_occupancy".into(), (bitrate * 2).to_string()));
            o.push(("bufsize".into(), (bitrate * 4).to_string()));
        }
        RateControl::Crf { crf, .. } => {
            // ICQ: QSV's constant-quality mode.
            o.push(("global_quality".into(), crf.to_string()));
        }
    }
    if settings.low_power {
        o.push(("low_power".into(), "1".into()));
    }
    if let Some(p) = &settings.profile {
        o.push(("profile".into(), p.clone()));
    }
    if let Some(l) = &settings.level {
        o.push(("level".into(), l.clone()));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::source::Transfer;

    fn source(codec: &str, w: u32, h: u32, depth: u8, transfer: Transfer) -> VideoSource {
        VideoSource {
            codec: codec.into(),
            width: w,
            height: h,
            sample_aspect: (1, 1),
            bit_depth: depth,
            transfer,
            interlaced: false,
            frame_rate: (24000, 1001),
        }
    }

    fn settings(height: u32) -> VideoSettings {
        VideoSettings {
            codec: VideoCodec::H264,
            target_height: Some(height),
            rate: RateControl::Bitrate {
                bitrate: 4_000_000,
                maxrate: 4_000_000,
                bufsize: 8_000_000,
            },
            preset: "veryfast".into(),
            profile: Some("high".into()),
            level: None,
            low_power: false,
        }
    }

    fn opt<'a>(p: &'a QsvPipeline, k: &str) -> Option<&'a str> {
        p.encoder_options
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn h264_8bit_1080p_decodes_and_scales_on_qsv() {
        let p = build_pipeline(
            &source("h264", 1920, 1080, 8, Transfer::Sdr),
            &settings(720),
            6000,
            DEFAULT_RENDER_NODE,
        );
        assert_eq!(p.decode, QsvDecode::Qsv("h264_qsv"));
        assert_eq!(p.filter_graph, "vpp_qsv=w=1280:h=720:format=nv12");
        assert_eq!(p.encoder, "h264_qsv");
        assert_eq!(p.output_size, (1280, 720));
        assert_eq!(opt(&p, "g"), Some("144"));
        assert_eq!(opt(&p, "keyint_min"), Some("144"));
        assert_eq!(opt(&p, "async_depth"), Some("1"));
        assert_eq!(opt(&p, "mbbrc"), Some("1"));
        assert_eq!(opt(&p, "b"), Some("4000000"));
        assert_eq!(opt(&p, "maxrate"), Some("4000001"));
        assert_eq!(opt(&p, "rc_init_occupancy"), Some("8000000"));
        assert_eq!(opt(&p, "bufsize"), Some("16000000"));
        assert_eq!(opt(&p, "low_power"), None);
        let args = p.ffmpeg_args();
        assert_eq!(
            &args[..6],
            [
                "-init_hw_device",
                "vaapi=va:/dev/dri/renderD128,driver=iHD",
                "-init_hw_device",
                "qsv=qs@va",
                "-filter_hw_device",
                "qs"
            ]
        );
        assert!(args.windows(2).any(|w| w == ["-c:v", "h264_qsv"]));
    }

    #[test]
    fn hevc_10bit_hdr10_tone_maps_between_hwmaps() {
        let mut s = settings(1080);
        s.codec = VideoCodec::Hevc;
        s.low_power = true;
        let p = build_pipeline(
            &source("hevc", 3840, 2160, 10, Transfer::Pq),
            &s,
            6000,
            DEFAULT_RENDER_NODE,
        );
        assert_eq!(p.decode, QsvDecode::Qsv("hevc_qsv"));
        assert_eq!(
            p.filter_graph,
            "vpp_qsv=w=1920:h=1080:format=p010,hwmap=derive_device=vaapi,\
             tonemap_vaapi=format=nv12:p=bt709:t=bt709:m=bt709,hwmap=derive_device=qsv,format=qsv"
        );
        assert_eq!(p.encoder, "hevc_qsv");
        assert_eq!(opt(&p, "low_power"), Some("1"));
    }

    #[test]
    fn interlaced_mpeg2_goes_through_vaapi_and_deinterlaces() {
        let mut src = source("mpeg2video", 720, 576, 8, Transfer::Sdr);
        src.interlaced = true;
        src.sample_aspect = (64, 45);
        src.frame_rate = (25, 1);
        let p = build_pipeline(&src, &settings(576), 4000, DEFAULT_RENDER_NODE);
        assert_eq!(p.decode, QsvDecode::Vaapi);
        assert_eq!(
            p.filter_graph,
            "deinterlace_vaapi=rate=frame,scale_vaapi=w=1024:h=576:format=nv12,hwmap=derive_device=qsv,format=qsv"
        );
        assert_eq!(opt(&p, "g"), Some("100"));
        assert!(p
            .ffmpeg_args()
            .windows(2)
            .any(|w| w == ["-hwaccel", "vaapi"]));
    }

    #[test]
    fn interlaced_h264_deinterlaces_in_vpp_qsv() {
        let mut src = source("h264", 1920, 1080, 8, Transfer::Sdr);
        src.interlaced = true;
        let p = build_pipeline(&src, &settings(720), 4000, DEFAULT_RENDER_NODE);
        assert_eq!(
            p.filter_graph,
            "vpp_qsv=deinterlace=2:w=1280:h=720:format=nv12"
        );
    }

    #[test]
    fn ten_bit_h264_is_not_a_qsv_decode() {
        assert_eq!(
            qsv_decoder(&source("h264", 1920, 1080, 10, Transfer::Sdr)),
            None
        );
        assert_eq!(
            qsv_decoder(&source("hevc", 1920, 1080, 12, Transfer::Sdr)),
            Some("hevc_qsv")
        );
    }

    #[test]
    fn crf_maps_to_icq() {
        let mut s = settings(720);
        s.rate = RateControl::Crf {
            crf: 24,
            maxrate: None,
            bufsize: None,
        };
        let p = build_pipeline(
            &source("h264", 1920, 1080, 8, Transfer::Sdr),
            &s,
            4000,
            DEFAULT_RENDER_NODE,
        );
        assert_eq!(opt(&p, "global_quality"), Some("24"));
        assert_eq!(opt(&p, "mbbrc"), None);
    }
}
