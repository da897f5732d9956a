//! HDR10 static metadata from the raw side-data payloads FFmpeg hands out.
//!
//! FFmpeg carries the mastering display as an `AVMasteringDisplayMetadata` and the content
//! light level as an `AVContentLightMetadata`, both as stream side data (when the container
//! has them) and as frame side data (when the decoder found them in SEI). ffmpeg-next gives the
//! payload as bytes but has no type for either, and ffmpeg-sys-next does not bind
//! `libavutil/mastering_display_metadata.h`. Both structs are plain `int`/`unsigned` fields
//! with no padding (FFmpeg 5.1 and later):
//!
//! ```c
//! typedef struct AVMasteringDisplayMetadata {
//!     AVRational display_primaries[3][2];  // R, G, B; each {x, y}
//!     AVRational white_point[2];
//!     AVRational min_luminance, max_luminance;
//!     int has_primaries, has_luminance;
//! } AVMasteringDisplayMetadata;            // 22 ints, 88 bytes
//! typedef struct AVContentLightMetadata { unsigned MaxCLL, MaxFALL; } // 8 bytes
//! ```
//!
//! so they are decoded here from native-endian 32-bit words — no `unsafe`, and a payload
//! shorter than the struct gives `None` instead of an out-of-bounds read.

use super::model::{ContentLightLevel, DisplayPrimaries, MasteringDisplay};

/// Size of `AVMasteringDisplayMetadata` in FFmpeg 5.1.
const MASTERING_LEN: usize = 22 * 4;
/// Size of `AVContentLightMetadata`.
const LIGHT_LEN: usize = 2 * 4;

fn word(data: &[u8], i: usize) -> Option<i32> {
    let b: [u8; 4] = data.get(i * 4..i * 4 + 4)?.try_into().ok()?;
    Some(i32::from_ne_bytes(b))
}

/// The `AVRational` at word `i`, as a number; `None` for a zero denominator.
fn ratio(data: &[u8], i: usize) -> Option<f64> {
    let (num, den) = (word(data, i)?, word(data, i + 1)?);
    (den != 0).then(|| f64::from(num) / f64::from(den))
}

fn point(data: &[u8], i: usize) -> Option<[f64; 2]> {
    Some([ratio(data, i)?, ratio(data, i + 2)?])
}

/// Decodes an `AVMasteringDisplayMetadata` payload. `None` when it is too short or signals
/// neither primaries nor luminance.
pub(super) fn mastering_display(data: &[u8]) -> Option<MasteringDisplay> {
    if data.len() < MASTERING_LEN {
        return None;
    }
    let has_primaries = word(data, 20)? != 0;
    let has_luminance = word(data, 21)? != 0;
    let primaries = if has_primaries {
        Some(DisplayPrimaries {
            red: point(data, 0)?,
            green: point(data, 4)?,
            blue: point(data, 8)?,
            white_point: point(data, 12)?,
        })
    } else {
        None
    };
    let (min_luminance, max_luminance) = if has_luminance {
        (ratio(data, 16), ratio(data, 18))
    } else {
        (None, None)
    };
    (primaries.is_some() || min_luminance.is_some() || max_luminance.is_some()).then_some(
        MasteringDisplay {
            primaries,
            min_luminance,
            max_luminance,
        },
    )
}

/// Decodes an `AVContentLightMetadata` payload; `None` when it is too short.
pub(super) fn content_light(data: &[u8]) -> Option<ContentLightLevel> {
    if data.len() < LIGHT_LEN {
        return None;
    }
    Some(ContentLightLevel {
        max_cll: word(data, 0)?.unsigned_abs(),
        max_fall: word(data, 1)?.unsigned_abs(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(words: &[i32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }

    /// What FFmpeg's HEVC decoder stores for x265's
    /// `G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)`.
    fn x265_example() -> Vec<i32> {
        let c = 50_000; // chroma denominator
        let l = 10_000; // luma denominator
        vec![
            34000, c, 16000, c, // red
            13250, c, 34500, c, // green
            7500, c, 3000, c, // blue
            15635, c, 16450, c, // white point
            1, l, 10_000_000, l, // min, max luminance
            1, 1, // has_primaries, has_luminance
        ]
    }

    #[test]
    fn mastering_display_from_the_struct_words() {
        let m = mastering_display(&bytes(&x265_example())).expect("full payload");
        let p = m.primaries.expect("primaries");
        assert_eq!(p.red, [0.68, 0.32]);
        assert_eq!(p.green, [0.265, 0.69]);
        assert_eq!(p.blue, [0.15, 0.06]);
        assert_eq!(p.white_point, [0.3127, 0.329]);
        assert_eq!(m.min_luminance, Some(0.0001));
        assert_eq!(m.max_luminance, Some(1000.0));
    }

    #[test]
    fn mastering_display_halves_and_bad_payloads() {
        let mut w = x265_example();
        w[20] = 0; // no primaries
        let m = mastering_display(&bytes(&w)).expect("luminance only");
        assert_eq!((m.primaries, m.max_luminance), (None, Some(1000.0)));
        w[21] = 0; // nothing signalled
        assert_eq!(mastering_display(&bytes(&w)), None);
        let full = bytes(&x265_example());
        assert_eq!(mastering_display(&full[..MASTERING_LEN - 1]), None);
        let mut zero_den = x265_example();
        zero_den[19] = 0;
        let m = mastering_display(&bytes(&zero_den)).expect("primaries still there");
        assert_eq!(m.max_luminance, None);
    }

    #[test]
    fn content_light_level() {
        assert_eq!(
            content_light(&bytes(&[1000, 400])),
            Some(ContentLightLevel {
                max_cll: 1000,
                max_fall: 400
            })
        );
        assert_eq!(content_light(&[0, 1, 2]), None);
    }
}
