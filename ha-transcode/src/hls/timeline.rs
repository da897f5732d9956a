//! Segment math: which segment a timestamp belongs to, where segment boundaries fall.
//!
//! All arithmetic is exact integer arithmetic on rational time bases (`i128`, no floats), so a
//! full run and a resumed run, on different machines, put every frame in the same segment.
//! Time is measured from the source's start (its container `start_time`), so "source-aligned"
//! means the same thing for an MP4 that starts at 0 and an MPEG-TS that starts at 1.4 s.

/// The constant offset added to every output timestamp, in 90 kHz units (1.4 s).
///
/// It keeps the first DTS positive despite the B-frame delay (x264 gives the first frames a
/// DTS up to a few frames before their PTS), so no muxer ever shifts timestamps on its own —
/// that shift would happen only in a full run, never in a resumed one, and the two would not
/// splice. 1.4 s is also where the ffmpeg CLI's MPEG-TS output starts, so players and tools
/// see familiar numbers.
pub const TS_OFFSET_90K: i64 = 126_000;

/// The MPEG-TS time base, 1/90000 s, as `(num, den)`.
pub const MPEGTS_TIME_BASE: (i32, i32) = (1, 90_000);

/// The segment layout of one source: fixed-length segments of `segment_ms`, the last one
/// shorter when the duration is not a multiple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentTimeline {
    segment_ms: u32,
    duration_ms: u64,
}

impl SegmentTimeline {
    /// A timeline for a source of `duration_ms`, cut every `segment_ms`. Returns `None` when
    /// `segment_ms` is zero.
    pub fn new(segment_ms: u32, duration_ms: u64) -> Option<Self> {
        (segment_ms > 0).then_some(Self {
            segment_ms,
            duration_ms,
        })
    }

    /// The nominal segment length in milliseconds.
    pub fn segment_ms(&self) -> u32 {
        self.segment_ms
    }

    /// The source duration in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.duration_ms
    }

    /// How many segments cover the source (at least one for a non-empty source).
    pub fn segment_count(&self) -> u32 {
        let n = self.duration_ms.div_ceil(u64::from(self.segment_ms));
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Start of segment `index`, in milliseconds from the source start.
    pub fn segment_start_ms(&self, index: u32) -> u64 {
        u64::from(index) * u64::from(self.segment_ms)
    }

    /// Nominal duration of segment `index` in seconds (the last one may be shorter; an index
    /// past the end has duration zero).
    pub fn segment_duration_secs(&self, index: u32) -> f64 {
        let start = self.segment_start_ms(index);
        let end = (start + u64::from(self.segment_ms)).min(self.duration_ms);
        end.saturating_sub(start) as f64 / 1000.0
    }

    /// The segment holding timestamp `ts` (relative to the source start) in `time_base`
    /// (`(num, den)`). Timestamps before the start belong to segment 0.
    pub fn segment_of(&self, ts: i64, time_base: (i32, i32)) -> u32 {
        segment_of(ts, time_base, self.segment_ms)
    }

    /// The first timestamp in `time_base` that belongs to segment `index`: the smallest `ts`
    /// with `ts · tb ≥ index · T`.
    pub fn boundary_ts(&self, index: u32, time_base: (i32, i32)) -> i64 {
        boundary_ts(index, time_base, self.segment_ms)
    }
}

/// The segment holding `ts` (relative to the source start, in `time_base`) for segments of
/// `segment_ms`. Negative timestamps and degenerate time bases give segment 0.
pub fn segment_of(ts: i64, time_base: (i32, i32), segment_ms: u32) -> u32 {
    let (num, den) = (i128::from(time_base.0), i128::from(time_base.1));
    if ts <= 0 || num <= 0 || den <= 0 || segment_ms == 0 {
        return 0;
    }
    let n = i128::from(ts) * num * 1000 / (den * i128::from(segment_ms));
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The smallest timestamp in `time_base` at or after the start of segment `index`.
pub fn boundary_ts(index: u32, time_base: (i32, i32), segment_ms: u32) -> i64 {
    let (num, den) = (i128::from(time_base.0), i128::from(time_base.1));
    if num <= 0 || den <= 0 {
        return 0;
    }
    // ceil(index · T_ms · den / (1000 · num))
    let top = i128::from(index) * i128::from(segment_ms) * den;
    let bottom = 1000 * num;
    let v = (top + bottom - 1) / bottom;
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Rescales `ts` from time base `from` to `to`, rounding to nearest (as `av_rescale_q`).
pub fn rescale(ts: i64, from: (i32, i32), to: (i32, i32)) -> i64 {
    let num = i128::from(ts) * i128::from(from.0) * i128::from(to.1);
    let den = i128::from(from.1) * i128::from(to.0);
    if den == 0 {
        return 0;
    }
    let half = den.abs() / 2;
    let v = if (num >= 0) == (den > 0) {
        (num.abs() + half) / den.abs()
    } else {
        -((num.abs() + half) / den.abs())
    };
    i64::try_from(v).unwrap_or(if v > 0 { i64::MAX } else { i64::MIN })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_and_durations() {
        let t = SegmentTimeline::new(4000, 10_000).unwrap();
        assert_eq!(t.segment_count(), 3);
        assert_eq!(t.segment_duration_secs(0), 4.0);
        assert_eq!(t.segment_duration_secs(2), 2.0);
        assert_eq!(t.segment_duration_secs(3), 0.0);
        assert_eq!(SegmentTimeline::new(4000, 8000).unwrap().segment_count(), 2);
        assert_eq!(SegmentTimeline::new(4000, 0).unwrap().segment_count(), 0);
        assert!(SegmentTimeline::new(0, 8000).is_none());
    }

    #[test]
    fn frames_fall_in_half_open_intervals() {
        // 25 fps in a 1/12800 time base (what lavfi → mp4 gives): frame n at n·512.
        let tb = (1, 12_800);
        let t = SegmentTimeline::new(2000, 8000).unwrap();
        // frame 49 is at 1.96 s, frame 50 at exactly 2.0 s.
        assert_eq!(t.segment_of(49 * 512, tb), 0);
        assert_eq!(t.segment_of(50 * 512, tb), 1);
        assert_eq!(t.boundary_ts(1, tb), 50 * 512);
        assert_eq!(t.segment_of(-1024, tb), 0);
    }

    #[test]
    fn ntsc_rates_have_exact_boundaries() {
        // 30000/1001 fps in 1/30000: frame n at n·1001. 4 s = 120000 ticks -> between frames.
        let tb = (1, 30_000);
        let t = SegmentTimeline::new(4000, 60_000).unwrap();
        let b = t.boundary_ts(1, tb);
        assert_eq!(b, 120_000);
        // frame 119 (119119) is before, frame 120 (120120) is the first of segment 1.
        assert_eq!(t.segment_of(119 * 1001, tb), 0);
        assert_eq!(t.segment_of(120 * 1001, tb), 1);
        assert_eq!(t.segment_of(b - 1, tb), 0);
        assert_eq!(t.segment_of(b, tb), 1);
    }

    #[test]
    fn rescale_rounds_to_nearest() {
        assert_eq!(rescale(512, (1, 12_800), MPEGTS_TIME_BASE), 3600);
        assert_eq!(rescale(1001, (1, 30_000), MPEGTS_TIME_BASE), 3003);
        assert_eq!(rescale(-512, (1, 12_800), MPEGTS_TIME_BASE), -3600);
        assert_eq!(rescale(1, (1, 3), (1, 2)), 1);
        assert_eq!(rescale(5, (1, 0), (1, 2)), 0);
    }
}
