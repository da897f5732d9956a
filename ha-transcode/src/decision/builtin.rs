//! Built-in profiles, for clients that send none.
//!
//! Why a browser profile as the default: a client that sends no profile is most often a web
//! page or a simple HTTP player, and H.264 + AAC in MP4 (direct) or in MPEG-TS over HLS
//! (transcoded) is what every browser plays — natively in Safari, through MSE (hls.js) in the
//! others. It is deliberately conservative: 8-bit SDR progressive H.264 only.

use super::lenient::NameList;
use super::profile::{
    CodecProfile, CodecType, ConditionProperty as P, ConditionType as C, DeviceProfile,
    DirectPlayProfile, EncodingContext, MediaKind, ProfileCondition, SubtitleMethod,
    SubtitleProfile, TranscodingProfile,
};

impl DeviceProfile {
    /// A typical web browser: direct play of H.264/AAC (or MP3) in MP4, MP3/AAC/FLAC/Opus
    /// audio files; otherwise H.264/AAC in MPEG-TS over HLS (stereo), MP3 over HTTP for music;
    /// WebVTT subtitles on the side.
    pub fn web_browser() -> Self {
        let list = NameList::parse;
        let dp = |container: &str, kind, video: &str, audio: &str| DirectPlayProfile {
            container: list(container),
            video_codec: list(video),
            audio_codec: list(audio),
            kind,
        };
        let cond = ProfileCondition::new;
        DeviceProfile {
            name: Some("Web browser (built-in)".into()),
            max_streaming_bitrate: Some(120_000_000),
            max_static_bitrate: Some(100_000_000),
            direct_play_profiles: vec![
                dp("mp4,m4v", MediaKind::Video, "h264", "aac,mp3"),
                dp("mp3", MediaKind::Audio, "", "mp3"),
                dp("m4a,mp4,aac", MediaKind::Audio, "", "aac"),
                dp("flac", MediaKind::Audio, "", "flac"),
                dp("webm,ogg", MediaKind::Audio, "", "opus,vorbis"),
            ],
            transcoding_profiles: vec![
                default_transcoding_profile(MediaKind::Video),
                default_transcoding_profile(MediaKind::Audio),
            ],
            container_profiles: Vec::new(),
            codec_profiles: vec![
                CodecProfile {
                    kind: CodecType::Video,
                    codec: list("h264"),
                    conditions: vec![
                        cond(
                            C::EqualsAny,
                            P::VideoProfile,
                            "high|main|baseline|constrained baseline",
                        ),
                        cond(C::LessThanEqual, P::VideoLevel, "52"),
                        cond(C::LessThanEqual, P::VideoBitDepth, "8"),
                        cond(C::EqualsAny, P::VideoRangeType, "SDR"),
                        cond(C::NotEquals, P::IsInterlaced, "true"),
                        cond(C::LessThanEqual, P::Width, "4096"),
                        cond(C::LessThanEqual, P::Height, "2304"),
                    ],
                    ..CodecProfile::default()
                },
                CodecProfile {
                    kind: CodecType::VideoAudio,
                    codec: list("aac"),
                    conditions: vec![cond(C::LessThanEqual, P::AudioChannels, "6")],
                    ..CodecProfile::default()
                },
            ],
            subtitle_profiles: vec![
                SubtitleProfile {
                    format: Some("vtt".into()),
                    method: SubtitleMethod::External,
                    container: NameList::default(),
                },
                SubtitleProfile {
                    format: Some("vtt".into()),
                    method: SubtitleMethod::Hls,
                    container: NameList::default(),
                },
            ],
        }
    }
}

/// The transcoding profile used when a client names none for `kind`: H.264/AAC stereo in
/// MPEG-TS over HLS for video, MP3 stereo over HTTP for audio.
pub fn default_transcoding_profile(kind: MediaKind) -> TranscodingProfile {
    let list = NameList::parse;
    if kind == MediaKind::Audio {
        TranscodingProfile {
            container: Some("mp3".into()),
            kind: MediaKind::Audio,
            audio_codec: list("mp3"),
            protocol: Some("http".into()),
            context: EncodingContext::Streaming,
            max_audio_channels: Some(2),
            ..TranscodingProfile::default()
        }
    } else {
        TranscodingProfile {
            container: Some("ts".into()),
            kind: MediaKind::Video,
            video_codec: list("h264"),
            audio_codec: list("aac"),
            protocol: Some("hls".into()),
            context: EncodingContext::Streaming,
            max_audio_channels: Some(2),
            min_segments: Some(1),
            ..TranscodingProfile::default()
        }
    }
}
