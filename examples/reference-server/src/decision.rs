//! PlaybackInfo's decision: how this client should play this file.
//!
//! Why here and feature-gated: the rules (device profile against the stored probe) live in
//! `ha-transcode`'s `decision` module and are pure; this file only translates between
//! Jellyfin's request/response JSON and them. Without the `transcode` feature, or for an item
//! scanned without a probe, the answer is "play the file as it is" — honest, since this build
//! could not transcode anyway.

use serde_json::Value;

use media_ha::core::Item;

/// What PlaybackInfo tells the client about the one media source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The client plays the file as is.
    pub direct_play: bool,
    /// A transcode (or remux) is needed; the query of its HLS URL (`VideoCodec=…&…`).
    pub transcode_query: Option<String>,
    /// Jellyfin's `TranscodeReasons` names.
    pub reasons: Vec<String>,
    /// The HLS transcode is in fMP4 segments (the profile's HLS container is `mp4`).
    pub fmp4: bool,
}

impl Verdict {
    /// Direct play, no questions asked.
    pub fn direct() -> Self {
        Self {
            direct_play: true,
            transcode_query: None,
            reasons: Vec::new(),
            fmp4: false,
        }
    }
}

/// Decides for `item` and the PlaybackInfo `body` (lower-cased top-level keys) and `query`.
///
/// # Errors
/// A client-facing message for a malformed device profile or an impossible stream choice.
#[cfg(feature = "transcode")]
pub fn decide(
    item: &Item,
    body: &serde_json::Map<String, Value>,
    query: &std::collections::HashMap<String, String>,
) -> Result<Verdict, String> {
    use media_ha::transcode::decision::{self, DecideOptions, DeviceProfile, PlayMethod};
    use media_ha::transcode::probe::MediaProbe;

    let Some(probe) = item
        .probe_json
        .as_deref()
        .and_then(|j| serde_json::from_str::<MediaProbe>(j).ok())
    else {
        return Ok(Verdict::direct());
    };
    let profile = match body.get("deviceprofile").filter(|p| !p.is_null()) {
        Some(p) => DeviceProfile::from_json(&p.to_string())
            .map_err(|e| format!("invalid DeviceProfile: {e}"))?,
        None => DeviceProfile::web_browser(),
    };
    let field = |key: &str| number(body, query, key);
    let options = DecideOptions {
        max_bitrate: field("maxstreamingbitrate")?,
        audio_stream_index: field("audiostreamindex")?.map(|n| n as usize),
        subtitle_stream_index: field("subtitlestreamindex")?.map(|n| n as usize),
        static_context: false,
    };
    let d = decision::decide(&profile, &probe, &options).map_err(|e| e.to_string())?;
    let reasons: Vec<String> = d.reasons.iter().map(|r| r.as_str().to_owned()).collect();
    if d.method == PlayMethod::DirectPlay {
        return Ok(Verdict {
            reasons,
            ..Verdict::direct()
        });
    }
    let mut params: Vec<(String, String)> = Vec::new();
    // Jellyfin's way to ask for fMP4 HLS: a TranscodingProfile with Protocol "hls" and
    // Container "mp4" (or "fmp4"), which its TranscodingUrl carries as SegmentContainer=mp4.
    let fmp4 = d.target.as_ref().is_some_and(|t| {
        t.protocol.eq_ignore_ascii_case("hls")
            && ["mp4", "fmp4", "m4s"]
                .iter()
                .any(|c| t.container.eq_ignore_ascii_case(c))
    });
    if fmp4 {
        params.push(("SegmentContainer".into(), "mp4".into()));
    }
    if let Some(t) = &d.target {
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                params.push((k.to_owned(), v));
            }
        };
        push("Container", Some(t.container.clone()));
        push(
            "VideoCodec",
            t.video_codec
                .clone()
                .map(|c| if t.copy_video { format!("{c},copy") } else { c }),
        );
        push(
            "AudioCodec",
            t.audio_codec
                .clone()
                .map(|c| if t.copy_audio { format!("{c},copy") } else { c }),
        );
        push("MaxWidth", t.max_width.map(|n| n.to_string()));
        push("MaxHeight", t.max_height.map(|n| n.to_string()));
        push("VideoBitrate", t.video_bitrate.map(|n| n.to_string()));
        push("AudioBitrate", t.audio_bitrate.map(|n| n.to_string()));
        push("AudioChannels", t.audio_channels.map(|n| n.to_string()));
        push(
            "SubtitleStreamIndex",
            t.burn_subtitle.map(|n| n.to_string()),
        );
    }
    if let Some(i) = d.audio_stream_index {
        params.push(("AudioStreamIndex".into(), i.to_string()));
    }
    params.push(("TranscodeReasons".into(), reasons.join(",")));
    let query = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    Ok(Verdict {
        direct_play: false,
        transcode_query: Some(query),
        reasons,
        fmp4,
    })
}

/// A number of the PlaybackInfo body (or else the query) under the lower-cased `key`, as
/// jellyfin-web sends them: a JSON number or a string of one. An empty string and a negative
/// number mean "none" (the web client sends `"SubtitleStreamIndex": ""` and Jellyfin's own
/// clients `-1` when no subtitle is chosen); anything else that is not a whole number is refused.
///
/// # Errors
/// A client-facing message naming `key`.
pub fn number(
    body: &serde_json::Map<String, Value>,
    query: &std::collections::HashMap<String, String>,
    key: &str,
) -> Result<Option<u64>, String> {
    let raw = match body.get(key).filter(|v| !v.is_null()) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => Some(v.to_string()),
        None => query.get(key).cloned(),
    };
    let Some(raw) = raw.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    match raw.parse::<i64>() {
        Ok(n) => Ok(u64::try_from(n).ok()),
        Err(_) => raw
            .parse::<u64>()
            .map(Some)
            .map_err(|_| format!("{key} must be a whole number")),
    }
}

/// Without `ha-transcode` there is nothing to decide: the file as it is.
///
/// # Errors
/// Never.
#[cfg(not(feature = "transcode"))]
pub fn decide(
    _item: &Item,
    _body: &serde_json::Map<String, Value>,
    _query: &std::collections::HashMap<String, String>,
) -> Result<Verdict, String> {
    Ok(Verdict::direct())
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Jellyfin's `MediaStreams` of an item, from its stored probe (empty without one or without the
/// `transcode` feature). Clients show codecs from it and pick audio and subtitle tracks by its
/// `Index`.
#[cfg(feature = "transcode")]
pub fn media_streams(item: &Item) -> Vec<Value> {
    use media_ha::transcode::probe::{MediaProbe, StreamKind};
    use serde_json::json;

    let Some(probe) = item
        .probe_json
        .as_deref()
        .and_then(|j| serde_json::from_str::<MediaProbe>(j).ok())
    else {
        return Vec::new();
    };
    probe
        .streams
        .iter()
        .filter(|s| s.kind != StreamKind::Other && !s.is_attached_picture)
        .map(|s| {
            let kind = match s.kind {
                StreamKind::Video => "Video",
                StreamKind::Audio => "Audio",
                _ => "Subtitle",
            };
            let mut v = json!({
                "Index": s.index,
                "Type": kind,
                "Codec": s.codec,
                "Language": s.language,
                "Title": s.title,
                "IsDefault": s.is_default,
                "IsForced": s.is_forced,
                "IsExternal": false,
                "Profile": s.profile,
                "BitRate": s.bit_rate,
            });
            if let (Some(map), Some(video)) = (v.as_object_mut(), &s.video) {
                map.insert("Width".into(), json!(video.width));
                map.insert("Height".into(), json!(video.height));
                map.insert("BitDepth".into(), json!(video.bit_depth));
                map.insert("IsInterlaced".into(), json!(video.interlaced));
                map.insert("AverageFrameRate".into(), json!(video.avg_frame_rate));
                map.insert("VideoRangeType".into(), json!(video.range_type.as_str()));
            }
            if let (Some(map), Some(audio)) = (v.as_object_mut(), &s.audio) {
                map.insert("Channels".into(), json!(audio.channels));
                map.insert("SampleRate".into(), json!(audio.sample_rate));
                map.insert("ChannelLayout".into(), json!(audio.channel_layout));
            }
            let facts = crate::stream_title::StreamFacts {
                language: s.language.as_deref(),
                title: s.title.as_deref(),
                codec: &s.codec,
                profile: s.profile.as_deref(),
                channels: s.audio.as_ref().map(|a| a.channels),
                channel_layout: s.audio.as_ref().and_then(|a| a.channel_layout.as_deref()),
                size: s.video.as_ref().map(|v| (v.width, v.height)),
                interlaced: s.video.as_ref().is_some_and(|v| v.interlaced),
                range: s.video.as_ref().map(|v| v.range_type.as_str()),
                is_default: s.is_default,
                is_forced: s.is_forced,
            };
            let title = match s.kind {
                StreamKind::Video => crate::stream_title::video(&facts),
                StreamKind::Audio => crate::stream_title::audio(&facts),
                _ => crate::stream_title::subtitle(&facts),
            };
            if let Some(map) = v.as_object_mut() {
                map.insert("DisplayTitle".into(), json!(title));
            }
            v
        })
        .collect()
}

/// Without `ha-transcode` no probe is stored: no streams to list.
#[cfg(not(feature = "transcode"))]
pub fn media_streams(_item: &Item) -> Vec<Value> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_as_the_web_client_sends_them() {
        let body = json!({
            "subtitlestreamindex": "",
            "audiostreamindex": "1",
            "maxstreamingbitrate": 1_555_555_555u64,
            "negative": -1,
            "bad": "x1",
            "fraction": 1.5,
        });
        let body = body.as_object().unwrap();
        let mut query = std::collections::HashMap::new();
        query.insert("fromquery".to_owned(), "7".to_owned());
        assert_eq!(number(body, &query, "subtitlestreamindex"), Ok(None));
        assert_eq!(number(body, &query, "audiostreamindex"), Ok(Some(1)));
        assert_eq!(
            number(body, &query, "maxstreamingbitrate"),
            Ok(Some(1_555_555_555))
        );
        assert_eq!(number(body, &query, "negative"), Ok(None));
        assert_eq!(number(body, &query, "missing"), Ok(None));
        assert_eq!(number(body, &query, "fromquery"), Ok(Some(7)));
        assert!(number(body, &query, "bad").unwrap_err().contains("bad"));
        assert!(number(body, &query, "fraction").is_err());
    }
}
