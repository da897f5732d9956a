//! A planar sample FIFO aligned to the AAC frame grid of the source timeline.
//!
//! Why a grid: the AAC encoder takes fixed frames of 1024 samples. If a resumed run started its
//! frames at the resume point, its audio packets would sit on a different grid from the full
//! run's and the two would overlap or leave a gap at the splice. So every run cuts frames at
//! multiples of the frame size counted from the source start: a run resumed at segment *k*
//! starts one frame before the grid frame holding `k·T` (pre-roll for the encoder's priming
//! delay) and drops what lies before; a run that starts before the audio does pads silence.

/// Planar `f32` samples with their position (in samples from the source start).
#[derive(Debug)]
pub struct GridFifo {
    channels: Vec<Vec<f32>>,
    frame: usize,
    /// Position of the first sample held; `None` until the first push.
    position: Option<i64>,
    /// Grid start: samples before it are dropped, a gap after it is filled with silence.
    start: i64,
}

impl GridFifo {
    /// A FIFO of `channels` channels emitting frames of `frame` samples from position `start`.
    pub fn new(channels: usize, frame: usize, start: i64) -> Self {
        Self {
            channels: vec![Vec::new(); channels.max(1)],
            frame: frame.max(1),
            position: None,
            start,
        }
    }

    /// The first grid position at or before `t` less one frame of pre-roll, never negative.
    pub fn grid_start(t: i64, frame: usize) -> i64 {
        let f = frame.max(1) as i64;
        (t.div_euclid(f) * f - f).max(0)
    }

    /// Appends samples that start at position `at` (`planes[c]` is channel `c`). The first push
    /// fixes the timeline; later pushes are taken as contiguous.
    pub fn push(&mut self, at: i64, planes: &[&[f32]]) {
        let n = planes.first().map_or(0, |p| p.len());
        let mut skip = 0usize;
        if self.position.is_none() {
            if at > self.start {
                let pad = usize::try_from(at - self.start).unwrap_or(0);
                for ch in &mut self.channels {
                    ch.resize(ch.len() + pad, 0.0);
                }
                self.position = Some(self.start);
            } else {
                skip = usize::try_from(self.start - at)
                    .unwrap_or(usize::MAX)
                    .min(n);
                if skip == n {
                    return; // entirely before the start: wait for later samples
                }
                self.position = Some(self.start);
            }
        }
        for (c, ch) in self.channels.iter_mut().enumerate() {
            let src = planes.get(c).or(planes.first()).copied().unwrap_or(&[]);
            ch.extend_from_slice(src.get(skip..).unwrap_or(&[]));
        }
    }

    /// Takes one full frame: its position and one vector per channel. With `flush`, a final
    /// partial frame is returned too.
    pub fn pop(&mut self, flush: bool) -> Option<(i64, Vec<Vec<f32>>)> {
        let have = self.channels[0].len();
        if have == 0 || (have < self.frame && !flush) {
            return None;
        }
        let take = have.min(self.frame);
        let pos = self.position?;
        let out = self
            .channels
            .iter_mut()
            .map(|ch| ch.drain(..take).collect())
            .collect();
        self.position = Some(pos + take as i64);
        Some((pos, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_start_has_one_frame_of_preroll() {
        assert_eq!(GridFifo::grid_start(0, 1024), 0);
        assert_eq!(GridFifo::grid_start(192_000, 1024), 190_464); // 187.5 frames -> 187 - 1
        assert_eq!(GridFifo::grid_start(2048, 1024), 1024);
    }

    #[test]
    fn drops_before_start_and_frames_on_grid() {
        let mut f = GridFifo::new(1, 4, 8);
        let s: Vec<f32> = (0..10).map(|i| i as f32).collect();
        f.push(2, &[&s]); // positions 2..12, start 8 -> keep 8..12 (values 6..10)
        let (pos, fr) = f.pop(false).unwrap();
        assert_eq!(pos, 8);
        assert_eq!(fr[0], vec![6.0, 7.0, 8.0, 9.0]);
        assert!(f.pop(false).is_none());
    }

    #[test]
    fn pads_late_audio_and_flushes_partial() {
        let mut f = GridFifo::new(2, 4, 0);
        f.push(2, &[&[1.0, 1.0, 1.0], &[2.0, 2.0, 2.0]]);
        let (pos, fr) = f.pop(false).unwrap();
        assert_eq!(pos, 0);
        assert_eq!(fr[0], vec![0.0, 0.0, 1.0, 1.0]);
        assert_eq!(fr[1], vec![0.0, 0.0, 2.0, 2.0]);
        assert!(f.pop(false).is_none());
        let (pos, fr) = f.pop(true).unwrap();
        assert_eq!((pos, fr[0].len()), (4, 1));
    }

    #[test]
    fn push_entirely_before_start_waits() {
        let mut f = GridFifo::new(1, 2, 10);
        f.push(0, &[&[1.0, 2.0]]);
        assert!(f.pop(true).is_none());
        f.push(10, &[&[3.0, 4.0]]);
        assert_eq!(f.pop(false).unwrap(), (10, vec![vec![3.0, 4.0]]));
    }
}
