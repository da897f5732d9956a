//! A snapshot plus an append-only journal in one directory: how the in-process backends that
//! persist (metadata, sessions) survive a restart.
//!
//! # Why this shape
//!
//! Every change is one JSON line in the journal, on disk (`fdatasync`) before the call that made
//! it returns, so a crash loses nothing acknowledged; a crash mid-append leaves at most a torn
//! last line, which replay stops at (that call never returned).
//!
//! # Group commit, off the async workers
//!
//! One `fdatasync` costs a millisecond or more while the store's own work costs microseconds, so
//! syncing each change inside the store's lock, on an async worker thread, capped a single node
//! at a few thousand writes per second and stalled every other request on that worker. Here the
//! store only *queues* the encoded line (under its lock, so the journal order is the order the
//! changes were applied in) and then awaits a [`Durable`] with its lock released. A dedicated
//! thread per journal takes everything queued, writes it with one `write` and syncs it with one
//! `fdatasync`, then wakes every waiter of that batch: N concurrent writers cost one sync, and
//! while a sync runs the next batch gathers.
//!
//! A change is visible to readers of the store as soon as it is queued, before it is durable
//! (as in any group-committing database that applies in memory first); what is promised is that
//! no *acknowledged* write is lost. If a write or a sync fails, the journal is **poisoned**:
//! that batch and every later write fail with [`Error::Unavailable`], because after a failed
//! `fsync` the kernel may have dropped the dirty pages and no later sync can vouch for them
//! (the "fsyncgate" lesson PostgreSQL learned in 2018). A restart recovers what is on disk.
//!
//! # Snapshots that do not stop the world
//!
//! Compaction used to serialise the whole state and write it under the store's lock. Now the
//! store hands over a cheap copy (reference-counted values, taken under its lock in about a
//! millisecond for 50,000 items) and the journal thread *rotates*: at that exact point in the
//! journal order it renames `<journal>` to `<journal>.old` and opens a fresh `<journal>`. A
//! snapshot thread then serialises the copy, writes it to a temporary file, syncs it, renames it
//! over the snapshot, syncs the directory and only then removes `<journal>.old`. At every
//! instant snapshot + `.old` + journal hold every change, in order; replaying an `.old` whose
//! changes are already in the snapshot is harmless because every change is an idempotent put or
//! delete replayed in order. A snapshot that fails leaves `.old` behind; the next rotation then
//! appends the journal to it instead of renaming, so nothing is ever overwritten.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::oneshot;

use super::lock;
use crate::{Error, Result};

/// What one persisted store calls its files.
#[derive(Debug, Clone, Copy)]
pub(super) struct JournalNames {
    /// Snapshot file name.
    pub snapshot: &'static str,
    /// Journal file name.
    pub journal: &'static str,
    /// What is stored, for error messages and thread names ("metadata", "session").
    pub what: &'static str,
}

impl JournalNames {
    fn old_journal(&self) -> String {
        format!("{}.old", self.journal)
    }
}

/// What a directory held when it was opened.
pub(super) struct Recovered<S, C> {
    /// The snapshot, if one was written.
    pub snapshot: Option<S>,
    /// The journals' changes since (`.old` first), in order, each up to a torn last line.
    pub changes: Vec<C>,
}

/// Serialises a snapshot copy into the bytes of the snapshot file (run on the snapshot thread).
pub(super) type SnapshotFn = Box<dyn FnOnce() -> Result<Vec<u8>> + Send>;

enum Cmd {
    Append {
        line: Vec<u8>,
        done: oneshot::Sender<Result<()>>,
    },
    Rotate(SnapshotFn),
}

/// State the store's side and the journal thread share.
#[derive(Debug, Default)]
struct Shared {
    /// Set for good once a write or sync failed (see the module docs); holds what failed.
    poisoned: Mutex<Option<String>>,
    /// A rotation is queued or its snapshot is still being written.
    compacting: AtomicBool,
    /// Batches synced so far (what group commit saves is writes minus this).
    syncs: AtomicU64,
}

/// Waits until a queued change is on disk.
#[derive(Debug)]
#[must_use = "a change is durable only once its Durable resolves"]
pub(super) struct Durable(Option<oneshot::Receiver<Result<()>>>);

impl Durable {
    /// Nothing to wait for (a store that does not persist).
    pub(super) fn done() -> Self {
        Self(None)
    }

    /// Resolves once the change is synced to disk, or with the error that kept it from it.
    pub(super) async fn wait(self) -> Result<()> {
        match self.0 {
            None => Ok(()),
            Some(rx) => rx.await.unwrap_or_else(|_| Err(thread_gone())),
        }
    }

    /// [`wait`](Self::wait) from a thread that is not an async worker (tests, shutdown).
    #[cfg(test)]
    pub(super) fn wait_blocking(self) -> Result<()> {
        match self.0 {
            None => Ok(()),
            Some(rx) => rx.blocking_recv().unwrap_or_else(|_| Err(thread_gone())),
        }
    }
}

fn thread_gone() -> Error {
    Error::Unavailable {
        what: "journal thread (stopped before the change was synced)".into(),
        source: None,
    }
}

/// The open journal of a directory: the store's handle on its journal thread.
#[derive(Debug)]
pub(super) struct Journal {
    names: JournalNames,
    tx: Option<mpsc::Sender<Cmd>>,
    worker: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    entries: usize,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cmd::Append { line, .. } => write!(f, "Append({} bytes)", line.len()),
            Cmd::Rotate(_) => f.write_str("Rotate"),
        }
    }
}

impl Journal {
    /// Reads what `dir` holds without opening it for writing (opening, one-shot imports).
    /// A directory that does not exist holds nothing.
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
        let mut changes = Vec::new();
        for name in [names.old_journal(), names.journal.to_owned()] {
            let journal_path = dir.join(name);
            match File::open(&journal_path) {
                Ok(file) => {
                    for line in BufReader::new(file).lines() {
                        let line = line.map_err(|e| io(&journal_path, e))?;
                        match serde_json::from_str::<C>(&line) {
                            Ok(change) => changes.push(change),
                            // A torn final line from a crash mid-append: everything before it
                            // is intact, and its call never returned success.
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
        }
        Ok(Recovered { snapshot, changes })
    }

    /// Starts journaling into `dir` (created if needed) from `snapshot`, the whole state the
    /// caller rebuilt from [`Journal::read`]: writes it as the snapshot (synchronously, before
    /// anything else can change), empties the journals, which also drops a torn tail for good,
    /// and starts the journal thread.
    pub(super) fn start<S: Serialize>(
        dir: &Path,
        names: JournalNames,
        snapshot: &S,
    ) -> Result<Self> {
        let what = names.what;
        fs::create_dir_all(dir).map_err(|e| io_error(what, dir, e))?;
        let bytes = serde_json::to_vec(snapshot)
            .map_err(|e| Error::encode(format!("{what} snapshot"), e))?;
        write_snapshot(dir, names, &bytes)?;
        let journal_path = dir.join(names.journal);
        let file = (|| {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&journal_path)?;
            file.set_len(0)?;
            file.sync_all()?;
            Ok(file)
        })()
        .map_err(|e| io_error(what, &journal_path, e))?;
        remove_old(dir, names)?;
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            dir: dir.to_path_buf(),
            names,
            file,
            shared: shared.clone(),
            snapshotter: None,
        };
        let worker = std::thread::Builder::new()
            .name(format!("ha-{what}-journal"))
            .spawn(move || writer.run(rx))
            .map_err(|e| Error::backend(format!("{what} journal thread"), e))?;
        Ok(Self {
            names,
            tx: Some(tx),
            worker: Some(worker),
            shared,
            entries: 0,
        })
    }

    /// Queues one change; await the returned [`Durable`] (with the store's lock released)
    /// before acknowledging it.
    ///
    /// # Errors
    /// [`Error::Unavailable`] once the journal is poisoned (nothing is queued then, so the
    /// caller must not apply the change), [`Error::Encode`] when the change cannot be encoded.
    pub(super) fn append<C: Serialize>(&mut self, change: &C) -> Result<Durable> {
        let what = self.names.what;
        self.check_poisoned()?;
        let mut line = serde_json::to_vec(change)
            .map_err(|e| Error::encode(format!("{what} journal entry"), e))?;
        line.push(b'\n');
        let (done, rx) = oneshot::channel();
        self.send(Cmd::Append { line, done })?;
        self.entries += 1;
        Ok(Durable(Some(rx)))
    }

    /// Whether the journal has grown past `limit` entries since the last rotation and no
    /// snapshot is being written: time to hand [`compact`](Self::compact) a copy.
    pub(super) fn wants_compaction(&self, limit: usize) -> bool {
        self.entries >= limit && !self.shared.compacting.load(Ordering::Acquire)
    }

    /// Rotates the journal at this point of its order and writes the snapshot `serialise`
    /// produces on a snapshot thread. Call it under the store's lock, right after the
    /// [`append`](Self::append) of the last change the copy holds.
    pub(super) fn compact(&mut self, serialise: SnapshotFn) {
        self.shared.compacting.store(true, Ordering::Release);
        if self.send(Cmd::Rotate(serialise)).is_err() {
            self.shared.compacting.store(false, Ordering::Release);
            return;
        }
        self.entries = 0;
    }

    fn check_poisoned(&self) -> Result<()> {
        match lock(&self.shared.poisoned).as_ref() {
            None => Ok(()),
            Some(why) => Err(poisoned_error(self.names.what, why)),
        }
    }

    fn send(&self, cmd: Cmd) -> Result<()> {
        self.tx
            .as_ref()
            .and_then(|tx| tx.send(cmd).ok())
            .ok_or_else(thread_gone)
    }
}

impl Drop for Journal {
    /// Lets the journal thread finish what is queued (and a snapshot being written), so the
    /// directory can be reopened the moment the store is gone.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(worker) = self.worker.take() {
            if worker.join().is_err() {
                tracing::error!("{} journal thread panicked", self.names.what);
            }
        }
    }
}

fn poisoned_error(what: &str, why: &str) -> Error {
    Error::unavailable(
        format!("{what} journal (a write or sync failed earlier; restart to recover from disk)"),
        std::io::Error::other(why.to_owned()),
    )
}

/// The journal thread: owns the file, batches appends, rotates.
struct Writer {
    dir: PathBuf,
    names: JournalNames,
    file: File,
    shared: Arc<Shared>,
    snapshotter: Option<JoinHandle<()>>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Cmd>) {
        let mut buf = Vec::new();
        let mut waiters = Vec::new();
        while let Ok(first) = rx.recv() {
            let mut next = Some(first);
            // Everything queued by now joins this batch: one write, one sync.
            while let Some(cmd) = next.take().or_else(|| rx.try_recv().ok()) {
                match cmd {
                    Cmd::Append { line, done } => {
                        buf.extend_from_slice(&line);
                        waiters.push(done);
                    }
                    Cmd::Rotate(serialise) => {
                        self.flush(&mut buf, &mut waiters);
                        self.rotate(serialise);
                    }
                }
            }
            self.flush(&mut buf, &mut waiters);
        }
        if let Some(snapshotter) = self.snapshotter.take() {
            let _ = snapshotter.join();
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(self.names.journal)
    }

    /// Writes and syncs the batch, then answers its waiters.
    fn flush(&mut self, buf: &mut Vec<u8>, waiters: &mut Vec<oneshot::Sender<Result<()>>>) {
        if waiters.is_empty() {
            return;
        }
        let poisoned = lock(&self.shared.poisoned).clone();
        let outcome = match poisoned {
            Some(why) => Err(why),
            None => self
                .file
                .write_all(buf)
                .and_then(|()| self.file.sync_data())
                .map(|()| {
                    self.shared.syncs.fetch_add(1, Ordering::Relaxed);
                })
                .map_err(|e| {
                    let why = format!("{}: {e}", self.path().display());
                    tracing::error!(error = %why, "{} journal write failed; refusing every later write",
                        self.names.what);
                    *lock(&self.shared.poisoned) = Some(why.clone());
                    why
                }),
        };
        buf.clear();
        for done in waiters.drain(..) {
            let answer = match &outcome {
                Ok(()) => Ok(()),
                Err(why) => Err(poisoned_error(self.names.what, why)),
            };
            // A waiter that went away (its request was cancelled) needs no answer.
            let _ = done.send(answer);
        }
    }

    /// Starts a new journal at this point and writes the snapshot on its own thread.
    fn rotate(&mut self, serialise: SnapshotFn) {
        if lock(&self.shared.poisoned).is_some() {
            self.shared.compacting.store(false, Ordering::Release);
            return;
        }
        if let Some(previous) = self.snapshotter.take() {
            let _ = previous.join();
        }
        let (dir, names) = (self.dir.clone(), self.names);
        let old = dir.join(names.old_journal());
        let journal = self.path();
        let rotated = (|| -> std::io::Result<Option<File>> {
            if old.exists() {
                // The last snapshot did not finish: `.old` still holds changes it lacks. Add
                // this journal's to them rather than overwrite them.
                let mut tail = Vec::new();
                std::io::Read::read_to_end(&mut File::open(&journal)?, &mut tail)?;
                let mut old_file = OpenOptions::new().append(true).open(&old)?;
                old_file.write_all(&tail)?;
                old_file.sync_data()?;
                self.file.set_len(0)?;
                self.file.sync_all()?;
                Ok(None)
            } else {
                fs::rename(&journal, &old)?;
                let fresh = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&journal)?;
                File::open(&dir)?.sync_all()?;
                Ok(Some(fresh))
            }
        })();
        match rotated {
            Ok(Some(fresh)) => self.file = fresh,
            Ok(None) => {}
            Err(e) => {
                // Where the journal now is cannot be vouched for: refuse writes from here on.
                let why = format!("rotating {}: {e}", journal.display());
                tracing::error!(error = %why, "{} journal rotation failed", names.what);
                *lock(&self.shared.poisoned) = Some(why);
                self.shared.compacting.store(false, Ordering::Release);
                return;
            }
        }
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("ha-{}-snapshot", names.what))
            .spawn(move || {
                let written = serialise().and_then(|bytes| {
                    write_snapshot(&dir, names, &bytes)?;
                    remove_old(&dir, names)
                });
                // A failed snapshot loses nothing: `.old` and the journal hold every change.
                if let Err(e) = written {
                    tracing::warn!(error = %e, "{} snapshot failed; the journal keeps every change",
                        names.what);
                }
                shared.compacting.store(false, Ordering::Release);
            });
        match spawned {
            Ok(handle) => self.snapshotter = Some(handle),
            Err(e) => {
                tracing::warn!(error = %e, "could not start the {} snapshot thread", names.what);
                self.shared.compacting.store(false, Ordering::Release);
            }
        }
    }
}

/// Writes `bytes` as the snapshot: temporary file, sync, rename, directory sync.
fn write_snapshot(dir: &Path, names: JournalNames, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{}.tmp", names.snapshot));
    let target = dir.join(names.snapshot);
    (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &target)?;
        File::open(dir)?.sync_all()
    })()
    .map_err(|e| io_error(names.what, &target, e))
}

/// Removes `<journal>.old` (its changes are in the snapshot just written).
fn remove_old(dir: &Path, names: JournalNames) -> Result<()> {
    let old = dir.join(names.old_journal());
    match fs::remove_file(&old) {
        Ok(()) => File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(names.what, dir, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(names.what, &old, e)),
    }
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::backend(format!("{what} file {}", path.display()), e)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: JournalNames = JournalNames {
        snapshot: "t.json",
        journal: "t.journal",
        what: "test",
    };

    fn writer(dir: &Path, file: File) -> (Writer, Arc<Shared>) {
        let shared = Arc::new(Shared::default());
        let writer = Writer {
            dir: dir.to_path_buf(),
            names: NAMES,
            file,
            shared: shared.clone(),
            snapshotter: None,
        };
        (writer, shared)
    }

    fn append_cmd(n: u32) -> (Cmd, Durable) {
        let (done, rx) = oneshot::channel();
        let line = format!("{n}\n").into_bytes();
        (Cmd::Append { line, done }, Durable(Some(rx)))
    }

    #[test]
    fn everything_queued_before_a_sync_shares_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NAMES.journal);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let (writer, shared) = writer(dir.path(), file);
        let (tx, rx) = mpsc::channel();
        let mut waits = Vec::new();
        for n in 0..100 {
            let (cmd, durable) = append_cmd(n);
            tx.send(cmd).unwrap();
            waits.push(durable);
        }
        // All 100 are queued before the thread looks: one write, one sync.
        drop(tx);
        std::thread::spawn(move || writer.run(rx)).join().unwrap();
        for durable in waits {
            durable.wait_blocking().unwrap();
        }
        assert_eq!(shared.syncs.load(Ordering::Relaxed), 1);
        let lines: Vec<u32> = fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        assert_eq!(lines, (0..100).collect::<Vec<_>>(), "in queue order");
    }

    #[test]
    fn a_failed_write_poisons_the_journal_for_every_later_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NAMES.journal);
        fs::write(&path, b"").unwrap();
        // Opened read-only: the write fails as a full or failing disk would.
        let (writer, shared) = writer(dir.path(), File::open(&path).unwrap());
        let (tx, rx) = mpsc::channel();
        let (cmd, first) = append_cmd(1);
        tx.send(cmd).unwrap();
        drop(tx);
        std::thread::spawn(move || writer.run(rx)).join().unwrap();
        let err = first.wait_blocking().unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        assert!(lock(&shared.poisoned).is_some());

        // Through the store's handle: once poisoned, nothing more is even queued.
        let mut journal = Journal::start(dir.path(), NAMES, &0u32).unwrap();
        journal.append(&1u32).unwrap().wait_blocking().unwrap();
        *lock(&journal.shared.poisoned) = Some("disk on fire".into());
        let err = journal.append(&2u32).unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    }

    #[test]
    fn rotation_keeps_every_change_and_a_failed_snapshot_is_folded_next_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::start(dir.path(), NAMES, &Vec::<u32>::new()).unwrap();
        for n in 0..3u32 {
            journal.append(&n).unwrap().wait_blocking().unwrap();
        }
        // A snapshot that fails: `.old` keeps 0..3.
        journal.compact(Box::new(|| Err(Error::Invalid("no space".into()))));
        for n in 3..5u32 {
            journal.append(&n).unwrap().wait_blocking().unwrap();
        }
        while journal.shared.compacting.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        assert!(dir.path().join(NAMES.old_journal()).exists());
        let seen: Recovered<Vec<u32>, u32> = Journal::read(dir.path(), NAMES).unwrap();
        assert_eq!(seen.changes, vec![0, 1, 2, 3, 4]);

        // The next rotation appends 3..5 to `.old` (never overwrites it), and this snapshot
        // holds everything, so `.old` goes.
        journal.compact(Box::new(|| Ok(b"[0,1,2,3,4]".to_vec())));
        journal.append(&5u32).unwrap().wait_blocking().unwrap();
        drop(journal);
        assert!(!dir.path().join(NAMES.old_journal()).exists());
        let seen: Recovered<Vec<u32>, u32> = Journal::read(dir.path(), NAMES).unwrap();
        assert_eq!(seen.snapshot, Some(vec![0, 1, 2, 3, 4]));
        assert_eq!(seen.changes, vec![5]);
    }

    #[test]
    fn a_crash_mid_compaction_replays_the_old_journal_then_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        // As a crash after the rotation but before the snapshot's rename leaves it.
        fs::write(dir.path().join(NAMES.snapshot), b"[0]").unwrap();
        fs::write(dir.path().join(NAMES.old_journal()), b"1\n2\n").unwrap();
        fs::write(dir.path().join(NAMES.journal), b"3\n4\n{\"torn").unwrap();
        let seen: Recovered<Vec<u32>, u32> = Journal::read(dir.path(), NAMES).unwrap();
        assert_eq!(seen.snapshot, Some(vec![0]));
        assert_eq!(seen.changes, vec![1, 2, 3, 4]);
    }
}
