//! Segment-exact HLS: the segment timeline, playlists, and atomic, vetoable segment publish.
//!
//! # Why segment-exact
//!
//! Replicas take over each other's transcodes. Segment 7 written by replica B must splice after
//! segment 6 written by replica A with no gap, no duplicate frame and no timestamp jump. So a
//! segment is a pure function of the source and its index: segment *i* holds exactly the video
//! frames whose source time lies in `[i·T, (i+1)·T)`, starts with an IDR frame, and carries the
//! source timestamps plus one constant offset ([`TS_OFFSET_90K`]).
//!
//! # Why one MPEG-TS output context per segment, not FFmpeg's `hls`/`segment` muxer
//!
//! Those muxers cut where *they* see a key frame after `hls_time` has elapsed, keep muxer state
//! (continuity counters, PCR, the initial negative-DTS shift) across segments, and open, write
//! and rename the files themselves. All three break resume: a run started at segment *k* would
//! shift its timestamps differently (the B-frame delay shift a full run gets only at its
//! start), carry different continuity counters, and there is no point between "written" and
//! "renamed into place" where the fencing token can be checked. Writing each segment as its own
//! small MPEG-TS output context makes the bytes depend only on the packets of that segment: we
//! pick the packets by source time ([`timeline`]), write them to a temp name, and leave the
//! rename to a hook that lives in the server process ([`publish`]).
//!
//! fMP4 (CMAF) segments follow the same rule with one mp4 muxer context per segment, plus an
//! init segment that is the same for every run; [`fmp4`] says how FFmpeg 5.1 is made to do
//! that.
//!
//! The module is pure logic except [`publish`], which renames and deletes files.

pub(crate) mod fmp4;
pub(crate) mod naming;
mod playlist;
mod publish;
pub(crate) mod segment;
pub(crate) mod timeline;

pub use naming::{
    is_valid_run_tag, parse_segment_file_name, run_temp_name, segment_file_name,
    segment_file_name_for, segment_temp_name, INIT_FILE_NAME,
};
pub use playlist::{
    master_playlist, media_playlist, media_playlist_in, media_playlist_with,
    media_playlist_with_init, Variant,
};
pub use publish::{publish_segment, PublishDecision, SegmentGate};
pub use segment::SegmentReport;
pub use timeline::{SegmentTimeline, TS_OFFSET_90K};
