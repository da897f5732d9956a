//! Segment file names: by index, zero-padded so a directory listing sorts in play order.
//!
//! The temp name is the final name plus `.tmp`: the worker writes it, the supervisor renames it
//! into place once the publish hook agrees (see [`super::publish`]). A reader never sees a
//! half-written `.ts`, `.m4s` or `init.mp4`.

use crate::spec::SegmentContainer;

/// The name of an fMP4 rendition's init segment (ftyp+moov, no samples).
pub const INIT_FILE_NAME: &str = "init.mp4";

/// The published file name of MPEG-TS segment `index`: `seg-000007.ts`.
pub fn segment_file_name(index: u32) -> String {
    segment_file_name_for(SegmentContainer::MpegTs, index)
}

/// The published file name of segment `index` in `container`: `seg-000007.ts` or
/// `seg-000007.m4s`.
pub fn segment_file_name_for(container: SegmentContainer, index: u32) -> String {
    format!("seg-{index:06}.{}", container.segment_extension())
}

/// The temp name the worker writes MPEG-TS segment `index` to: `seg-000007.ts.tmp`.
pub fn segment_temp_name(index: u32) -> String {
    temp_name(&segment_file_name(index))
}

/// The temp name of `final_name`: `final_name.tmp`.
pub fn temp_name(final_name: &str) -> String {
    format!("{final_name}.tmp")
}

/// The final name of a temp name, if `temp` is one.
pub fn final_name(temp: &str) -> Option<&str> {
    temp.strip_suffix(".tmp").filter(|n| !n.is_empty())
}

/// The index of a published segment file name (`.ts` or `.m4s`), if `name` is one.
pub fn parse_segment_file_name(name: &str) -> Option<u32> {
    let stem = name.strip_prefix("seg-")?;
    let digits = stem
        .strip_suffix(".ts")
        .or_else(|| stem.strip_suffix(".m4s"))?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort() {
        assert_eq!(segment_file_name(7), "seg-000007.ts");
        assert_eq!(segment_temp_name(7), "seg-000007.ts.tmp");
        assert_eq!(parse_segment_file_name("seg-000007.ts"), Some(7));
        assert_eq!(parse_segment_file_name("seg-1234567.ts"), Some(1_234_567));
        assert_eq!(parse_segment_file_name("seg-000007.ts.tmp"), None);
        assert_eq!(parse_segment_file_name("seg-7.ts"), None);
        assert_eq!(parse_segment_file_name("seg-00000x.ts"), None);
        assert!(segment_file_name(9) < segment_file_name(10));
    }

    #[test]
    fn fmp4_names() {
        let name = segment_file_name_for(SegmentContainer::Fmp4, 7);
        assert_eq!(name, "seg-000007.m4s");
        assert_eq!(parse_segment_file_name(&name), Some(7));
        assert_eq!(temp_name(&name), "seg-000007.m4s.tmp");
        assert_eq!(final_name("seg-000007.m4s.tmp"), Some("seg-000007.m4s"));
        assert_eq!(final_name("init.mp4.tmp"), Some(INIT_FILE_NAME));
        assert_eq!(final_name("init.mp4"), None);
        assert_eq!(final_name(".tmp"), None);
    }
}
