//! Playback decision, table by table: (profile, probe, options) → (method, reasons, target).
//!
//! Probes are plain structs here (no files), so each row states exactly what the file is; the
//! last tests run the same decision on probes of real clips made with the ffmpeg CLI.

mod support;

use ha_transcode::decision::{
    decide, CodecProfile, CodecType, ConditionProperty as P, ConditionType as C, DecideOptions,
    DeviceProfile, DirectPlayProfile, MediaKind, NameList, PlayMethod, ProfileCondition,
    SubtitleMethod, TranscodeReason as R,
};
use ha_transcode::probe::{
    probe_blocking, AudioInfo, DoviConfig, HdrFormat, MediaProbe, StreamInfo, StreamKind,
    SubtitleInfo, VideoInfo, VideoRangeType,
};
use ha_transcode::Error;
use support::Clip;

// ---- plain probe builders -------------------------------------------------------------------

#[derive(Clone, Copy)]
struct V {
    codec: &'static str,
    profile: &'static str,
    level: i32,
    size: (u32, u32),
    depth: u32,
    range: VideoRangeType,
    interlaced: bool,
}

const H264_1080: V = V {
    codec: "h264",
    profile: "High",
    level: 40,
    size: (1920, 1080),
    depth: 8,
    range: VideoRangeType::Sdr,
    interlaced: false,
};

fn video(v: V, index: usize) -> StreamInfo {
    let hdr = match v.range {
        VideoRangeType::Sdr | VideoRangeType::Unknown => HdrFormat::Sdr,
        VideoRangeType::Hdr10 => HdrFormat::Hdr10,
        VideoRangeType::Hlg => HdrFormat::Hlg,
        _ => HdrFormat::DolbyVision,
    };
    StreamInfo {
        index,
        kind: StreamKind::Video,
        codec: v.codec.into(),
        profile: Some(v.profile.into()),
        level: Some(v.level),
        is_default: true,
        video: Some(VideoInfo {
            width: v.size.0,
            height: v.size.1,
            avg_frame_rate: Some(25.0),
            bit_depth: Some(v.depth),
            interlaced: v.interlaced,
            hdr,
            range_type: v.range,
            dovi: (hdr == HdrFormat::DolbyVision).then_some(DoviConfig {
                profile: 8,
                bl_signal_compatibility_id: 1,
                ..DoviConfig::default()
            }),
            ..VideoInfo::default()
        }),
        ..StreamInfo::default()
    }
}

fn audio(codec: &str, channels: u32, index: usize) -> StreamInfo {
    StreamInfo {
        index,
        kind: StreamKind::Audio,
        codec: codec.into(),
        bit_rate: Some(128_000),
        is_default: index <= 1,
        audio: Some(AudioInfo {
            channels,
            sample_rate: 48_000,
            channel_layout: None,
        }),
        ..StreamInfo::default()
    }
}

fn subtitle(codec: &str, is_text: bool, index: usize) -> StreamInfo {
    StreamInfo {
        index,
        kind: StreamKind::Subtitle,
        codec: codec.into(),
        subtitle: Some(SubtitleInfo { is_text }),
        ..StreamInfo::default()
    }
}

fn file(container: &str, bit_rate: u64, streams: Vec<StreamInfo>) -> MediaProbe {
    MediaProbe {
        container: container.into(),
        format_name: container.into(),
        duration_secs: Some(60.0),
        bit_rate: Some(bit_rate),
        size: bit_rate * 60 / 8,
        streams,
    }
}

fn movie(container: &str, v: V, a: &str, channels: u32) -> MediaProbe {
    file(
        container,
        5_000_000,
        vec![video(v, 0), audio(a, channels, 1)],
    )
}

// ---- profiles -------------------------------------------------------------------------------

fn web() -> DeviceProfile {
    DeviceProfile::web_browser()
}

/// A TV that plays H.264 up to level 4.1 and HEVC (SDR or HDR10) in MP4/MKV.
fn tv() -> DeviceProfile {
    let mut p = DeviceProfile::web_browser();
    p.direct_play_profiles = vec![DirectPlayProfile {
        container: NameList::parse("mp4,mkv"),
        video_codec: NameList::parse("h264,hevc"),
        audio_codec: NameList::parse("aac,ac3,eac3"),
        kind: MediaKind::Video,
    }];
    p.codec_profiles = vec![
        CodecProfile {
            kind: CodecType::Video,
            codec: NameList::parse("h264"),
            conditions: vec![ProfileCondition::new(C::LessThanEqual, P::VideoLevel, "41")],
            ..CodecProfile::default()
        },
        CodecProfile {
            kind: CodecType::Video,
            codec: NameList::parse("hevc"),
            conditions: vec![ProfileCondition::new(
                C::EqualsAny,
                P::VideoRangeType,
                "SDR|HDR10",
            )],
            ..CodecProfile::default()
        },
        CodecProfile {
            kind: CodecType::VideoAudio,
            conditions: vec![ProfileCondition::new(
                C::Equals,
                P::IsSecondaryAudio,
                "false",
            )],
            ..CodecProfile::default()
        },
    ];
    p
}

fn capped(max_static: u64, max_streaming: u64) -> DeviceProfile {
    let mut p = web();
    p.max_static_bitrate = Some(max_static);
    p.max_streaming_bitrate = Some(max_streaming);
    p
}

fn one_audio_stream_only() -> DeviceProfile {
    let mut p = web();
    p.container_profiles = vec![ha_transcode::decision::ContainerProfile {
        kind: MediaKind::Video,
        container: NameList::parse("mp4"),
        conditions: vec![ProfileCondition::new(
            C::LessThanEqual,
            P::NumAudioStreams,
            "1",
        )],
    }];
    p
}

fn empty() -> DeviceProfile {
    DeviceProfile::default()
}

fn opts() -> DecideOptions {
    DecideOptions::default()
}

// ---- the table ------------------------------------------------------------------------------

struct Row {
    name: &'static str,
    profile: DeviceProfile,
    probe: MediaProbe,
    options: DecideOptions,
    method: PlayMethod,
    reasons: Vec<R>,
    /// (copy_video, copy_audio) for direct stream and transcode.
    copies: Option<(bool, bool)>,
}

fn row(
    name: &'static str,
    profile: DeviceProfile,
    probe: MediaProbe,
    method: PlayMethod,
    reasons: &[R],
    copies: Option<(bool, bool)>,
) -> Row {
    Row {
        name,
        profile,
        probe,
        options: opts(),
        method,
        reasons: reasons.to_vec(),
        copies,
    }
}

fn with(mut r: Row, options: DecideOptions) -> Row {
    r.options = options;
    r
}

#[test]
fn decision_table() {
    use PlayMethod::*;
    let hevc_hdr = V {
        codec: "hevc",
        profile: "Main 10",
        level: 150,
        size: (3840, 2160),
        depth: 10,
        range: VideoRangeType::Hdr10,
        interlaced: false,
    };
    let rows = vec![
        row(
            "h264/aac mp4 plays",
            web(),
            movie("mp4", H264_1080, "aac", 2),
            DirectPlay,
            &[],
            None,
        ),
        row(
            "m4v is mp4",
            web(),
            movie("m4v", H264_1080, "aac", 2),
            DirectPlay,
            &[],
            None,
        ),
        row(
            "mov is mp4",
            web(),
            movie("mov", H264_1080, "mp3", 2),
            DirectPlay,
            &[],
            None,
        ),
        row(
            "5.1 aac within AudioChannels<=6",
            web(),
            movie("mp4", H264_1080, "aac", 6),
            DirectPlay,
            &[],
            None,
        ),
        row(
            "h264/aac mkv remuxes",
            web(),
            movie("mkv", H264_1080, "aac", 2),
            DirectStream,
            &[R::ContainerNotSupported],
            Some((true, true)),
        ),
        row(
            "dts audio is transcoded, video copied",
            web(),
            movie("mp4", H264_1080, "dts", 6),
            Transcode,
            &[R::AudioCodecNotSupported, R::AudioChannelsNotSupported],
            Some((true, false)),
        ),
        row(
            "hevc hdr10 mkv transcodes both",
            web(),
            movie("mkv", hevc_hdr, "aac", 6),
            Transcode,
            &[
                R::ContainerNotSupported,
                R::VideoCodecNotSupported,
                R::AudioChannelsNotSupported,
            ],
            Some((false, false)),
        ),
        row(
            "10-bit h264 fails profile and depth",
            web(),
            movie(
                "mp4",
                V {
                    profile: "High 10",
                    depth: 10,
                    ..H264_1080
                },
                "aac",
                2,
            ),
            Transcode,
            &[R::VideoProfileNotSupported, R::VideoBitDepthNotSupported],
            Some((false, true)),
        ),
        row(
            "interlaced h264",
            web(),
            movie(
                "mp4",
                V {
                    interlaced: true,
                    ..H264_1080
                },
                "aac",
                2,
            ),
            Transcode,
            &[R::InterlacedVideoNotSupported],
            Some((false, true)),
        ),
        row(
            "level too high for the tv",
            tv(),
            movie(
                "mkv",
                V {
                    level: 51,
                    ..H264_1080
                },
                "ac3",
                6,
            ),
            Transcode,
            &[
                R::AudioCodecNotSupported,
                R::VideoLevelNotSupported,
                R::AudioChannelsNotSupported,
            ],
            Some((false, false)),
        ),
        row(
            "hevc hdr10 plays on the tv",
            tv(),
            movie("mkv", hevc_hdr, "eac3", 6),
            DirectPlay,
            &[],
            None,
        ),
        row(
            "dolby vision 8.1 plays its hdr10 base layer",
            tv(),
            movie(
                "mp4",
                V {
                    range: VideoRangeType::DoviWithHdr10,
                    ..hevc_hdr
                },
                "aac",
                2,
            ),
            DirectPlay,
            &[],
            None,
        ),
        row(
            "hlg not accepted by the tv",
            tv(),
            movie(
                "mkv",
                V {
                    range: VideoRangeType::Hlg,
                    ..hevc_hdr
                },
                "aac",
                2,
            ),
            Transcode,
            &[R::VideoCodecNotSupported, R::VideoRangeTypeNotSupported],
            Some((false, true)),
        ),
        row(
            "mpeg2 interlaced ts with mp2",
            web(),
            file(
                "ts",
                8_000_000,
                vec![
                    video(
                        V {
                            codec: "mpeg2video",
                            profile: "Main",
                            level: 8,
                            size: (720, 576),
                            interlaced: true,
                            ..H264_1080
                        },
                        0,
                    ),
                    audio("mp2", 2, 1),
                ],
            ),
            Transcode,
            &[
                R::ContainerNotSupported,
                R::VideoCodecNotSupported,
                R::AudioCodecNotSupported,
            ],
            Some((false, false)),
        ),
        row(
            "video without audio remuxes",
            web(),
            file("mkv", 3_000_000, vec![video(H264_1080, 0)]),
            DirectStream,
            &[R::ContainerNotSupported],
            Some((true, false)),
        ),
        row(
            "mp3 file plays",
            web(),
            file("mp3", 128_000, vec![audio("mp3", 2, 0)]),
            DirectPlay,
            &[],
            None,
        ),
        row(
            "m4a file plays",
            web(),
            file("m4a", 128_000, vec![audio("aac", 2, 0)]),
            DirectPlay,
            &[],
            None,
        ),
        row(
            "flac in mka is transcoded to mp3",
            web(),
            file("mkv", 900_000, vec![audio("flac", 2, 0)]),
            Transcode,
            &[R::ContainerNotSupported, R::AudioCodecNotSupported],
            Some((false, false)),
        ),
        row(
            "no profile at all: remux into the default ts",
            empty(),
            movie("mp4", H264_1080, "aac", 2),
            DirectStream,
            &[R::ContainerNotSupported],
            Some((true, true)),
        ),
        with(
            row(
                "over the request's bit rate limit",
                web(),
                file(
                    "mp4",
                    20_000_000,
                    vec![video(H264_1080, 0), audio("aac", 2, 1)],
                ),
                Transcode,
                &[R::ContainerBitrateExceedsLimit],
                Some((false, true)),
            ),
            DecideOptions {
                max_bitrate: Some(4_000_000),
                ..opts()
            },
        ),
        with(
            row(
                "second audio track on a tv that cannot switch",
                tv(),
                file(
                    "mkv",
                    5_000_000,
                    vec![video(H264_1080, 0), audio("aac", 2, 1), audio("aac", 2, 2)],
                ),
                Transcode,
                &[R::SecondaryAudioNotSupported],
                Some((true, false)),
            ),
            DecideOptions {
                audio_stream_index: Some(2),
                ..opts()
            },
        ),
        with(
            row(
                "pgs subtitles are burnt in",
                web(),
                file(
                    "mp4",
                    5_000_000,
                    vec![
                        video(H264_1080, 0),
                        audio("aac", 2, 1),
                        subtitle("hdmv_pgs_subtitle", false, 2),
                    ],
                ),
                Transcode,
                &[R::SubtitleCodecNotSupported],
                Some((false, true)),
            ),
            DecideOptions {
                subtitle_stream_index: Some(2),
                ..opts()
            },
        ),
        with(
            row(
                "srt subtitles go on the side as vtt",
                web(),
                file(
                    "mp4",
                    5_000_000,
                    vec![
                        video(H264_1080, 0),
                        audio("aac", 2, 1),
                        subtitle("subrip", true, 2),
                    ],
                ),
                DirectPlay,
                &[],
                None,
            ),
            DecideOptions {
                subtitle_stream_index: Some(2),
                ..opts()
            },
        ),
        with(
            row(
                "static context uses MaxStaticBitrate",
                capped(100_000_000, 3_000_000),
                file(
                    "mp4",
                    8_000_000,
                    vec![video(H264_1080, 0), audio("aac", 2, 1)],
                ),
                DirectPlay,
                &[],
                None,
            ),
            DecideOptions {
                static_context: true,
                ..opts()
            },
        ),
        row(
            "streaming context uses MaxStreamingBitrate",
            capped(100_000_000, 3_000_000),
            file(
                "mp4",
                8_000_000,
                vec![video(H264_1080, 0), audio("aac", 2, 1)],
            ),
            Transcode,
            &[R::ContainerBitrateExceedsLimit],
            Some((false, true)),
        ),
        row(
            "container profile limits the stream count",
            one_audio_stream_only(),
            file(
                "mp4",
                5_000_000,
                vec![video(H264_1080, 0), audio("aac", 2, 1), audio("aac", 2, 2)],
            ),
            DirectStream,
            &[R::StreamCountExceedsLimit],
            Some((true, true)),
        ),
    ];

    let mut failures = Vec::new();
    for r in &rows {
        let d = match decide(&r.profile, &r.probe, &r.options) {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{}: error {e:?}", r.name));
                continue;
            }
        };
        let copies = d.target.as_ref().map(|t| (t.copy_video, t.copy_audio));
        if d.method != r.method || d.reasons != r.reasons || copies != r.copies {
            failures.push(format!(
                "{}: got {:?} {:?} {:?}, want {:?} {:?} {:?}",
                r.name, d.method, d.reasons, copies, r.method, r.reasons, r.copies
            ));
        }
        if d.method == PlayMethod::DirectPlay {
            assert!(d.target.is_none(), "{}", r.name);
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

// ---- targets --------------------------------------------------------------------------------

#[test]
fn hdr_transcode_target_tonemaps_to_h264_stereo() {
    let p = movie(
        "mkv",
        V {
            codec: "hevc",
            profile: "Main 10",
            level: 150,
            size: (3840, 2160),
            depth: 10,
            range: VideoRangeType::Hdr10,
            interlaced: false,
        },
        "aac",
        6,
    );
    let d = decide(&web(), &p, &opts()).unwrap();
    let t = d.target.unwrap();
    assert_eq!((t.container.as_str(), t.protocol.as_str()), ("ts", "hls"));
    assert_eq!(t.video_codec.as_deref(), Some("h264"));
    assert_eq!(t.audio_codec.as_deref(), Some("aac"));
    assert_eq!(t.audio_channels, Some(2));
    assert_eq!(t.audio_bitrate, Some(192_000));
    assert!(t.needs_tonemap);
    assert!(!t.deinterlace);
    // HEVC → H.264 needs more bits than the source's; the source is 5 Mb/s in total.
    let vb = t.video_bitrate.unwrap();
    assert!(vb > 5_000_000 && vb < 8_000_000, "{vb}");
    // Within the browser's 4096x2304 bound, aspect kept, never upscaled.
    assert_eq!((t.max_width, t.max_height), (Some(3840), Some(2160)));
    assert_eq!(d.video_stream_index, Some(0));
    assert_eq!(d.audio_stream_index, Some(1));
}

#[test]
fn low_bit_rate_limit_lowers_resolution() {
    let p = file(
        "mp4",
        20_000_000,
        vec![video(H264_1080, 0), audio("aac", 2, 1)],
    );
    let options = DecideOptions {
        max_bitrate: Some(2_000_000),
        ..opts()
    };
    let t = decide(&web(), &p, &options).unwrap().target.unwrap();
    assert!(!t.copy_video && t.copy_audio);
    assert_eq!(t.video_bitrate, Some(2_000_000 - 128_000));
    assert_eq!((t.max_width, t.max_height), (Some(1280), Some(720)));
    assert!(!t.needs_tonemap);
}

#[test]
fn remux_target_copies_codecs() {
    let d = decide(&web(), &movie("mkv", H264_1080, "aac", 2), &opts()).unwrap();
    let t = d.target.unwrap();
    assert_eq!(t.video_codec.as_deref(), Some("h264"));
    assert_eq!(t.audio_codec.as_deref(), Some("aac"));
    assert_eq!((t.video_bitrate, t.max_width), (None, None));
}

#[test]
fn subtitle_delivery() {
    let p = file(
        "mp4",
        5_000_000,
        vec![
            video(H264_1080, 0),
            audio("aac", 2, 1),
            subtitle("subrip", true, 2),
            subtitle("dvd_subtitle", false, 3),
        ],
    );
    let pick = |i| DecideOptions {
        subtitle_stream_index: Some(i),
        ..opts()
    };
    let d = decide(&web(), &p, &pick(2)).unwrap();
    let s = d.subtitle.unwrap();
    assert_eq!(
        (s.method, s.format.as_str()),
        (SubtitleMethod::External, "vtt")
    );
    let d = decide(&web(), &p, &pick(3)).unwrap();
    assert_eq!(d.subtitle.unwrap().method, SubtitleMethod::Encode);
    assert_eq!(d.target.unwrap().burn_subtitle, Some(3));
}

#[test]
fn unplayable_requests_are_typed_errors() {
    let p = movie("mp4", H264_1080, "aac", 2);
    let bad_audio = DecideOptions {
        audio_stream_index: Some(0),
        ..opts()
    };
    assert!(matches!(
        decide(&web(), &p, &bad_audio),
        Err(Error::NotPlayable { .. })
    ));
    let bad_sub = DecideOptions {
        subtitle_stream_index: Some(9),
        ..opts()
    };
    assert!(matches!(
        decide(&web(), &p, &bad_sub),
        Err(Error::NotPlayable { .. })
    ));
    let subs_only = file("mkv", 1_000, vec![subtitle("subrip", true, 0)]);
    let err = decide(&web(), &subs_only, &opts()).unwrap_err();
    assert!(matches!(
        ha_core::Error::from(err),
        ha_core::Error::Invalid(_)
    ));
}

#[test]
fn lenient_client_json_profile() {
    // camelCase keys, numbers in strings, unknown fields and enum values, null lists.
    let json = r#"{
        "name": "Android TV",
        "maxStreamingBitrate": "40000000",
        "directPlayProfiles": [{"container": "mkv,mp4", "type": "video",
                                "videoCodec": "HEVC,h264", "audioCodec": "aac,eac3,truehd"}],
        "transcodingProfiles": [{"container": "ts", "type": "Video", "videoCodec": "h264,hevc",
                                 "audioCodec": "aac", "protocol": "hls", "context": "Streaming",
                                 "maxAudioChannels": "6", "enableMpegtsM2TsMode": false}],
        "codecProfiles": [{"type": "Video", "codec": "hevc", "conditions": [
            {"condition": "EqualsAny", "property": "VideoRangeType", "value": "SDR|HDR10|DOVIWithHDR10"},
            {"condition": "Shiny", "property": "VideoLevel", "value": "1"}]}],
        "containerProfiles": null,
        "subtitleProfiles": [{"format": "srt", "method": "Embed"}],
        "responseProfiles": [{"whatever": true}]
    }"#;
    let profile = DeviceProfile::from_json(json).expect("parses");
    let hevc = V {
        codec: "hevc",
        profile: "Main 10",
        level: 153,
        size: (3840, 2160),
        depth: 10,
        range: VideoRangeType::Hdr10,
        interlaced: false,
    };
    let d = decide(&profile, &movie("mkv", hevc, "truehd", 8), &opts()).unwrap();
    assert_eq!(
        (d.method, d.reasons.as_slice()),
        (PlayMethod::DirectPlay, &[][..])
    );
    // Over its 40 Mb/s limit: transcode, keeping the 8-channel TrueHD out (not in the TS list).
    let big = file(
        "mkv",
        60_000_000,
        vec![video(hevc, 0), audio("truehd", 8, 1)],
    );
    let d = decide(&profile, &big, &opts()).unwrap();
    assert_eq!(d.method, PlayMethod::Transcode);
    assert!(d.reasons.contains(&R::ContainerBitrateExceedsLimit));
    let t = d.target.unwrap();
    assert_eq!(t.audio_channels, Some(6));
    // The TS profile lists h264 first: HDR10 → H.264 SDR needs tone mapping.
    assert_eq!(t.video_codec.as_deref(), Some("h264"));
    assert!(t.needs_tonemap);
}

#[test]
fn decisions_serialise() {
    let d = decide(&web(), &movie("mkv", H264_1080, "dts", 6), &opts()).unwrap();
    let json = serde_json::to_string(&d).unwrap();
    assert!(json.contains("\"ContainerNotSupported\""), "{json}");
    assert!(json.contains("\"Transcode\""), "{json}");
}

// ---- real clips -----------------------------------------------------------------------------

#[test]
fn real_clips_on_the_web_profile() {
    let web = web();
    let cases: Vec<(Clip, PlayMethod, Vec<R>)> = vec![
        (Clip::h264_aac_1080p(), PlayMethod::DirectPlay, vec![]),
        (Clip::audio_only_mp3(), PlayMethod::DirectPlay, vec![]),
        (Clip::audio_only_aac(), PlayMethod::DirectPlay, vec![]),
        (Clip::h264_no_audio(), PlayMethod::DirectPlay, vec![]),
        (
            Clip::hevc10_hdr10(),
            PlayMethod::Transcode,
            vec![
                R::ContainerNotSupported,
                R::VideoCodecNotSupported,
                R::AudioChannelsNotSupported,
            ],
        ),
        (
            Clip::mpeg2_interlaced(),
            PlayMethod::Transcode,
            vec![
                R::ContainerNotSupported,
                R::VideoCodecNotSupported,
                R::AudioCodecNotSupported,
            ],
        ),
    ];
    for (clip, method, reasons) in cases {
        let probe = probe_blocking(clip.make()).expect("probe");
        let d = decide(&web, &probe, &opts()).expect("decide");
        assert_eq!((d.method, &d.reasons), (method, &reasons), "{}", clip.file);
        if clip.file.starts_with("hevc") {
            assert!(d.target.as_ref().unwrap().needs_tonemap);
        }
        if clip.file.starts_with("mpeg2") {
            let t = d.target.unwrap();
            assert!(t.deinterlace);
            assert_eq!((t.max_width, t.max_height), (Some(720), Some(576)));
        }
    }
}
