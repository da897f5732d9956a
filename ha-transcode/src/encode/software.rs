//! libx264 + AAC settings and the software filter graph.
//!
//! Why these options:
//! - `forced-idr=1`: the pipeline forces an I frame at every segment boundary; without this
//!   libx264 makes it a non-IDR I frame and a segment does not decode alone
//!   ("non-existing PPS 0 referenced"). We never call `set_flags` on the encoder (it replaces
//!   all flags and drops libx264's closed-GOP default).
//! - `g` = `keyint_min` = one segment of frames and `sc_threshold=0`: no scene-cut key frames,
//!   so the GOP structure depends only on the segment grid — a full run and a resumed run make
//!   the same decisions at the same frames.
//! - rate control: CRF (optionally VBV-capped) or bitrate + maxrate + bufsize.
//! - HDR sources are tone-mapped to SDR BT.709 with zscale + tonemap (hable, no desaturation),
//!   scaling in the first zscale so the float stages run at the output size.

use super::source::VideoSource;
use super::{gop_frames, output_size, EncoderOptions};
use crate::spec::{AudioSettings, RateControl, VideoSettings};

/// libx264 options for `settings` on `source` with segments of `segment_ms`.
pub fn x264_options(
    settings: &VideoSettings,
    source: &VideoSource,
    segment_ms: u32,
) -> EncoderOptions {
    let gop = gop_frames(segment_ms, source.frame_rate).to_string();
    let mut o: EncoderOptions = vec![
        ("preset".into(), settings.preset.clone()),
        ("forced-idr".into(), "1".into()),
        ("g".into(), gop.clone()),
        ("keyint_min".into(), gop),
        ("sc_threshold".into(), "0".into()),
    ];
    match settings.rate {
        RateControl::Crf {
            crf,
            maxrate,
            bufsize,
        } => {
            o.push(("crf".into(), crf.to_string()));
            if let Some(m) = maxrate {
                o.push(("maxrate".into(), m.to_string()));
                o.push(("bufsize".into(), bufsize.unwrap_or(m * 2).to_string()));
            }
        }
        RateControl::Bitrate {
            bitrate,
            maxrate,
            bufsize,
        } => {
            o.push(("b".into(), bitrate.to_string()));
            o.push(("maxrate".into(), maxrate.to_string()));
            o.push(("bufsize".into(), bufsize.to_string()));
        }
    }
    if let Some(p) = &settings.profile {
        o.push(("profile".into(), p.clone()));
    }
    if let Some(l) = &settings.level {
        o.push(("level".into(), l.clone()));
    }
    o
}

/// AAC encoder options.
pub fn aac_options(settings: &AudioSettings) -> EncoderOptions {
    vec![("b".into(), settings.bitrate.to_string())]
}

/// The software video filter graph (between `buffer` and `buffersink`) that turns `source`
/// into `yuv420p` frames of the output size: deinterlace (same frame rate), tone-map HDR to
/// SDR BT.709, scale keeping the display aspect.
pub fn video_filter_graph(source: &VideoSource, settings: &VideoSettings) -> String {
    let (w, h) = output_size(source, settings.target_height);
    let mut parts: Vec<String> = Vec::new();
    if source.interlaced {
        // send_frame keeps one output frame per input frame, so frame counts per segment do not
        // depend on the deinterlacer.
        parts.push("bwdif=mode=send_frame:parity=auto:deint=all".into());
    }
    if source.transfer.is_hdr() {
        parts.push(format!(
            "zscale=w={w}:h={h}:tin={}:min=bt2020nc:pin=bt2020:rin=tv:t=linear:npl=100",
            source.transfer.zscale_name()
        ));
        parts.push("format=gbrpf32le".into());
        parts.push("zscale=p=bt709".into());
        parts.push("tonemap=tonemap=hable:desat=0".into());
        parts.push("zscale=t=bt709:m=bt709:r=tv".into());
    } else {
        parts.push(format!("scale=w={w}:h={h}:flags=bicubic"));
    }
    parts.push("setsar=1".into());
    parts.push("format=yuv420p".into());
    parts.join(",")
}

/// The audio filter graph: resample to the output rate, downmix to the output channels, planar
/// float (what the native AAC encoder takes).
pub fn audio_filter_graph(settings: &AudioSettings) -> String {
    let layout = if settings.channels <= 1 {
        "mono"
    } else {
        "stereo"
    };
    format!(
        "aresample={},aformat=sample_fmts=fltp:sample_rates={}:channel_layouts={layout}",
        settings.sample_rate, settings.sample_rate
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::source::Transfer;
    use crate::spec::VideoCodec;

    fn settings(rate: RateControl) -> VideoSettings {
        VideoSettings {
            codec: VideoCodec::H264,
            target_height: Some(720),
            rate,
            preset: "veryfast".into(),
            profile: Some("high".into()),
            level: Some("4.1".into()),
            low_power: false,
        }
    }

    fn source(transfer: Transfer, bit_depth: u8) -> VideoSource {
        VideoSource {
            codec: "hevc".into(),
            width: 1920,
            height: 1080,
            sample_aspect: (1, 1),
            bit_depth,
            transfer,
            interlaced: false,
            frame_rate: (24000, 1001),
        }
    }

    fn get<'a>(o: &'a EncoderOptions, k: &str) -> Option<&'a str> {
        o.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn x264_gop_is_one_segment_with_idr() {
        let o = x264_options(
            &settings(RateControl::Crf {
                crf: 23,
                maxrate: None,
                bufsize: None,
            }),
            &source(Transfer::Sdr, 8),
            6000,
        );
        assert_eq!(get(&o, "forced-idr"), Some("1"));
        assert_eq!(get(&o, "g"), Some("144"));
        assert_eq!(get(&o, "keyint_min"), Some("144"));
        assert_eq!(get(&o, "sc_threshold"), Some("0"));
        assert_eq!(get(&o, "crf"), Some("23"));
        assert_eq!(get(&o, "maxrate"), None);
        assert_eq!(get(&o, "profile"), Some("high"));
        assert_eq!(get(&o, "level"), Some("4.1"));
        assert!(o.iter().all(|(k, _)| k != "flags"), "never touch flags");
    }

    #[test]
    fn x264_bitrate_and_capped_crf() {
        let o = x264_options(
            &settings(RateControl::Bitrate {
                bitrate: 3_000_000,
                maxrate: 3_500_000,
                bufsize: 6_000_000,
            }),
            &source(Transfer::Sdr, 8),
            4000,
        );
        assert_eq!(get(&o, "b"), Some("3000000"));
        assert_eq!(get(&o, "maxrate"), Some("3500000"));
        assert_eq!(get(&o, "bufsize"), Some("6000000"));
        let o = x264_options(
            &settings(RateControl::Crf {
                crf: 21,
                maxrate: Some(4_000_000),
                bufsize: None,
            }),
            &source(Transfer::Sdr, 8),
            4000,
        );
        assert_eq!(get(&o, "bufsize"), Some("8000000"));
    }

    #[test]
    fn sdr_graph_scales_only() {
        let g = video_filter_graph(&source(Transfer::Sdr, 8), &settings(crf()));
        assert_eq!(
            g,
            "scale=w=1280:h=720:flags=bicubic,setsar=1,format=yuv420p"
        );
    }

    #[test]
    fn hdr10_graph_tone_maps_to_bt709() {
        let g = video_filter_graph(&source(Transfer::Pq, 10), &settings(crf()));
        assert_eq!(
            g,
            "zscale=w=1280:h=720:tin=smpte2084:min=bt2020nc:pin=bt2020:rin=tv:t=linear:npl=100,\
             format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,\
             zscale=t=bt709:m=bt709:r=tv,setsar=1,format=yuv420p"
        );
        let hlg = video_filter_graph(&source(Transfer::Hlg, 10), &settings(crf()));
        assert!(hlg.contains("tin=arib-std-b67"));
    }

    #[test]
    fn interlaced_graph_deinterlaces_frame_for_frame() {
        let mut s = source(Transfer::Sdr, 8);
        s.interlaced = true;
        let g = video_filter_graph(&s, &settings(crf()));
        assert!(g.starts_with("bwdif=mode=send_frame"));
    }

    #[test]
    fn audio_graph() {
        assert_eq!(
            audio_filter_graph(&AudioSettings::default()),
            "aresample=48000,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo"
        );
    }

    fn crf() -> RateControl {
        RateControl::Crf {
            crf: 23,
            maxrate: None,
            bufsize: None,
        }
    }
}
