//! # media-ha
//!
//! High-availability building blocks for media servers, re-exported from one place.
//!
//! | crate | what it holds | feature |
//! |---|---|---|
//! | [`core`] (`ha-core`) | contracts, shared types, in-process backends, `LeaseKeeper` | always |
//! | `redis` (`ha-store-redis`) | Redis backends | `redis` |
//! | `postgres` (`ha-store-pg`) | PostgreSQL backends | `postgres` |
//! | `transcode` (`ha-transcode`) | probe, playback decision, transcode worker, HLS | `transcode` |
//!
//! A single-node server needs no feature at all: every contract has an in-process backend
//! that is correct for one replica. Turn on `redis` and/or `postgres` to run several replicas
//! behind a plain load balancer.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use ha_core as core;

/// Redis backends (`ha-store-redis`).
#[cfg(feature = "redis")]
pub use ha_store_redis as redis;

/// PostgreSQL backends (`ha-store-pg`).
#[cfg(feature = "postgres")]
pub use ha_store_pg as postgres;

/// Media pipeline and transcode management (`ha-transcode`).
#[cfg(feature = "transcode")]
pub use ha_transcode as transcode;
