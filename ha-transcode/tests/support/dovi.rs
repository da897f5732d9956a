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

/// Returns `mp4` with a `dvcC` box holding `record` appended to the first `hvc1`/`hev1` sample
/// entry, or `None` when the file does not have the expected layout.
pub fn add_dovi_config(mp4: &[u8], record: &[u8; 24]) -> Option<Vec<u8>> {
    let path = ["moov", "trak", "mdia", "minf", "stbl", "stsd"];
    let mut ancestors = Vec::new(); // offsets of boxes whose size grows
    let (mut start, mut end) = (0usize, mp4.len());
    for (depth, name) in path.iter().enumerate() {
        let found = find_box(mp4, start, end, name, depth == 1)?;
        ancestors.push(found);
        let size = be32(mp4, found)? as usize;
        start = found + 8;
        end = found + size;
    }
    // stsd: version/flags (4) + entry count (4), then the sample entries.
    let entry = start + 8;
    let kind = mp4.get(entry + 4..entry + 8)?;
    if kind != b"hvc1" && kind != b"hev1" {
        return None;
    }
    ancestors.push(entry);
    let entry_end = entry + be32(mp4, entry)? as usize;

    let mut dvcc = Vec::with_capacity(32);
    dvcc.extend_from_slice(&32u32.to_be_bytes());
    dvcc.extend_from_slice(b"dvcC");
    dvcc.extend_from_slice(record);

    let mut out = Vec::with_capacity(mp4.len() + dvcc.len());
    out.extend_from_slice(&mp4[..entry_end]);
    out.extend_from_slice(&dvcc);
    out.extend_from_slice(&mp4[entry_end..]);
    for at in ancestors {
        let size = be32(&out, at)? + dvcc.len() as u32;
        out[at..at + 4].copy_from_slice(&size.to_be_bytes());
    }
    Some(out)
}

/// Offset of the first box named `name` among the boxes in `[start, end)`; for `trak`, the
/// first one that contains an HEVC sample entry.
fn find_box(
    data: &[u8],
    mut start: usize,
    end: usize,
    name: &str,
    video_trak: bool,
) -> Option<usize> {
    while start + 8 <= end {
        let size = be32(data, start)? as usize;
        if size < 8 || start + size > end {
            return None;
        }
        if &data[start + 4..start + 8] == name.as_bytes() {
            let body = &data[start..start + size];
            let hevc = body.windows(4).any(|w| w == b"hvc1" || w == b"hev1");
            if !video_trak || hevc {
                return Some(start);
            }
        }
        start += size;
    }
    None
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}
