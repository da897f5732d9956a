//! The file-backed in-process MetadataRepo keeps its data across restarts and crashes.

use std::io::Write;

use ha_core::memory::{MemoryMetadataRepo, MetadataSnapshot};
use ha_core::{ids, Item, ItemKind, MetadataRepo, User, UserItemData};

fn user() -> User {
    User {
        id: ids::new_id(),
        name: "alice".into(),
        password_hash: ha_core::auth::hash_password("pw").unwrap(),
        is_admin: true,
        created_ms: 1,
    }
}

fn item(n: u32) -> Item {
    let path = format!("/media/film-{n}.mkv");
    Item {
        id: ids::item_id_for_path(&path),
        parent_id: None,
        path,
        kind: ItemKind::Movie,
        name: format!("Film {n}"),
        date_added_ms: u64::from(n),
        size_bytes: Some(1),
        runtime_ticks: None,
        container: None,
        probe_json: None,
        images: Vec::new(),
    }
}

#[tokio::test]
async fn data_survives_a_restart_and_many_writes() {
    let dir = tempfile::tempdir().unwrap();
    let u = user();
    {
        let repo = MemoryMetadataRepo::open(dir.path()).unwrap();
        repo.create_user(&u).await.unwrap();
        // Enough writes to force several compactions.
        for n in 0..2_500 {
            repo.upsert_item(&item(n % 50)).await.unwrap();
        }
        let mut data = UserItemData::empty(&u.id, &item(7).id);
        data.position_ticks = 99;
        repo.put_user_data(&data).await.unwrap();
    }
    let repo = MemoryMetadataRepo::open(dir.path()).unwrap();
    assert_eq!(repo.get_user(&u.id).await.unwrap(), Some(u.clone()));
    assert_eq!(repo.get_item(&item(7).id).await.unwrap(), Some(item(7)));
    let data = repo
        .get_user_data(&u.id, &item(7).id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(data.position_ticks, 99);
    assert_eq!(repo.snapshot().items.len(), 50);
}

#[tokio::test]
async fn a_torn_journal_line_is_ignored_and_earlier_changes_kept() {
    let dir = tempfile::tempdir().unwrap();
    let u = user();
    {
        let repo = MemoryMetadataRepo::open(dir.path()).unwrap();
        repo.create_user(&u).await.unwrap();
        repo.upsert_item(&item(1)).await.unwrap();
    }
    // Simulate a crash in the middle of appending the next change.
    let mut journal = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("metadata.journal"))
        .unwrap();
    journal
        .write_all(br#"{"op":"PutItem","v":{"id":"abc","#)
        .unwrap();
    drop(journal);

    let snapshot = MetadataSnapshot::load_dir(dir.path()).unwrap();
    assert_eq!(snapshot.users, vec![u.clone()]);
    assert_eq!(snapshot.items, vec![item(1)]);

    let repo = MemoryMetadataRepo::open(dir.path()).unwrap();
    assert_eq!(repo.get_user(&u.id).await.unwrap(), Some(u));
    repo.upsert_item(&item(2)).await.unwrap();
    drop(repo);
    let repo = MemoryMetadataRepo::open(dir.path()).unwrap();
    assert_eq!(
        repo.snapshot().items.len(),
        2,
        "writes after recovery are kept too"
    );
}

#[tokio::test]
async fn a_corrupt_snapshot_is_a_decode_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("metadata.json"), b"{ not json").unwrap();
    let err = MemoryMetadataRepo::open(dir.path()).unwrap_err();
    assert!(matches!(err, ha_core::Error::Decode { .. }), "{err:?}");
}

/// Group commit under load: many writers at once, past several snapshot rotations; every
/// acknowledged write is there after a reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_through_rotations_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let u = user();
    {
        let repo = std::sync::Arc::new(MemoryMetadataRepo::open(dir.path()).unwrap());
        repo.create_user(&u).await.unwrap();
        for n in 0..50 {
            repo.upsert_item(&item(n)).await.unwrap();
        }
        let mut tasks = Vec::new();
        for writer in 0..50u32 {
            let (repo, user_id) = (repo.clone(), u.id.clone());
            tasks.push(tokio::spawn(async move {
                for round in 0..100i64 {
                    let mut data = UserItemData::empty(&user_id, &item(writer).id);
                    data.position_ticks = round;
                    repo.put_user_data(&data).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
    let repo = MemoryMetadataRepo::open(dir.path()).unwrap();
    for writer in 0..50 {
        let data = repo
            .get_user_data(&u.id, &item(writer).id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(data.position_ticks, 99, "writer {writer}'s last write");
    }
    assert!(
        !dir.path().join("metadata.journal.old").exists(),
        "no snapshot left unfinished"
    );
}
