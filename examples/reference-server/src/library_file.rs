//! Opening a library file under the `--follow-symlinks` policy, checked on the file actually
//! opened.
//!
//! Why: the library is scanned now and served later. A media file replaced by a symlink after
//! the scan was followed at request time and served a file from outside the library (issue 20,
//! finding 10; it needs write access to a media directory, and Jellyfin behaves the same).
//! Checking the path before opening it would leave a window in which the link can be swapped,
//! so the file is opened first and the check is made on what was opened: the kernel's own name
//! for the open descriptor (`/proc/self/fd/N`) must lie inside a library root (canonicalized,
//! so a root that is itself a link still counts). The response is then served from that same
//! descriptor's path, which names the opened inode whatever happens to the directory entry.
//!
//! With `--follow-symlinks always` the path is served as it is (the old behaviour).

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::config::SymlinkPolicy;

/// A library file ready to serve.
#[derive(Debug)]
pub struct Opened {
    /// The path to hand to the file server (`/proc/self/fd/N` under `InsideRoots`).
    pub serve_path: PathBuf,
    /// Keeps the checked descriptor open until the file server has opened its own.
    _file: Option<std::fs::File>,
}

/// Why a file is not served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// It could not be opened or inspected.
    Unreadable(String),
    /// What was opened is not a regular file.
    NotRegular,
    /// What was opened lies outside every library root.
    OutsideRoots(PathBuf),
}

/// Opens `path` under `policy`; `roots`: the library roots.
///
/// # Errors
/// [`Refused`] when the file cannot be opened, is not a regular file, or (policy
/// `InsideRoots`) resolves outside every root.
pub fn open(path: &Path, roots: &[PathBuf], policy: SymlinkPolicy) -> Result<Opened, Refused> {
    if policy == SymlinkPolicy::Always {
        return Ok(Opened {
            serve_path: path.to_path_buf(),
            _file: None,
        });
    }
    let file = std::fs::File::open(path).map_err(|e| Refused::Unreadable(e.to_string()))?;
    let meta = file
        .metadata()
        .map_err(|e| Refused::Unreadable(e.to_string()))?;
    if !meta.file_type().is_file() {
        return Err(Refused::NotRegular);
    }
    let fd_path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    let real = std::fs::read_link(&fd_path).map_err(|e| Refused::Unreadable(e.to_string()))?;
    let inside = roots
        .iter()
        .filter_map(|root| std::fs::canonicalize(root).ok())
        .any(|root| real.starts_with(&root));
    if !inside {
        return Err(Refused::OutsideRoots(real));
    }
    Ok(Opened {
        serve_path: fd_path,
        _file: Some(file),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_out_of_the_roots_are_refused_unless_always() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("media");
        let outside = dir.path().join("secret.txt");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(&outside, b"secret").unwrap();
        std::fs::write(root.join("a.mkv"), b"video").unwrap();
        std::os::unix::fs::symlink(root.join("a.mkv"), root.join("inside.mkv")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("out.mkv")).unwrap();
        let roots = [root.clone()];
        let p = SymlinkPolicy::InsideRoots;

        let opened = open(&root.join("a.mkv"), &roots, p).unwrap();
        assert_eq!(std::fs::read(&opened.serve_path).unwrap(), b"video");
        assert!(open(&root.join("inside.mkv"), &roots, p).is_ok());
        assert!(matches!(
            open(&root.join("out.mkv"), &roots, p),
            Err(Refused::OutsideRoots(_))
        ));
        assert!(matches!(open(&root, &roots, p), Err(Refused::NotRegular)));
        let always = open(&root.join("out.mkv"), &roots, SymlinkPolicy::Always).unwrap();
        assert_eq!(std::fs::read(always.serve_path).unwrap(), b"secret");
    }
}
