//! Items 1–3 of the issue: leases, batch renew and sessions on Redis, against
//! `redis-benchmark` at the same client count on the same (private) server.
//!
//! Why a private `redis-server` (ha-testkit) and not the shared test one: other engineers' test
//! suites hammer the shared server, which would both slow one side at random and pollute the
//! `INFO commandstats` deltas item 2 relies on.
//!
//! Why our side runs on a current-thread runtime: `redis-benchmark` is one event-loop thread.
//! With one client thread on each side, the other core belongs to `redis-server` in both
//! measurements and the ratio compares client stacks, not core counts.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ha_core::{Lease, LeaseManager, Session, SessionStore};
// The very Lua the store runs, preludes included.
use ha_store_redis::lua_source::{
    LEASE_ACQUIRE as ACQUIRE_LUA, LEASE_RELEASE as RELEASE_LUA, LEASE_RENEW as RENEW_LUA,
};
use ha_store_redis::{RedisStore, RedisStoreConfig};
use serde_json::json;

use crate::load::{closed_loop, micros, LoadStats};
use crate::peers::{redis_benchmark, PeerStats};
use crate::redis_cli::{command_calls, script_load, total_commands, PhaseProfile};
use crate::report::{Better, Figure};
use crate::rslock_peer;
use crate::Opts;

const TTL: Duration = Duration::from_secs(120);

/// Runs items 1–3 and returns their figures.
pub async fn run(opts: &Opts) -> Vec<Figure> {
    let server = ha_testkit::RedisServer::start().await;
    let port = server.port();
    let config = RedisStoreConfig::from_url(&server.url())
        .expect("redis url")
        .with_prefix("bench");
    let store = RedisStore::connect(config).await.expect("connect");
    let mut figures = leases(opts, &store, port).await;
    figures.extend(batch_renew(opts, &store, port).await);
    figures.extend(sessions(opts, &store, port).await);
    drop(server);
    figures
}

/// Enough peer requests to run about as long as our phase did.
fn requests_for(ours: &LoadStats, opts: &Opts) -> u64 {
    ((ours.ops_per_sec * opts.secs.as_secs_f64()) as u64).max(10_000)
}

fn peer_or_note(r: Result<PeerStats, String>) -> (Option<PeerStats>, String) {
    match r {
        Ok(p) => (Some(p), String::new()),
        Err(e) => {
            eprintln!("[harness] peer failed: {e}");
            (
                None,
                format!("peer failed: {}", e.lines().next().unwrap_or("")),
            )
        }
    }
}

fn one(rows: Result<Vec<(String, PeerStats)>, String>) -> Result<PeerStats, String> {
    rows.map(|mut r| r.remove(0).1)
}

/// A throughput figure with our and the peer's latency percentiles in the notes.
fn rate_figure(
    item: u8,
    name: &str,
    ours: &LoadStats,
    peer: Result<PeerStats, String>,
    peer_name: &str,
    target: Option<f64>,
) -> Figure {
    let (peer, err) = peer_or_note(peer);
    let note = match &peer {
        Some(p) => format!(
            "p50/p99 ms: ours {:.3}/{:.3}, peer {}/{}",
            ours.p50_ms,
            ours.p99_ms,
            p.p50_ms.map_or("—".into(), |v| format!("{v:.3}")),
            p.p99_ms.map_or("—".into(), |v| format!("{v:.3}")),
        ),
        None => err,
    };
    Figure {
        item,
        name: name.into(),
        unit: "ops/s".into(),
        ours: Some(ours.ops_per_sec),
        peer: peer.as_ref().map(|p| p.ops_per_sec),
        peer_name: peer_name.into(),
        better: Better::Higher,
        target,
        command: peer.as_ref().map_or(String::new(), |p| p.command.clone()),
        note,
        raw: json!({ "ours": ours, "peer": peer }),
    }
}

async fn leases(opts: &Opts, store: &RedisStore, port: u16) -> Vec<Figure> {
    let c = opts.redis_clients;
    let m: Arc<dyn LeaseManager> = Arc::new(store.leases());

    // Acquire fresh keys; keep every lease for the release phase.
    let taken: Arc<Mutex<Vec<Lease>>> = Arc::default();
    let (mm, tt) = (m.clone(), taken.clone());
    let acquire_profile = PhaseProfile::start(port, "evalsha");
    let acquire = closed_loop(c, opts.secs, move |task, seq| {
        let (m, taken) = (mm.clone(), tt.clone());
        async move {
            let lease = m
                .try_acquire(&format!("a{task}-{seq}"), "bench", TTL)
                .await?;
            let lease = lease.ok_or_else(|| ha_core::Error::Conflict("fresh key held".into()))?;
            taken.lock().unwrap().push(lease);
            Ok::<_, ha_core::Error>(true)
        }
    })
    .await;
    let acquire_profile = acquire_profile.finish(port, acquire.ops);

    // Renew: each task renews its own lease.
    let mut own = Vec::new();
    for t in 0..c {
        own.push(
            m.try_acquire(&format!("r{t}"), "bench", TTL)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let own = Arc::new(own);
    let mm = m.clone();
    let renew = closed_loop(c, opts.secs, move |task, _| {
        let (m, own) = (mm.clone(), own.clone());
        async move { m.renew(&own[task]).await.map(|_| true) }
    })
    .await;

    // Release what the acquire phase took, interleaved across tasks.
    let taken = Arc::new(std::mem::take(&mut *taken.lock().unwrap()));
    let mm = m.clone();
    let release = closed_loop(c, opts.secs * 4, move |task, seq| {
        let (m, taken) = (mm.clone(), taken.clone());
        async move {
            let Some(lease) = taken.get(task + seq as usize * c) else {
                return Ok(false);
            };
            m.release(lease).await.map(|_| true)
        }
    })
    .await;

    // Peers on the same server: the very same Lua (EVALSHA) and the raw SET NX PX bound.
    let (acq, ren, rel) = (
        script_load(port, ACQUIRE_LUA),
        script_load(port, RENEW_LUA),
        script_load(port, RELEASE_LUA),
    );
    super::redis_cli::cli(
        port,
        &[
            "HSET",
            "peer:lease",
            "holder",
            "bench",
            "token",
            "1",
            "ttl",
            "120000",
        ],
    );
    let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let n = |s: &LoadStats| requests_for(s, opts);
    let set_nx = one(redis_benchmark(
        port,
        c,
        n(&acquire),
        &["-r", "100000000"],
        &r(&[
            "SET",
            "peer:raw:__rand_int__",
            "bench",
            "NX",
            "PX",
            "120000",
        ]),
    ));
    let peer_acq = one(redis_benchmark(
        port,
        c,
        n(&acquire),
        &["-r", "100000000"],
        // One acquire per call (the script takes N; the store batches concurrent callers).
        &r(&[
            "EVALSHA",
            &acq,
            "2",
            "peer:a:__rand_int__",
            "peer:f:__rand_int__",
            "0",
            "bench",
            "120000",
            "120000",
            "-",
            "0",
        ]),
    ));
    let peer_ren = one(redis_benchmark(
        port,
        c,
        n(&renew),
        &[],
        &r(&["EVALSHA", &ren, "1", "peer:lease", "bench", "1", "120000"]),
    ));
    // The pipelined ceiling: what the server does when the client never waits (informational:
    // a multiplexed connection pipelines implicitly, so -c alone understates the bound).
    let set_nx_p16 = one(redis_benchmark(
        port,
        c,
        n(&renew) * 3,
        &["-r", "100000000", "-P", "16"],
        &r(&[
            "SET",
            "peer:raw:__rand_int__",
            "bench",
            "NX",
            "PX",
            "120000",
        ]),
    ));
    let peer_rel = one(redis_benchmark(
        port,
        c,
        n(&release),
        &[],
        &r(&["EVALSHA", &rel, "1", "peer:lease", "other", "2"]),
    ));
    // The library a Rust user would pick instead: rslock (Redlock), same tasks, same runtime.
    let rslock = rslock_peer::run(port, c, opts.secs, TTL).await;
    let rslock_name = format!("rslock 0.10 (Redlock, 1 node), {c} tasks");

    let mut f = vec![
        rate_figure(
            1,
            "lease acquire vs same script",
            &acquire,
            peer_acq,
            &format!("redis-benchmark EVALSHA -c {c}"),
            Some(0.9),
        ),
        rate_figure(
            1,
            "lease acquire vs raw SET NX PX",
            &acquire,
            set_nx.clone(),
            &format!("redis-benchmark SET NX PX -c {c}"),
            Some(0.9),
        ),
        rate_figure(
            1,
            "lease renew vs same script",
            &renew,
            peer_ren,
            &format!("redis-benchmark EVALSHA -c {c}"),
            Some(0.9),
        ),
        rate_figure(
            1,
            "lease renew vs raw SET NX PX",
            &renew,
            set_nx.clone(),
            &format!("redis-benchmark SET NX PX -c {c}"),
            Some(0.9),
        ),
        rate_figure(
            1,
            "lease release vs same script",
            &release,
            peer_rel,
            &format!("redis-benchmark EVALSHA -c {c}"),
            Some(0.9),
        ),
        rate_figure(
            1,
            "lease release vs raw SET NX PX",
            &release,
            set_nx,
            &format!("redis-benchmark SET NX PX -c {c}"),
            Some(0.9),
        ),
        rate_figure(
            1,
            "lease acquire vs rslock lock",
            &acquire,
            Ok(rslock.lock_peer(c)),
            &rslock_name,
            Some(1.0),
        ),
        rate_figure(
            1,
            "lease renew vs rslock extend",
            &renew,
            Ok(rslock.extend_peer(c)),
            &rslock_name,
            Some(1.0),
        ),
        rate_figure(
            1,
            "lease release vs rslock unlock",
            &release,
            Ok(rslock.unlock_peer(c)),
            &rslock_name,
            Some(1.0),
        ),
        rate_figure(
            1,
            "lease renew vs pipelined SET NX PX (ceiling)",
            &renew,
            set_nx_p16,
            &format!("redis-benchmark SET NX PX -c {c} -P 16"),
            None,
        ),
    ];
    f[4].note
        .push_str("; peer script takes the not-owner path (HMGET only), ours also DELs");
    // Where acquire's time goes on each side (docs/BENCHMARKS.md, "Targets not met").
    f[6].note.push_str(&format!(
        "; profile: ours {acquire_profile}; rslock {}",
        rslock.lock_profile
    ));
    f
}

async fn batch_renew(opts: &Opts, store: &RedisStore, port: u16) -> Vec<Figure> {
    let m = store.leases();
    let mut out = Vec::new();
    for n in [100usize, 1000] {
        let mut leases = Vec::with_capacity(n);
        for i in 0..n {
            leases.push(
                m.try_acquire(&format!("b{n}-{i}"), "bench", TTL)
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        // Warm the script cache so a NOSCRIPT reload is not counted against a tick.
        m.renew_many(&leases).await.unwrap();
        let (evalsha0, total0) = (command_calls(port, "evalsha"), total_commands(port));
        let start = Instant::now();
        let mut lat = Vec::new();
        let mut lost = 0;
        while start.elapsed() < opts.secs || lat.len() < 20 {
            let t0 = Instant::now();
            let renewed = m.renew_many(&leases).await.unwrap();
            lat.push(micros(t0.elapsed()));
            lost += renewed.iter().filter(|r| r.is_none()).count();
        }
        let ticks = lat.len() as f64;
        // The INFO calls themselves: one between the two counter reads is counted.
        let (evalsha1, total1) = (command_calls(port, "evalsha"), total_commands(port));
        let per_tick = (evalsha1 - evalsha0) as f64 / ticks;
        let all_per_tick = (total1 - total0).saturating_sub(2) as f64 / ticks;
        let stats = LoadStats::from_latencies(lat, 0, start.elapsed().as_secs_f64());
        out.push(Figure {
            item: 2,
            name: format!("renew_many({n}) wall time per tick"),
            unit: "ms p50".into(),
            ours: Some(stats.p50_ms),
            peer: None,
            peer_name: "— (no peer batches fenced renews)".into(),
            better: Better::Lower,
            target: None,
            command: String::new(),
            note: format!(
                "p99 {:.3} ms over {} ticks; {:.1} µs per lease; {lost} lost",
                stats.p99_ms,
                stats.ops,
                stats.p50_ms * 1000.0 / n as f64
            ),
            raw: json!({ "ours": stats, "leases": n }),
        });
        out.push(Figure {
            item: 2,
            name: format!("renew_many({n}) round trips per tick"),
            unit: "EVALSHA calls".into(),
            ours: Some(per_tick),
            peer: Some(1.0),
            peer_name: "1 (by design)".into(),
            better: Better::Lower,
            target: Some(1.0),
            command: "redis-cli INFO commandstats (cmdstat_evalsha calls before/after)".into(),
            note: format!(
                "commands per tick incl. those the script runs: {all_per_tick:.0} \
                 (1 EVALSHA + HMGET and PEXPIRE per lease)"
            ),
            raw: json!({ "evalsha_before": evalsha0, "evalsha_after": evalsha1,
                         "total_before": total0, "total_after": total1, "ticks": ticks }),
        });
    }
    out
}

fn session(i: usize) -> Session {
    Session {
        id: format!("sess-{i}"),
        token_hash: format!("s{i}"),
        user_id: "0123456789abcdef0123456789abcdef".into(),
        user_name: "alice".into(),
        device_id: format!("device-{i}"),
        device_name: "Living-room TV".into(),
        client: "Jellyfin Web".into(),
        client_version: "10.9.11".into(),
        now_playing: None,
        created_ms: 1_700_000_000_000,
        last_activity_ms: 1_700_000_000_000,
    }
}

async fn sessions(opts: &Opts, store: &RedisStore, port: u16) -> Vec<Figure> {
    const N: usize = 1000;
    let c = opts.redis_clients;
    let s: Arc<dyn SessionStore> = Arc::new(store.sessions());
    for i in 0..N {
        s.put(&session(i), TTL).await.unwrap();
    }
    let size = serde_json::to_string(&session(0)).unwrap().len();
    let ss = s.clone();
    let get = closed_loop(c, opts.secs, move |task, seq| {
        let s = ss.clone();
        async move {
            let i = (task * 7919 + seq as usize) % N;
            s.get(&format!("s{i}")).await.map(|v| v.is_some())
        }
    })
    .await;
    let ss = s.clone();
    let touch = closed_loop(c, opts.secs, move |task, seq| {
        let s = ss.clone();
        async move {
            let i = (task * 7919 + seq as usize) % N;
            s.touch(&format!("s{i}"), TTL).await
        }
    })
    .await;
    let requests = requests_for(&get, opts).max(requests_for(&touch, opts));
    let rows = redis_benchmark(
        port,
        c,
        requests,
        &[
            "-r",
            &N.to_string(),
            "-d",
            &size.to_string(),
            "-t",
            "set,get",
        ],
        &[],
    );
    let pick = |name: &str| -> Result<PeerStats, String> {
        rows.clone()?
            .into_iter()
            .find(|(t, _)| t == name)
            .map(|(_, p)| p)
            .ok_or_else(|| format!("no {name} row"))
    };
    let mut f = vec![
        rate_figure(
            3,
            "session get vs GET",
            &get,
            pick("GET"),
            &format!("redis-benchmark GET -c {c} -d {size}"),
            Some(0.9),
        ),
        rate_figure(
            3,
            "session touch vs SET",
            &touch,
            pick("SET"),
            &format!("redis-benchmark SET -c {c} -d {size}"),
            Some(0.9),
        ),
    ];
    f[0].note.push_str("; ours is HMGET + JSON decode");
    f[1].note
        .push_str("; ours is EVALSHA (EXISTS, TIME, HSET, PEXPIRE)");
    f
}
