//! The one connection every backend of a store shares.
//!
//! # Why one multiplexed connection
//!
//! Redis handles one connection's commands in order, and the `redis` crate pipelines concurrent
//! requests over it: one `ConnectionManager`, cloned into every backend, reaches ≈ 120k script
//! calls/s on this machine kind with 64 tasks (DESIGN.md §4). A pool would only add sockets.
//! The manager reconnects by itself after the server drops it; Cluster uses the cluster client's
//! own connection (one per node, routed by key slot) behind the same enum.

use std::fmt;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// A standalone/Sentinel connection manager or a Cluster connection.
#[derive(Clone)]
pub(crate) enum Conn {
    /// Standalone or the Sentinel-resolved primary.
    Single(ConnectionManager),
    /// Redis Cluster.
    Cluster(ClusterConnection),
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conn::Single(m) => f.debug_tuple("Single").field(m).finish(),
            Conn::Cluster(_) => f.write_str("Cluster"),
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}
