//! A Dolby Vision sample without a Dolby Vision encoder.
//!
//! The ffmpeg CLI cannot produce Dolby Vision, but FFmpeg's MP4 demuxer reports a stream as
//! Dolby Vision from one box: the `dvcC` configuration record inside the HEVC sample entry.
//! [`add_dovi_config`] inserts that box into an MP4 written by ffmpeg (whose `moov` follows
//! `mdat`, so no chunk offset moves) and grows every enclosing box's size.

/// `dvcC` for profile 8.1 (level 6, RPU + base layer, base layer HDR10-compatible).
pub fn dvcc_profile_8_1() -> [u8; 24] {
    let (profile, level, rpu, el, bl, compat): (u16, u16, u16, u16, u16, u8) = (8, 6, 1, 0, 1, 1);
    let bits = (profile << 9) | (level << 3) | (rpu << 2) | (el << 1) | bl;
    let mut rec = [0u8; 24];
    rec[0] = 1; // dv_version_major
    rec[1] = 0; // dv_version_minor
    rec[2..4].copy_from_slice(&bits.to_be_bytes());
    rec[4] = compat << 4;
    rec
}

/// Returns `mp4` with a `dvcC` box holding `record` in its HEVC sample entry, or `None` when
/// the file does not have the expected layout (see [`super::mp4_box`]).
pub fn add_dovi_config(mp4: &[u8], record: &[u8; 24]) -> Option<Vec<u8>> {
    super::mp4_box::add_to_hevc_sample_entry(mp4, b"dvcC", record)
}
