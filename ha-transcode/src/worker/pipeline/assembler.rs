//! Groups encoded packets into segments and says when a segment is complete.
//!
//! Pure: packets are an opaque `P`, the segment of each is decided by the caller from its
//! source time. Segment *i* is complete once every stream has either produced a packet of a
//! later segment or ended — encoders emit packets in decode order, and with a closed GOP that
//! starts with an IDR at every boundary no packet of segment *i* follows the first packet of
//! segment *i+1*. Audio runs ahead of or behind video by a few frames; waiting for both keeps
//! every audio packet in the segment its timestamp belongs to.

use std::collections::BTreeMap;

/// Which elementary stream a packet belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// The video stream.
    Video,
    /// The audio stream.
    Audio,
}

#[derive(Debug, Default, Clone, Copy)]
struct TrackState {
    /// Highest segment a packet was pushed for.
    high: Option<u32>,
    ended: bool,
}

/// Collects packets per segment until the segment is complete.
#[derive(Debug)]
pub struct SegmentAssembler<P> {
    pending: BTreeMap<u32, Vec<(Track, P)>>,
    video: TrackState,
    audio: Option<TrackState>,
}

impl<P> SegmentAssembler<P> {
    /// An assembler for a video stream and, when `with_audio`, an audio stream.
    pub fn new(with_audio: bool) -> Self {
        Self {
            pending: BTreeMap::new(),
            video: TrackState::default(),
            audio: with_audio.then(TrackState::default),
        }
    }

    fn track(&mut self, track: Track) -> Option<&mut TrackState> {
        match track {
            Track::Video => Some(&mut self.video),
            Track::Audio => self.audio.as_mut(),
        }
    }

    /// Adds a packet of `track` that belongs to `segment`. Packets for a track that was not
    /// declared are ignored.
    pub fn push(&mut self, track: Track, segment: u32, packet: P) {
        let Some(state) = self.track(track) else {
            return;
        };
        state.high = Some(state.high.map_or(segment, |h| h.max(segment)));
        self.pending
            .entry(segment)
            .or_default()
            .push((track, packet));
    }

    /// Marks `track` as finished: it will produce no more packets.
    pub fn end(&mut self, track: Track) {
        if let Some(state) = self.track(track) {
            state.ended = true;
        }
    }

    fn done_with(state: &TrackState, segment: u32) -> bool {
        state.ended || state.high.is_some_and(|h| h > segment)
    }

    /// The lowest complete segment and its packets (in push order per track), if any.
    pub fn pop_ready(&mut self) -> Option<(u32, Vec<(Track, P)>)> {
        let (&segment, _) = self.pending.iter().next()?;
        let video_done = Self::done_with(&self.video, segment);
        let audio_done = self
            .audio
            .as_ref()
            .is_none_or(|a| Self::done_with(a, segment));
        if video_done && audio_done {
            self.pending.remove(&segment).map(|p| (segment, p))
        } else {
            None
        }
    }

    /// True when no packet is waiting.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_waits_for_both_tracks() {
        let mut a = SegmentAssembler::new(true);
        a.push(Track::Video, 3, "v0");
        a.push(Track::Audio, 3, "a0");
        a.push(Track::Video, 4, "v1");
        assert!(a.pop_ready().is_none(), "audio may still have packets of 3");
        a.push(Track::Audio, 4, "a1");
        let (seg, pkts) = a.pop_ready().unwrap();
        assert_eq!(seg, 3);
        assert_eq!(pkts, vec![(Track::Video, "v0"), (Track::Audio, "a0")]);
        assert!(a.pop_ready().is_none());
        a.end(Track::Video);
        a.end(Track::Audio);
        assert_eq!(a.pop_ready().unwrap().0, 4);
        assert!(a.is_empty());
    }

    #[test]
    fn video_only_and_undeclared_audio() {
        let mut a = SegmentAssembler::new(false);
        a.push(Track::Audio, 0, 1);
        a.push(Track::Video, 0, 2);
        a.push(Track::Video, 1, 3);
        assert_eq!(a.pop_ready().unwrap(), (0, vec![(Track::Video, 2)]));
        assert!(a.pop_ready().is_none());
        a.end(Track::Video);
        assert_eq!(a.pop_ready().unwrap(), (1, vec![(Track::Video, 3)]));
    }

    #[test]
    fn audio_ending_early_does_not_block_video() {
        let mut a = SegmentAssembler::new(true);
        a.push(Track::Audio, 0, 1);
        a.end(Track::Audio);
        a.push(Track::Video, 0, 2);
        a.push(Track::Video, 1, 3);
        assert_eq!(a.pop_ready().unwrap().0, 0);
    }
}
