//! The playback decision: direct play, direct stream (remux) or transcode.
//!
//! Pure: a [`DeviceProfile`], a [`MediaProbe`] and the request's [`DecideOptions`] in, a
//! [`PlaybackDecision`] out; no FFmpeg, no I/O, so every rule is table-tested.
//!
//! Cheapest first, because every transcode costs a CPU (or a QSV slot) for the whole viewing:
//!
//! 1. **DirectPlay** — some `DirectPlayProfile` accepts the container and both codecs, every
//!    applicable codec/container condition holds, the file's bit rate is within the limit and
//!    no subtitle has to be burnt in. The client reads the file as is.
//! 2. **DirectStream** — both streams can be copied into the transcoding profile's container
//!    (its codec lists accept them, their conditions hold, the bit rate fits): a remux, almost
//!    free.
//! 3. **Transcode** — re-encode what cannot be copied, and still copy the stream that can
//!    (`copy_video` / `copy_audio`), e.g. keep the H.264 video and only turn DTS into AAC.
//!
//! The reasons are Jellyfin's [`TranscodeReason`]s, sorted and without duplicates.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::condition::{failures, holds, Facts};
use super::names::{codec as canon_codec, container as canon_container, list_allows};
use super::profile::{
    CodecType, ConditionProperty, ConditionType, DeviceProfile, EncodingContext, MediaKind,
    SubtitleMethod, TranscodingProfile,
};
use super::reason::TranscodeReason as R;
use super::{builtin, TranscodeReason};
use crate::probe::{MediaProbe, StreamInfo};
use crate::{Error, Result};

/// What the client asked for besides its profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecideOptions {
    /// A bit rate limit (bits/s) for this request, overriding the profile's.
    pub max_bitrate: Option<u64>,
    /// The audio stream to play (container index); default: the default audio stream.
    pub audio_stream_index: Option<usize>,
    /// The subtitle stream to show (container index); default: none.
    pub subtitle_stream_index: Option<usize>,
    /// A static (download) request: `MaxStaticBitrate` applies instead of
    /// `MaxStreamingBitrate`, as in Jellyfin.
    pub static_context: bool,
}

/// How the client will play the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlayMethod {
    /// The file as is.
    DirectPlay,
    /// Remuxed: every stream copied into another container.
    DirectStream,
    /// At least one stream re-encoded.
    Transcode,
}

/// The decision for one play request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaybackDecision {
    /// The cheapest method that works.
    pub method: PlayMethod,
    /// Why not direct play (empty for direct play).
    pub reasons: Vec<TranscodeReason>,
    /// The video stream played, if any.
    pub video_stream_index: Option<usize>,
    /// The audio stream played, if any.
    pub audio_stream_index: Option<usize>,
    /// How the selected subtitles reach the client, if any were asked for.
    pub subtitle: Option<SubtitleDelivery>,
    /// What to produce, for direct stream and transcode.
    pub target: Option<TranscodeTarget>,
}

/// How the selected subtitle stream is delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtitleDelivery {
    /// The subtitle stream.
    pub stream_index: usize,
    /// Embedded, external file, HLS playlist, burnt in (`Encode`) or dropped.
    pub method: SubtitleMethod,
    /// The format delivered (`vtt`, `srt`, ...); for burn-in, the source codec.
    pub format: String,
}

/// What the remux or transcode produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscodeTarget {
    /// Output container (`ts`, `mp4`, `mp3`).
    pub container: String,
    /// `hls` or `http`.
    pub protocol: String,
    /// Output video codec (`h264`), `None` for audio-only output.
    pub video_codec: Option<String>,
    /// Output audio codec (`aac`), `None` when there is no audio.
    pub audio_codec: Option<String>,
    /// Copy the video stream instead of encoding it.
    pub copy_video: bool,
    /// Copy the audio stream instead of encoding it.
    pub copy_audio: bool,
    /// Largest output width (never more than the source), when encoding video.
    pub max_width: Option<u32>,
    /// Largest output height (never more than the source), when encoding video.
    pub max_height: Option<u32>,
    /// Video bit rate (bits/s), when encoding video.
    pub video_bitrate: Option<u64>,
    /// Audio bit rate (bits/s), when encoding audio.
    pub audio_bitrate: Option<u64>,
    /// Output audio channels.
    pub audio_channels: Option<u32>,
    /// HDR source encoded for a client that only takes SDR: tone-map to BT.709.
    pub needs_tonemap: bool,
    /// Interlaced source being encoded: deinterlace.
    pub deinterlace: bool,
    /// Subtitle stream to burn into the video.
    pub burn_subtitle: Option<usize>,
}

/// Video codecs our encoders produce, in order of preference.
const VIDEO_ENCODERS: &[&str] = &["h264", "hevc"];
/// Audio codecs our encoders produce, in order of preference.
const AUDIO_ENCODERS: &[&str] = &["aac", "mp3", "ac3", "opus", "flac"];

/// Decides how `probe` plays on a client with `profile`.
///
/// # Errors
/// [`Error::NotPlayable`] when the file has neither video nor audio, or the requested audio or
/// subtitle stream does not exist.
pub fn decide(
    profile: &DeviceProfile,
    probe: &MediaProbe,
    options: &DecideOptions,
) -> Result<PlaybackDecision> {
    let video = probe.video();
    let audio = match options.audio_stream_index {
        Some(i) => Some(probe.audio(Some(i)).ok_or_else(|| Error::NotPlayable {
            reason: format!("no audio stream with index {i}"),
        })?),
        None => probe.audio(None),
    };
    if video.is_none() && audio.is_none() {
        return Err(Error::NotPlayable {
            reason: "no video or audio stream".into(),
        });
    }
    let subtitle = match options.subtitle_stream_index {
        Some(i) => Some(probe.subtitle(i).ok_or_else(|| Error::NotPlayable {
            reason: format!("no subtitle stream with index {i}"),
        })?),
        None => None,
    };
    let kind = if video.is_some() {
        MediaKind::Video
    } else {
        MediaKind::Audio
    };
    let facts = Facts {
        probe,
        video,
        audio,
    };

    // What prevents direct play.
    let container_reasons = direct_play_failures(profile, kind, probe, video, audio);
    let video_cond = video.map_or_else(Vec::new, |v| {
        codec_failures(
            profile,
            CodecType::Video,
            &v.codec,
            &probe.container,
            &facts,
        )
    });
    let audio_kind = if kind == MediaKind::Video {
        CodecType::VideoAudio
    } else {
        CodecType::Audio
    };
    let audio_cond = audio.map_or_else(Vec::new, |a| {
        codec_failures(profile, audio_kind, &a.codec, &probe.container, &facts)
    });
    let container_cond: Vec<_> = profile
        .container_profiles
        .iter()
        .filter(|c| c.kind == kind && list_allows(&c.container, &probe.container, canon_container))
        .flat_map(|c| failures(&c.conditions, &facts))
        .collect();
    let sub = subtitle.map(|s| subtitle_delivery(profile, s, &probe.container));
    let burn_in = sub
        .as_ref()
        .is_some_and(|s| s.method == SubtitleMethod::Encode);
    let limit = if options.static_context {
        options.max_bitrate.or(profile.max_static_bitrate)
    } else {
        options.max_bitrate.or(profile.max_streaming_bitrate)
    };
    let total = total_bitrate(probe);
    let bitrate_ok = fits(total, limit);

    let mut reasons: BTreeSet<TranscodeReason> = BTreeSet::new();
    reasons.extend(container_reasons.iter().copied());
    reasons.extend(video_cond.iter().copied());
    reasons.extend(audio_cond.iter().copied());
    reasons.extend(container_cond.iter().copied());
    if !bitrate_ok {
        reasons.insert(R::ContainerBitrateExceedsLimit);
    }
    if burn_in {
        reasons.insert(R::SubtitleCodecNotSupported);
    }
    let base = PlaybackDecision {
        method: PlayMethod::DirectPlay,
        reasons: Vec::new(),
        video_stream_index: video.map(|v| v.index),
        audio_stream_index: audio.map(|a| a.index),
        subtitle: sub,
        target: None,
    };
    if reasons.is_empty() {
        return Ok(base);
    }

    // Remux or transcode into the transcoding profile's container.
    let tp = transcoding_profile(profile, kind);
    let audio_out_channels = audio.map(|a| output_channels(profile, &tp, a, audio_kind, &facts));
    let audio_copy_ok = match audio {
        None => true,
        Some(a) => {
            let in_list =
                !tp.audio_codec.is_empty() && list_allows(&tp.audio_codec, &a.codec, canon_codec);
            if !in_list {
                reasons.insert(R::AudioCodecNotSupported);
            }
            let channels_ok = a.audio.as_ref().is_none_or(|ai| {
                tp.max_audio_channels
                    .is_none_or(|m| u64::from(ai.channels) <= m)
            });
            if !channels_ok {
                reasons.insert(R::AudioChannelsNotSupported);
            }
            in_list && channels_ok && audio_cond.is_empty()
        }
    };
    let audio_out_bitrate = match audio {
        None => 0,
        Some(a) if audio_copy_ok => a.bit_rate.unwrap_or(0),
        Some(_) => audio_bitrate(audio_out_channels.flatten().unwrap_or(2)),
    };
    let video_copy_ok = match video {
        None => true,
        Some(v) => {
            let in_list =
                !tp.video_codec.is_empty() && list_allows(&tp.video_codec, &v.codec, canon_codec);
            if !in_list {
                reasons.insert(R::VideoCodecNotSupported);
            }
            let video_fits = bitrate_ok
                || v.bit_rate
                    .is_some_and(|vb| fits(Some(vb + audio_out_bitrate), limit));
            in_list && video_fits && video_cond.is_empty() && !burn_in
        }
    };
    let reasons: Vec<_> = reasons.into_iter().collect();
    let copy_all = video_copy_ok && audio_copy_ok && (video.is_some() || bitrate_ok);
    let method = if copy_all {
        PlayMethod::DirectStream
    } else {
        PlayMethod::Transcode
    };

    let mut target = TranscodeTarget {
        container: tp.container.clone().unwrap_or_else(|| "ts".into()),
        protocol: tp.protocol.clone().unwrap_or_else(|| "http".into()),
        video_codec: None,
        audio_codec: None,
        copy_video: video.is_some() && video_copy_ok,
        copy_audio: audio.is_some() && audio_copy_ok && (video.is_some() || bitrate_ok),
        max_width: None,
        max_height: None,
        video_bitrate: None,
        audio_bitrate: None,
        audio_channels: None,
        needs_tonemap: false,
        deinterlace: false,
        burn_subtitle: base
            .subtitle
            .as_ref()
            .filter(|s| s.method == SubtitleMethod::Encode)
            .map(|s| s.stream_index),
    };
    if let Some(a) = audio {
        if target.copy_audio {
            target.audio_codec = Some(a.codec.clone());
            target.audio_channels = a.audio.as_ref().map(|ai| ai.channels);
        } else {
            let codec = pick_encoder(&tp.audio_codec, AUDIO_ENCODERS, "aac");
            let channels = audio_out_channels.flatten().unwrap_or(2);
            target.audio_codec = Some(codec);
            target.audio_channels = Some(channels);
            target.audio_bitrate = Some(audio_bitrate(channels));
        }
    }
    if let Some(v) = video {
        if target.copy_video {
            target.video_codec = Some(v.codec.clone());
        } else {
            encode_video(
                &mut target,
                profile,
                &tp,
                v,
                &facts,
                limit,
                total,
                audio_out_bitrate,
            );
        }
    }
    Ok(PlaybackDecision {
        method,
        reasons,
        target: Some(target),
        ..base
    })
}

/// Reasons of the direct play profile that fails least (container, video codec, audio codec).
fn direct_play_failures(
    profile: &DeviceProfile,
    kind: MediaKind,
    probe: &MediaProbe,
    video: Option<&StreamInfo>,
    audio: Option<&StreamInfo>,
) -> Vec<TranscodeReason> {
    profile
        .direct_play_profiles
        .iter()
        .filter(|p| p.kind == kind)
        .map(|p| {
            let mut r = Vec::new();
            if !list_allows(&p.container, &probe.container, canon_container) {
                r.push(R::ContainerNotSupported);
            }
            if video.is_some_and(|v| !list_allows(&p.video_codec, &v.codec, canon_codec)) {
                r.push(R::VideoCodecNotSupported);
            }
            if audio.is_some_and(|a| !list_allows(&p.audio_codec, &a.codec, canon_codec)) {
                r.push(R::AudioCodecNotSupported);
            }
            r
        })
        .min_by_key(Vec::len)
        .unwrap_or_else(|| vec![R::ContainerNotSupported])
}

/// Failing conditions of the codec profiles that apply to `codec` in `container`.
fn codec_failures(
    profile: &DeviceProfile,
    kind: CodecType,
    codec: &str,
    container: &str,
    facts: &Facts<'_>,
) -> Vec<TranscodeReason> {
    profile
        .codec_profiles
        .iter()
        .filter(|p| {
            p.kind == kind
                && list_allows(&p.codec, codec, canon_codec)
                && list_allows(&p.container, container, canon_container)
                && p.apply_conditions.iter().all(|c| holds(c, facts))
        })
        .flat_map(|p| failures(&p.conditions, facts))
        .collect()
}

/// The first streaming transcoding profile for `kind`, or the built-in default.
fn transcoding_profile(profile: &DeviceProfile, kind: MediaKind) -> TranscodingProfile {
    let of_kind = || {
        profile
            .transcoding_profiles
            .iter()
            .filter(|t| t.kind == kind)
    };
    of_kind()
        .find(|t| t.context != EncodingContext::Static)
        .or_else(|| of_kind().next())
        .cloned()
        .unwrap_or_else(|| builtin::default_transcoding_profile(kind))
}

fn subtitle_delivery(profile: &DeviceProfile, s: &StreamInfo, container: &str) -> SubtitleDelivery {
    let codec = canon_codec(&s.codec);
    let usable = |m: SubtitleMethod| {
        matches!(
            m,
            SubtitleMethod::Embed
                | SubtitleMethod::External
                | SubtitleMethod::Hls
                | SubtitleMethod::Drop
        )
    };
    let applies = |p: &&super::profile::SubtitleProfile| {
        usable(p.method) && list_allows(&p.container, container, canon_container)
    };
    let exact = profile
        .subtitle_profiles
        .iter()
        .filter(applies)
        .find(|p| p.format.as_deref().map(canon_codec).as_deref() == Some(codec.as_str()));
    let is_text = s.subtitle.as_ref().is_some_and(|i| i.is_text);
    // Text subtitles can be converted to any text format served on the side.
    let converted = || {
        profile
            .subtitle_profiles
            .iter()
            .filter(applies)
            .filter(|p| matches!(p.method, SubtitleMethod::External | SubtitleMethod::Hls))
            .find(|p| {
                p.format
                    .as_deref()
                    .is_some_and(|f| crate::probe::is_text_subtitle(&canon_codec(f)))
            })
    };
    match exact.or_else(|| if is_text { converted() } else { None }) {
        Some(p) => SubtitleDelivery {
            stream_index: s.index,
            method: p.method,
            format: p.format.clone().unwrap_or_else(|| s.codec.clone()),
        },
        None => SubtitleDelivery {
            stream_index: s.index,
            method: SubtitleMethod::Encode,
            format: s.codec.clone(),
        },
    }
}

/// Output channels when encoding audio: the source's, capped by the transcoding profile and by
/// `AudioChannels <=` conditions of the codec profiles for the output codec.
fn output_channels(
    profile: &DeviceProfile,
    tp: &TranscodingProfile,
    a: &StreamInfo,
    kind: CodecType,
    facts: &Facts<'_>,
) -> Option<u32> {
    let source = a.audio.as_ref().map(|ai| ai.channels).filter(|c| *c > 0)?;
    let codec = pick_encoder(&tp.audio_codec, AUDIO_ENCODERS, "aac");
    let mut out = source;
    if let Some(m) = tp.max_audio_channels {
        out = out.min(u32::try_from(m).unwrap_or(u32::MAX).max(1));
    }
    if let Some(m) = max_from_conditions(
        profile,
        kind,
        &codec,
        ConditionProperty::AudioChannels,
        facts,
    ) {
        out = out.min(m.max(1));
    }
    Some(out)
}

/// The smallest `property <= N` bound in the codec profiles for `codec`.
fn max_from_conditions(
    profile: &DeviceProfile,
    kind: CodecType,
    codec: &str,
    property: ConditionProperty,
    facts: &Facts<'_>,
) -> Option<u32> {
    profile
        .codec_profiles
        .iter()
        .filter(|p| p.kind == kind && list_allows(&p.codec, codec, canon_codec))
        .filter(|p| p.apply_conditions.iter().all(|c| holds(c, facts)))
        .flat_map(|p| p.conditions.iter())
        .filter(|c| c.property == property && c.condition == ConditionType::LessThanEqual)
        .filter_map(|c| c.value.as_deref()?.trim().parse::<f64>().ok())
        .filter(|v| *v >= 1.0)
        .map(|v| v as u32)
        .min()
}

#[allow(clippy::too_many_arguments)]
fn encode_video(
    target: &mut TranscodeTarget,
    profile: &DeviceProfile,
    tp: &TranscodingProfile,
    v: &StreamInfo,
    facts: &Facts<'_>,
    limit: Option<u64>,
    total: Option<u64>,
    audio_out_bitrate: u64,
) {
    let codec = pick_encoder(&tp.video_codec, VIDEO_ENCODERS, "h264");
    let info = v.video.clone().unwrap_or_default();
    let fps = info.avg_frame_rate.or(info.real_frame_rate).unwrap_or(25.0);

    // Bit rate: the source's, more when moving to a less efficient codec, within the limit.
    let pixels = |w: u32, h: u32| f64::from(w.max(1)) * f64::from(h.max(1));
    let source_video = v
        .bit_rate
        .or_else(|| total.map(|t| t.saturating_sub(audio_out_bitrate)))
        .filter(|b| *b > 0)
        .unwrap_or_else(|| (pixels(info.width, info.height) * fps * 0.1) as u64);
    let efficient = matches!(canon_codec(&v.codec).as_str(), "hevc" | "av1" | "vp9");
    let factor = if efficient && codec == "h264" {
        1.5
    } else {
        1.0
    };
    let mut bitrate = (source_video as f64 * factor) as u64;
    if let Some(l) = limit {
        bitrate = bitrate.min(l.saturating_sub(audio_out_bitrate).max(200_000));
    }

    // Size: never upscale; respect Width/Height bounds; fewer bits → fewer lines.
    let mut max_w = info.width;
    let mut max_h = info.height;
    let cap = |p| max_from_conditions(profile, CodecType::Video, &codec, p, facts);
    if let Some(w) = cap(ConditionProperty::Width) {
        max_w = max_w.min(w);
    }
    if let Some(h) = cap(ConditionProperty::Height) {
        max_h = max_h.min(h);
    }
    let ladder_height = match bitrate {
        b if b < 1_000_000 => 480,
        b if b < 2_500_000 => 720,
        b if b < 6_000_000 => 1080,
        _ => u32::MAX,
    };
    max_h = max_h.min(ladder_height);
    if info.width > 0 && info.height > 0 {
        // Keep the aspect ratio within both bounds.
        let scale = (f64::from(max_w) / f64::from(info.width))
            .min(f64::from(max_h) / f64::from(info.height))
            .min(1.0);
        max_w = ((f64::from(info.width) * scale) as u32) & !1;
        max_h = ((f64::from(info.height) * scale) as u32) & !1;
    }

    // Tone-map when the output cannot carry the source's range: our H.264 output is 8-bit SDR;
    // for other codecs, follow the client's VideoRangeType conditions for the output codec.
    let needs_tonemap = info.hdr.is_hdr()
        && (codec == "h264" || {
            let range_conds: Vec<_> = profile
                .codec_profiles
                .iter()
                .filter(|p| {
                    p.kind == CodecType::Video && list_allows(&p.codec, &codec, canon_codec)
                })
                .flat_map(|p| p.conditions.iter())
                .filter(|c| c.property == ConditionProperty::VideoRangeType)
                .cloned()
                .collect();
            !range_conds.iter().all(|c| holds(c, facts))
        });

    target.video_codec = Some(codec);
    target.max_width = (max_w > 0).then_some(max_w);
    target.max_height = (max_h > 0).then_some(max_h);
    target.video_bitrate = Some(bitrate);
    target.needs_tonemap = needs_tonemap;
    target.deinterlace = info.interlaced;
}

/// The first codec of `wanted` we can encode, else `fallback`.
fn pick_encoder(wanted: &super::NameList, ours: &[&str], fallback: &str) -> String {
    wanted
        .iter()
        .map(canon_codec)
        .find(|c| ours.contains(&c.as_str()))
        .unwrap_or_else(|| fallback.to_owned())
}

fn audio_bitrate(channels: u32) -> u64 {
    if channels <= 2 {
        192_000
    } else {
        (64_000 * u64::from(channels)).min(640_000)
    }
}

/// The file's bit rate: the container's, else the streams' sum, else size over duration.
fn total_bitrate(probe: &MediaProbe) -> Option<u64> {
    probe
        .bit_rate
        .filter(|b| *b > 0)
        .or_else(|| {
            let sum: u64 = probe.streams.iter().filter_map(|s| s.bit_rate).sum();
            (sum > 0).then_some(sum)
        })
        .or_else(|| {
            let d = probe.duration_secs.filter(|d| *d > 0.0)?;
            (probe.size > 0).then(|| (probe.size as f64 * 8.0 / d) as u64)
        })
}

fn fits(bitrate: Option<u64>, limit: Option<u64>) -> bool {
    match (bitrate, limit) {
        (Some(b), Some(l)) => b <= l,
        _ => true,
    }
}
