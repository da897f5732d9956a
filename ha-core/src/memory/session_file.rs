//! The files behind a persisted [`MemorySessionStore`](super::MemorySessionStore).
//!
//! # Why sessions are persisted, and how
//!
//! The single-node server keeps its users and watch state across a restart (the metadata
//! journal); if its sessions vanished, every client would be signed out by an upgrade. The
//! approach is the metadata repo's (both use `journal.rs`): every change is appended to
//! `sessions.journal` (one JSON line, group-committed to disk before the call returns), the
//! live sessions are written now and then to `sessions.json` by a snapshot thread (temp file,
//! atomic rename, then the rotated journal is removed), and opening loads the snapshot and
//! replays the journals, ignoring a torn last line. Three differences:
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
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::journal::{Durable, Journal, JournalNames};
use crate::{Result, Session};

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

const NAMES: JournalNames = JournalNames {
    snapshot: SNAPSHOT,
    journal: JOURNAL,
    what: "session",
};

/// The open journal of a session directory.
#[derive(Debug)]
pub(super) struct SessionFile {
    journal: Journal,
}

impl SessionFile {
    /// Opens (creating if needed) `dir`: the sessions still live at `now_ms`, and the journal,
    /// freshly compacted (which also drops a torn tail for good).
    pub(super) fn open(dir: &Path, now_ms: u64) -> Result<(Self, Vec<Stored>)> {
        let sessions = load(dir)?;
        let mut live: Vec<Stored> = sessions
            .into_values()
            .filter(|s| s.expires_ms > now_ms)
            .collect();
        live.sort_by(|a, b| a.session.token_hash.cmp(&b.session.token_hash));
        let snapshot = Snapshot {
            version: 1,
            sessions: live,
        };
        let journal = Journal::start(dir, NAMES, &snapshot)?;
        Ok((Self { journal }, snapshot.sessions))
    }

    /// Queues one change; await the [`Durable`] (lock released) before acknowledging it.
    pub(super) fn append(&mut self, change: &Change) -> Result<Durable> {
        self.journal.append(change)
    }

    /// Whether it is time to hand [`compact`](Self::compact) the live sessions.
    pub(super) fn wants_compaction(&self) -> bool {
        self.journal.wants_compaction(COMPACT_AFTER)
    }

    /// Writes `live` as the snapshot (on the snapshot thread) and starts a fresh journal.
    pub(super) fn compact(&mut self, mut live: Vec<Stored>) {
        self.journal.compact(Box::new(move || {
            live.sort_by(|a, b| a.session.token_hash.cmp(&b.session.token_hash));
            serde_json::to_vec(&Snapshot {
                version: 1,
                sessions: live,
            })
            .map_err(|e| crate::Error::encode("session snapshot", e))
        }));
    }
}

/// Reads `dir`: the snapshot with the journals replayed over it (expired sessions included).
fn load(dir: &Path) -> Result<HashMap<String, Stored>> {
    let recovered = Journal::read::<Snapshot, Change>(dir, NAMES)?;
    let mut sessions: HashMap<String, Stored> = recovered
        .snapshot
        .map(|snapshot| snapshot.sessions)
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.session.token_hash.clone(), s))
        .collect();
    for change in recovered.changes {
        change.apply(&mut sessions);
    }
    Ok(sessions)
}

#[cfg(test)]
mod tests {
    use std::fs::{self, OpenOptions};
    use std::io::Write;

    use super::*;
    use crate::Error;

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
            .unwrap()
            .wait_blocking()
            .unwrap();
        file.append(&Change::Put(Box::new(stored("b", 5_000))))
            .unwrap()
            .wait_blocking()
            .unwrap();
        file.append(&Change::Put(Box::new(stored("c", 1_500))))
            .unwrap()
            .wait_blocking()
            .unwrap();
        file.append(&Change::Touch {
            token_hash: "a".into(),
            expires_ms: 9_000,
            last_activity_ms: 2_000,
        })
        .unwrap()
        .wait_blocking()
        .unwrap();
        file.append(&Change::Remove {
            token_hash: "b".into(),
        })
        .unwrap()
        .wait_blocking()
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
            .unwrap()
            .wait_blocking()
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
