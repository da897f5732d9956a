//! Inserting a box into the HEVC sample entry of an MP4 written by ffmpeg.
//!
//! FFmpeg's MP4 demuxer reads some stream properties only from boxes inside the sample entry
//! (`dvcC` for Dolby Vision, `mdcv`/`clli` for HDR10 static metadata) that the ffmpeg CLI does
//! not write for HEVC. [`add_to_hevc_sample_entry`] adds one to a file whose `moov` follows
//! `mdat` (what ffmpeg writes without `+faststart`), so no chunk offset moves, and grows every
//! enclosing box's size.

/// Returns `mp4` with a box `kind` holding `payload` appended to the first `hvc1`/`hev1`
/// sample entry, or `None` when the file does not have the expected layout.
pub fn add_to_hevc_sample_entry(mp4: &[u8], kind: &[u8; 4], payload: &[u8]) -> Option<Vec<u8>> {
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
    let entry_kind = mp4.get(entry + 4..entry + 8)?;
    if entry_kind != b"hvc1" && entry_kind != b"hev1" {
        return None;
    }
    ancestors.push(entry);
    let entry_end = entry + be32(mp4, entry)? as usize;

    let len = u32::try_from(payload.len() + 8).ok()?;
    let mut new_box = Vec::with_capacity(payload.len() + 8);
    new_box.extend_from_slice(&len.to_be_bytes());
    new_box.extend_from_slice(kind);
    new_box.extend_from_slice(payload);

    let mut out = Vec::with_capacity(mp4.len() + new_box.len());
    out.extend_from_slice(&mp4[..entry_end]);
    out.extend_from_slice(&new_box);
    out.extend_from_slice(&mp4[entry_end..]);
    for at in ancestors {
        let size = be32(&out, at)? + len;
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
