//! Segment file names: by index, zero-padded so a directory listing sorts in play order.
//!
//! The temp name is the final name plus `.tmp`: the worker writes it, the supervisor renames it
//! into place once the publish hook agrees (see [`super::publish`]). A reader never sees a
//! half-written `.ts`.

/// The published file name of segment `index`: `seg-000007.ts`.
pub fn segment_file_name(index: u32) -> String {
    format!("seg-{index:06}.ts")
}

/// The temp name the worker writes segment `index` to: `seg-000007.ts.tmp`.
pub fn segment_temp_name(index: u32) -> String {
    format!("{}.tmp", segment_file_name(index))
}

/// The index of a published segment file name, if `name` is one.
pub fn parse_segment_file_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("seg-")?.strip_suffix(".ts")?;
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
}
