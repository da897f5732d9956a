//! What a viewer asks for, and the job key that makes viewers of the same rendition share one
//! job cluster-wide.
//!
//! # Why the key leaves the viewer out
//!
//! Jellyfin names its transcode output after the device and play session, so two people watching
//! the same film at the same quality cost two transcodes. Here the key is a hash of *what is
//! produced* — the source, the output settings, the stream choices, the segment length — and
//! nothing about who watches or which encoder runs it (QSV and libx264 produce interchangeable
//! segments). Every replica derives the same key on its own.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::keys::JobKey;

use crate::hls::SegmentTimeline;
use crate::spec::{AudioSettings, HardwarePreference, JobSpec, SegmentContainer, VideoSettings};

/// One HLS rendition of one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rendition {
    /// The library item (part of the key: two items never share a job, even with one path).
    pub item_id: String,
    /// The source file, as every replica sees it.
    pub source: PathBuf,
    /// Source duration in milliseconds (from the probe): fixes the segment count.
    pub duration_ms: u64,
    /// Segment length T in milliseconds.
    pub segment_ms: u32,
    /// Video output.
    pub video: VideoSettings,
    /// Audio output (`None`: no audio).
    pub audio: Option<AudioSettings>,
    /// Which source audio stream, if chosen.
    pub audio_stream: Option<u32>,
    /// Which subtitle stream is burnt in, if any.
    pub subtitle_stream: Option<u32>,
    /// Preferred encoder family (not part of the key).
    pub hardware: HardwarePreference,
    /// Segment container (part of the key: MPEG-TS and fMP4 segments are different files).
    #[serde(default)]
    pub container: SegmentContainer,
}

/// A [`Rendition`] and its [`JobKey`], hashed once: what the manager's segment calls take,
/// so a request that locates a segment, retries and records who watched hashes nothing again.
/// Read-only (it derefs to the rendition), so the key cannot go stale.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedRendition {
    rendition: Rendition,
    key: JobKey,
}

impl KeyedRendition {
    /// Hashes `rendition`'s job key once.
    pub fn new(rendition: Rendition) -> Self {
        let key = rendition.job_key();
        Self { rendition, key }
    }

    /// The job key.
    pub fn key(&self) -> &JobKey {
        &self.key
    }

    /// The rendition.
    pub fn rendition(&self) -> &Rendition {
        &self.rendition
    }
}

impl From<Rendition> for KeyedRendition {
    fn from(rendition: Rendition) -> Self {
        Self::new(rendition)
    }
}

impl std::ops::Deref for KeyedRendition {
    type Target = Rendition;

    fn deref(&self) -> &Rendition {
        &self.rendition
    }
}

#[derive(Serialize)]
struct KeyMaterial<'a> {
    item_id: &'a str,
    source: &'a PathBuf,
    segment_ms: u32,
    video: &'a VideoSettings,
    audio: &'a Option<AudioSettings>,
    audio_stream: Option<u32>,
    subtitle_stream: Option<u32>,
    /// Left out for MPEG-TS, so the keys of TS renditions stay what they were before fMP4
    /// existed (jobs and segments survive a rolling upgrade).
    #[serde(skip_serializing_if = "is_mpegts")]
    container: SegmentContainer,
}

fn is_mpegts(c: &SegmentContainer) -> bool {
    *c == SegmentContainer::MpegTs
}

impl Rendition {
    /// The cluster-wide job key: 32 hex digits of the SHA-256 of what is produced. It hashes
    /// the rendition, so compute it once per request: [`keyed`](Self::keyed) keeps it with
    /// the rendition for every manager call of that request.
    pub fn job_key(&self) -> JobKey {
        let material = KeyMaterial {
            item_id: &self.item_id,
            source: &self.source,
            segment_ms: self.segment_ms,
            video: &self.video,
            audio: &self.audio,
            audio_stream: self.audio_stream,
            subtitle_stream: self.subtitle_stream,
            container: self.container,
        };
        // Serialising plain structs and options cannot fail.
        let json = serde_json::to_vec(&material).unwrap_or_default();
        JobKey::from_digest(&Sha256::digest(&json))
    }

    /// This rendition with its job key, hashed now and never again (a copy: changing `self`
    /// later does not change the key of what this returns).
    pub fn keyed(&self) -> KeyedRendition {
        KeyedRendition::new(self.clone())
    }

    /// The rendition's segment timeline (`segment_ms` of zero is treated as one second, so a
    /// malformed request cannot divide by zero).
    pub fn timeline(&self) -> SegmentTimeline {
        SegmentTimeline::new(self.segment_ms.max(1), self.duration_ms)
            .unwrap_or_else(|| unreachable!("segment length is at least 1 ms"))
    }

    /// How many segments the rendition has (at least one; the last may be shorter).
    pub fn segment_count(&self) -> u32 {
        self.timeline().segment_count().max(1)
    }

    /// The VOD media playlist, every segment listed, segment (and fMP4 init) URIs prefixed
    /// with `uri_prefix`.
    pub fn media_playlist(&self, uri_prefix: &str) -> String {
        crate::hls::media_playlist_in(&self.timeline(), self.container, uri_prefix)
    }

    /// The worker spec for a run from `start_segment` into `output_dir`.
    pub fn spec(
        &self,
        output_dir: PathBuf,
        start_segment: u32,
        hardware: HardwarePreference,
    ) -> JobSpec {
        JobSpec {
            input: self.source.clone(),
            output_dir,
            start_segment,
            end_segment: None,
            segment_ms: self.segment_ms,
            video: self.video.clone(),
            audio: self.audio,
            hardware,
            container: self.container,
            run_tag: None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::spec::RateControl;

    /// A small MPEG-TS rendition (other modules' tests use it too).
    pub(crate) fn rendition() -> Rendition {
        Rendition {
            item_id: "item".into(),
            source: "/media/a.mkv".into(),
            duration_ms: 10_500,
            segment_ms: 2_000,
            video: VideoSettings {
                codec: Default::default(),
                target_height: Some(360),
                rate: RateControl::Crf {
                    crf: 23,
                    maxrate: None,
                    bufsize: None,
                },
                preset: "veryfast".into(),
                profile: None,
                level: None,
                low_power: false,
            },
            audio: Some(AudioSettings::default()),
            audio_stream: None,
            subtitle_stream: None,
            hardware: HardwarePreference::Software,
            container: SegmentContainer::MpegTs,
        }
    }

    #[test]
    fn container_is_part_of_the_key_and_the_spec() {
        let ts = rendition();
        let fmp4 = Rendition {
            container: SegmentContainer::Fmp4,
            ..ts.clone()
        };
        assert_ne!(ts.job_key(), fmp4.job_key());
        let spec = fmp4.spec("/out".into(), 3, HardwarePreference::Software);
        assert_eq!(spec.container, SegmentContainer::Fmp4);
        assert!(fmp4
            .media_playlist("")
            .contains("#EXT-X-MAP:URI=\"init.mp4\"\n"));
        assert!(ts.media_playlist("").contains("seg-000000.ts\n"));
        // A rendition stored before fMP4 existed reads back as MPEG-TS with the same key.
        let mut json = serde_json::to_value(&ts).unwrap();
        json.as_object_mut().unwrap().remove("container");
        let old: Rendition = serde_json::from_value(json).unwrap();
        assert_eq!(old.job_key(), ts.job_key());
    }

    #[test]
    fn key_depends_on_output_not_on_encoder() {
        let a = rendition();
        let qsv = Rendition {
            hardware: HardwarePreference::Qsv,
            ..a.clone()
        };
        assert_eq!(a.job_key(), qsv.job_key());
        assert_eq!(a.job_key().as_str().len(), 32);
        let mut taller = a.clone();
        taller.video.target_height = Some(720);
        assert_ne!(a.job_key(), taller.job_key());
        let other_audio = Rendition {
            audio_stream: Some(1),
            ..a.clone()
        };
        assert_ne!(a.job_key(), other_audio.job_key());
    }

    #[test]
    fn keyed_rendition_hashes_the_same_key_and_keeps_it() {
        let mut r = rendition();
        let keyed = r.keyed();
        assert_eq!(keyed.key(), &r.job_key());
        r.segment_ms += 1;
        assert_ne!(
            keyed.key(),
            &r.job_key(),
            "a copy: the keyed one is unchanged"
        );
        assert_eq!(keyed.key(), &keyed.rendition().job_key());
    }

    #[test]
    fn segment_count_rounds_up() {
        assert_eq!(rendition().segment_count(), 6);
        assert_eq!(
            Rendition {
                duration_ms: 10_000,
                ..rendition()
            }
            .segment_count(),
            5
        );
        assert_eq!(
            Rendition {
                duration_ms: 0,
                ..rendition()
            }
            .segment_count(),
            1
        );
    }
}
