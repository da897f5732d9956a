//! fMP4 (CMAF) segments: splitting one muxer output into the init segment and a media segment.
//!
//! # Why one mp4 muxer context per segment, then a split
//!
//! Same reason as MPEG-TS (see [`crate::hls`]): a segment must be a pure function of its own
//! packets. Each segment gets a fresh libavformat `mp4` context (FFmpeg 5.1) with
//! `movflags=+frag_custom+empty_moov+default_base_moof+frag_discont+skip_trailer`,
//! `use_editlist=0`, `video_track_timescale=90000` and `avoid_negative_ts=disabled`:
//!
//! - `empty_moov` writes ftyp+moov at `write_header`, before any packet, so the moov depends
//!   only on the codec parameters — the init segment is byte-identical whichever segment a
//!   run starts at. (`delay_moov` would build it from the first fragment's samples.) H.264
//!   from libx264 has no global header, so the worker copies the SPS/PPS of the segment's
//!   first key frame into the stream's extradata first; they are the same for every segment.
//! - `frag_discont` + `use_editlist=0` make movenc take the first packet's DTS as the track's
//!   `frag_start`, so `tfdt` (baseMediaDecodeTime) is the source-aligned DTS (90 kHz plus
//!   [`TS_OFFSET_90K`](super::TS_OFFSET_90K)) instead of 0 — segment *i* has the same timing in
//!   a full run and in a run resumed at *k*. Without the flag movenc would rebase every
//!   context to 0; with an edit list the offset would move into the moov and break the
//!   "same init for every run" rule.
//! - `default_base_moof` makes sample offsets relative to the moof, so a media segment does
//!   not depend on the bytes of the init before it; `frag_custom` + one flush at the end gives
//!   exactly one moof+mdat; `skip_trailer` leaves out the `mfra` index.
//! - `video_track_timescale=90000` fixes the track timescale whatever the source frame rate.
//! - `fragment_index=i+1` numbers the moof (`mfhd`) by segment, not by run.
//!
//! The muxer writes ftyp+moov+moof+mdat to the segment's temp file; [`split_init`] cuts it
//! after the moov: the head is the init segment, the tail the media segment.
//!
//! Limits: without an edit list the AAC encoder's priming is not signalled (audio starts a
//! frame before video, as in the TS segments). HEVC (QSV only) is tagged `hvc1` (Apple players
//! refuse movenc's default `hev1`), with the parameter sets in `hvcC`; the encoder still
//! repeats them in-band, which ISO/IEC 14496-15 allows only for `hev1` (not checked against a
//! real Apple player here).
//! Only the muxer configuration is unit-tested: no QSV device on the test machine, so no HEVC
//! segment is ever written by the tests.

/// Where the init segment ends in a fragmented MP4 file: the byte just after the top-level
/// `moov` box. `None` when `bytes` has no complete top-level `moov` or a box header is broken.
pub fn split_init(bytes: &[u8]) -> Option<usize> {
    let mut pos = 0usize;
    while pos + 8 <= bytes.len() {
        let size32 = u32::from_be_bytes(bytes[pos..pos + 4].try_into().ok()?);
        let kind = &bytes[pos + 4..pos + 8];
        let size = match size32 {
            0 => bytes.len() - pos,
            1 => {
                let large = bytes.get(pos + 8..pos + 16)?;
                usize::try_from(u64::from_be_bytes(large.try_into().ok()?)).ok()?
            }
            n => n as usize,
        };
        if size < 8 {
            return None;
        }
        let end = pos.checked_add(size)?;
        if end > bytes.len() {
            return None;
        }
        if kind == b"moov" {
            return Some(end);
        }
        pos = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn splits_after_moov() {
        let mut file = boxed(b"ftyp", b"iso6");
        file.extend(boxed(b"moov", &[1, 2, 3]));
        let init_len = file.len();
        file.extend(boxed(b"moof", &[4]));
        file.extend(boxed(b"mdat", &[5, 6]));
        assert_eq!(split_init(&file), Some(init_len));
    }

    #[test]
    fn broken_or_missing_moov_is_none() {
        let mut file = boxed(b"ftyp", b"iso6");
        assert_eq!(split_init(&file), None);
        file.extend(boxed(b"moov", &[1, 2, 3]));
        assert_eq!(split_init(&file[..file.len() - 1]), None);
        assert_eq!(split_init(&[0, 0, 0, 4, b'm', b'o', b'o', b'v']), None);
        assert_eq!(split_init(&[]), None);
    }

    #[test]
    fn large_size_boxes_are_followed() {
        let mut file = vec![0, 0, 0, 1];
        file.extend_from_slice(b"free");
        file.extend_from_slice(&20u64.to_be_bytes());
        file.extend_from_slice(&[0; 4]);
        file.extend(boxed(b"moov", &[]));
        assert_eq!(split_init(&file), Some(28));
    }
}
