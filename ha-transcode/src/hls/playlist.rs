//! HLS playlists as pure functions of the duration and the segment length.
//!
//! Why up front: the media playlist is VOD (`#EXT-X-PLAYLIST-TYPE:VOD`, every segment listed,
//! `#EXT-X-ENDLIST`) from the first request, so a client can seek anywhere at once; a request
//! for a segment far ahead simply restarts the job at that segment. Because segments are
//! exact ([`super::timeline`]), the nominal durations written here are the real ones to within
//! a frame, whichever replica produced them.

use std::fmt::Write as _;

use super::naming::{segment_file_name_for, INIT_FILE_NAME};
use super::timeline::SegmentTimeline;
use crate::spec::SegmentContainer;

/// One rendition in the master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Peak bandwidth in bits per second (`BANDWIDTH`).
    pub bandwidth: u64,
    /// Average bandwidth in bits per second, when known (`AVERAGE-BANDWIDTH`).
    pub average_bandwidth: Option<u64>,
    /// Frame size (`RESOLUTION`).
    pub resolution: Option<(u32, u32)>,
    /// RFC 6381 codecs, e.g. `avc1.640028,mp4a.40.2` (`CODECS`).
    pub codecs: Option<String>,
    /// Frame rate (`FRAME-RATE`).
    pub frame_rate: Option<f64>,
    /// URI of the media playlist, relative to the master.
    pub uri: String,
}

/// The master playlist listing `variants`.
pub fn master_playlist(variants: &[Variant]) -> String {
    let mut s = String::from("#EXTM3U\n#EXT-X-VERSION:3\n");
    for v in variants {
        let _ = write!(s, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth);
        if let Some(avg) = v.average_bandwidth {
            let _ = write!(s, ",AVERAGE-BANDWIDTH={avg}");
        }
        if let Some((w, h)) = v.resolution {
            let _ = write!(s, ",RESOLUTION={w}x{h}");
        }
        if let Some(fps) = v.frame_rate {
            let _ = write!(s, ",FRAME-RATE={fps:.3}");
        }
        if let Some(codecs) = &v.codecs {
            let _ = write!(s, ",CODECS=\"{codecs}\"");
        }
        s.push('\n');
        s.push_str(&v.uri);
        s.push('\n');
    }
    s
}

/// The VOD media playlist for `timeline` in MPEG-TS: every segment listed, segment URIs
/// prefixed with `uri_prefix` (e.g. `""` for a sibling file, or `"segments/"`).
pub fn media_playlist(timeline: &SegmentTimeline, uri_prefix: &str) -> String {
    media_playlist_in(timeline, SegmentContainer::MpegTs, uri_prefix)
}

/// The VOD media playlist for `timeline` with segments in `container`, file URIs prefixed with
/// `uri_prefix`; fMP4 adds `#EXT-X-MAP` for `init.mp4`.
pub fn media_playlist_in(
    timeline: &SegmentTimeline,
    container: SegmentContainer,
    uri_prefix: &str,
) -> String {
    let init = format!("{uri_prefix}{INIT_FILE_NAME}");
    let init = (container == SegmentContainer::Fmp4).then_some(init.as_str());
    media_playlist_with_init(timeline, init, |i| {
        format!("{uri_prefix}{}", segment_file_name_for(container, i))
    })
}

/// The VOD media playlist for `timeline` with each segment's URI given by `segment_uri` (for
/// servers whose segment URLs are not file names, e.g. Jellyfin's `hls1/main/7.ts?…`).
pub fn media_playlist_with(
    timeline: &SegmentTimeline,
    segment_uri: impl Fn(u32) -> String,
) -> String {
    media_playlist_with_init(timeline, None, segment_uri)
}

/// [`media_playlist_with`] plus, for fMP4, the init segment's URI: `Some` writes
/// `#EXT-X-MAP:URI="…"` and `#EXT-X-VERSION:7` (EXT-X-MAP in a playlist that is not I-frames
/// only needs version 6; 7 is what FFmpeg and Jellyfin write for fMP4). `None` gives the
/// MPEG-TS playlist, version 3.
pub fn media_playlist_with_init(
    timeline: &SegmentTimeline,
    init_uri: Option<&str>,
    segment_uri: impl Fn(u32) -> String,
) -> String {
    let count = timeline.segment_count();
    // TARGETDURATION must be >= every EXTINF rounded to the nearest integer (RFC 8216 4.3.3.1);
    // the nominal segment length rounded up satisfies that for every segment.
    let target = u64::from(timeline.segment_ms()).div_ceil(1000).max(1);
    let version = if init_uri.is_some() { 7 } else { 3 };
    let mut s = String::with_capacity(128 + count as usize * 40);
    let _ = write!(
        s,
        "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-TARGETDURATION:{target}\n\
         #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    );
    if let Some(init) = init_uri {
        let _ = writeln!(s, "#EXT-X-MAP:URI=\"{init}\"");
    }
    for i in 0..count {
        let _ = write!(
            s,
            "#EXTINF:{:.6},\n{}\n",
            timeline.segment_duration_secs(i),
            segment_uri(i)
        );
    }
    s.push_str("#EXT-X-ENDLIST\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_playlist_lists_every_segment() {
        let t = SegmentTimeline::new(4000, 10_500).unwrap();
        let p = media_playlist(&t, "");
        assert_eq!(
            p,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n\
             #EXTINF:4.000000,\nseg-000000.ts\n\
             #EXTINF:4.000000,\nseg-000001.ts\n\
             #EXTINF:2.500000,\nseg-000002.ts\n\
             #EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn fmp4_playlist_maps_the_init_segment() {
        let t = SegmentTimeline::new(4000, 6_000).unwrap();
        let p = media_playlist_in(&t, SegmentContainer::Fmp4, "r/");
        assert_eq!(
            p,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI=\"r/init.mp4\"\n\
             #EXTINF:4.000000,\nr/seg-000000.m4s\n\
             #EXTINF:2.000000,\nr/seg-000001.m4s\n\
             #EXT-X-ENDLIST\n"
        );
        // The TS playlist is unchanged.
        assert_eq!(
            media_playlist_in(&t, SegmentContainer::MpegTs, ""),
            media_playlist(&t, "")
        );
        let custom = media_playlist_with_init(&t, Some("init.mp4?a=1"), |i| format!("{i}.mp4"));
        assert!(custom.contains("#EXT-X-MAP:URI=\"init.mp4?a=1\"\n#EXTINF:4.000000,\n0.mp4\n"));
    }

    #[test]
    fn target_duration_rounds_up() {
        let t = SegmentTimeline::new(2500, 5000).unwrap();
        let p = media_playlist(&t, "s/");
        assert!(p.contains("#EXT-X-TARGETDURATION:3\n"));
        assert!(p.contains("s/seg-000001.ts\n"));
    }

    #[test]
    fn master_lists_variants() {
        let m = master_playlist(&[Variant {
            bandwidth: 3_000_000,
            average_bandwidth: Some(2_500_000),
            resolution: Some((1280, 720)),
            codecs: Some("avc1.640028,mp4a.40.2".into()),
            frame_rate: Some(25.0),
            uri: "main.m3u8".into(),
        }]);
        assert_eq!(
            m,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=3000000,\
             AVERAGE-BANDWIDTH=2500000,RESOLUTION=1280x720,FRAME-RATE=25.000,\
             CODECS=\"avc1.640028,mp4a.40.2\"\nmain.m3u8\n"
        );
    }
}
