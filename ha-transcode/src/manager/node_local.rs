//! Node-local segment storage ([`NodeLocalDirStorage`]): each replica writes to its own
//! directory; the protocol is on the type.

use std::path::PathBuf;
use std::time::SystemTime;

use async_trait::async_trait;

use super::storage::{SegmentStorage, SharedDirStorage, StorageScope};

/// Where a segment can be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentLocation {
    /// In this replica's storage.
    Local(PathBuf),
    /// On the job's owner (node-local storage): fetch it from the owner's advertised address.
    Owner {
        /// The owner's node id.
        node: String,
        /// The owner's advertised address (e.g. `http://10.0.0.5:8096`).
        address: String,
    },
}

/// A directory only this replica sees: `<root>/<job key>/seg-000007.ts`, with the same
/// key validation and layout as [`SharedDirStorage`]. A segment this replica does not have is
/// fetched from the job's owner.
///
/// # Why the owner's address lives in the job record
///
/// A non-owner needs two facts: *who* owns the job now, and *where* to reach it. The job record
/// already carries both (`owner_node`, `owner_addr`), written by the same fenced claim that
/// carries the owner's token. So the address is exactly as fresh as the ownership it
/// describes, and a record whose token differs from the live lease's (a new owner between
/// acquiring the lease and writing its claim) is simply not trusted yet: the request waits for
/// the new owner's claim. A node registry would be a second source of truth to keep consistent with
/// the leases; lease holder metadata would change the `LeaseManager` contract on every
/// backend. The record needs neither.
///
/// # The protocol
///
/// - A request a replica can serve from its own directory is served there (a segment it
///   wrote in an earlier tenure included: segments are segment-exact, whoever made them).
/// - Otherwise, when the record's owner is another node and either holds the live lease with
///   the record's token, or finished the job (completed or stopped; its files are on its
///   disk), [`TranscodeManager::locate`](super::TranscodeManager::locate) answers
///   [`SegmentLocation::Owner`]: the caller fetches the segment from that address. The owner
///   serves the forwarded request with [`TranscodeManager::segment`](super::TranscodeManager::segment),
///   which never forwards again (so ownership moving mid-request cannot loop) and answers
///   [`SegmentError::NotOwner`](super::SegmentError::NotOwner) when it no longer owns the job; the caller
///   then locates again.
/// - When the owner cannot be reached the caller says so
///   ([`TranscodeManager::owner_unreachable`](super::TranscodeManager::owner_unreachable)).
///   A finished job's segments are then regenerated here. A job whose lease is still held is
///   waited for, never run twice: single flight does not depend on the network.
/// - An orphan (the owner's lease expired, or it handed over on shutdown) is taken over as
///   with shared storage; the new owner has none of the old owner's files, so every segment
///   a viewer asks for that is not on its disk is produced again from that index. Because
///   segments are segment-exact, a regenerated segment splices with the old owner's
///   neighbours that a player already holds.
///
/// The library stays free of an HTTP client: fetching from the owner is the server's job
/// (the reference server forwards the request with the caller's credentials).
#[derive(Debug, Clone)]
pub struct NodeLocalDirStorage {
    dir: SharedDirStorage,
}

impl NodeLocalDirStorage {
    /// Node-local storage under `root` (created on first use).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            dir: SharedDirStorage::new(root),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &std::path::Path {
        self.dir.root()
    }
}

#[async_trait]
impl SegmentStorage for NodeLocalDirStorage {
    async fn prepare_job_dir(&self, key: &str) -> std::io::Result<PathBuf> {
        self.dir.prepare_job_dir(key).await
    }

    async fn file(&self, key: &str, name: &str) -> Option<PathBuf> {
        self.dir.file(key, name).await
    }

    async fn remove_job(&self, key: &str) -> std::io::Result<()> {
        self.dir.remove_job(key).await
    }

    async fn jobs(&self) -> std::io::Result<Vec<(String, SystemTime)>> {
        self.dir.jobs().await
    }

    fn scope(&self) -> StorageScope {
        StorageScope::NodeLocal
    }
}
