//! Why a file cannot be played as is, in Jellyfin's words.
//!
//! Jellyfin clients show and log these names (`TranscodeReasons=ContainerNotSupported,...` in
//! the stream URL and in the session info), so we use the same ones.

use serde::{Deserialize, Serialize};

/// One reason a file is not direct-played. Ordered as Jellyfin's enum, so a sorted list of
/// reasons reads the same as Jellyfin's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TranscodeReason {
    /// The client cannot read the container.
    ContainerNotSupported,
    /// The client cannot decode the video codec.
    VideoCodecNotSupported,
    /// The client cannot decode the audio codec.
    AudioCodecNotSupported,
    /// The selected subtitles cannot be delivered as they are and must be burnt in.
    SubtitleCodecNotSupported,
    /// The audio track is in a separate file.
    AudioIsExternal,
    /// The client cannot switch to a non-first audio track.
    SecondaryAudioNotSupported,
    /// The video profile is not supported.
    VideoProfileNotSupported,
    /// The video level is too high.
    VideoLevelNotSupported,
    /// The video is too wide or too tall.
    VideoResolutionNotSupported,
    /// The video bit depth is not supported (e.g. 10-bit).
    VideoBitDepthNotSupported,
    /// The frame rate is too high.
    VideoFramerateNotSupported,
    /// Too many reference frames.
    RefFramesNotSupported,
    /// Non-square pixels are not supported.
    AnamorphicVideoNotSupported,
    /// Interlaced video is not supported.
    InterlacedVideoNotSupported,
    /// Too many audio channels.
    AudioChannelsNotSupported,
    /// The audio profile is not supported.
    AudioProfileNotSupported,
    /// The audio sample rate is not supported.
    AudioSampleRateNotSupported,
    /// The audio bit depth is not supported.
    AudioBitDepthNotSupported,
    /// The file's bit rate is above the client's limit.
    ContainerBitrateExceedsLimit,
    /// The video bit rate is not supported.
    VideoBitrateNotSupported,
    /// The audio bit rate is not supported.
    AudioBitrateNotSupported,
    /// Nothing is known about the video stream.
    UnknownVideoStreamInfo,
    /// Nothing is known about the audio stream.
    UnknownAudioStreamInfo,
    /// Direct play failed on the client.
    DirectPlayError,
    /// The dynamic range (HDR10, HLG, Dolby Vision) is not supported.
    VideoRangeTypeNotSupported,
    /// The video codec tag (e.g. `hev1` vs `hvc1`) is not supported.
    VideoCodecTagNotSupported,
    /// The file has more streams than the client accepts.
    StreamCountExceedsLimit,
}

impl TranscodeReason {
    /// Jellyfin's name.
    pub fn as_str(self) -> &'static str {
        use TranscodeReason::*;
        match self {
            ContainerNotSupported => "ContainerNotSupported",
            VideoCodecNotSupported => "VideoCodecNotSupported",
            AudioCodecNotSupported => "AudioCodecNotSupported",
            SubtitleCodecNotSupported => "SubtitleCodecNotSupported",
            AudioIsExternal => "AudioIsExternal",
            SecondaryAudioNotSupported => "SecondaryAudioNotSupported",
            VideoProfileNotSupported => "VideoProfileNotSupported",
            VideoLevelNotSupported => "VideoLevelNotSupported",
            VideoResolutionNotSupported => "VideoResolutionNotSupported",
            VideoBitDepthNotSupported => "VideoBitDepthNotSupported",
            VideoFramerateNotSupported => "VideoFramerateNotSupported",
            RefFramesNotSupported => "RefFramesNotSupported",
            AnamorphicVideoNotSupported => "AnamorphicVideoNotSupported",
            InterlacedVideoNotSupported => "InterlacedVideoNotSupported",
            AudioChannelsNotSupported => "AudioChannelsNotSupported",
            AudioProfileNotSupported => "AudioProfileNotSupported",
            AudioSampleRateNotSupported => "AudioSampleRateNotSupported",
            AudioBitDepthNotSupported => "AudioBitDepthNotSupported",
            ContainerBitrateExceedsLimit => "ContainerBitrateExceedsLimit",
            VideoBitrateNotSupported => "VideoBitrateNotSupported",
            AudioBitrateNotSupported => "AudioBitrateNotSupported",
            UnknownVideoStreamInfo => "UnknownVideoStreamInfo",
            UnknownAudioStreamInfo => "UnknownAudioStreamInfo",
            DirectPlayError => "DirectPlayError",
            VideoRangeTypeNotSupported => "VideoRangeTypeNotSupported",
            VideoCodecTagNotSupported => "VideoCodecTagNotSupported",
            StreamCountExceedsLimit => "StreamCountExceedsLimit",
        }
    }
}

impl std::fmt::Display for TranscodeReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
