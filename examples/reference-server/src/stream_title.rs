//! `DisplayTitle` of a media stream, as Jellyfin composes it.
//!
//! Why: jellyfin-web labels the audio, subtitle and video choices of the player and the item
//! page with `DisplayTitle` and falls back to `"Audio " + DisplayTitle`-style strings that read
//! "Audio undefined" without it. The parts and their order follow Jellyfin's `MediaStream`
//! (language, codec or profile, channel layout, default/forced/external; for video the
//! resolution class, codec and range), joined as it joins them; a stream's own title comes
//! first, followed by the parts it does not already mention.

/// What a title is made from (one stream's facts from the probe).
#[derive(Debug, Clone, Default)]
pub struct StreamFacts<'a> {
    /// ISO 639 language tag (`und`: none).
    pub language: Option<&'a str>,
    /// The stream's title tag.
    pub title: Option<&'a str>,
    /// FFmpeg's codec name.
    pub codec: &'a str,
    /// Codec profile (`LC`, `High`, ...).
    pub profile: Option<&'a str>,
    /// Audio channels.
    pub channels: Option<u32>,
    /// FFmpeg's channel layout (`stereo`, `5.1(side)`).
    pub channel_layout: Option<&'a str>,
    /// Video size.
    pub size: Option<(u32, u32)>,
    /// Interlaced video.
    pub interlaced: bool,
    /// Video range (`SDR`, `HDR10`, ...).
    pub range: Option<&'a str>,
    /// Marked default.
    pub is_default: bool,
    /// Marked forced.
    pub is_forced: bool,
}

/// The language's name for a tag this server knows (`eng` → English), else the tag.
fn language(tag: Option<&str>) -> Option<String> {
    let tag = tag.filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("und"))?;
    Some(
        crate::routes::localization::language_name(tag)
            .map_or_else(|| tag.to_owned(), str::to_owned),
    )
}

/// Jellyfin's friendly audio codec names; others upper-cased.
fn audio_codec(codec: &str) -> String {
    match codec.to_ascii_lowercase().as_str() {
        "ac3" => "Dolby Digital".into(),
        "eac3" => "Dolby Digital+".into(),
        "truehd" => "Dolby TrueHD".into(),
        "dts" => "DTS".into(),
        other => other.to_ascii_uppercase(),
    }
}

fn first_upper(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_uppercase().chain(chars).collect::<String>()
    })
}

/// The title first, then each part it does not contain already; or the parts alone.
fn compose(title: Option<&str>, parts: Vec<String>, separator: &str) -> String {
    match title.filter(|t| !t.trim().is_empty()) {
        Some(title) => {
            let lower = title.to_lowercase();
            let mut out = title.to_owned();
            for part in parts {
                if !lower.contains(&part.to_lowercase()) {
                    out.push_str(" - ");
                    out.push_str(&part);
                }
            }
            out
        }
        None => parts.join(separator),
    }
}

/// An audio stream's title: `English - AAC - Stereo - Default`.
pub fn audio(s: &StreamFacts<'_>) -> String {
    let mut parts = Vec::new();
    parts.extend(language(s.language));
    match s
        .profile
        .filter(|p| !p.is_empty() && !p.eq_ignore_ascii_case("lc"))
    {
        Some(profile) => parts.push(profile.to_owned()),
        None if !s.codec.is_empty() => parts.push(audio_codec(s.codec)),
        None => {}
    }
    match (s.channel_layout.filter(|l| !l.is_empty()), s.channels) {
        (Some(layout), _) => parts.push(first_upper(layout)),
        (None, Some(ch)) if ch > 0 => parts.push(format!("{ch} ch")),
        _ => {}
    }
    if s.is_default {
        parts.push("Default".into());
    }
    compose(s.title, parts, " - ")
}

/// A subtitle stream's title: `French - SUBRIP - Forced`.
pub fn subtitle(s: &StreamFacts<'_>) -> String {
    let mut parts = Vec::new();
    parts.extend(language(s.language));
    if !s.codec.is_empty() {
        parts.push(s.codec.to_ascii_uppercase());
    }
    if s.is_default {
        parts.push("Default".into());
    }
    if s.is_forced {
        parts.push("Forced".into());
    }
    compose(s.title, parts, " - ")
}

/// A video stream's title: `1080p H264 SDR`.
pub fn video(s: &StreamFacts<'_>) -> String {
    let mut parts = Vec::new();
    if let Some((w, h)) = s.size.filter(|(w, h)| *w > 0 && *h > 0) {
        let class = if w <= 256 && h <= 144 {
            "144"
        } else if w <= 426 && h <= 240 {
            "240"
        } else if w <= 640 && h <= 360 {
            "360"
        } else if w <= 854 && h <= 480 {
            "480"
        } else if w <= 1024 && h <= 576 {
            "576"
        } else if w <= 1280 && h <= 962 {
            "720"
        } else if w <= 2560 && h <= 1440 {
            "1080"
        } else if w <= 4096 && h <= 3072 {
            "4K"
        } else {
            "8K"
        };
        if class.ends_with('K') {
            parts.push(class.to_owned());
        } else {
            parts.push(format!("{class}{}", if s.interlaced { "i" } else { "p" }));
        }
    }
    if !s.codec.is_empty() {
        parts.push(s.codec.to_ascii_uppercase());
    }
    if let Some(range) = s.range.filter(|r| !r.is_empty() && *r != "Unknown") {
        parts.push(range.to_owned());
    }
    compose(s.title, parts, " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_titles_read_like_jellyfins() {
        let aac = StreamFacts {
            codec: "aac",
            profile: Some("LC"),
            channels: Some(2),
            channel_layout: Some("stereo"),
            ..StreamFacts::default()
        };
        assert_eq!(audio(&aac), "AAC - Stereo");
        let dd = StreamFacts {
            language: Some("eng"),
            codec: "ac3",
            channels: Some(6),
            channel_layout: Some("5.1(side)"),
            is_default: true,
            ..StreamFacts::default()
        };
        assert_eq!(audio(&dd), "English - Dolby Digital - 5.1(side) - Default");
        let titled = StreamFacts {
            title: Some("Commentary (AAC)"),
            language: Some("und"),
            codec: "aac",
            channels: Some(1),
            ..StreamFacts::default()
        };
        assert_eq!(audio(&titled), "Commentary (AAC) - 1 ch");
        assert_eq!(audio(&StreamFacts::default()), "");
    }

    #[test]
    fn video_and_subtitle_titles() {
        let v = StreamFacts {
            codec: "h264",
            size: Some((1920, 1080)),
            range: Some("SDR"),
            ..StreamFacts::default()
        };
        assert_eq!(video(&v), "1080p H264 SDR");
        let small = StreamFacts {
            codec: "mpeg2video",
            size: Some((320, 240)),
            interlaced: true,
            ..StreamFacts::default()
        };
        assert_eq!(video(&small), "240i MPEG2VIDEO");
        let s = StreamFacts {
            language: Some("fre"),
            codec: "subrip",
            is_forced: true,
            ..StreamFacts::default()
        };
        assert_eq!(subtitle(&s), "French - SUBRIP - Forced");
    }
}
