//! Canonical container and codec names, so `m4v` matches `mp4` and `h265` matches `hevc`.
//!
//! The probe reports FFmpeg's names (`hevc`, `subrip`, `hdmv_pgs_subtitle`); device profiles use
//! Jellyfin's, which are mostly the same but not always, and clients add their own aliases.
//! Both sides go through these functions before comparing.

/// The canonical container name: `mp4`, `m4v`, `mov`, `m4a`, `m4b` → `mp4`; `matroska` →
/// `mkv`; `mpegts` → `ts`; anything else lower-cased.
pub fn container(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    match n.as_str() {
        "mp4" | "m4v" | "mov" | "m4a" | "m4b" => "mp4".into(),
        "matroska" => "mkv".into(),
        "mpegts" => "ts".into(),
        "mpeg" | "mpg" => "mpeg".into(),
        _ => n,
    }
}

/// The canonical codec name (video, audio and subtitle): `h265`/`hvc1`/`hev1` → `hevc`,
/// `avc`/`avc1`/`x264` → `h264`, `dca` → `dts`, `mpeg2` → `mpeg2video`, `srt` → `subrip`,
/// `vtt` → `webvtt`, `pgssub`/`pgs` → `hdmv_pgs_subtitle`, `dvdsub` → `dvd_subtitle`,
/// `dvbsub` → `dvb_subtitle`; anything else lower-cased.
pub fn codec(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    match n.as_str() {
        "h265" | "hvc1" | "hev1" | "x265" => "hevc".into(),
        "avc" | "avc1" | "x264" => "h264".into(),
        "dca" => "dts".into(),
        "mpeg2" => "mpeg2video".into(),
        "mpeg1" => "mpeg1video".into(),
        "srt" => "subrip".into(),
        "vtt" => "webvtt".into(),
        "pgssub" | "pgs" => "hdmv_pgs_subtitle".into(),
        "dvdsub" | "vobsub" => "dvd_subtitle".into(),
        "dvbsub" => "dvb_subtitle".into(),
        _ => n,
    }
}

/// True when `list` is empty (any) or names `value` (both canonicalised with `canon`).
pub fn list_allows(list: &super::NameList, value: &str, canon: fn(&str) -> String) -> bool {
    if list.is_empty() {
        return true;
    }
    let v = canon(value);
    list.iter().any(|n| canon(n) == v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::NameList;

    #[test]
    fn aliases() {
        assert_eq!(container("M4V"), "mp4");
        assert_eq!(container("mov"), container("mp4"));
        assert_eq!(codec("H265"), "hevc");
        assert_eq!(codec("srt"), codec("subrip"));
        assert!(list_allows(&NameList::parse("mp4,mkv"), "m4v", container));
        assert!(!list_allows(&NameList::parse("webm"), "mkv", container));
        assert!(list_allows(&NameList::default(), "anything", codec));
    }
}
