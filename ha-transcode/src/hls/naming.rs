//! Segment file names: by index, zero-padded so a directory listing sorts in play order.
//!
//! The temp name is the final name plus the run's tag plus `.tmp` (`seg-000007.ts~<run>.tmp`):
//! the worker writes it, the supervisor renames it into place once the publish hook agrees (see
//! [`super::publish`]). A reader never sees a half-written `.ts`, `.m4s` or `init.mp4`.
//!
//! Why a tag per run: on shared storage a replica that takes a job over writes into the same
//! directory as the old owner, which may still be running (paused, partitioned, or simply not
//! yet told). With one temp name per segment the two workers wrote the same file: the old
//! run's muxer could interleave its bytes into the new run's segment, or its veto delete the
//! new run's file before the rename. With the run's tag (the fencing token and a run counter,
//! [`crate::spec::JobSpec::run_tag`]) each run only ever touches its own temp files; the
//! publish itself stays fenced by the gate.

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

/// The temp name of `final_name` without a run tag: `final_name.tmp`.
pub fn temp_name(final_name: &str) -> String {
    format!("{final_name}.tmp")
}

/// The separator between a final name and a run tag in a temp name. Final names never hold it.
const RUN_TAG_SEPARATOR: char = '~';

/// The longest run tag accepted.
pub const MAX_RUN_TAG_LEN: usize = 64;

/// Whether `tag` can go into a file name: 1 to [`MAX_RUN_TAG_LEN`] ASCII letters, digits,
/// `-` or `_` (no separator, dot or path component).
pub fn is_valid_run_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= MAX_RUN_TAG_LEN
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The temp name run `run` writes `final_name` to: `seg-000007.ts~<run>.tmp`, or
/// `final_name.tmp` without a tag. The caller checks the tag with [`is_valid_run_tag`].
pub fn run_temp_name(final_name: &str, run: Option<&str>) -> String {
    match run {
        Some(tag) => format!("{final_name}{RUN_TAG_SEPARATOR}{tag}.tmp"),
        None => temp_name(final_name),
    }
}

/// The final name of a temp name (with or without a run tag), if `temp` is one.
pub fn final_name(temp: &str) -> Option<&str> {
    let untagged = temp.strip_suffix(".tmp")?;
    let name = match untagged.rsplit_once(RUN_TAG_SEPARATOR) {
        Some((name, _tag)) => name,
        None => untagged,
    };
    Some(name).filter(|n| !n.is_empty())
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

    #[test]
    fn run_tags_make_distinct_temp_names_with_one_final_name() {
        let name = segment_file_name(7);
        let a = run_temp_name(&name, Some("1795452056000000-1"));
        let b = run_temp_name(&name, Some("1795452056000001-1"));
        assert_eq!(a, "seg-000007.ts~1795452056000000-1.tmp");
        assert_ne!(a, b);
        assert_eq!(final_name(&a), Some("seg-000007.ts"));
        assert_eq!(final_name(&b), Some("seg-000007.ts"));
        assert_eq!(run_temp_name(INIT_FILE_NAME, None), "init.mp4.tmp");
        assert_eq!(
            final_name(&run_temp_name(INIT_FILE_NAME, Some("7-2"))),
            Some(INIT_FILE_NAME)
        );
        assert_eq!(final_name("~tag.tmp"), None);
        assert_eq!(parse_segment_file_name(&a), None);
    }

    #[test]
    fn run_tags_cannot_leave_the_directory() {
        assert!(is_valid_run_tag("1795452056000000-12"));
        assert!(is_valid_run_tag("a_B-9"));
        for bad in ["", "../x", "a/b", "a.b", "a~b", "a b", &"x".repeat(65)] {
            assert!(!is_valid_run_tag(bad), "{bad:?}");
        }
    }
}
