//! # media-ha
//!
//! High-availability building blocks for media servers, re-exported from one place.
//!
//! | crate | what it holds | feature |
//! |---|---|---|
//! | [`core`] (`ha-core`) | contracts, shared types, in-process backends, `LeaseKeeper` | always |
//! | `redis` (`ha-store-redis`) | Redis backends | `redis` |
//! | `postgres` (`ha-store-pg`) | PostgreSQL backends | `postgres` (`postgres-tls` adds TLS) |
//! | `transcode` (`ha-transcode`) | probe, playback decision, transcode worker, HLS | `transcode` |
//!
//! A single-node server needs no feature at all: every contract has an in-process backend
//! that is correct for one replica. Turn on `redis` and/or `postgres` to run several replicas
//! behind a plain load balancer.
//!
//! ## PostgreSQL with TLS
//!
//! Managed PostgreSQL and CloudNativePG require TLS. Build with the `postgres-tls` feature
//! (rustls with the ring provider, no OpenSSL) and say so in the URL, as with libpq:
//! `?sslmode=require` trusts the operating system's root certificates,
//! `?sslrootcert=/path/ca.pem` trusts exactly that CA (for example the CA secret
//! CloudNativePG creates). Without the feature, a URL asking for TLS fails to connect instead
//! of silently going plain. See `ha_store_pg::config` for multi-host URLs, poolers and
//! timeouts.
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
