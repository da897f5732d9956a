//! Item 4: `PgMetadataRepo` user-data upsert and item-page query against `pgbench` running the
//! same SQL on the same tables (a private Postgres from ha-testkit, migrated by our store).
//!
//! Rounds: `opts.rounds` pairs of (ours, pgbench) back to back; each figure keeps the median
//! round and lists every round's ratio, with both sides' client CPU seconds.
//!
//! Both sides: 16 clients, 2 client threads (`pgbench -c 16 -j 2`; ours: 16 tasks on a 2-worker
//! runtime over a 16-connection pool). pgbench runs `-M prepared`, the fastest protocol a
//! client can use, so it is the bar, not a straw man. The SQL in the scripts is copied from
//! `ha-store-pg/src/metadata/{user_data,items}.rs`; if those change, change these. Our store
//! sends concurrent upserts as one `unnest` statement (`metadata/user_data_batch.rs`, the group
//! commit issue 19 asks for), so the upsert row compares a client that groups the writes of
//! its 16 callers with one that does not, on the same rows and the same server.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ha_core::{Item, ItemKind, ItemQuery, ItemSort, MetadataRepo, User, UserItemData};
use ha_store_pg::{PgStore, PgStoreConfig};
use serde_json::json;

use crate::cpu::{children_cpu_secs, self_cpu_secs};
use crate::load::{closed_loop, LoadStats};
use crate::peers::{pgbench, PeerStats};
use crate::report::{Better, Figure};
use crate::Opts;

const ITEMS: usize = 1000;
const PAGE: u32 = 100;
const SCHEMA: &str = "bench";
const USER: &str = "0123456789abcdef0123456789abcdef";

const UPSERT_SQL: &str = "\\set i random(0, 999)
\\set pos random(0, 72000000000)
INSERT INTO user_item_data (user_id, item_id, played, play_count, position_ticks, last_played_ms, is_favorite) \
VALUES ('0123456789abcdef0123456789abcdef', 'item-' || :i::text, false, 1, :pos, 1700000000000, false) \
ON CONFLICT (user_id, item_id) DO UPDATE SET played = EXCLUDED.played, play_count = EXCLUDED.play_count, \
position_ticks = EXCLUDED.position_ticks, last_played_ms = EXCLUDED.last_played_ms, is_favorite = EXCLUDED.is_favorite;
";

const PAGE_SQL: &str = "\\set page random(0, 8)
SELECT items.id, items.parent_id, items.path, items.kind, items.name, items.date_added_ms, \
items.size_bytes, items.runtime_ticks, items.container, items.probe_json, items.images, count(*) OVER () AS total \
FROM items WHERE items.parent_id = 'lib' ORDER BY items.name_key ASC, items.id ASC \
OFFSET :page * 100 LIMIT 100;
";

async fn seed(repo: &dyn MetadataRepo) {
    repo.create_user(&User {
        id: USER.into(),
        name: "bench".into(),
        password_hash: "not-a-real-hash".into(),
        is_admin: false,
        created_ms: 1_700_000_000_000,
    })
    .await
    .expect("create user");
    let item = |id: String, parent: Option<&str>, kind, name: String| Item {
        path: format!("/media/{id}.mkv"),
        id,
        parent_id: parent.map(String::from),
        kind,
        name,
        date_added_ms: 1_700_000_000_000,
        size_bytes: Some(1 << 30),
        runtime_ticks: Some(72_000_000_000),
        container: Some("mkv".into()),
        probe_json: Some(r#"{"streams":[{"codec":"h264"},{"codec":"aac"}]}"#.into()),
        images: Vec::new(),
    };
    repo.upsert_item(&item(
        "lib".into(),
        None,
        ItemKind::CollectionFolder,
        "Movies".into(),
    ))
    .await
    .expect("library");
    for i in 0..ITEMS {
        repo.upsert_item(&item(
            format!("item-{i}"),
            Some("lib"),
            ItemKind::Movie,
            format!("Movie {i:04}"),
        ))
        .await
        .expect("item");
    }
}

/// One round: our phase then the peer's, with each side's client CPU seconds.
#[derive(Debug, Clone, serde::Serialize)]
struct Round {
    ours: LoadStats,
    ours_cpu_s: f64,
    peer: Option<PeerStats>,
    peer_cpu_s: f64,
}

impl Round {
    fn ratio(&self) -> f64 {
        self.peer
            .as_ref()
            .map_or(0.0, |p| self.ours.ops_per_sec / p.ops_per_sec.max(1e-9))
    }
}

/// The figure from the round with the median ratio; every round's ratio goes in the note.
fn figure(
    name: &str,
    mut rounds: Vec<Round>,
    error: Option<String>,
    target: f64,
    peer_name: String,
) -> Figure {
    let ratios: Vec<String> = rounds.iter().map(|r| format!("{:.2}", r.ratio())).collect();
    let all = rounds.clone();
    rounds.sort_by(|a, b| a.ratio().total_cmp(&b.ratio()));
    let mid = rounds.swap_remove(rounds.len() / 2);
    let note = match (&mid.peer, error) {
        (Some(p), _) => format!(
            "median of {} rounds (ratios {}); ours p50/p99 {:.2}/{:.2} ms, pgbench avg {} ms; \
             client CPU s ours {:.1} / pgbench {:.1}",
            ratios.len(),
            ratios.join(", "),
            mid.ours.p50_ms,
            mid.ours.p99_ms,
            p.avg_ms.map_or("—".into(), |v| format!("{v:.2}")),
            mid.ours_cpu_s,
            mid.peer_cpu_s,
        ),
        (None, e) => format!("peer failed: {}", e.unwrap_or_default()),
    };
    Figure {
        item: 4,
        name: name.into(),
        unit: "ops/s".into(),
        ours: Some(mid.ours.ops_per_sec),
        peer: mid.peer.as_ref().map(|p| p.ops_per_sec),
        peer_name,
        better: Better::Higher,
        target: Some(target),
        command: mid
            .peer
            .as_ref()
            .map_or(String::new(), |p| p.command.clone()),
        note,
        raw: json!({ "rounds": all }),
    }
}

fn script(dir: &Path, name: &str, sql: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, sql).expect("write pgbench script");
    p
}

/// Runs item 4.
pub async fn run(opts: &Opts) -> Vec<Figure> {
    let server = ha_testkit::PostgresServer::start().await;
    let url = server.url();
    let c = opts.pg_clients;
    let config = PgStoreConfig::from_url(&url)
        .expect("pg url")
        .with_schema(SCHEMA)
        .with_pool_size(c);
    let store = PgStore::connect(config).await.expect("connect + migrate");
    let repo: Arc<dyn MetadataRepo> = Arc::new(store.metadata());
    seed(repo.as_ref()).await;

    let dir = tempfile::tempdir().expect("temp dir");
    let secs = opts.secs.as_secs().max(1);
    let upsert_sql = script(dir.path(), "upsert.sql", UPSERT_SQL);
    let page_sql = script(dir.path(), "page.sql", PAGE_SQL);
    let (mut upserts, mut pages, mut error) = (Vec::new(), Vec::new(), None);
    // Several short rounds, ours and pgbench back to back in each: on a shared machine a burst
    // of someone else's load then hits both sides of one round, and the median round is kept.
    for _ in 0..opts.rounds {
        for (sql, rounds, page) in [
            (&upsert_sql, &mut upserts, false),
            (&page_sql, &mut pages, true),
        ] {
            let cpu0 = self_cpu_secs();
            let ours = if page {
                page_load(repo.clone(), c, opts.secs).await
            } else {
                upsert_load(repo.clone(), c, opts.secs).await
            };
            let ours_cpu_s = self_cpu_secs() - cpu0;
            let cpu0 = children_cpu_secs();
            let peer = pgbench(&url, sql, c, secs, SCHEMA)
                .map_err(|e| eprintln!("[harness] pgbench failed: {e}"))
                .ok();
            if peer.is_none() {
                error = Some("see the harness log".to_owned());
            }
            rounds.push(Round {
                ours,
                ours_cpu_s,
                peer,
                peer_cpu_s: children_cpu_secs() - cpu0,
            });
        }
    }
    drop(server);
    vec![
        figure(
            "user-data upsert (put_user_data)",
            upserts,
            error.clone(),
            // Issue 19's target; ours groups concurrent upserts (`user_data_batch`), pgbench
            // is a client that does not.
            0.9,
            format!(
                "pgbench -M prepared -c {c} -j 2, same SQL one row per statement (ours: \
                 concurrent upserts as one unnest statement of ≤ 16 rows)"
            ),
        ),
        figure(
            "item page of 100 (query_items)",
            pages,
            error,
            0.8,
            format!("pgbench -M prepared -c {c} -j 2, same SQL"),
        ),
    ]
}

async fn upsert_load(repo: Arc<dyn MetadataRepo>, c: usize, secs: Duration) -> LoadStats {
    closed_loop(c, secs, move |task, seq| {
        let r = repo.clone();
        async move {
            let i = (task * 7919 + seq as usize) % ITEMS;
            r.put_user_data(&UserItemData {
                user_id: USER.into(),
                item_id: format!("item-{i}"),
                played: false,
                play_count: 1,
                position_ticks: (seq as i64 * 10_000_000) % 72_000_000_000,
                last_played_ms: Some(1_700_000_000_000),
                is_favorite: false,
            })
            .await
            .map(|()| true)
        }
    })
    .await
}

async fn page_load(repo: Arc<dyn MetadataRepo>, c: usize, secs: Duration) -> LoadStats {
    closed_loop(c, secs, move |task, seq| {
        let r = repo.clone();
        async move {
            let query = ItemQuery {
                parent_id: Some("lib".into()),
                recursive: false,
                kinds: Vec::new(),
                search_term: None,
                user: None,
                sort: ItemSort::Name,
                descending: false,
                start_index: ((task + seq as usize) % 9) as u32 * PAGE,
                limit: Some(PAGE),
            };
            r.query_items(&query)
                .await
                .map(|p| p.items.len() == PAGE as usize)
        }
    })
    .await
}
