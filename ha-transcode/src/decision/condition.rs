//! Evaluating profile conditions against a probed file.
//!
//! Jellyfin's rules, kept: a condition on a property the probe does not know passes unless it
//! is `IsRequired`; text compares ignoring case; `EqualsAny` takes `|`-separated values.
//! Leniency added: a condition whose type, property or value we cannot understand passes
//! (it cannot be judged, and refusing direct play over it would punish the client for our
//! ignorance). One refinement: a Dolby Vision stream with an HDR10/HLG/SDR-compatible base
//! layer satisfies a `VideoRangeType` condition that accepts the base layer's range, since a
//! non-DV device simply plays the base layer.

use super::profile::{ConditionProperty as P, ConditionType as C, ProfileCondition};
use super::reason::TranscodeReason as R;
use super::TranscodeReason;
use crate::probe::{MediaProbe, StreamInfo, StreamKind};

/// The streams a decision is about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts<'a> {
    pub probe: &'a MediaProbe,
    pub video: Option<&'a StreamInfo>,
    pub audio: Option<&'a StreamInfo>,
}

#[derive(Debug, Clone, PartialEq)]
enum Actual {
    Num(f64),
    Text(String),
    Bool(bool),
}

impl Facts<'_> {
    fn value(&self, property: P) -> Option<Actual> {
        let v = self.video.and_then(|s| s.video.as_ref());
        let a = self.audio.and_then(|s| s.audio.as_ref());
        let num = |x: Option<f64>| x.map(Actual::Num);
        let count = |k: StreamKind| {
            Actual::Num(self.probe.streams.iter().filter(|s| s.kind == k).count() as f64)
        };
        match property {
            P::AudioChannels => num(a.map(|a| f64::from(a.channels)).filter(|c| *c > 0.0)),
            P::AudioBitrate => num(self.audio.and_then(|s| s.bit_rate).map(|b| b as f64)),
            P::AudioProfile => self.audio.and_then(|s| s.profile.clone()).map(Actual::Text),
            P::AudioSampleRate => num(a.map(|a| f64::from(a.sample_rate)).filter(|r| *r > 0.0)),
            P::Width => num(v.map(|v| f64::from(v.width)).filter(|w| *w > 0.0)),
            P::Height => num(v.map(|v| f64::from(v.height)).filter(|h| *h > 0.0)),
            P::VideoBitDepth => num(v.and_then(|v| v.bit_depth).map(f64::from)),
            P::VideoBitrate => num(self.video.and_then(|s| s.bit_rate).map(|b| b as f64)),
            P::VideoFramerate => num(v.and_then(|v| v.avg_frame_rate.or(v.real_frame_rate))),
            P::VideoLevel => num(self.video.and_then(|s| s.level).map(f64::from)),
            P::VideoProfile => self.video.and_then(|s| s.profile.clone()).map(Actual::Text),
            P::VideoRangeType => v.map(|v| Actual::Text(v.range_type.as_str().to_owned())),
            P::IsInterlaced => v.map(|v| Actual::Bool(v.interlaced)),
            P::IsSecondaryAudio => self.audio.map(|sel| {
                let first = self
                    .probe
                    .streams
                    .iter()
                    .find(|s| s.kind == StreamKind::Audio);
                Actual::Bool(first.is_some_and(|f| f.index != sel.index))
            }),
            P::NumAudioStreams => Some(count(StreamKind::Audio)),
            P::NumVideoStreams => Some(count(StreamKind::Video)),
            P::NumStreams => Some(Actual::Num(self.probe.streams.len() as f64)),
            // Not probed: unknown, so only IsRequired conditions fail on them.
            P::Has64BitOffsets
            | P::PacketLength
            | P::VideoTimestamp
            | P::IsAnamorphic
            | P::RefFrames
            | P::VideoCodecTag
            | P::IsAvc
            | P::AudioBitDepth
            | P::Unknown => None,
        }
    }
}

/// The reason Jellyfin gives when a condition on `property` fails (`None`: such a failure
/// does not prevent direct play, as in Jellyfin).
pub fn reason_for(property: P) -> Option<TranscodeReason> {
    Some(match property {
        P::AudioChannels => R::AudioChannelsNotSupported,
        P::AudioBitrate => R::AudioBitrateNotSupported,
        P::AudioProfile => R::AudioProfileNotSupported,
        P::AudioSampleRate => R::AudioSampleRateNotSupported,
        P::AudioBitDepth => R::AudioBitDepthNotSupported,
        P::Width | P::Height => R::VideoResolutionNotSupported,
        P::VideoBitDepth => R::VideoBitDepthNotSupported,
        P::VideoBitrate => R::VideoBitrateNotSupported,
        P::VideoFramerate => R::VideoFramerateNotSupported,
        P::VideoLevel => R::VideoLevelNotSupported,
        P::VideoProfile => R::VideoProfileNotSupported,
        P::VideoRangeType => R::VideoRangeTypeNotSupported,
        P::IsInterlaced => R::InterlacedVideoNotSupported,
        P::IsAnamorphic => R::AnamorphicVideoNotSupported,
        P::RefFrames => R::RefFramesNotSupported,
        P::IsSecondaryAudio => R::SecondaryAudioNotSupported,
        P::VideoCodecTag => R::VideoCodecTagNotSupported,
        P::NumAudioStreams | P::NumVideoStreams | P::NumStreams => R::StreamCountExceedsLimit,
        P::Has64BitOffsets | P::PacketLength | P::VideoTimestamp | P::IsAvc | P::Unknown => {
            return None
        }
    })
}

/// True when `cond` holds for `facts`.
pub(crate) fn holds(cond: &ProfileCondition, facts: &Facts<'_>) -> bool {
    let Some(expected) = cond.value.as_deref() else {
        return true;
    };
    let Some(actual) = facts.value(cond.property) else {
        return !cond.is_required;
    };
    if compare(cond.condition, &actual, expected) {
        return true;
    }
    if cond.property == P::VideoRangeType {
        let base = facts
            .video
            .and_then(|s| s.video.as_ref())
            .and_then(|v| v.range_type.fallback());
        if let Some(base) = base {
            return compare(
                cond.condition,
                &Actual::Text(base.as_str().to_owned()),
                expected,
            );
        }
    }
    false
}

/// The reasons the failing conditions among `conds` give.
pub(crate) fn failures(conds: &[ProfileCondition], facts: &Facts<'_>) -> Vec<TranscodeReason> {
    conds
        .iter()
        .filter(|c| !holds(c, facts))
        .filter_map(|c| reason_for(c.property))
        .collect()
}

fn compare(condition: C, actual: &Actual, expected: &str) -> bool {
    match condition {
        C::Equals => equals(actual, expected).unwrap_or(true),
        C::NotEquals => equals(actual, expected).map(|e| !e).unwrap_or(true),
        C::EqualsAny => {
            let mut any_judged = false;
            for option in expected.split('|').filter(|o| !o.trim().is_empty()) {
                match equals(actual, option) {
                    Some(true) => return true,
                    Some(false) => any_judged = true,
                    None => {}
                }
            }
            !any_judged
        }
        C::LessThanEqual | C::GreaterThanEqual => {
            let (Actual::Num(a), Ok(e)) = (actual, expected.trim().parse::<f64>()) else {
                return true;
            };
            if condition == C::LessThanEqual {
                *a <= e
            } else {
                *a >= e
            }
        }
        C::Unknown => true,
    }
}

/// `Some(equal?)`, or `None` when the expected value cannot be read as the actual's type.
fn equals(actual: &Actual, expected: &str) -> Option<bool> {
    let expected = expected.trim();
    match actual {
        Actual::Num(a) => expected.parse::<f64>().ok().map(|e| (a - e).abs() < 1e-6),
        Actual::Bool(a) => match expected.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(*a),
            "false" | "0" => Some(!*a),
            _ => None,
        },
        Actual::Text(a) => {
            let squash = |s: &str| s.to_ascii_lowercase().replace([' ', '-', '_'], "");
            Some(squash(a) == squash(expected))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{VideoInfo, VideoRangeType};

    fn probe(range: VideoRangeType, interlaced: bool) -> MediaProbe {
        MediaProbe {
            streams: vec![StreamInfo {
                kind: StreamKind::Video,
                codec: "hevc".into(),
                profile: Some("Main 10".into()),
                level: Some(153),
                video: Some(VideoInfo {
                    width: 3840,
                    height: 2160,
                    bit_depth: Some(10),
                    interlaced,
                    range_type: range,
                    ..VideoInfo::default()
                }),
                ..StreamInfo::default()
            }],
            ..MediaProbe::default()
        }
    }

    fn check(p: &MediaProbe, c: C, prop: P, value: &str) -> bool {
        let facts = Facts {
            probe: p,
            video: p.video(),
            audio: None,
        };
        holds(&ProfileCondition::new(c, prop, value), &facts)
    }

    #[test]
    fn comparisons() {
        let p = probe(VideoRangeType::Hdr10, false);
        assert!(check(&p, C::LessThanEqual, P::VideoLevel, "153"));
        assert!(!check(&p, C::LessThanEqual, P::VideoLevel, "150"));
        assert!(check(&p, C::GreaterThanEqual, P::Width, "1920"));
        assert!(!check(&p, C::LessThanEqual, P::VideoBitDepth, "8"));
        assert!(check(&p, C::EqualsAny, P::VideoProfile, "main|MAIN 10"));
        assert!(check(&p, C::EqualsAny, P::VideoProfile, "main|main10"));
        assert!(!check(&p, C::EqualsAny, P::VideoProfile, "main|rext"));
        assert!(check(&p, C::NotEquals, P::IsInterlaced, "true"));
        assert!(!check(&p, C::Equals, P::IsInterlaced, "true"));
        assert!(check(&p, C::EqualsAny, P::VideoRangeType, "SDR|HDR10"));
        assert!(!check(&p, C::EqualsAny, P::VideoRangeType, "SDR"));
        // Ununderstood values and unknown properties pass.
        assert!(check(&p, C::LessThanEqual, P::VideoLevel, "high"));
        assert!(check(&p, C::Equals, P::RefFrames, "4"));
        assert!(check(&p, C::Unknown, P::Width, "1"));
    }

    #[test]
    fn unknown_value_fails_only_when_required() {
        let p = probe(VideoRangeType::Sdr, false);
        let facts = Facts {
            probe: &p,
            video: p.video(),
            audio: None,
        };
        let mut cond = ProfileCondition::new(C::LessThanEqual, P::RefFrames, "4");
        assert!(holds(&cond, &facts));
        cond.is_required = true;
        assert!(!holds(&cond, &facts));
    }

    #[test]
    fn dovi_falls_back_to_its_base_layer() {
        let p = probe(VideoRangeType::DoviWithHdr10, false);
        assert!(check(&p, C::EqualsAny, P::VideoRangeType, "SDR|HDR10"));
        assert!(!check(&p, C::EqualsAny, P::VideoRangeType, "SDR|HLG"));
        let p = probe(VideoRangeType::Dovi, false);
        assert!(!check(&p, C::EqualsAny, P::VideoRangeType, "SDR|HDR10|HLG"));
    }
}
