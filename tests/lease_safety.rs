//! Lease safety under faults: many contenders (tokio tasks and separate OS processes) fight
//! over a few keys on each backend while the store is restarted, contender processes are
//! frozen past their TTL and connections are dropped; every operation goes into a history that
//! a checker judges afterwards (see `tests/support/safety/`, and `docs/RELIABILITY.md` for the
//! figures).
//!
//! ```sh
//! cargo test --features full --test lease_safety -- --nocapture --test-threads 1
//! HA_SOAK=1 cargo test ...        # 300 s per backend instead of ~25 s
//! HA_SAFETY_SECS=60 HA_SAFETY_SEED=42 HA_SAFETY_KEEP=1 cargo test ...   # keep the history
//! ```

use ha_test_support::safety;

use safety::backends::Backend;
use std::time::Duration;

use safety::driver::{run, RunConfig, Server};

/// Backend runs are long and CPU-hungry: one at a time, even under a parallel test runner.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Entry point of a contender process (see `safety::child`); a no-op in a normal run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safety_child() {
    if safety::child::is_child() {
        safety::child::child_main().await;
    }
}

fn verdict(backend: &Backend, report: &safety::checker::Report, kept: Option<std::path::PathBuf>) {
    let summary = report.summary(backend.name());
    println!("{summary}");
    for stat in &report.fault_stats {
        println!("  {stat}");
    }
    for v in report.excused.iter().take(3) {
        eprintln!("excused (store lost its data):\n{v}");
    }
    if let Some(path) = kept {
        eprintln!("history kept in {}", path.display());
    }
    for v in &report.violations {
        eprintln!("VIOLATION\n{v}");
    }
    assert!(report.ok(), "{summary}");
    assert!(
        report.accepted_writes > 0 && report.fenced_writes > 0,
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_leases_stay_safe() {
    let _one = ONE_AT_A_TIME.lock().await;
    let config = RunConfig {
        tasks: 12,
        children: 0,
        ..RunConfig::from_env(10)
    };
    let (report, kept) = run(&Backend::Memory, &mut Server::None, &config).await;
    verdict(&Backend::Memory, &report, kept);
}

/// The harness is not vacuous: on stores that break a promise, the checker objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checker_rejects_broken_stores() {
    use safety::checker::Property;
    let _one = ONE_AT_A_TIME.lock().await;
    let config = RunConfig {
        tasks: 12,
        children: 0,
        duration: std::time::Duration::from_secs(5),
        ..RunConfig::from_env(5)
    };
    let (report, _) = run(&Backend::BrokenFencing, &mut Server::None, &config).await;
    println!("{}", report.summary("broken-fencing"));
    assert!(
        report.counts.get(&Property::StaleWrite) > Some(&0),
        "{report:?}"
    );

    let (report, _) = run(&Backend::BrokenExclusion, &mut Server::None, &config).await;
    println!("{}", report.summary("broken-exclusion"));
    assert!(
        report.counts.get(&Property::OverlappingTenures) > Some(&0),
        "{report:?}"
    );
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_leases_stay_safe_under_faults() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = ha_testkit::RedisServer::start().await;
    let backend = Backend::Redis {
        url: server.url(),
        prefix: ha_testkit::unique("safety"),
    };
    let config = RunConfig::from_env(25);
    let mut server = Server::Redis(server);
    let (report, kept) = run(&backend, &mut server, &config).await;
    verdict(&backend, &report, kept);
    assert!(
        report.faults.0 >= 1 && report.faults.1 >= 2 && report.faults.2 >= 1,
        "{report:?}"
    );
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_leases_stay_safe_under_faults() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = ha_testkit::PostgresServer::start().await;
    let backend = Backend::Postgres {
        url: server.url(),
        schema: ha_testkit::unique("safety"),
    };
    let config = RunConfig::from_env(25);
    let mut server = Server::Postgres(server);
    let (report, kept) = run(&backend, &mut server, &config).await;
    verdict(&backend, &report, kept);
    assert!(
        report.faults.0 >= 1 && report.faults.1 >= 2 && report.faults.2 >= 1,
        "{report:?}"
    );
}

/// Liveness records on: contenders take over the leases of processes whose record lapsed
/// (frozen past the liveness TTL, or every connection hung in a frozen store) without waiting
/// for the lease TTL. Leases of 1.2 s and liveness records of 200 ms, as in a server (5 s and
/// 1 s): a paused holder's leases are taken over between 0.2 s and 1.2 s into its 1.6 s pause,
/// and it wakes up inside or just past its lease TTL believing it still holds them.
fn with_liveness(config: RunConfig) -> RunConfig {
    RunConfig {
        ttl: Duration::from_millis(1_200),
        liveness: Some(Duration::from_millis(200)),
        pause: Duration::from_millis(1_600),
        ..config
    }
}

fn verdict_with_take_overs(
    backend: &Backend,
    report: &safety::checker::Report,
    kept: Option<std::path::PathBuf>,
) {
    verdict(backend, report, kept);
    let (attempts, fenced, _) = report.after_pause;
    assert!(report.taken_over > 0, "no take-over happened: {report:?}");
    assert!(
        attempts == 0 || fenced > 0,
        "paused holders wrote after being taken over and none was fenced: {report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_take_overs_by_liveness_stay_safe() {
    let _one = ONE_AT_A_TIME.lock().await;
    let config = RunConfig {
        tasks: 12,
        children: 0,
        ..with_liveness(RunConfig::from_env(10))
    };
    let (report, kept) = run(&Backend::Memory, &mut Server::None, &config).await;
    // One process: nobody's record lapses unless the runtime stalls, so take-overs are rare
    // here; what counts is that none breaks a property.
    verdict(&Backend::Memory, &report, kept);
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_take_overs_by_liveness_stay_safe_under_faults() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = ha_testkit::RedisServer::start().await;
    let backend = Backend::Redis {
        url: server.url(),
        prefix: ha_testkit::unique("safety-live"),
    };
    let config = with_liveness(RunConfig::from_env(25));
    let mut server = Server::Redis(server);
    let (report, kept) = run(&backend, &mut server, &config).await;
    verdict_with_take_overs(&backend, &report, kept);
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_take_overs_by_liveness_stay_safe_under_faults() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = ha_testkit::PostgresServer::start().await;
    let backend = Backend::Postgres {
        url: server.url(),
        schema: ha_testkit::unique("safety_live"),
    };
    let config = with_liveness(RunConfig::from_env(25));
    let mut server = Server::Postgres(server);
    let (report, kept) = run(&backend, &mut server, &config).await;
    verdict_with_take_overs(&backend, &report, kept);
}
