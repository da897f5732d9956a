//! Pure classification rules: HDR kind, Dolby Vision record, container short name, text vs
//! bitmap subtitles.
//!
//! Kept apart from the FFmpeg calls so each rule is unit-tested on plain values (a Dolby
//! Vision sample is hard to make with the ffmpeg CLI; its record is eight bytes).

use super::model::{DoviConfig, HdrFormat, VideoRangeType};

/// Parses the payload of `AV_PKT_DATA_DOVI_CONF` stream side data
/// (`AVDOVIDecoderConfigurationRecord`, eight `uint8_t` fields in FFmpeg 5.1 and later).
///
/// Returns `None` when the payload is too short to be one.
pub fn parse_dovi(data: &[u8]) -> Option<DoviConfig> {
    let b: &[u8; 8] = data.get(..8)?.try_into().ok()?;
    Some(DoviConfig {
        version_major: b[0],
        version_minor: b[1],
        profile: b[2],
        level: b[3],
        rpu_present: b[4] != 0,
        el_present: b[5] != 0,
        bl_present: b[6] != 0,
        bl_signal_compatibility_id: b[7],
    })
}

/// Classifies a video stream's dynamic range from its transfer characteristic (FFmpeg's name,
/// e.g. `smpte2084`), its Dolby Vision record and whether HDR10+ dynamic metadata was found,
/// the way Jellyfin does (Dolby Vision first; HDR10+ only on a PQ stream).
pub fn classify_hdr(
    transfer: Option<&str>,
    dovi: Option<&DoviConfig>,
    hdr10_plus: bool,
) -> (HdrFormat, VideoRangeType) {
    if let Some(dv) = dovi {
        let range = match dv.bl_signal_compatibility_id {
            1 | 6 => VideoRangeType::DoviWithHdr10,
            2 => VideoRangeType::DoviWithSdr,
            4 => VideoRangeType::DoviWithHlg,
            // Profile 5 (and anything without a compatible base layer): DV-only.
            _ => VideoRangeType::Dovi,
        };
        return (HdrFormat::DolbyVision, range);
    }
    match transfer {
        Some("smpte2084") if hdr10_plus => (HdrFormat::Hdr10, VideoRangeType::Hdr10Plus),
        Some("smpte2084") => (HdrFormat::Hdr10, VideoRangeType::Hdr10),
        Some("arib-std-b67") => (HdrFormat::Hlg, VideoRangeType::Hlg),
        _ => (HdrFormat::Sdr, VideoRangeType::Sdr),
    }
}

/// The short container name clients use in device profiles, from the demuxer's name list and
/// the file extension: `matroska,webm` → `mkv` (or `webm`), `mov,mp4,...` → `mp4` (or `mov`,
/// `m4v`, `m4a` after the extension), `mpegts` → `ts`.
pub fn container_name(format_name: &str, extension: Option<&str>) -> String {
    let ext = extension.map(str::to_ascii_lowercase);
    let ext = ext.as_deref();
    let names: Vec<&str> = format_name.split(',').map(str::trim).collect();
    let has = |n: &str| names.contains(&n);
    if has("matroska") {
        return if ext == Some("webm") { "webm" } else { "mkv" }.to_owned();
    }
    if has("mov") {
        return match ext {
            Some(e @ ("mov" | "m4v" | "m4a" | "m4b" | "3gp" | "3g2")) => e.to_owned(),
            _ => "mp4".to_owned(),
        };
    }
    if has("mpegts") {
        return match ext {
            Some(e @ ("m2ts" | "mts")) => e.to_owned(),
            _ => "ts".to_owned(),
        };
    }
    if has("asf") && ext.is_some_and(|e| e == "wmv" || e == "wma") {
        return ext.unwrap_or("asf").to_owned();
    }
    match ext {
        Some(e) if has(e) => e.to_owned(),
        _ => names.first().copied().unwrap_or_default().to_owned(),
    }
}

/// True for text-based subtitle codecs (FFmpeg names); false for bitmap ones (PGS, DVD, DVB)
/// and anything unknown.
pub fn is_text_subtitle(codec: &str) -> bool {
    matches!(
        codec,
        "subrip"
            | "srt"
            | "ass"
            | "ssa"
            | "webvtt"
            | "mov_text"
            | "text"
            | "ttml"
            | "microdvd"
            | "subviewer"
            | "subviewer1"
            | "sami"
            | "realtext"
            | "mpl2"
            | "jacosub"
            | "pjs"
            | "stl"
            | "vplayer"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dovi_record_parses_and_classifies() {
        // Profile 8.1: base layer HDR10-compatible.
        let dv = parse_dovi(&[1, 0, 8, 6, 1, 0, 1, 1]).expect("eight bytes");
        assert_eq!(dv.profile, 8);
        assert!(dv.rpu_present && dv.bl_present && !dv.el_present);
        assert_eq!(
            classify_hdr(Some("smpte2084"), Some(&dv), false),
            (HdrFormat::DolbyVision, VideoRangeType::DoviWithHdr10)
        );
        // Profile 5: no compatible base layer.
        let p5 = parse_dovi(&[1, 0, 5, 6, 1, 0, 1, 0]).expect("eight bytes");
        assert_eq!(classify_hdr(None, Some(&p5), false).1, VideoRangeType::Dovi);
        let hlg = parse_dovi(&[1, 0, 8, 4, 1, 0, 1, 4]).expect("eight bytes");
        assert_eq!(
            classify_hdr(None, Some(&hlg), false).1,
            VideoRangeType::DoviWithHlg
        );
        assert_eq!(parse_dovi(&[1, 0, 8]), None);
    }

    #[test]
    fn transfer_decides_without_dovi() {
        assert_eq!(
            classify_hdr(Some("smpte2084"), None, false).0,
            HdrFormat::Hdr10
        );
        assert_eq!(
            classify_hdr(Some("arib-std-b67"), None, false).0,
            HdrFormat::Hlg
        );
        assert_eq!(classify_hdr(Some("bt709"), None, false).0, HdrFormat::Sdr);
        assert_eq!(classify_hdr(None, None, false).1, VideoRangeType::Sdr);
    }

    #[test]
    fn hdr10_plus_only_on_pq_and_below_dolby_vision() {
        assert_eq!(
            classify_hdr(Some("smpte2084"), None, true),
            (HdrFormat::Hdr10, VideoRangeType::Hdr10Plus)
        );
        assert_eq!(
            VideoRangeType::Hdr10Plus.fallback(),
            Some(VideoRangeType::Hdr10)
        );
        assert_eq!(VideoRangeType::Hdr10Plus.as_str(), "HDR10Plus");
        assert_eq!(
            classify_hdr(Some("arib-std-b67"), None, true).1,
            VideoRangeType::Hlg
        );
        let dv = parse_dovi(&[1, 0, 8, 6, 1, 0, 1, 1]).expect("eight bytes");
        assert_eq!(
            classify_hdr(Some("smpte2084"), Some(&dv), true).1,
            VideoRangeType::DoviWithHdr10
        );
    }

    #[test]
    fn container_names() {
        let mov = "mov,mp4,m4a,3gp,3g2,mj2";
        assert_eq!(container_name(mov, Some("MP4")), "mp4");
        assert_eq!(container_name(mov, Some("mov")), "mov");
        assert_eq!(container_name(mov, Some("m4v")), "m4v");
        assert_eq!(container_name(mov, None), "mp4");
        assert_eq!(container_name("matroska,webm", Some("mkv")), "mkv");
        assert_eq!(container_name("matroska,webm", Some("webm")), "webm");
        assert_eq!(container_name("mpegts", Some("ts")), "ts");
        assert_eq!(container_name("mpegts", Some("m2ts")), "m2ts");
        assert_eq!(container_name("mp3", Some("mp3")), "mp3");
        assert_eq!(container_name("avi", Some("bin")), "avi");
        assert_eq!(container_name("", None), "");
    }

    #[test]
    fn subtitle_kinds() {
        assert!(is_text_subtitle("subrip"));
        assert!(is_text_subtitle("mov_text"));
        assert!(!is_text_subtitle("hdmv_pgs_subtitle"));
        assert!(!is_text_subtitle("dvd_subtitle"));
    }
}
