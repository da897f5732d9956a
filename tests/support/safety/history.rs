//! The history: every operation a contender made, with its outcome and wall-clock interval.
//!
//! # Why wall-clock intervals
//!
//! Contenders run in several OS processes, and `std::time::Instant` means nothing outside the
//! process that took it. All processes run on one machine, so `SystemTime` in microseconds is a
//! clock they share. Each event is stamped *before* the call is issued and *after* its answer is
//! seen, so the real effect on the store happened somewhere inside `[start_us, end_us]`; the
//! checker only ever reasons about orders it can be sure of ("A ended before B started").
//!
//! # Why JSON lines
//!
//! Child processes append one line per event to a file of their own and flush it at once: a
//! child that is paused (SIGSTOP) or dies loses at most the event in flight, and the parent
//! merges the files after the run.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Microseconds since the Unix epoch: the clock every process of a run shares.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .as_micros() as u64
}

/// What was attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// `try_acquire`; on success `token` is the new tenure's token.
    Acquire,
    /// `take_over` of the tenure `replaced` (its holder's liveness record lapsed); on success
    /// `token` is the new tenure's token.
    TakeOver,
    /// `renew` of the tenure `token`.
    Renew,
    /// `release` of the tenure `token`.
    Release,
    /// A fenced write: `claim` of the job record or `record_progress` with `token`.
    Write,
}

/// How it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Acquired, renewed, released, or the write was accepted.
    Ok,
    /// `try_acquire` found a live lease (`None`), or `release` returned `false`.
    Denied,
    /// `renew` said `LeaseLost`.
    Lost,
    /// The write was rejected with `Fenced { current }`.
    Fenced {
        /// The token the record held.
        current: u64,
    },
    /// The record did not exist (`NotFound`): e.g. the store lost its data.
    Missing,
    /// Any other error (unavailable, timeout...): the effect on the store is unknown.
    Error {
        /// The error's display text.
        message: String,
    },
}

/// A fault the driver injected (recorded by the parent only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The store was killed and restarted; `data_lost` for a store without persistence.
    Restart {
        /// Whether the store came back empty.
        data_lost: bool,
    },
    /// A contender process was frozen with SIGSTOP, then resumed with SIGCONT.
    Pause {
        /// The paused process, as in [`Event::process`].
        process: String,
    },
    /// The store dropped every client connection.
    ConnKill,
    /// The store's server was frozen (SIGSTOP) for a while, then resumed: connections hung.
    Freeze,
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// An operation of a contender.
    Event(Event),
    /// A fault, from when it began to when it was over.
    Fault {
        /// What happened.
        fault: Fault,
        /// Began (µs since the epoch).
        start_us: u64,
        /// Over (µs since the epoch).
        end_us: u64,
    },
}

/// One operation of a contender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The OS process (`parent` or `pid-<n>`).
    pub process: String,
    /// The lease holder name (unique per contender).
    pub holder: String,
    /// The lease key (also the job key).
    pub key: String,
    /// What was attempted.
    pub op: Op,
    /// The token involved (the acquired one for a successful acquire).
    pub token: Option<u64>,
    /// For a take-over: the token of the tenure it replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<u64>,
    /// The lease TTL in µs (acquire and renew).
    pub ttl_us: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// Stamped before the call was issued.
    pub start_us: u64,
    /// Stamped after its answer was seen.
    pub end_us: u64,
}

/// Where a recorder puts entries.
#[derive(Debug)]
enum Sink {
    Memory(Vec<Entry>),
    File(File),
}

/// Collects entries from many tasks: in memory (the parent) or as JSON lines (a child).
#[derive(Debug, Clone)]
pub struct Recorder {
    sink: Arc<Mutex<Sink>>,
}

impl Recorder {
    /// Entries kept in memory.
    pub fn in_memory() -> Self {
        Self {
            sink: Arc::new(Mutex::new(Sink::Memory(Vec::new()))),
        }
    }

    /// Entries appended to `path` as JSON lines.
    pub fn to_file(path: &Path) -> std::io::Result<Self> {
        let file = File::create(path)?;
        Ok(Self {
            sink: Arc::new(Mutex::new(Sink::File(file))),
        })
    }

    /// Records one entry.
    pub fn record(&self, entry: Entry) {
        let mut sink = self.sink.lock().expect("recorder poisoned");
        match &mut *sink {
            Sink::Memory(entries) => entries.push(entry),
            Sink::File(file) => {
                let mut line = serde_json::to_vec(&entry).expect("entry serialises");
                line.push(b'\n');
                // One write per line, unbuffered: a frozen or dead child loses at most this one.
                file.write_all(&line).expect("history file writable");
            }
        }
    }

    /// The entries recorded in memory so far (empty for a file recorder).
    pub fn entries(&self) -> Vec<Entry> {
        match &*self.sink.lock().expect("recorder poisoned") {
            Sink::Memory(entries) => entries.clone(),
            Sink::File(_) => Vec::new(),
        }
    }
}

/// Reads a child's JSON-lines history. A torn last line (the child died mid-write) is skipped.
pub fn read_file(path: &Path) -> std::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for line in BufReader::new(File::open(path)?).lines() {
        let line = line?;
        if let Ok(entry) = serde_json::from_str(&line) {
            out.push(entry);
        }
    }
    Ok(out)
}
