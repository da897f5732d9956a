//! PostgreSQL costs of the hot metadata and session paths: a user-data upsert (every progress
//! report a client sends), one page of an item listing (every library view), a session touch
//! (every authenticated request), and the upsert under 16 concurrent tasks (throughput).
//!
//! Needs a PostgreSQL: `HA_TEST_DATABASE_URL` if set, otherwise a private server started for the
//! run (ha-testkit). Everything goes into a fresh schema. Run with
//! `cargo bench --features postgres --bench pg_metadata`.

// criterion_group! expands to an undocumented pub fn.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ha_core::{
    ids, Item, ItemKind, ItemQuery, MetadataRepo, Session, SessionStore, User, UserItemData,
};

use ha_test_support::pg_bench::{connect, Db};

const ITEMS: u64 = 2_000;
const PAGE: u32 = 100;

/// A user and a library of `ITEMS` films in one folder.
fn catalogue(db: &Db) -> (User, Item, Vec<Item>) {
    db.rt.block_on(async {
        let repo = db.store.metadata();
        let user = User {
            id: ids::new_id(),
            name: "bench".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            is_admin: false,
            created_ms: 0,
        };
        repo.create_user(&user).await.expect("user");
        let library = item(None, "/bench", 0);
        repo.upsert_item(&library).await.expect("library");
        let mut items = Vec::new();
        for i in 0..ITEMS {
            let it = item(Some(&library), &format!("/bench/film {i:05}.mkv"), i);
            repo.upsert_item(&it).await.expect("item");
            items.push(it);
        }
        (user, library, items)
    })
}

fn item(parent: Option<&Item>, path: &str, i: u64) -> Item {
    Item {
        id: ids::item_id_for_path(path),
        parent_id: parent.map(|p| p.id.clone()),
        path: path.into(),
        kind: if parent.is_some() {
            ItemKind::Movie
        } else {
            ItemKind::CollectionFolder
        },
        name: format!("Film {}", (i * 7919) % ITEMS),
        date_added_ms: i,
        size_bytes: Some(1 << 30),
        runtime_ticks: Some(72_000_000_000),
        container: Some("matroska".into()),
        probe_json: Some(r#"{"streams":[{"codec":"h264"},{"codec":"aac"}]}"#.into()),
        images: Vec::new(),
    }
}

fn metadata(c: &mut Criterion) {
    let db = connect(16);
    let (user, library, items) = catalogue(&db);
    let repo: Arc<dyn MetadataRepo> = Arc::new(db.store.metadata());
    let item_ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    let mut group = c.benchmark_group("pg_metadata");

    group.bench_function("user_data_upsert", |b| {
        b.to_async(&db.rt).iter_custom(|iters| {
            let repo = repo.clone();
            let user = user.id.clone();
            let items = item_ids.clone();
            async move {
                let start = Instant::now();
                for n in 0..iters {
                    let data = UserItemData {
                        position_ticks: n as i64,
                        ..UserItemData::empty(&user, &items[n as usize % items.len()])
                    };
                    repo.put_user_data(&data).await.unwrap();
                }
                start.elapsed()
            }
        })
    });

    group.bench_function("item_page_by_name", |b| {
        b.to_async(&db.rt).iter_custom(|iters| {
            let repo = repo.clone();
            let library = library.id.clone();
            async move {
                let start = Instant::now();
                for n in 0..iters {
                    let page = repo
                        .query_items(&ItemQuery {
                            parent_id: Some(library.clone()),
                            start_index: (n as u32 % 10) * PAGE,
                            limit: Some(PAGE),
                            ..Default::default()
                        })
                        .await
                        .unwrap();
                    assert_eq!(page.items.len(), PAGE as usize);
                }
                start.elapsed()
            }
        })
    });

    group.throughput(Throughput::Elements(16));
    group.bench_function("user_data_upsert_16_tasks", |b| {
        b.to_async(&db.rt).iter_custom(|iters| {
            let repo = repo.clone();
            let user = user.id.clone();
            let items = item_ids.clone();
            async move {
                let start = Instant::now();
                let tasks: Vec<_> = (0..16)
                    .map(|t| {
                        let repo = repo.clone();
                        let user = user.clone();
                        let item = items[t * 97 % items.len()].clone();
                        tokio::spawn(async move {
                            for n in 0..iters {
                                let data = UserItemData {
                                    position_ticks: n as i64,
                                    ..UserItemData::empty(&user, &item)
                                };
                                repo.put_user_data(&data).await.unwrap();
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                start.elapsed()
            }
        })
    });
    group.finish();
}

fn sessions(c: &mut Criterion) {
    let db = connect(4);
    let store: Arc<dyn SessionStore> = Arc::new(db.store.sessions());
    let session = Session {
        id: "s".into(),
        token_hash: "bench-token-hash".into(),
        user_id: "u".into(),
        user_name: "bench".into(),
        device_id: "d".into(),
        device_name: "Phone".into(),
        client: "bench".into(),
        client_version: "1".into(),
        now_playing: None,
        created_ms: 0,
        last_activity_ms: 0,
    };
    db.rt
        .block_on(store.put(&session, Duration::from_secs(3600)))
        .expect("session");
    let mut group = c.benchmark_group("pg_session");
    group.bench_function("touch", |b| {
        b.to_async(&db.rt).iter_custom(|iters| {
            let store = store.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let live = store
                        .touch("bench-token-hash", Duration::from_secs(3600))
                        .await
                        .unwrap();
                    assert!(live);
                }
                start.elapsed()
            }
        })
    });
    group.finish();
}

criterion_group!(benches, metadata, sessions);
criterion_main!(benches);
