//! The files behind a persisted [`MemorySessionStore`](super::MemorySessionStore).
//!
//! # Why sessions are persisted, and how
//!
//! The single-node server keeps its users and watch state across a restart (the metadata
//! journal); if its sessions vanished, every client would be signed out by an upgrade. The
//! approach is the metadata repo's: every change is appended to `sessions.journal` (one JSON
//! line, `fsync`ed before the call returns), the live sessions are written now and then to
//! `sessions.json` (temp file, atomic rename, then the journal is truncated), and opening loads
//! the snapshot and replays the journal, ignoring a torn last line. Three differences:
//!
//! - A deadline is stored as wall-clock milliseconds (`expires_ms`): a monotonic instant means
//!   nothing to the next process. Loading turns it back into "this much time left" and drops
//!   sessions whose time is up, so expiry holds across restarts.
//! - Sessions are keyed, here as in memory, by the token's *hash*: the files hand out no working
//!   token.
//! - A touch (every authenticated request makes one) is journaled only when it moves the stored
//!   deadline by more than [`touch_slack`], or moves it earlier: one fsync per request would
//!   cost more than the request. After a restart a session may therefore end up to that slack
//!   early, never late.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Result, Session};

const SNAPSHOT: &str = "sessions.json";
const JOURNAL: &str = "sessions.journal";
/// Compact after this many journal entries.
pub(super) const COMPACT_AFTER: usize = 1_000;

/// How far a touch may move the stored deadline before it is journaled: a tenth of the TTL, at
/// most a minute.
pub(super) fn touch_slack(ttl: Duration) -> Duration {
    (ttl / 10).min(Duration::from_secs(60))
}

/// A session and when it expires (wall clock, ms since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Stored {
    pub(super) session: Session,
    pub(super) expires_ms: u64,
}

/// One journal line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", content = "v")]
pub(super) enum Change {
    /// Created or replaced (boxed: a session is far larger than the other changes).
    Put(Box<Stored>),
    /// Extended and used.
    Touch {
        token_hash: String,
        expires_ms: u64,
        last_activity_ms: u64,
    },
    /// Signed out.
    Remove { token_hash: String },
}

impl Change {
    fn apply(self, sessions: &mut HashMap<String, Stored>) {
        match self {
            Change::Put(stored) => {
                sessions.insert(stored.session.token_hash.clone(), *stored);
            }
            Change::Touch {
                token_hash,
                expires_ms,
                last_activity_ms,
            } => {
                if let Some(stored) = sessions.get_mut(&token_hash) {
                    stored.expires_ms = expires_ms;
                    stored.session.last_activity_ms = last_activity_ms;
                }
            }
            Change::Remove { token_hash } => {
                sessions.remove(&token_hash);
            }
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    sessions: Vec<Stored>,
}

/// The open journal of a session directory.
#[derive(Debug)]
pub(super) struct SessionFile {
    dir: PathBuf,
    journal: File,
    entries: usize,
}

impl SessionFile {
    /// Opens (creating if needed) `dir`: the sessions still live at `now_ms`, and the journal,
    /// freshly compacted (which also drops a torn tail for good).
    pub(super) fn open(dir: &Path, now_ms: u64) -> Result<(Self, Vec<Stored>)> {
        fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let live: Vec<Stored> = load(dir)?
            .into_values()
            .filter(|s| s.expires_ms > now_ms)
            .collect();
        let journal_path = dir.join(JOURNAL);
        let journal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal_path)
            .map_err(|e| io_error(&journal_path, e))?;
        let mut file = Self {
            dir: dir.to_path_buf(),
            journal,
            entries: 0,
        };
        file.compact(live.iter())?;
        Ok((file, live))
    }

    /// Appends one change and syncs it to disk.
    pub(super) fn append(&mut self, change: &Change) -> Result<()> {
        let mut line =
            serde_json::to_vec(change).map_err(|e| Error::encode("session journal entry", e))?;
        line.push(b'\n');
        let path = self.dir.join(JOURNAL);
        self.journal
            .write_all(&line)
            .and_then(|_| self.journal.sync_data())
            .map_err(|e| io_error(&path, e))?;
        self.entries += 1;
        Ok(())
    }

    /// Entries appended since the last compaction.
    pub(super) fn entries(&self) -> usize {
        self.entries
    }

    /// Writes `live` as the snapshot and empties the journal.
    pub(super) fn compact<'a>(&mut self, live: impl Iterator<Item = &'a Stored>) -> Result<()> {
        let mut sessions: Vec<Stored> = live.cloned().collect();
        sessions.sort_by(|a, b| a.session.token_hash.cmp(&b.session.token_hash));
        let bytes = serde_json::to_vec(&Snapshot {
            version: 1,
            sessions,
        })
        .map_err(|e| Error::encode("session snapshot", e))?;
        let tmp = self.dir.join(format!("{SNAPSHOT}.tmp"));
        let target = self.dir.join(SNAPSHOT);
        (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &target)?;
            File::open(&self.dir)?.sync_all()?;
            self.journal.set_len(0)?;
            self.journal.sync_all()
        })()
        .map_err(|e| io_error(&target, e))?;
        self.entries = 0;
        Ok(())
    }
}

/// The snapshot with the journal replayed over it (expired sessions included).
fn load(dir: &Path) -> Result<HashMap<String, Stored>> {
    let snapshot_path = dir.join(SNAPSHOT);
    let mut sessions = match fs::read(&snapshot_path) {
        Ok(bytes) => serde_json::from_slice::<Snapshot>(&bytes)
            .map_err(|e| Error::decode(snapshot_path.display().to_string(), e))?
            .sessions
            .into_iter()
            .map(|s| (s.session.token_hash.clone(), s))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
        Err(e) => return Err(io_error(&snapshot_path, e)),
    };
    let journal_path = dir.join(JOURNAL);
    match File::open(&journal_path) {
        Ok(file) => {
            for line in BufReader::new(file).lines() {
                let line = line.map_err(|e| io_error(&journal_path, e))?;
                match serde_json::from_str::<Change>(&line) {
                    Ok(change) => change.apply(&mut sessions),
                    // A torn final line from a crash mid-append: its call never returned.
                    Err(e) => {
                        tracing::warn!(path = %journal_path.display(), error = %e,
                            "ignoring unreadable session journal line (torn write?)");
                        break;
                    }
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(&journal_path, e)),
    }
    Ok(sessions)
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::backend(format!("session file {}", path.display()), e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(hash: &str, expires_ms: u64) -> Stored {
        Stored {
            session: Session {
                id: format!("id-{hash}"),
                token_hash: hash.into(),
                user_id: "u".into(),
                user_name: "n".into(),
                device_id: "d".into(),
                device_name: "dn".into(),
                client: "c".into(),
                client_version: "1".into(),
                now_playing: None,
                created_ms: 1,
                last_activity_ms: 1,
            },
            expires_ms,
        }
    }

    #[test]
    fn replay_applies_puts_touches_and_removes_and_drops_the_expired() {
        let dir = tempfile::tempdir().unwrap();
        let (mut file, live) = SessionFile::open(dir.path(), 1_000).unwrap();
        assert!(live.is_empty());
        file.append(&Change::Put(Box::new(stored("a", 5_000))))
            .unwrap();
        file.append(&Change::Put(Box::new(stored("b", 5_000))))
            .unwrap();
        file.append(&Change::Put(Box::new(stored("c", 1_500))))
            .unwrap();
        file.append(&Change::Touch {
            token_hash: "a".into(),
            expires_ms: 9_000,
            last_activity_ms: 2_000,
        })
        .unwrap();
        file.append(&Change::Remove {
            token_hash: "b".into(),
        })
        .unwrap();
        drop(file);

        let (_, mut live) = SessionFile::open(dir.path(), 2_000).unwrap();
        live.sort_by(|x, y| x.session.token_hash.cmp(&y.session.token_hash));
        assert_eq!(live.len(), 1, "b removed, c expired: {live:?}");
        assert_eq!(live[0].expires_ms, 9_000);
        assert_eq!(live[0].session.last_activity_ms, 2_000);
        // Opening compacted: the same state comes back from the snapshot alone.
        let (_, again) = SessionFile::open(dir.path(), 2_000).unwrap();
        assert_eq!(again, live);
    }

    #[test]
    fn a_torn_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let (mut file, _) = SessionFile::open(dir.path(), 0).unwrap();
        file.append(&Change::Put(Box::new(stored("a", 5_000))))
            .unwrap();
        drop(file);
        let mut journal = OpenOptions::new()
            .append(true)
            .open(dir.path().join(JOURNAL))
            .unwrap();
        journal.write_all(br#"{"op":"Put","v":{"sess"#).unwrap();
        drop(journal);
        let (_, live) = SessionFile::open(dir.path(), 0).unwrap();
        assert_eq!(live.len(), 1);
    }

    #[test]
    fn a_corrupt_snapshot_is_an_error_not_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(SNAPSHOT), b"not json").unwrap();
        let err = SessionFile::open(dir.path(), 0).unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    }

    #[test]
    fn touch_slack_is_a_tenth_of_the_ttl_at_most_a_minute() {
        assert_eq!(
            touch_slack(Duration::from_secs(100)),
            Duration::from_secs(10)
        );
        assert_eq!(
            touch_slack(Duration::from_secs(30 * 24 * 3600)),
            Duration::from_secs(60)
        );
    }
}
