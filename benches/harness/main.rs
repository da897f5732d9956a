//! The side-by-side harness (issue 9): our building blocks against the tool a skeptic would
//! compare them with, on the same machine, in the same run, at the same concurrency.
//!
//! Run it through `scripts/bench.sh [--quick]`, which builds what it needs in release mode;
//! directly: `cargo bench --features full --bench compare -- [--quick] [--only
//! redis,pg,transcode,viewers,failover,player,api,rss,library,web] [--failover-runs N] [--out DIR]`.
//! Writes `RESULTS.md` and `results.json` into `--out` (default `benches/`).
//!
//! | module | what |
//! |---|---|
//! | [`load`] | closed-loop driver: C tasks, fixed duration, exact p50/p99 |
//! | [`peers`] | runs `redis-benchmark` / `pgbench` and parses their output |
//! | [`redis`] | items 1–3: leases, batch renew, sessions on Redis |
//! | [`pg`] | item 4: user-data upsert and item page on Postgres |
//! | [`transcode`] | item 5: worker vs ffmpeg CLI; item 6: N viewers of one rendition |
//! | [`failover`] | item 7: stall when the job owner is SIGKILLed / SIGTERMed mid-stream |
//! | [`player`] | item 7 with a real player: hls.js in chromium through HAProxy, stalls, errors, non-2xx |
//! | [`merge`] | a partial run (`--only`) keeps the rows it did not measure |
//! | [`server`] | items 7–8: the reference server under wrk (`api`), RSS per idle session (`rss`); item 10 (issue 15): posters and `/socket` fan-out (`web`) |
//! | [`library`] | item 9 (issue 19): listings on a generated 50,000-item library, both stores |
//! | [`report`] | `RESULTS.md` / `results.json` |
//!
//! Why one Rust binary that shells out to the peers: both sides are timed by the same clock in
//! the same process, run back to back (never overlapping), and land in one table.

// A bench target: docs are for readers of the code, not an API.
#![allow(missing_docs)]

mod cpu;
mod failover;
mod library;
mod load;
mod merge;
mod peers;
mod pg;
mod player;
mod redis;
mod redis_cli;
mod report;
mod rslock_peer;
mod server;
mod transcode;
mod viewers;

use std::path::PathBuf;
use std::time::Duration;

use report::{Figure, RunInfo};

/// Harness options.
#[derive(Debug, Clone)]
pub struct Opts {
    /// `--quick`: a few seconds per figure.
    pub quick: bool,
    /// Duration of each timed phase.
    pub secs: Duration,
    /// Clients on both sides of the Redis figures (`redis-benchmark -c`).
    pub redis_clients: usize,
    /// Clients on both sides of the Postgres figures (`pgbench -c`).
    pub pg_clients: usize,
    /// Length of the generated transcode clip in seconds.
    pub clip_secs: u32,
    /// Repetitions of each transcode run (interleaved ours/peer).
    pub transcode_runs: usize,
    /// Rounds of (ours, peer) pairs where a figure takes the median round (Postgres).
    pub rounds: usize,
    /// Viewer counts for item 6.
    pub viewers: Vec<usize>,
    /// Runs of each failover scenario (SIGKILL, SIGTERM); the figures are their median and max.
    pub failover_runs: usize,
    /// Sections to run.
    pub only: Vec<String>,
    /// Where RESULTS.md and results.json go.
    pub out: PathBuf,
}

impl Opts {
    fn parse() -> Self {
        let mut args = std::env::args().skip(1);
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut quick = false;
        let mut only = ALL_SECTIONS
            .iter()
            .copied()
            .map(String::from)
            .collect::<Vec<_>>();
        let mut out = root.join("benches");
        let mut failover_runs = None;
        while let Some(a) = args.next() {
            match a.as_str() {
                "--quick" => quick = true,
                "--only" => {
                    only = args
                        .next()
                        .expect("--only needs a list")
                        .split(',')
                        .map(String::from)
                        .collect()
                }
                "--out" => out = PathBuf::from(args.next().expect("--out needs a directory")),
                "--failover-runs" => {
                    failover_runs = args.next().and_then(|n| n.parse().ok());
                    assert!(failover_runs.is_some(), "--failover-runs needs a number");
                }
                // cargo bench passes --bench to harness = false targets.
                "--bench" => {}
                other => panic!(
                    "unknown argument {other:?} (use --quick, --only LIST, --failover-runs N, \
                     --out DIR)"
                ),
            }
        }
        Self {
            quick,
            secs: Duration::from_secs(if quick { 2 } else { 10 }),
            redis_clients: 50,
            pg_clients: 16,
            clip_secs: if quick { 12 } else { 30 },
            transcode_runs: if quick { 1 } else { 3 },
            rounds: if quick { 1 } else { 3 },
            viewers: vec![1, 2, 4],
            failover_runs: failover_runs.unwrap_or(if quick { 2 } else { 5 }),
            only,
            out,
        }
    }

    pub fn wants(&self, section: &str) -> bool {
        self.only.iter().any(|s| s == section)
    }

    /// True when `--only` left a section out: RESULTS.md then keeps that section's old rows.
    pub fn partial(&self) -> bool {
        !ALL_SECTIONS.iter().all(|s| self.wants(s))
    }
}

/// Every section, in run order (`--only` picks some).
const ALL_SECTIONS: &[&str] = &[
    "redis",
    "pg",
    "transcode",
    "viewers",
    "failover",
    "player",
    "api",
    "rss",
    "library",
    "web",
];

fn runtime(threads: Option<usize>) -> tokio::runtime::Runtime {
    match threads {
        None => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    }
    .enable_all()
    .build()
    .expect("tokio runtime")
}

fn main() {
    let opts = Opts::parse();
    let started = std::time::Instant::now();
    let mut figures = Vec::new();
    if opts.wants("redis") {
        eprintln!("[harness] items 1-3: Redis");
        figures.extend(runtime(None).block_on(redis::run(&opts)));
    }
    if opts.wants("pg") {
        eprintln!("[harness] item 4: Postgres");
        figures.extend(runtime(Some(2)).block_on(pg::run(&opts)));
    }
    if opts.wants("transcode") || opts.wants("viewers") {
        eprintln!("[harness] items 5-6: transcode");
        figures.extend(runtime(Some(2)).block_on(transcode::run(&opts)));
    }
    if opts.wants("failover") {
        eprintln!("[harness] item 7: failover stall");
        figures.extend(runtime(Some(2)).block_on(failover::run(&opts)));
    }
    if opts.wants("player") {
        eprintln!("[harness] item 7: failover with a real player");
        figures.extend(runtime(Some(2)).block_on(player::run(&opts)));
    }
    if opts.wants("api") || opts.wants("rss") || opts.wants("web") {
        figures.extend(server::run(&opts));
    }
    if opts.wants("library") {
        eprintln!("[harness] item 9: library scale (issue 19)");
        figures.extend(runtime(Some(2)).block_on(library::run(&opts)));
    }

    // A partial run keeps the rows it did not measure, each saying which run it comes from.
    let kept = if opts.partial() {
        merge::keep_earlier(&opts.out, &mut figures)
    } else {
        String::new()
    };
    let info = RunInfo {
        command: std::iter::once("scripts/bench.sh".to_owned())
            .chain(std::env::args().skip(1).filter(|a| a != "--bench"))
            .collect::<Vec<_>>()
            .join(" "),
        date: command_out("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        machine: format!(
            "{} cores, {}, load average before the run {}, {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            command_out("uname", &["-sr"]),
            std::fs::read_to_string("/proc/loadavg")
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
            autogroup()
        ),
        mode: if opts.quick { "quick" } else { "full" }.into(),
        caveat: format!(
            "The machine is shared with other builds and test suites, so absolute numbers are \
             noisy; read the ratios. Whole run took {:.0} s.{kept}",
            started.elapsed().as_secs_f64()
        ),
        discussion: missed(&figures),
    };
    std::fs::create_dir_all(&opts.out).expect("output directory");
    report::write(&opts.out, &figures, &info).expect("write results");
    eprintln!(
        "[harness] wrote {} and results.json",
        opts.out.join("RESULTS.md").display()
    );
}

fn missed(figures: &[Figure]) -> String {
    let names: Vec<String> = figures
        .iter()
        .filter(|f| f.verdict() == "MISSED")
        .map(|f| {
            format!(
                "- {} (item {}): {:.2}× against a target of {}×",
                f.name,
                f.item,
                f.ratio().unwrap_or(0.0),
                f.target.unwrap_or(0.0)
            )
        })
        .collect();
    if names.is_empty() {
        return String::new();
    }
    format!(
        "{}\n\nWhy, and what would close each gap: `docs/BENCHMARKS.md` (\"Targets not met\").",
        names.join("\n")
    )
}

fn command_out(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// Whether the kernel's autogroup scheduling was on during the run (scripts/bench.sh turns it
/// off: with it on, PostgreSQL's backends, each a session of its own, starve beside the
/// replicas; docs/BENCHMARKS.md, "Autogroup").
fn autogroup() -> &'static str {
    match std::fs::read_to_string("/proc/sys/kernel/sched_autogroup_enabled")
        .map(|v| v.trim().to_owned())
        .as_deref()
    {
        Ok("0") => "autogroup scheduling off",
        Ok("1") => "autogroup scheduling ON (PostgreSQL backends may starve: docs/BENCHMARKS.md)",
        _ => "no autogroup scheduling",
    }
}
