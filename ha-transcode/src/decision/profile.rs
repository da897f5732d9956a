//! Jellyfin's `DeviceProfile`: what a client says it can play.
//!
//! Same JSON shape as Jellyfin (PascalCase; camelCase accepted by [`DeviceProfile::from_json`]),
//! read leniently (see [`lenient`](super::lenient)) so profiles from any client version load.
//! Only the parts the playback decision uses are modelled; everything else is ignored.

use serde::{Deserialize, Serialize};

use super::lenient::{
    lenient_bool, lenient_enum, null_default, opt_string, opt_u64, pascal_case_keys, NameList,
};
use crate::{Error, Result};

/// What a client can play, as it tells the server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceProfile {
    /// A display name.
    #[serde(deserialize_with = "opt_string")]
    pub name: Option<String>,
    /// Highest bit rate (bits/s) the client wants streamed to it.
    #[serde(deserialize_with = "opt_u64")]
    pub max_streaming_bitrate: Option<u64>,
    /// Highest bit rate (bits/s) for static (direct) playback of a file.
    #[serde(deserialize_with = "opt_u64")]
    pub max_static_bitrate: Option<u64>,
    /// Containers and codecs the client plays as they are.
    #[serde(deserialize_with = "null_default")]
    pub direct_play_profiles: Vec<DirectPlayProfile>,
    /// What to produce when a file must be remuxed or transcoded, in order of preference.
    #[serde(deserialize_with = "null_default")]
    pub transcoding_profiles: Vec<TranscodingProfile>,
    /// Conditions on containers.
    #[serde(deserialize_with = "null_default")]
    pub container_profiles: Vec<ContainerProfile>,
    /// Conditions on codecs (levels, profiles, bit depth, range, resolution, channels, ...).
    #[serde(deserialize_with = "null_default")]
    pub codec_profiles: Vec<CodecProfile>,
    /// How each subtitle format can be delivered.
    #[serde(deserialize_with = "null_default")]
    pub subtitle_profiles: Vec<SubtitleProfile>,
}

impl DeviceProfile {
    /// Parses a profile from JSON, accepting PascalCase or camelCase keys.
    ///
    /// # Errors
    /// [`Error::InvalidProfile`] when the text is not JSON or not an object.
    pub fn from_json(json: &str) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|source| Error::InvalidProfile { source })?;
        if !value.is_object() {
            // serde would read a struct from an array too; a profile is always an object.
            let source = <serde_json::Error as serde::de::Error>::custom(
                "a device profile must be a JSON object",
            );
            return Err(Error::InvalidProfile { source });
        }
        serde_json::from_value(pascal_case_keys(value))
            .map_err(|source| Error::InvalidProfile { source })
    }
}

lenient_enum! {
    /// What kind of media a profile entry is about (Jellyfin's `DlnaProfileType`).
    pub enum MediaKind {
        /// Audio files.
        Audio,
        /// Video files.
        Video,
        /// Pictures.
        Photo,
        /// Subtitles.
        Subtitle,
    }
}

/// A container + codecs combination the client plays as is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DirectPlayProfile {
    /// Containers (empty: any).
    pub container: NameList,
    /// Video codecs (empty: any).
    pub video_codec: NameList,
    /// Audio codecs (empty: any).
    pub audio_codec: NameList,
    /// Audio or video.
    #[serde(rename = "Type")]
    pub kind: MediaKind,
}

lenient_enum! {
    /// When a transcoding profile applies.
    pub enum EncodingContext {
        /// Streaming to a player (HLS or progressive HTTP).
        Streaming,
        /// Producing a file for download or sync.
        Static,
    }
}

/// What to produce when the file must be remuxed or transcoded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TranscodingProfile {
    /// Output container (`ts`, `mp4`, `mp3`, ...).
    #[serde(deserialize_with = "opt_string")]
    pub container: Option<String>,
    /// Audio or video.
    #[serde(rename = "Type")]
    pub kind: MediaKind,
    /// Video codecs the client accepts in this container, preferred first.
    pub video_codec: NameList,
    /// Audio codecs the client accepts in this container, preferred first.
    pub audio_codec: NameList,
    /// `hls` or `http`.
    #[serde(deserialize_with = "opt_string")]
    pub protocol: Option<String>,
    /// Streaming or static.
    pub context: EncodingContext,
    /// Most audio channels the client wants.
    #[serde(deserialize_with = "opt_u64")]
    pub max_audio_channels: Option<u64>,
    /// Minimum number of segments before playback starts (HLS).
    #[serde(deserialize_with = "opt_u64")]
    pub min_segments: Option<u64>,
    /// Segments may start on non-key frames.
    #[serde(deserialize_with = "lenient_bool")]
    pub break_on_non_key_frames: bool,
    /// Copy the source timestamps.
    #[serde(deserialize_with = "lenient_bool")]
    pub copy_timestamps: bool,
    /// Conditions on the output.
    #[serde(deserialize_with = "null_default")]
    pub conditions: Vec<ProfileCondition>,
}

/// Conditions on a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerProfile {
    /// Audio or video.
    #[serde(rename = "Type")]
    pub kind: MediaKind,
    /// Containers it applies to (empty: all).
    pub container: NameList,
    /// The conditions.
    #[serde(deserialize_with = "null_default")]
    pub conditions: Vec<ProfileCondition>,
}

lenient_enum! {
    /// Which streams a codec profile is about.
    pub enum CodecType {
        /// The video stream.
        Video,
        /// The audio stream of a video.
        VideoAudio,
        /// The stream of an audio file.
        Audio,
    }
}

/// Conditions on a codec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CodecProfile {
    /// Video, VideoAudio or Audio.
    #[serde(rename = "Type")]
    pub kind: CodecType,
    /// Codecs it applies to (empty: all).
    pub codec: NameList,
    /// Containers it applies to (empty: all).
    pub container: NameList,
    /// Conditions that must hold for this profile to apply at all.
    #[serde(deserialize_with = "null_default")]
    pub apply_conditions: Vec<ProfileCondition>,
    /// Conditions the stream must meet.
    #[serde(deserialize_with = "null_default")]
    pub conditions: Vec<ProfileCondition>,
}

lenient_enum! {
    /// How a condition compares.
    pub enum ConditionType {
        /// Equal (case-insensitive for text).
        Equals,
        /// Not equal.
        NotEquals,
        /// At most (numbers).
        LessThanEqual,
        /// At least (numbers).
        GreaterThanEqual,
        /// Equal to one of the `|`-separated values.
        EqualsAny,
    }
}

lenient_enum! {
    /// What a condition tests (Jellyfin's `ProfileConditionValue`).
    pub enum ConditionProperty {
        /// Audio channel count.
        AudioChannels,
        /// Audio bit rate.
        AudioBitrate,
        /// Audio codec profile (`LC`, `HE-AAC`).
        AudioProfile,
        /// Video width.
        Width,
        /// Video height.
        Height,
        /// MP4 64-bit offsets.
        Has64BitOffsets,
        /// TS packet length.
        PacketLength,
        /// Video bit depth.
        VideoBitDepth,
        /// Video bit rate.
        VideoBitrate,
        /// Video frame rate.
        VideoFramerate,
        /// Video level.
        VideoLevel,
        /// Video profile (`high`, `main 10`).
        VideoProfile,
        /// Video timestamp type.
        VideoTimestamp,
        /// Non-square pixels.
        IsAnamorphic,
        /// Reference frames.
        RefFrames,
        /// Number of audio streams.
        NumAudioStreams,
        /// Number of video streams.
        NumVideoStreams,
        /// The selected audio stream is not the first.
        IsSecondaryAudio,
        /// Codec tag (`hvc1`, `hev1`).
        VideoCodecTag,
        /// AVC bitstream format.
        IsAvc,
        /// Interlaced video.
        IsInterlaced,
        /// Audio sample rate.
        AudioSampleRate,
        /// Audio bit depth.
        AudioBitDepth,
        /// Dynamic range type (`SDR`, `HDR10`, `HLG`, `DOVI`, ...).
        VideoRangeType,
        /// Total number of streams.
        NumStreams,
    }
}

/// One condition: `Property Condition Value`, e.g. `VideoLevel LessThanEqual 51`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ProfileCondition {
    /// How to compare.
    pub condition: ConditionType,
    /// What to compare.
    pub property: ConditionProperty,
    /// The value compared against (text; numbers and booleans are accepted and kept as text).
    #[serde(deserialize_with = "opt_string")]
    pub value: Option<String>,
    /// When the property is unknown for the stream: fail (true) or pass (false).
    #[serde(deserialize_with = "lenient_bool")]
    pub is_required: bool,
}

impl ProfileCondition {
    /// A condition (for building profiles in code).
    pub fn new(
        condition: ConditionType,
        property: ConditionProperty,
        value: impl Into<String>,
    ) -> Self {
        ProfileCondition {
            condition,
            property,
            value: Some(value.into()),
            is_required: false,
        }
    }
}

lenient_enum! {
    /// How subtitles reach the client.
    pub enum SubtitleMethod {
        /// Burnt into the video (forces a video transcode).
        Encode,
        /// Kept inside the container.
        Embed,
        /// Served as a separate file.
        External,
        /// Served as an HLS subtitle playlist.
        Hls,
        /// Dropped.
        Drop,
    }
}

/// A subtitle format the client takes, and how.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SubtitleProfile {
    /// The format (`srt`, `vtt`, `ass`, `pgssub`, ...).
    #[serde(deserialize_with = "opt_string")]
    pub format: Option<String>,
    /// How it is delivered.
    pub method: SubtitleMethod,
    /// Containers it applies to (empty: all).
    pub container: NameList,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_jellyfin_json_leniently() {
        let json = r#"{
            "Name": "Some TV",
            "MaxStreamingBitrate": "8000000",
            "MaxStaticBitrate": 100000000.0,
            "SomethingNew": {"x": 1},
            "DirectPlayProfiles": [
                {"Container": "mp4,m4v", "Type": "Video", "VideoCodec": "H264,hevc", "AudioCodec": ["aac", "mp3"]},
                {"Container": "mp3", "Type": "audio"}
            ],
            "TranscodingProfiles": [
                {"Container": "ts", "Type": "Video", "VideoCodec": "h264", "AudioCodec": "aac",
                 "Protocol": "hls", "Context": "Streaming", "MaxAudioChannels": "6",
                 "BreakOnNonKeyFrames": "true", "MinSegments": 1}
            ],
            "ContainerProfiles": null,
            "CodecProfiles": [
                {"Type": "Video", "Codec": "h264", "Conditions": [
                    {"Condition": "LessThanEqual", "Property": "VideoLevel", "Value": 51, "IsRequired": false},
                    {"Condition": "Frobnicate", "Property": "Sparkle", "Value": "x"}
                ]}
            ],
            "SubtitleProfiles": [{"Format": "vtt", "Method": "External"}]
        }"#;
        let p = DeviceProfile::from_json(json).expect("lenient parse");
        assert_eq!(p.name.as_deref(), Some("Some TV"));
        assert_eq!(p.max_streaming_bitrate, Some(8_000_000));
        assert_eq!(p.max_static_bitrate, Some(100_000_000));
        assert_eq!(
            p.direct_play_profiles[0].video_codec.0,
            vec!["h264", "hevc"]
        );
        assert_eq!(p.direct_play_profiles[0].audio_codec.0, vec!["aac", "mp3"]);
        assert_eq!(p.direct_play_profiles[1].kind, MediaKind::Audio);
        let tp = &p.transcoding_profiles[0];
        assert_eq!(tp.max_audio_channels, Some(6));
        assert!(tp.break_on_non_key_frames);
        assert_eq!(tp.context, EncodingContext::Streaming);
        assert!(p.container_profiles.is_empty());
        let c = &p.codec_profiles[0].conditions;
        assert_eq!(c[0].value.as_deref(), Some("51"));
        assert_eq!(c[1].condition, ConditionType::Unknown);
        assert_eq!(c[1].property, ConditionProperty::Unknown);
        assert_eq!(p.subtitle_profiles[0].method, SubtitleMethod::External);
    }

    #[test]
    fn camel_case_and_round_trip() {
        let p = DeviceProfile::from_json(
            r#"{"maxStreamingBitrate": 3000000, "directPlayProfiles": [{"container": "webm", "type": "Video"}]}"#,
        )
        .unwrap();
        assert_eq!(p.max_streaming_bitrate, Some(3_000_000));
        assert_eq!(p.direct_play_profiles[0].container.0, vec!["webm"]);
        let back = DeviceProfile::from_json(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        assert!(matches!(
            DeviceProfile::from_json("[1, 2]"),
            Err(Error::InvalidProfile { .. })
        ));
        assert!(DeviceProfile::from_json("not json").is_err());
    }
}
