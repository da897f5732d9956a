//! Output frame size: scale to a target height, keep the display aspect, never upscale.

use super::source::VideoSource;

/// The output `(width, height)` for `source` scaled to `target_height` (or kept when `None`
/// or larger than the source). The width follows the *display* aspect (sample aspect ratio
/// applied, output pixels square) and both sides are even, as 4:2:0 requires.
pub fn output_size(source: &VideoSource, target_height: Option<u32>) -> (u32, u32) {
    let src_h = source.height.max(2);
    // Height rounds down to even: never taller than asked for.
    let h = (target_height.map_or(src_h, |t| t.min(src_h)) & !1).max(2);
    let (sn, sd) = match source.sample_aspect {
        (n, d) if n > 0 && d > 0 => (u64::from(n.unsigned_abs()), u64::from(d.unsigned_abs())),
        _ => (1, 1),
    };
    // display width at height h: w · sar · h / src_h, rounded to nearest
    let num = u64::from(source.width) * sn * u64::from(h);
    let den = sd * u64::from(src_h);
    let w = (num + den / 2) / den.max(1);
    (even(u32::try_from(w).unwrap_or(u32::MAX).max(2)), h)
}

fn even(v: u32) -> u32 {
    // round to the nearest even number, ties up
    (v + 1) & !1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::source::Transfer;

    fn src(w: u32, h: u32, sar: (i32, i32)) -> VideoSource {
        VideoSource {
            codec: "h264".into(),
            width: w,
            height: h,
            sample_aspect: sar,
            bit_depth: 8,
            transfer: Transfer::Sdr,
            interlaced: false,
            frame_rate: (25, 1),
        }
    }

    #[test]
    fn keeps_aspect_and_even_sides() {
        assert_eq!(
            output_size(&src(1920, 1080, (1, 1)), Some(720)),
            (1280, 720)
        );
        assert_eq!(output_size(&src(1920, 1080, (0, 1)), Some(480)), (854, 480));
        assert_eq!(output_size(&src(640, 360, (1, 1)), Some(241)), (428, 240));
    }

    #[test]
    fn never_upscales() {
        assert_eq!(output_size(&src(640, 360, (1, 1)), Some(1080)), (640, 360));
        assert_eq!(output_size(&src(320, 240, (1, 1)), None), (320, 240));
    }

    #[test]
    fn applies_sample_aspect() {
        // DVD PAL anamorphic 16:9: 720x576 with SAR 64:45 displays as 1024x576.
        assert_eq!(output_size(&src(720, 576, (64, 45)), None), (1024, 576));
        assert_eq!(output_size(&src(720, 576, (64, 45)), Some(288)), (512, 288));
    }
}
