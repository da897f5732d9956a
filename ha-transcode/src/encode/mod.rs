//! Encoder settings and filter graphs, as pure builders, plus the QSV capability probe.
//!
//! Why pure builders: the option dictionaries and filter-graph strings are where transcoding
//! bugs live (a dropped closed-GOP flag, a GOP that does not match the segment length, a
//! tone-map chain in the wrong order). As plain functions of the source description and the
//! job settings they are unit-tested without FFmpeg and without an Intel GPU; the pipeline
//! only turns them into dictionaries and graphs.
//!
//! | module | what |
//! |---|---|
//! | [`source`] | [`VideoSource`]: what the builders need to know about the input |
//! | [`scale`] | output frame size: target height, display aspect kept, even width |
//! | [`software`] | libx264 + AAC options and the software filter graph (tone-map to BT.709) |
//! | [`qsv`] | the Intel Quick Sync pipeline as Jellyfin drives it |
//! | [`hw_probe`] | is QSV usable on this node? (probed once, cached) |

pub mod hw_probe;
pub mod qsv;
pub mod scale;
pub mod software;
pub mod source;

pub use scale::output_size;

/// Encoder options as `(key, value)` pairs, in the order they are applied.
pub type EncoderOptions = Vec<(String, String)>;

/// Frames in one segment at `fps` (`(num, den)`), rounded up: the GOP length that puts a key
/// frame at every segment boundary when the encoder cannot force one.
pub fn gop_frames(segment_ms: u32, fps: (i32, i32)) -> u32 {
    let (num, den) = (i64::from(fps.0), i64::from(fps.1));
    if num <= 0 || den <= 0 {
        return 1;
    }
    let top = i64::from(segment_ms) * num;
    let bottom = 1000 * den;
    u32::try_from((top + bottom - 1) / bottom)
        .unwrap_or(u32::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::gop_frames;

    #[test]
    fn gop_is_one_segment_rounded_up() {
        assert_eq!(gop_frames(4000, (25, 1)), 100);
        assert_eq!(gop_frames(6000, (24000, 1001)), 144);
        assert_eq!(gop_frames(3000, (30000, 1001)), 90);
        assert_eq!(gop_frames(4000, (0, 1)), 1);
    }
}
