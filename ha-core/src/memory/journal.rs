//! A snapshot plus an append-only journal in one directory: how the in-process backends that
//! persist (metadata, sessions) survive a restart.
//!
//! Why this shape: every change is one JSON line appended and `fdatasync`ed before the call
//! returns, so a crash loses nothing acknowledged; a crash mid-append leaves at most a torn
//! last line, which replay stops at (that call never returned). Compaction writes the whole
//! state to a temporary file, syncs it, renames it over the snapshot, syncs the directory and
//! only then empties the journal, so at every instant snapshot + journal hold every change.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Error, Result};

/// What one persisted store calls its files.
#[derive(Debug, Clone, Copy)]
pub(super) struct JournalNames {
    /// Snapshot file name.
    pub snapshot: &'static str,
    /// Journal file name.
    pub journal: &'static str,
    /// What is stored, for error messages ("metadata", "session").
    pub what: &'static str,
}

/// The open journal of a directory.
#[derive(Debug)]
pub(super) struct Journal {
    dir: PathBuf,
    names: JournalNames,
    file: File,
    entries: usize,
}

/// What a directory held when it was opened.
pub(super) struct Recovered<S, C> {
    /// The snapshot, if one was written.
    pub snapshot: Option<S>,
    /// The journal's changes since, in order, up to a torn last line.
    pub changes: Vec<C>,
}

impl Journal {
    /// Opens (creating if needed) `dir` and reads what it holds. The caller rebuilds its state
    /// from that and calls [`Journal::compact`] at once, which also drops a torn tail for good.
    pub(super) fn open<S: DeserializeOwned, C: DeserializeOwned>(
        dir: &Path,
        names: JournalNames,
    ) -> Result<(Self, Recovered<S, C>)> {
        fs::create_dir_all(dir).map_err(|e| io_error(names.what, dir, e))?;
        let recovered = Self::read(dir, names)?;
        let journal_path = dir.join(names.journal);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal_path)
            .map_err(|e| io_error(names.what, &journal_path, e))?;
        let journal = Self {
            dir: dir.to_path_buf(),
            names,
            file,
            entries: recovered.changes.len(),
        };
        Ok((journal, recovered))
    }

    /// Reads what `dir` holds without opening it for writing (one-shot imports).
    pub(super) fn read<S: DeserializeOwned, C: DeserializeOwned>(
        dir: &Path,
        names: JournalNames,
    ) -> Result<Recovered<S, C>> {
        let io = |path: &Path, e| io_error(names.what, path, e);
        let snapshot_path = dir.join(names.snapshot);
        let snapshot = match fs::read(&snapshot_path) {
            Ok(bytes) => Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| Error::decode(snapshot_path.display().to_string(), e))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(&snapshot_path, e)),
        };
        let journal_path = dir.join(names.journal);
        let mut changes = Vec::new();
        match File::open(&journal_path) {
            Ok(file) => {
                for line in BufReader::new(file).lines() {
                    let line = line.map_err(|e| io(&journal_path, e))?;
                    match serde_json::from_str::<C>(&line) {
                        Ok(change) => changes.push(change),
                        // A torn final line from a crash mid-append: everything before it is
                        // intact, and its call never returned success.
                        Err(e) => {
                            tracing::warn!(path = %journal_path.display(), error = %e,
                                "ignoring unreadable {} journal line (torn write?)", names.what);
                            break;
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&journal_path, e)),
        }
        Ok(Recovered { snapshot, changes })
    }

    /// Appends one change and syncs it to disk.
    pub(super) fn append<C: Serialize>(&mut self, change: &C) -> Result<()> {
        let what = self.names.what;
        let mut line = serde_json::to_vec(change)
            .map_err(|e| Error::encode(format!("{what} journal entry"), e))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|_| self.file.sync_data())
            .map_err(|e| io_error(what, &self.dir.join(self.names.journal), e))?;
        self.entries += 1;
        Ok(())
    }

    /// Entries appended since the last compaction.
    pub(super) fn entries(&self) -> usize {
        self.entries
    }

    /// Writes `snapshot` (the whole state) and empties the journal.
    pub(super) fn compact<S: Serialize>(&mut self, snapshot: &S) -> Result<()> {
        let what = self.names.what;
        let bytes = serde_json::to_vec(snapshot)
            .map_err(|e| Error::encode(format!("{what} snapshot"), e))?;
        let tmp = self.dir.join(format!("{}.tmp", self.names.snapshot));
        let target = self.dir.join(self.names.snapshot);
        (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &target)?;
            File::open(&self.dir)?.sync_all()?;
            self.file.set_len(0)?;
            self.file.sync_all()
        })()
        .map_err(|e| io_error(what, &target, e))?;
        self.entries = 0;
        Ok(())
    }
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::backend(format!("{what} file {}", path.display()), e)
}
