//! HLS playlists as pure functions of the duration and the segment length.
//!
//! Why up front: the media playlist is VOD (`#EXT-X-PLAYLIST-TYPE:VOD`, every segment listed,
//! `#EXT-X-ENDLIST`) from the first request, so a client can seek anywhere at once; a request
//! for a segment far ahead simply restarts the job at that segment. Because segments are
//! exact ([`super::timeline`]), the nominal durations written here are the real ones to within
//! a frame, whichever replica produced them.

use std::fmt::Write as _;

use super::naming::segment_file_name;
use super::timeline::SegmentTimeline;

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

/// The VOD media playlist for `timeline`: every segment listed, segment URIs prefixed with
/// `uri_prefix` (e.g. `""` for a sibling file, or `"segments/"`).
pub fn media_playlist(timeline: &SegmentTimeline, uri_prefix: &str) -> String {
    media_playlist_with(timeline, |i| {
        format!("{uri_prefix}{}", segment_file_name(i))
    })
}

/// The VOD media playlist for `timeline` with each segment's URI given by `segment_uri` (for
/// servers whose segment URLs are not file names, e.g. Jellyfin's `hls1/main/7.ts?…`).
pub fn media_playlist_with(
    timeline: &SegmentTimeline,
    segment_uri: impl Fn(u32) -> String,
) -> String {
    let count = timeline.segment_count();
    // TARGETDURATION must be >= every EXTINF rounded to the nearest integer (RFC 8216 4.3.3.1);
    // the nominal segment length rounded up satisfies that for every segment.
    let target = u64::from(timeline.segment_ms()).div_ceil(1000).max(1);
    let mut s = String::with_capacity(128 + count as usize * 40);
    let _ = write!(
        s,
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target}\n\
         #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    );
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
