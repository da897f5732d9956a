//! Items 7–8: the reference server as an operator runs it (the release build of
//! `media-ha-server`, one process per replica, on loopback), under `wrk`, and its
//! memory per idle session.
//!
//! | module | what |
//! |---|---|
//! | [`setup`] | starts 1 or 2 replicas over a generated library and signs in |
//! | [`api`] | wrk against the hot endpoints vs `GET /health` of the same servers |
//! | [`profile`] | CPU per process and store round trips per request around each wrk phase |
//! | [`rss`] | VmRSS (and Redis memory) before/after 1,000 sign-ins |
//! | [`web`] | item 10 (issue 15): cached poster vs `/health`, first extraction, `/socket` fan-out |
//!
//! The replica processes, the library and the wrk runner are the tests' own (the
//! `ha-test-support` crate's `cluster` and `load`), so the harness and `tests/server_load.rs`
//! drive the server the same way; the release build is found next to this binary. HA mode runs on a private Redis and PostgreSQL (ha-testkit), like items 1–4.

use ha_test_support::cluster;
use ha_test_support::load::{library, wrk};

mod api;
mod profile;
mod rss;
mod setup;
mod web;

use crate::report::Figure;
use crate::Opts;

/// Runs the sections of items 7–8 and 10 that `opts` asks for (`api`, `rss`, `web`).
pub fn run(opts: &Opts) -> Vec<Figure> {
    let rt = crate::runtime(Some(2));
    let dir = tempfile::tempdir().expect("temp dir");
    let media = library::generate(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let redis = rt.block_on(ha_testkit::RedisServer::start());
    let pg = rt.block_on(ha_testkit::PostgresServer::start());
    let stores = setup::Stores {
        redis: redis.url(),
        postgres: pg.url(),
        redis_port: redis.port(),
        redis_pid: redis.pid(),
        postgres_pid: pg.pid(),
    };
    let mut figures = Vec::new();
    if opts.wants("api") {
        eprintln!("[harness] item 7: reference server under wrk");
        figures.extend(api::run(opts, &rt, &media, &stores));
    }
    if opts.wants("rss") {
        eprintln!("[harness] item 8: RSS per 1,000 idle sessions");
        figures.extend(rss::run(&rt, &media, &stores));
    }
    if opts.wants("web") {
        eprintln!("[harness] item 10: artwork and the live channel (issue 15)");
        figures.extend(web::run(opts, &rt, &media, &stores));
    }
    figures
}
