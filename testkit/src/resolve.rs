//! Finding the shared Redis and Postgres that most tests run against.
//!
//! The order is fixed and explicit (see the crate docs): environment variable, then a container
//! if Docker answers, then a panic that tells the developer what to do. We deliberately do not
//! fall back to "skip": a backend test suite that is green because it never ran is how broken
//! fencing ships.

use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// Environment variable naming the Redis that tests share, e.g. `redis://127.0.0.1:6390/`.
pub const REDIS_URL_VAR: &str = "HA_TEST_REDIS_URL";
/// Environment variable naming the PostgreSQL that tests share, e.g.
/// `postgres://postgres@127.0.0.1:5440/postgres`.
pub const DATABASE_URL_VAR: &str = "HA_TEST_DATABASE_URL";

/// The URL of a Redis server tests may share.
///
/// `HA_TEST_REDIS_URL` if set and non-empty; otherwise a `redis` container started once per test
/// process with testcontainers, if a Docker daemon answers (feature `containers`). Give every
/// test its own key prefix with [`unique`](crate::unique).
///
/// # Panics
///
/// If neither is available (the message says how to get one), or if the container fails to
/// start.
pub async fn redis_url() -> String {
    if let Some(url) = env_url(REDIS_URL_VAR) {
        // Captured by the test harness: shown only when the test fails, which is when it helps.
        eprintln!("ha-testkit: Redis from {REDIS_URL_VAR}: {url}");
        return url;
    }
    #[cfg(feature = "containers")]
    if docker_available() {
        let url = crate::containers::redis().await;
        eprintln!("ha-testkit: Redis from a testcontainers container: {url}");
        return url;
    }
    panic!(
        "{}",
        missing(REDIS_URL_VAR, "Redis", "redis://127.0.0.1:6390/")
    )
}

/// The URL of a PostgreSQL server tests may share (connecting as a superuser).
///
/// `HA_TEST_DATABASE_URL` if set and non-empty; otherwise a `postgres` container started once per
/// test process with testcontainers, if a Docker daemon answers (feature `containers`). Give
/// every test its own schema (or database) named with [`unique`](crate::unique).
///
/// # Panics
///
/// If neither is available (the message says how to get one), or if the container fails to
/// start.
pub async fn postgres_url() -> String {
    if let Some(url) = env_url(DATABASE_URL_VAR) {
        eprintln!("ha-testkit: PostgreSQL from {DATABASE_URL_VAR}: {url}");
        return url;
    }
    #[cfg(feature = "containers")]
    if docker_available() {
        let url = crate::containers::postgres().await;
        eprintln!("ha-testkit: PostgreSQL from a testcontainers container: {url}");
        return url;
    }
    panic!(
        "{}",
        missing(
            DATABASE_URL_VAR,
            "PostgreSQL",
            "postgres://postgres@127.0.0.1:5440/postgres"
        )
    )
}

fn env_url(var: &str) -> Option<String> {
    std::env::var(var)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn missing(var: &str, what: &str, example: &str) -> String {
    format!(
        "ha-testkit: no {what} to test against.\n\
         Set {var} (e.g. {var}={example}), or have a Docker daemon running for testcontainers.\n\
         The easy way: run the whole suite with `./scripts/test.sh`, or start the project-local \
         servers with `./scripts/services.sh start` and then `eval \"$(./scripts/services.sh env)\"` \
         before `cargo test`.\n\
         (Tests never skip silently when a backend is missing.)"
    )
}

/// Whether a Docker daemon answers, checked in well under a second.
///
/// Honours `DOCKER_HOST` (`unix://` and `tcp://`), then the usual socket paths (system, rootless,
/// Docker Desktop). Only a connect is attempted: enough to avoid a slow testcontainers failure
/// when there is plainly no daemon.
pub fn docker_available() -> bool {
    if let Some(host) = env_url("DOCKER_HOST") {
        if let Some(path) = host.strip_prefix("unix://") {
            return UnixStream::connect(path).is_ok();
        }
        if let Some(addr) = host.strip_prefix("tcp://") {
            let addr = addr.trim_end_matches('/');
            return std::net::ToSocketAddrs::to_socket_addrs(addr)
                .ok()
                .and_then(|mut a| a.next())
                .is_some_and(|a| {
                    TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok()
                });
        }
        // Another scheme (ssh://, npipe://): let testcontainers try it.
        return true;
    }
    let mut candidates = vec![PathBuf::from("/var/run/docker.sock")];
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        candidates.push(PathBuf::from(dir).join("docker.sock"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(&home).join(".docker/run/docker.sock"));
        candidates.push(PathBuf::from(home).join(".docker/desktop/docker.sock"));
    }
    candidates.iter().any(|p| UnixStream::connect(p).is_ok())
}
