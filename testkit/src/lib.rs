//! # ha-testkit: real Redis and PostgreSQL for media-ha's tests
//!
//! The backends in `ha-store-redis` and `ha-store-pg` are only worth something if they are
//! tested against the real servers, including what happens when those servers die. Mocks would
//! test our assumptions about Redis and Postgres, not Redis and Postgres. This crate gives tests
//! two kinds of server:
//!
//! * **A shared server by URL** — [`redis_url`] and [`postgres_url`] — for the bulk of the tests
//!   (conformance, behaviour). Resolution is explicit and never silently skips a test:
//!   1. `HA_TEST_REDIS_URL` / `HA_TEST_DATABASE_URL` if set (this is what `scripts/test.sh`
//!      does: it starts project-local servers with `scripts/services.sh`);
//!   2. otherwise a container started with testcontainers, kept for the life of the test
//!      process, if a Docker daemon answers (feature `containers`, on by default);
//!   3. otherwise the test **panics** with a message naming the variable and the command to
//!      run. A test that silently passes because nothing was there to test against is worse
//!      than a red one.
//!
//!   Tests sharing a server isolate themselves with [`unique`] (Redis key prefixes, Postgres
//!   schema names).
//! * **A private server process** — [`RedisServer`] and [`PostgresServer`] — for fault tests
//!   that need to `SIGKILL`, pause or restart the store under a running client. Each one owns its
//!   port, its temp dir and its process, and cleans up on drop.
//!
//! ## Layout
//!
//! | module | what |
//! |---|---|
//! | [`resolve`] | [`redis_url`], [`postgres_url`]: the resolution rules above |
//! | `containers` | the testcontainers fallback (feature `containers`) |
//! | [`redis_server`] | [`RedisServer`]: our own `redis-server` process |
//! | [`postgres_server`] | [`PostgresServer`]: our own `initdb` + `postgres` process, and streaming replicas of it |
//! | [`pgbouncer`] | [`PgBouncer`]: our own `pgbouncer` in front of a [`PostgresServer`] |
//! | `process` | the child-process plumbing both servers share (signals, logs, binaries) |
//! | [`names`] | [`unique`] and [`free_port`] |

#[cfg(feature = "containers")]
mod containers;
pub mod names;
pub mod pgbouncer;
pub mod postgres_server;
mod process;
pub mod redis_server;
pub mod resolve;

pub use names::{free_port, unique};
pub use pgbouncer::{PgBouncer, PoolMode};
pub use postgres_server::PostgresServer;
pub use redis_server::RedisServer;
pub use resolve::{postgres_url, redis_url};
