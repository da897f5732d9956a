//! The one sequence the random runs rarely hit, played on purpose: a holder stalls between
//! acquiring and claiming, another takes the key over and claims, the *store restarts*, and
//! the stale holder claims with its old token.
//!
//! * Postgres keeps its data across the restart, so the stale claim must be fenced.
//! * Redis without persistence comes back empty: the job record, and with it the fence, is
//!   gone. The claim script then refuses any token older than the Redis process's start
//!   (`ha-store-redis/lua/incarnation.lua`), so the stale claim must be fenced there too, with
//!   nothing excused. The start is known to the second, so the Redis scenario waits a little
//!   over a second before restarting: the stale token is then surely older than the new start.
//!
//! ```sh
//! cargo test --features full --test lease_safety_data_loss -- --nocapture
//! ```

use ha_test_support::safety;

#[cfg(any(feature = "redis", feature = "postgres"))]
mod scenario {
    use std::time::Duration;

    use ha_core::{Error, FencingToken, JobClaim};

    use super::safety::checker::{check, CheckConfig, Report};
    use super::safety::contender::Stores;
    use super::safety::history::{now_us, Entry, Event, Op, Outcome};

    pub const TTL: Duration = Duration::from_millis(300);

    /// Records the calls of the scenario.
    pub struct Script {
        pub stores: Stores,
        pub entries: Vec<Entry>,
    }

    impl Script {
        fn push(&mut self, holder: &str, op: Op, token: Option<u64>, outcome: Outcome, start: u64) {
            self.entries.push(Entry::Event(Event {
                process: "scenario".into(),
                holder: holder.into(),
                key: "job".into(),
                op,
                token,
                replaced: None,
                ttl_us: TTL.as_micros() as u64,
                outcome,
                start_us: start,
                end_us: now_us(),
            }));
        }

        pub async fn acquire(&mut self, holder: &str) -> u64 {
            let start = now_us();
            let lease = self
                .stores
                .leases
                .try_acquire("job", holder, TTL)
                .await
                .unwrap()
                .expect("key free");
            let token = lease.token.get();
            self.push(holder, Op::Acquire, Some(token), Outcome::Ok, start);
            token
        }

        pub async fn claim(&mut self, holder: &str, token: u64) -> Outcome {
            let start = now_us();
            let claim = JobClaim {
                key: "job".into(),
                source: "s".into(),
                profile: "{}".into(),
                owner_node: holder.into(),
                owner_addr: None,
                token: FencingToken(token),
                start_segment: 0,
            };
            let outcome = match self.stores.jobs.claim(&claim).await {
                Ok(_) => Outcome::Ok,
                Err(Error::Fenced { current, .. }) => Outcome::Fenced {
                    current: current.get(),
                },
                Err(e) => panic!("claim failed: {e}"),
            };
            self.push(holder, Op::Write, Some(token), outcome.clone(), start);
            outcome
        }

        pub fn fault(&mut self, entry: Entry) {
            self.entries.push(entry);
        }

        pub fn check(&self) -> Report {
            check(&self.entries, &CheckConfig::default())
        }
    }

    /// a acquires and stalls past its TTL; b acquires and claims; then `restart` runs; then a
    /// claims with its stale token. Returns a's outcome.
    pub async fn play(
        script: &mut Script,
        restart: impl std::future::Future<Output = Entry>,
    ) -> Outcome {
        let a = script.acquire("a").await;
        tokio::time::sleep(TTL + Duration::from_millis(200)).await;
        let b = script.acquire("b").await;
        assert!(b > a);
        assert_eq!(script.claim("b", b).await, Outcome::Ok);
        let fault = restart.await;
        script.fault(fault);
        // The stale holder wakes up; give the client a moment to reconnect first.
        for _ in 0..50 {
            if script.stores.leases.current("job").await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        script.claim("a", a).await
    }
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fences_a_stale_claim_across_a_restart() {
    use safety::backends::Backend;
    let mut server = ha_testkit::PostgresServer::start().await;
    let backend = Backend::Postgres {
        url: server.url(),
        schema: ha_testkit::unique("safety_loss"),
    };
    let mut script = scenario::Script {
        stores: backend.open().await,
        entries: Vec::new(),
    };
    let outcome = scenario::play(&mut script, safety::faults::pg_restart(&mut server)).await;
    let report = script.check();
    println!(
        "postgres, stale claim after a restart: {outcome:?}; {}",
        report.summary("postgres")
    );
    assert!(
        matches!(outcome, safety::history::Outcome::Fenced { .. }),
        "{outcome:?}"
    );
    assert!(report.ok() && report.excused_count == 0, "{report:?}");
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_fences_a_stale_claim_after_a_restart_that_lost_the_data() {
    use safety::backends::Backend;
    let mut server = ha_testkit::RedisServer::start().await;
    let backend = Backend::Redis {
        url: server.url(),
        prefix: ha_testkit::unique("safety_loss"),
    };
    let mut script = scenario::Script {
        stores: backend.open().await,
        entries: Vec::new(),
    };
    let restart = async {
        // Let the stale token age past the second the restarted server will record as its start.
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        safety::faults::redis_restart(&mut server).await
    };
    let outcome = scenario::play(&mut script, restart).await;
    let report = script.check();
    println!(
        "redis, stale claim after a restart that lost the data: {outcome:?}; {}",
        report.summary("redis")
    );
    for v in &report.excused {
        println!("excused (store lost its data):\n{v}");
    }
    assert!(
        matches!(outcome, safety::history::Outcome::Fenced { .. }),
        "{outcome:?}"
    );
    assert!(report.ok() && report.excused_count == 0, "{report:?}");
}
