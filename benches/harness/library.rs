//! Library scale (issue 19, item 4): a generated library of 50,000 items and 200 users, on the
//! single-node store (`MemoryMetadataRepo` with its journal) and on PostgreSQL, and what the
//! listings a client opens cost at that size.
//!
//! The library is what a home server holds: 20,000 films in one folder, and 300 series of 5
//! seasons of 20 episodes (30,000 episodes, 1,800 folders). Each user has played 200 items,
//! has 20 started and 30 favourites. Items are written through the `MetadataRepo` (no
//! probing: scanning cost is per file and measured elsewhere); the listings are the ones a
//! client sends, each a page of 100 unless said:
//!
//! | row | Jellyfin request |
//! |---|---|
//! | films by name | `/Items?ParentId=<films>&SortBy=SortName&StartIndex=<random>&Limit=100` |
//! | episodes, newest | `/Items?ParentId=<shows>&Recursive=true&IncludeItemTypes=Episode&SortBy=DateCreated&SortOrder=Descending` |
//! | unplayed videos | `/Items?Recursive=true&IncludeItemTypes=Movie,Episode&IsPlayed=false&SortBy=SortName` |
//! | search | `/Items?Recursive=true&SearchTerm=<word>` |
//! | resume row | `/UserItems/Resume?Limit=12` |
//!
//! Each is run one at a time (a single client, so the figure is the query's own latency, not
//! queueing) for the phase's duration, with a random user and page each call. No peer: the
//! target (p99 ≤ 50 ms) is absolute. The PostgreSQL plans of one call of each, with
//! `auto_explain` (ANALYZE), are written to `library-plans.md` beside RESULTS.md.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ha_core::memory::MemoryMetadataRepo;
use ha_core::{Item, ItemKind, ItemQuery, ItemSort, MetadataRepo, User, UserFilter, UserItemData};
use ha_store_pg::{PgStore, PgStoreConfig};
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::load::LoadStats;
use crate::report::{Better, Figure};
use crate::Opts;

const FILMS: usize = 20_000;
const SERIES: usize = 300;
const SEASONS: usize = 5;
const EPISODES: usize = 20;
const USERS: usize = 200;
const PLAYED: usize = 200;
const STARTED: usize = 20;
const FAVOURITES: usize = 30;
const PAGE: u32 = 100;
/// The issue's target for a 50,000-item list page.
const TARGET_P99_MS: f64 = 50.0;
/// Concurrent writers while seeding (the figure is not the seeding).
const SEED_TASKS: usize = 16;

/// The generated library: every item, and where the films and the shows are.
struct Library {
    items: Vec<Item>,
    films: String,
    film_count: usize,
    shows: String,
    users: Vec<String>,
}

fn item(id: String, parent: Option<&str>, kind: ItemKind, name: String, added: u64) -> Item {
    let folder = kind.is_folder();
    Item {
        path: format!("/media/{id}{}", if folder { "" } else { ".mkv" }),
        id,
        parent_id: parent.map(String::from),
        kind,
        name,
        date_added_ms: added,
        size_bytes: (!folder).then_some(1 << 30),
        runtime_ticks: (!folder).then_some(72_000_000_000),
        container: (!folder).then(|| "mkv".into()),
        probe_json: (!folder).then(|| {
            r#"{"streams":[{"codec":"h264","width":1920,"height":1080},{"codec":"aac"}]}"#.into()
        }),
        images: Vec::new(),
    }
}

/// A 32-hex-digit id, as the scanner makes (deterministic here).
fn hex_id(n: usize, tag: u8) -> String {
    format!("{tag:02x}{n:030x}")
}

fn library(scale: usize) -> Library {
    let films_root = hex_id(0, 0xf0);
    let shows_root = hex_id(1, 0xf0);
    let mut items = vec![
        item(
            films_root.clone(),
            None,
            ItemKind::CollectionFolder,
            "Films".into(),
            1,
        ),
        item(
            shows_root.clone(),
            None,
            ItemKind::CollectionFolder,
            "Shows".into(),
            1,
        ),
    ];
    let words = [
        "Red", "Blue", "Night", "River", "Storm", "Glass", "Iron", "Summer",
    ];
    for n in 0..FILMS / scale {
        let name = format!("{} {} {n}", words[n % 8], words[(n / 8) % 8]);
        let added = 1_600_000_000_000 + (n as u64 * 7_919) % 100_000_000;
        items.push(item(
            hex_id(n, 1),
            Some(&films_root),
            ItemKind::Movie,
            name,
            added,
        ));
    }
    let mut episode = 0;
    for s in 0..(SERIES / scale).max(1) {
        let series = hex_id(s, 2);
        items.push(item(
            series.clone(),
            Some(&shows_root),
            ItemKind::Folder,
            format!("Show {s}"),
            2,
        ));
        for season in 0..SEASONS {
            let season_id = hex_id(s * SEASONS + season, 3);
            items.push(item(
                season_id.clone(),
                Some(&series),
                ItemKind::Folder,
                format!("Season {}", season + 1),
                2,
            ));
            for e in 0..EPISODES {
                let added = 1_600_000_000_000 + (episode as u64 * 104_729) % 100_000_000;
                items.push(item(
                    hex_id(episode, 4),
                    Some(&season_id),
                    ItemKind::Episode,
                    format!("Show {s} S{:02}E{:02}", season + 1, e + 1),
                    added,
                ));
                episode += 1;
            }
        }
    }
    let users = (0..USERS).map(|u| hex_id(u, 5)).collect();
    Library {
        items,
        films: films_root,
        film_count: FILMS / scale,
        shows: shows_root,
        users,
    }
}

/// Writes `lib` through `repo` with a few concurrent writers; returns the seconds it took.
async fn seed(repo: Arc<dyn MetadataRepo>, lib: &Library) -> f64 {
    let start = Instant::now();
    for (n, id) in lib.users.iter().enumerate() {
        repo.create_user(&User {
            id: id.clone(),
            name: format!("user{n}"),
            password_hash: "not-a-real-hash".into(),
            is_admin: false,
            created_ms: 1_700_000_000_000,
        })
        .await
        .expect("create user");
    }
    // Parents first: folders, then the rest.
    let (folders, media): (Vec<&Item>, Vec<&Item>) =
        lib.items.iter().partition(|i| i.kind.is_folder());
    for batch in [folders, media] {
        write_all(
            &repo,
            batch.into_iter().cloned().collect(),
            |repo, item| async move { repo.upsert_item(&item).await.expect("upsert item") },
        )
        .await;
    }
    let playable: Vec<&Item> = lib.items.iter().filter(|i| !i.kind.is_folder()).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(19);
    let mut marks = Vec::new();
    for user in &lib.users {
        for n in 0..PLAYED + STARTED + FAVOURITES {
            let item = playable[rng.gen_range(0..playable.len())];
            let mut data = UserItemData::empty(user, &item.id);
            data.last_played_ms = Some(1_700_000_000_000 + rng.gen_range(0..1_000_000_000));
            match n {
                n if n < PLAYED => {
                    data.played = true;
                    data.play_count = 1;
                }
                n if n < PLAYED + STARTED => data.position_ticks = 12_000_000_000,
                _ => {
                    data.is_favorite = true;
                    data.last_played_ms = None;
                }
            }
            marks.push(data);
        }
    }
    write_all(&repo, marks, |repo, data| async move {
        repo.put_user_data(&data).await.expect("put user data")
    })
    .await;
    start.elapsed().as_secs_f64()
}

/// Runs `write` over `values` on [`SEED_TASKS`] tasks.
async fn write_all<T, F, Fut>(repo: &Arc<dyn MetadataRepo>, values: Vec<T>, write: F)
where
    T: Send + 'static,
    F: Fn(Arc<dyn MetadataRepo>, T) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let queue = Arc::new(std::sync::Mutex::new(values));
    let tasks: Vec<_> = (0..SEED_TASKS)
        .map(|_| {
            let (repo, queue) = (repo.clone(), queue.clone());
            tokio::spawn(async move {
                loop {
                    let next = queue.lock().expect("queue").pop();
                    match next {
                        Some(value) => write(repo.clone(), value).await,
                        None => break,
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("seed task");
    }
}

/// Builds one call's query from the run's random numbers.
type Listing<'a> = Box<dyn Fn(&mut rand::rngs::StdRng) -> ItemQuery + 'a>;

/// The listings measured, each built for a random user (and page) per call.
fn listings(lib: &Library) -> Vec<(&'static str, Listing<'_>)> {
    let user = |rng: &mut rand::rngs::StdRng| lib.users[rng.gen_range(0..lib.users.len())].clone();
    let films = (lib.film_count as u32).div_ceil(PAGE);
    vec![
        (
            "films by name, page of 100",
            Box::new(move |rng| ItemQuery {
                parent_id: Some(lib.films.clone()),
                start_index: rng.gen_range(0..films.max(1)) * PAGE,
                limit: Some(PAGE),
                ..ItemQuery::default()
            }),
        ),
        (
            "episodes (recursive), newest first",
            Box::new(move |_| ItemQuery {
                parent_id: Some(lib.shows.clone()),
                recursive: true,
                kinds: vec![ItemKind::Episode],
                sort: ItemSort::DateAdded,
                descending: true,
                limit: Some(PAGE),
                ..ItemQuery::default()
            }),
        ),
        (
            "unplayed films and episodes by name",
            Box::new(move |rng| ItemQuery {
                recursive: true,
                kinds: vec![ItemKind::Movie, ItemKind::Episode],
                user: Some(UserFilter {
                    played: Some(false),
                    ..UserFilter::new(user(rng))
                }),
                limit: Some(PAGE),
                ..ItemQuery::default()
            }),
        ),
        (
            "search by name",
            Box::new(move |rng| ItemQuery {
                recursive: true,
                search_term: Some(
                    ["storm", "e07", "glass iron", "show 12"][rng.gen_range(0..4)].into(),
                ),
                limit: Some(PAGE),
                ..ItemQuery::default()
            }),
        ),
        (
            "resume row (12, most recent first)",
            Box::new(move |rng| ItemQuery {
                recursive: true,
                kinds: vec![
                    ItemKind::Movie,
                    ItemKind::Video,
                    ItemKind::Episode,
                    ItemKind::Audio,
                ],
                user: Some(UserFilter {
                    resumable: Some(true),
                    ..UserFilter::new(user(rng))
                }),
                sort: ItemSort::DatePlayed,
                descending: true,
                limit: Some(12),
                ..ItemQuery::default()
            }),
        ),
    ]
}

/// One listing, called back to back for `secs`.
async fn measure(
    repo: &Arc<dyn MetadataRepo>,
    query: &dyn Fn(&mut rand::rngs::StdRng) -> ItemQuery,
    secs: Duration,
) -> (LoadStats, u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let (mut lat_us, mut errors, mut total) = (Vec::new(), 0, 0);
    let start = Instant::now();
    while start.elapsed() < secs {
        let q = query(&mut rng);
        let t = Instant::now();
        match repo.query_items(&q).await {
            Ok(page) => {
                lat_us.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                total = page.total;
            }
            Err(e) => {
                eprintln!("[harness] listing failed: {e}");
                errors += 1;
            }
        }
    }
    (
        LoadStats::from_latencies(lat_us, errors, start.elapsed().as_secs_f64()),
        total,
    )
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Every listing on `repo`, as rows named after `store`.
async fn rows(
    store: &str,
    repo: &Arc<dyn MetadataRepo>,
    lib: &Library,
    opts: &Opts,
    seed_s: f64,
    extra: &str,
) -> Vec<Figure> {
    let mut out = Vec::new();
    for (name, query) in listings(lib) {
        let (stats, total) = measure(repo, query.as_ref(), opts.secs).await;
        out.push(Figure {
            item: 9,
            name: format!("{} items, {store}: {name}", lib.items.len()),
            unit: "ms p99".into(),
            ours: Some(stats.p99_ms),
            peer: Some(TARGET_P99_MS),
            peer_name: "issue 19 target (p99 ≤ 50 ms)".into(),
            better: Better::Lower,
            target: Some(1.0),
            command: String::new(),
            note: format!(
                "p50 {:.2} ms over {} calls, 1 client, {} errors; {total} matches (last call); \
                 seeding {seed_s:.0} s{extra}",
                stats.p50_ms, stats.ops, stats.errors
            ),
            raw: json!({ "stats": stats, "matches": total, "seed_s": seed_s }),
        });
    }
    out
}

/// Runs the library section.
pub async fn run(opts: &Opts) -> Vec<Figure> {
    let scale = if opts.quick { 10 } else { 1 };
    let lib = library(scale);
    let mut figures = Vec::new();

    let dir = tempfile::tempdir().expect("temp dir");
    let rss0 = rss_bytes();
    let single: Arc<dyn MetadataRepo> =
        Arc::new(MemoryMetadataRepo::open(dir.path()).expect("single-node store"));
    let seed_s = seed(single.clone(), &lib).await;
    let per_1000 = (rss_bytes().saturating_sub(rss0)) as f64 / lib.items.len() as f64 * 1000.0
        / (1 << 20) as f64;
    let extra = format!("; RSS +{per_1000:.2} MiB per 1,000 items (with the users' marks)");
    figures.extend(rows("single-node store", &single, &lib, opts, seed_s, &extra).await);
    drop(single);

    let server = ha_testkit::PostgresServer::start().await;
    let config = PgStoreConfig::from_url(&server.url())
        .expect("pg url")
        .with_pool_size(4);
    let store = PgStore::connect(config.clone())
        .await
        .expect("connect + migrate");
    let pg: Arc<dyn MetadataRepo> = Arc::new(store.metadata());
    let seed_s = seed(pg.clone(), &lib).await;
    analyze(&server.url()).await;
    figures.extend(rows("PostgreSQL", &pg, &lib, opts, seed_s, "").await);
    plans(&server, config, &lib, &opts.out).await;
    figures
}

/// Fresh planner statistics after the bulk load (autovacuum would get there, later).
async fn analyze(url: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client.batch_execute("ANALYZE").await.expect("ANALYZE");
}

/// One call of each listing with `auto_explain` on, its plans copied from the server log into
/// `<out>/library-plans.md`.
async fn plans(
    server: &ha_testkit::PostgresServer,
    config: PgStoreConfig,
    lib: &Library,
    out: &Path,
) {
    let (client, conn) = tokio_postgres::connect(&server.url(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    // One statement per call: ALTER SYSTEM refuses to run in a multi-statement batch.
    // LOAD first: ALTER SYSTEM checks a module's parameters only once the module is loaded.
    for statement in [
        "LOAD 'auto_explain'",
        "ALTER SYSTEM SET session_preload_libraries = 'auto_explain'",
        "ALTER SYSTEM SET auto_explain.log_min_duration = 0",
        "ALTER SYSTEM SET auto_explain.log_analyze = on",
        "ALTER SYSTEM SET auto_explain.log_buffers = on",
        "SELECT pg_reload_conf()",
    ] {
        client
            .batch_execute(statement)
            .await
            .expect("auto_explain on");
    }
    let log = server.log_path();
    let before = std::fs::metadata(&log).map_or(0, |m| m.len());
    // New connections load auto_explain.
    let store = PgStore::connect(config.with_pool_size(1))
        .await
        .expect("connect");
    let repo = store.metadata();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut text = String::from(
        "# PostgreSQL plans of the library-scale listings\n\n\
         Written by `scripts/bench.sh --only library` (benches/harness/library.rs): one call of \
         each listing on the generated library, through `ha-store-pg`, with `auto_explain` \
         (ANALYZE, BUFFERS) on a private server.\n",
    );
    for (name, query) in listings(lib) {
        let start = std::fs::metadata(&log).map_or(before, |m| m.len());
        repo.query_items(&query(&mut rng)).await.expect("listing");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let logged = std::fs::read(&log).unwrap_or_default();
        let new = String::from_utf8_lossy(&logged[start as usize..]);
        let plan: String = new
            .lines()
            .skip_while(|l| !l.contains("plan:"))
            .collect::<Vec<_>>()
            .join("\n");
        text.push_str(&format!("\n## {name}\n\n```\n{}\n```\n", plan.trim()));
    }
    // `--out` may name a directory that the report has not created yet.
    std::fs::create_dir_all(out).expect("create the output directory");
    std::fs::write(out.join("library-plans.md"), text).expect("write library-plans.md");
}
