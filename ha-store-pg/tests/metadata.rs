//! MetadataRepo behaviour beyond the shared suite: hostile input, limits PostgreSQL imposes,
//! recursive listings and paging, on a schema of its own per test.

mod common;

use ha_core::{
    auth, ids, Device, Error, Item, ItemKind, ItemQuery, ItemSort, MetadataRepo, NewActivity, User,
    UserItemData,
};
use ha_store_pg::PgMetadataRepo;

async fn repo() -> PgMetadataRepo {
    common::fresh_store("metatest").await.metadata()
}

/// One real Argon2 PHC hash, computed once (hashing is slow in debug builds).
fn phc() -> String {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| auth::hash_password("pw").unwrap())
        .clone()
}

fn user(name: &str) -> User {
    User {
        id: ids::new_id(),
        name: name.to_owned(),
        password_hash: phc(),
        is_admin: false,
        created_ms: 1_700_000_000_000,
    }
}

fn item(parent: Option<&Item>, path: &str, name: &str, kind: ItemKind, added: u64) -> Item {
    Item {
        id: ids::item_id_for_path(path),
        parent_id: parent.map(|p| p.id.clone()),
        path: path.to_owned(),
        kind,
        name: name.to_owned(),
        date_added_ms: added,
        size_bytes: Some(u64::try_from(i64::MAX).unwrap()),
        runtime_ticks: Some(-1),
        container: Some("matroska".into()),
        probe_json: Some(r#"{ "b": 1,  "a": [2, 1] }"#.into()),
        images: Vec::new(),
    }
}

const HOSTILE: [&str; 7] = [
    "'; DROP TABLE users; --",
    "Robert'); DROP TABLE items;--",
    "$1 $$ dollar $tag$ quoting",
    "back\\slash \"double\" 'single' %_ wildcards",
    "日本語 🎬👩‍👩‍👧 ñandú",
    "\u{202e}\u{05e9}\u{05dc}\u{05d5}\u{05dd} rtl",
    "tab\tnewline\nend",
];

#[tokio::test]
async fn hostile_strings_are_stored_and_read_back_exactly() {
    let r = repo().await;
    let root = item(None, "/h", "root", ItemKind::CollectionFolder, 0);
    r.upsert_item(&root).await.unwrap();
    for (i, s) in HOSTILE.iter().enumerate() {
        if !s.contains(['\t', '\n']) {
            let u = User {
                password_hash: s.to_string(),
                ..user(s)
            };
            r.create_user(&u).await.unwrap();
            assert_eq!(r.get_user(&u.id).await.unwrap().as_ref(), Some(&u));
            assert_eq!(r.get_user_by_name(s).await.unwrap().as_ref(), Some(&u));
        }
        let mut it = item(
            Some(&root),
            &format!("/h/{s}"),
            s,
            ItemKind::Video,
            i as u64,
        );
        it.container = Some(s.to_string());
        it.probe_json = Some(s.to_string());
        r.upsert_item(&it).await.unwrap();
        assert_eq!(r.get_item(&it.id).await.unwrap().as_ref(), Some(&it));
        assert_eq!(
            r.get_item_by_path(&it.path).await.unwrap().as_ref(),
            Some(&it)
        );
        let found = r
            .query_items(&ItemQuery {
                parent_id: Some(root.id.clone()),
                search_term: Some(s.to_string()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(found.items, vec![it.clone()], "search for {s:?}");
        let dev = Device {
            id: format!("dev-{i}"),
            user_id: s.to_string(),
            name: s.to_string(),
            app_name: s.to_string(),
            app_version: s.to_string(),
            last_seen_ms: i as u64,
        };
        r.upsert_device(&dev).await.unwrap();
        assert_eq!(r.list_devices(Some(s)).await.unwrap(), vec![dev]);
        let entry = NewActivity {
            at_ms: 1,
            user_id: Some(s.to_string()),
            kind: s.to_string(),
            message: s.to_string(),
        };
        let id = r.append_activity(&entry).await.unwrap();
        let recent = r.recent_activity(1).await.unwrap();
        assert_eq!((recent[0].id, &recent[0].entry), (id, &entry));
    }
    // The tables are all still there.
    assert_eq!(r.list_users().await.unwrap().len(), 6);
}

#[tokio::test]
async fn nul_bytes_are_a_typed_invalid_error_everywhere() {
    let r = repo().await;
    let root = item(None, "/n", "root", ItemKind::CollectionFolder, 0);
    r.upsert_item(&root).await.unwrap();
    let mut bad = item(Some(&root), "/n/a", "a\0b", ItemKind::Video, 0);
    assert!(matches!(r.upsert_item(&bad).await, Err(Error::Invalid(_))));
    bad.name = "ok".into();
    bad.path = "/n/\0".into();
    assert!(matches!(r.upsert_item(&bad).await, Err(Error::Invalid(_))));
    bad.path = "/n/a".into();
    bad.probe_json = Some("\0".into());
    assert!(matches!(r.upsert_item(&bad).await, Err(Error::Invalid(_))));
    assert!(matches!(
        r.create_user(&user("a\0b")).await,
        Err(Error::Invalid(_))
    ));
    let u = User {
        password_hash: "x\0".into(),
        ..user("nul-hash")
    };
    assert!(matches!(r.create_user(&u).await, Err(Error::Invalid(_))));
    // Lookups with a NUL are refused the same way, not a panic.
    assert!(matches!(
        r.get_user_by_name("a\0").await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        r.get_item_by_path("\0").await,
        Err(Error::Invalid(_))
    ));
    let entry = NewActivity {
        at_ms: 0,
        user_id: None,
        kind: "k".into(),
        message: "\0".into(),
    };
    assert!(matches!(
        r.append_activity(&entry).await,
        Err(Error::Invalid(_))
    ));
    // And the connection is still usable.
    assert!(r.get_item(&root.id).await.unwrap().is_some());
}

#[tokio::test]
async fn megabyte_names_and_paths_round_trip() {
    let r = repo().await;
    let big = "é".repeat(512 * 1024); // 1 MiB of UTF-8
    let root = item(
        None,
        &format!("/{big}"),
        &big,
        ItemKind::CollectionFolder,
        0,
    );
    r.upsert_item(&root).await.unwrap();
    assert_eq!(r.get_item(&root.id).await.unwrap().as_ref(), Some(&root));
    assert_eq!(
        r.get_item_by_path(&root.path).await.unwrap().as_ref(),
        Some(&root)
    );
    // Two long paths differing only at the end are distinct, and the unique rule holds.
    let other = item(None, &format!("/{big}x"), "other", ItemKind::Folder, 0);
    r.upsert_item(&other).await.unwrap();
    let clash = Item {
        id: ids::new_id(),
        ..root.clone()
    };
    assert!(matches!(
        r.upsert_item(&clash).await,
        Err(Error::Conflict(_))
    ));
    // User names are capped at 512 bytes by the contract's validation: a clear Invalid.
    assert!(matches!(
        r.create_user(&user(&big)).await,
        Err(Error::Invalid(_))
    ));
}

#[tokio::test]
async fn unicode_user_names_collide_case_insensitively() {
    let r = repo().await;
    let u = user("Ärger Ωmega");
    r.create_user(&u).await.unwrap();
    assert_eq!(
        r.get_user_by_name("äRGER ωMEGA").await.unwrap(),
        Some(u.clone())
    );
    assert!(matches!(
        r.create_user(&user("ÄRGER ΩMEGA")).await,
        Err(Error::Conflict(_))
    ));
    // Same id is a conflict too.
    let same_id = User {
        name: "someone else".into(),
        ..u.clone()
    };
    assert!(matches!(
        r.create_user(&same_id).await,
        Err(Error::Conflict(_))
    ));
    // Renaming onto a taken name conflicts; renaming oneself in another case is fine.
    let v = user("victor");
    r.create_user(&v).await.unwrap();
    let renamed = User {
        name: "ärger ωmega".into(),
        ..v.clone()
    };
    assert!(matches!(
        r.update_user(&renamed).await,
        Err(Error::Conflict(_))
    ));
    let recased = User {
        name: "VICTOR".into(),
        is_admin: true,
        ..v.clone()
    };
    r.update_user(&recased).await.unwrap();
    assert_eq!(r.get_user(&v.id).await.unwrap(), Some(recased));
    let ghost = user("ghost");
    assert!(matches!(
        r.update_user(&ghost).await,
        Err(Error::NotFound(_))
    ));
    // Listed by lower-cased name, then id.
    let names: Vec<_> = r
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, vec!["VICTOR", "Ärger Ωmega"]);
    assert!(r.delete_user(&u.id).await.unwrap());
    assert!(!r.delete_user(&u.id).await.unwrap());
}

#[tokio::test]
async fn numbers_beyond_bigint_are_refused_not_wrapped() {
    let r = repo().await;
    let mut it = item(None, "/big", "big", ItemKind::Movie, 0);
    it.size_bytes = Some(u64::MAX);
    assert!(matches!(r.upsert_item(&it).await, Err(Error::Invalid(_))));
    let u = User {
        created_ms: u64::MAX,
        ..user("overflow")
    };
    assert!(matches!(r.create_user(&u).await, Err(Error::Invalid(_))));
}

#[tokio::test]
async fn recursive_listing_pages_and_survives_cycles() {
    let r = repo().await;
    let lib = item(None, "/lib", "Library", ItemKind::CollectionFolder, 0);
    r.upsert_item(&lib).await.unwrap();
    let mut parent = lib.clone();
    let mut all = Vec::new();
    for depth in 0..30 {
        let dir = item(
            Some(&parent),
            &format!("{}/d{depth}", parent.path),
            &format!("dir {depth:02}"),
            ItemKind::Folder,
            depth,
        );
        r.upsert_item(&dir).await.unwrap();
        let file = item(
            Some(&dir),
            &format!("{}/f.mkv", dir.path),
            &format!("Film {depth:02}"),
            ItemKind::Movie,
            100 + depth,
        );
        r.upsert_item(&file).await.unwrap();
        all.push(dir.clone());
        all.push(file);
        parent = dir;
    }
    let q = |start_index, limit| ItemQuery {
        parent_id: Some(lib.id.clone()),
        recursive: true,
        kinds: vec![ItemKind::Movie],
        sort: ItemSort::DateAdded,
        descending: true,
        start_index,
        limit,
        ..Default::default()
    };
    let page = r.query_items(&q(5, Some(10))).await.unwrap();
    assert_eq!(page.total, 30);
    let added: Vec<u64> = page.items.iter().map(|i| i.date_added_ms).collect();
    assert_eq!(added, (115..=124).rev().collect::<Vec<_>>());
    // Past the end: no items, the total is still right.
    let beyond = r.query_items(&q(100, Some(10))).await.unwrap();
    assert_eq!((beyond.items.len(), beyond.total), (0, 30));
    // Direct children only.
    let children = r
        .query_items(&ItemQuery {
            parent_id: Some(lib.id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(children.total, 1);
    // A cycle in bad data (the deepest folder made the library's parent) does not hang.
    let looped = Item {
        parent_id: Some(parent.id.clone()),
        ..lib.clone()
    };
    r.upsert_item(&looped).await.unwrap();
    let everything = r
        .query_items(&ItemQuery {
            parent_id: Some(lib.id.clone()),
            recursive: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        everything.total, 61,
        "every item once, the library included via the cycle"
    );
}

#[tokio::test]
async fn user_data_needs_both_ends_and_lists_in_request_order() {
    let r = repo().await;
    let u = user("watcher");
    r.create_user(&u).await.unwrap();
    let a = item(None, "/ud/a", "a", ItemKind::Movie, 0);
    let b = item(None, "/ud/b", "b", ItemKind::Movie, 0);
    r.upsert_item(&a).await.unwrap();
    r.upsert_item(&b).await.unwrap();
    let data = |item: &Item, pos| UserItemData {
        position_ticks: pos,
        play_count: u32::MAX,
        last_played_ms: Some(5),
        ..UserItemData::empty(&u.id, &item.id)
    };
    r.put_user_data(&data(&a, 1)).await.unwrap();
    r.put_user_data(&data(&b, 2)).await.unwrap();
    r.put_user_data(&data(&b, 3)).await.unwrap();
    let listed = r
        .list_user_data(
            &u.id,
            &[b.id.clone(), "missing".into(), a.id.clone(), b.id.clone()],
        )
        .await
        .unwrap();
    assert_eq!(listed, vec![data(&b, 3), data(&a, 1), data(&b, 3)]);
    assert!(r.list_user_data(&u.id, &[]).await.unwrap().is_empty());
    let orphan = UserItemData::empty(&u.id, "no-such-item");
    assert!(
        matches!(r.put_user_data(&orphan).await, Err(Error::NotFound(m)) if m.contains("item"))
    );
    let orphan = UserItemData::empty("no-such-user", &a.id);
    assert!(
        matches!(r.put_user_data(&orphan).await, Err(Error::NotFound(m)) if m.contains("user"))
    );
    // Deleting the item drops its data, not the other item's.
    assert!(r.delete_item(&a.id).await.unwrap());
    assert_eq!(r.get_user_data(&u.id, &a.id).await.unwrap(), None);
    assert_eq!(
        r.get_user_data(&u.id, &b.id).await.unwrap(),
        Some(data(&b, 3))
    );
    assert!(r.delete_user(&u.id).await.unwrap());
    assert_eq!(r.get_user_data(&u.id, &b.id).await.unwrap(), None);
}

/// Concurrent writes travel as one statement (`user_data_batch`); each caller still gets the
/// answer about its own row, and of two writes of one key in a batch the later is kept.
#[tokio::test]
async fn concurrent_user_data_writes_each_get_their_own_answer() {
    let r = repo().await;
    let u = user("batched");
    r.create_user(&u).await.unwrap();
    let items: Vec<Item> = (0..4)
        .map(|i| item(None, &format!("/batch/{i}"), "x", ItemKind::Movie, 0))
        .collect();
    for it in &items {
        r.upsert_item(it).await.unwrap();
    }
    let data = |item_id: &str, pos| UserItemData {
        position_ticks: pos,
        ..UserItemData::empty(&u.id, item_id)
    };
    // Spawned on this test's one thread, the writes queue in spawn order before the batch is
    // sent: one statement for the valid rows, a missing item and a NUL byte among them.
    let writes = [
        data(&items[0].id, 1),
        data(&items[1].id, 10),
        data("no-such-item", 5),
        data(&items[0].id, 2),
        data("nul\0item", 6),
        data(&items[2].id, 20),
        data(&items[0].id, 3),
    ];
    let calls: Vec<_> = writes
        .iter()
        .cloned()
        .map(|w| {
            let r = r.clone();
            tokio::spawn(async move { r.put_user_data(&w).await })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    for (i, answer) in answers.iter().enumerate() {
        match i {
            2 => assert!(
                matches!(answer, Err(Error::NotFound(m)) if m.contains("no-such-item")),
                "the missing item's caller: {answer:?}"
            ),
            4 => assert!(
                matches!(answer, Err(Error::Invalid(_))),
                "the NUL byte's caller: {answer:?}"
            ),
            _ => assert!(answer.is_ok(), "write {i} lands: {answer:?}"),
        }
    }
    let stored = |i: usize| {
        let (r, u, id) = (r.clone(), u.id.clone(), items[i].id.clone());
        async move {
            r.get_user_data(&u, &id)
                .await
                .unwrap()
                .map(|d| d.position_ticks)
        }
    };
    assert_eq!(stored(0).await, Some(3), "the later write of a key is kept");
    assert_eq!(stored(1).await, Some(10));
    assert_eq!(stored(2).await, Some(20));
    assert_eq!(stored(3).await, None, "never written");
}

/// Many writers over few keys on two threads: batches in flight at once share rows, and
/// neither deadlocks nor loses a write (each key ends at one of the values written to it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_write_batches_neither_deadlock_nor_fail() {
    let r = repo().await;
    let u = user("storm");
    r.create_user(&u).await.unwrap();
    let items: Vec<Item> = (0..5)
        .map(|i| item(None, &format!("/storm/{i}"), "x", ItemKind::Movie, 0))
        .collect();
    for it in &items {
        r.upsert_item(it).await.unwrap();
    }
    let mut calls = tokio::task::JoinSet::new();
    for task in 0..32_i64 {
        let (r, u, ids) = (
            r.clone(),
            u.id.clone(),
            items.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        );
        calls.spawn(async move {
            for round in 0..20_i64 {
                // Every task walks the keys in its own order.
                let id = &ids[((task * 3 + round * (task % 4 + 1)) % 5) as usize];
                let data = UserItemData {
                    position_ticks: task * 1000 + round,
                    ..UserItemData::empty(&u, id)
                };
                r.put_user_data(&data).await.expect("every write lands");
            }
        });
    }
    while let Some(done) = calls.join_next().await {
        done.unwrap();
    }
    for it in &items {
        let data = r.get_user_data(&u.id, &it.id).await.unwrap();
        let pos = data.expect("every key written").position_ticks;
        assert!(
            (0..32_000).contains(&pos) && pos % 1000 < 20,
            "a value written: {pos}"
        );
    }
}

#[tokio::test]
async fn activity_limit_is_capped_and_ordered() {
    let r = repo().await;
    for i in 0..5 {
        r.append_activity(&NewActivity {
            at_ms: i,
            user_id: None,
            kind: "k".into(),
            message: format!("m{i}"),
        })
        .await
        .unwrap();
    }
    let recent = r.recent_activity(u32::MAX).await.unwrap();
    assert_eq!(recent.len(), 5);
    assert!(recent.windows(2).all(|w| w[0].id > w[1].id));
    assert!(r.recent_activity(0).await.unwrap().is_empty());
}

/// The activity log keeps the newest `ACTIVITY_KEEP` entries: a client causing one entry per
/// request cannot grow the database without bound (issue 20). Before, PostgreSQL never trimmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_activity_log_keeps_only_the_newest_entries() {
    use ha_core::metadata::ACTIVITY_KEEP;
    let schema = ha_testkit::unique("acttest");
    let r = std::sync::Arc::new(common::store_on(&schema).await.metadata());
    let total = ACTIVITY_KEEP + 300;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let r = r.clone();
            tokio::spawn(async move {
                for i in (w..total).step_by(8) {
                    r.append_activity(&NewActivity {
                        at_ms: 1_700_000_000_000 + i as u64,
                        user_id: None,
                        kind: "Test".into(),
                        message: format!("entry {i}"),
                    })
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let last = r
        .append_activity(&NewActivity {
            at_ms: 1_800_000_000_000,
            user_id: None,
            kind: "Test".into(),
            message: "the last one".into(),
        })
        .await
        .unwrap();
    // Counted in the table itself (a page of `recent_activity` is capped anyway).
    let url = ha_testkit::postgres_url().await;
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let rows: i64 = client
        .query_one(&format!("SELECT count(*) FROM \"{schema}\".activity"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        rows, ACTIVITY_KEEP as i64,
        "the newest {ACTIVITY_KEEP} and no more"
    );
    let kept = r.recent_activity(10).await.unwrap();
    assert_eq!(kept[0].id, last);
    assert_eq!(kept[0].entry.message, "the last one");
}

/// Recursive listings through the stored chain ends (`top_parent_id`, migration V8) agree with
/// the in-process backend, which walks parents on every call, after every step of a random
/// sequence of writes, moves (cycles included), deletions and re-insertions, in any order.
#[tokio::test]
async fn recursive_listings_agree_with_the_in_process_backend_through_random_moves() {
    use ha_core::memory::MemoryMetadataRepo;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    let store = common::fresh_store("metatest").await;
    let pg = store.metadata();
    let memory = MemoryMetadataRepo::in_memory();
    const N: usize = 24;
    let nodes: Vec<Item> = (0..N)
        .map(|i| {
            item(
                None,
                &format!("/tree/n{i}"),
                &format!("n{i:02}"),
                ItemKind::Folder,
                i as u64,
            )
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(19);
    let mut stored = [false; N];
    for step in 0..300 {
        let i = rng.gen_range(0..N);
        if stored[i] && rng.gen_bool(0.15) {
            pg.delete_item(&nodes[i].id).await.unwrap();
            memory.delete_item(&nodes[i].id).await.unwrap();
            stored[i] = false;
        } else {
            // Mostly shallow trees under a few roots; now and then any node, so cycles form.
            let parent = match rng.gen_range(0..10) {
                0..=1 => None,
                2..=7 => Some(rng.gen_range(0..i.max(1))),
                _ => Some(rng.gen_range(0..N)),
            };
            let written = Item {
                parent_id: parent.map(|p| nodes[p].id.clone()),
                ..nodes[i].clone()
            };
            pg.upsert_item(&written).await.unwrap();
            memory.upsert_item(&written).await.unwrap();
            stored[i] = true;
        }
        same_descendants(&pg, &memory, &nodes, &format!("step {step}")).await;
    }

    // The migration's backfill of rows stored before it (the end of V8) gives the same.
    let migration = include_str!("../migrations/V8__item_chain_end.sql");
    let backfill = &migration[migration
        .find("-- Existing rows")
        .expect("V8 has a backfill")..];
    let client = store.pool().get().await.unwrap();
    client
        .batch_execute(&format!(
            "UPDATE items SET top_parent_id = NULL; {backfill}"
        ))
        .await
        .unwrap();
    same_descendants(&pg, &memory, &nodes, "after the backfill").await;
}

/// Every node's recursive listing is the same on both backends.
async fn same_descendants(
    pg: &impl MetadataRepo,
    memory: &impl MetadataRepo,
    nodes: &[Item],
    when: &str,
) {
    for parent in nodes {
        let query = ItemQuery {
            parent_id: Some(parent.id.clone()),
            recursive: true,
            limit: Some(ha_core::metadata::MAX_PAGE),
            ..Default::default()
        };
        let names = |page: ha_core::Page<Item>| {
            let total = page.total;
            let mut names: Vec<String> = page.items.into_iter().map(|i| i.name).collect();
            names.sort();
            (total, names)
        };
        let from_pg = names(pg.query_items(&query).await.unwrap());
        let from_memory = names(memory.query_items(&query).await.unwrap());
        assert_eq!(
            from_pg, from_memory,
            "{when}: descendants of {} differ",
            parent.name
        );
    }
}
