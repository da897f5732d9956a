//! Which files the library scan refuses to list, and the reason it reports for each.
//!
//! Why refuse rather than list them as unknown: users drop anything into media folders —
//! half-finished downloads, empty placeholders, text files with a video extension, named pipes
//! left by a capture tool. Listing those gives clients items that fail on play; worse, opening
//! a FIFO blocks the reading thread until a writer appears, and a file claiming a frame of
//! 32768×32768 makes every decoder refuse it. So the scan checks the *file type* before
//! anything opens the file, and the *probe* before the item is written; what fails either is
//! left out of the library, logged, and returned in the scan report with a reason. The next
//! scan looks again (a download that finished becomes an item).
//!
//! The rules are pure functions over metadata and probe results, so they are tested without
//! files.

use std::fs::FileType;

/// Frames wider or taller than this are not decoded by FFmpeg's software decoders (its image
/// size check rejects e.g. 16384×16384 and above) nor by any hardware decoder we drive.
pub const MAX_DIMENSION: u32 = 16_384;

/// Why a directory entry with a media extension is not a file to probe: `None` when it is a
/// non-empty regular file. `file_type` and `len` must come from `std::fs::metadata` (symlinks
/// followed), never from opening the file.
pub fn file_problem(file_type: FileType, len: u64) -> Option<String> {
    if file_type.is_file() {
        return (len == 0).then(|| "empty file (0 bytes)".to_owned());
    }
    Some(format!(
        "not a regular file ({}); never opened",
        describe(file_type)
    ))
}

/// What kind of special file this is, for the report.
fn describe(file_type: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "a device";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// Why frames of `width`×`height` cannot be played: `None` when they can.
pub fn dimension_problem(width: u32, height: u32) -> Option<String> {
    if width == 0 || height == 0 {
        return Some(format!(
            "video stream has no usable frame size ({width}x{height}); the decoder refused it"
        ));
    }
    (width > MAX_DIMENSION || height > MAX_DIMENSION).then(|| {
        format!("video frame size {width}x{height} exceeds {MAX_DIMENSION}x{MAX_DIMENSION}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_pass_unless_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.mkv");
        std::fs::write(&file, b"x").unwrap();
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(file_problem(meta.file_type(), 1), None);
        assert!(file_problem(meta.file_type(), 0).unwrap().contains("empty"));
        let meta = std::fs::metadata(dir.path()).unwrap();
        assert!(file_problem(meta.file_type(), 0)
            .unwrap()
            .contains("directory"));
    }

    #[cfg(unix)]
    #[test]
    fn devices_are_never_opened() {
        let meta = std::fs::metadata("/dev/null").unwrap();
        let reason = file_problem(meta.file_type(), 0).unwrap();
        assert!(reason.contains("device"), "{reason}");
    }

    #[test]
    fn frame_sizes() {
        assert_eq!(dimension_problem(1920, 1080), None);
        assert_eq!(dimension_problem(MAX_DIMENSION, 8), None);
        assert!(dimension_problem(0, 0).unwrap().contains("0x0"));
        assert!(dimension_problem(32768, 32768)
            .unwrap()
            .contains("32768x32768"));
    }
}
