//! Importing the in-process repo's directory: everything arrives, re-running duplicates
//! nothing, and new activity ids continue after the imported ones.

mod common;

use ha_core::memory::{MemoryMetadataRepo, MetadataSnapshot};
use ha_core::{
    ids, Device, DisplayPreferences, Error, Item, ItemKind, ItemQuery, MetadataRepo, NewActivity,
    User, UserConfiguration, UserItemData,
};
use ha_store_pg::{import_snapshot, ImportReport};

async fn fill(repo: &MemoryMetadataRepo) -> (User, Item) {
    let user = User {
        id: ids::new_id(),
        name: "Ärger 'quoted' 🎬".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        is_admin: true,
        created_ms: 1_700_000_000_000,
    };
    repo.create_user(&user).await.unwrap();
    let lib = Item {
        id: ids::item_id_for_path("/media"),
        parent_id: None,
        path: "/media".into(),
        kind: ItemKind::CollectionFolder,
        name: "Media".into(),
        date_added_ms: 1,
        size_bytes: None,
        runtime_ticks: None,
        container: None,
        probe_json: None,
        images: Vec::new(),
    };
    repo.upsert_item(&lib).await.unwrap();
    for i in 0..20u64 {
        let path = format!("/media/film {i}.mkv");
        repo.upsert_item(&Item {
            id: ids::item_id_for_path(&path),
            parent_id: Some(lib.id.clone()),
            path,
            kind: ItemKind::Movie,
            name: format!("Film {i}"),
            date_added_ms: 100 + i,
            size_bytes: Some(1 << 30),
            runtime_ticks: Some(72_000_000_000),
            container: Some("matroska".into()),
            probe_json: Some(format!(r#"{{"streams": [{i}]}}"#)),
            images: Vec::new(),
        })
        .await
        .unwrap();
    }
    repo.put_display_preferences(&DisplayPreferences {
        user_id: user.id.clone(),
        id: "usersettings".into(),
        client: "emby".into(),
        json: r#"{"CustomPrefs":{"homesection0":"resume"}}"#.into(),
        updated_ms: 7,
    })
    .await
    .unwrap();
    repo.put_user_configuration(&UserConfiguration {
        user_id: user.id.clone(),
        json: r#"{"SubtitleMode":"Always"}"#.into(),
        updated_ms: 8,
    })
    .await
    .unwrap();
    let film = ids::item_id_for_path("/media/film 3.mkv");
    repo.put_user_data(&UserItemData {
        played: true,
        play_count: 2,
        position_ticks: 12345,
        last_played_ms: Some(99),
        is_favorite: true,
        ..UserItemData::empty(&user.id, &film)
    })
    .await
    .unwrap();
    repo.upsert_device(&Device {
        id: "phone".into(),
        user_id: user.id.clone(),
        name: "Phone".into(),
        app_name: "Jellyfin Android".into(),
        app_version: "2.6".into(),
        last_seen_ms: 5,
    })
    .await
    .unwrap();
    for i in 0..3 {
        repo.append_activity(&NewActivity {
            at_ms: i,
            user_id: Some(user.id.clone()),
            kind: "PlaybackStart".into(),
            message: format!("played {i}"),
        })
        .await
        .unwrap();
    }
    (user, lib)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_moves_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    let (user, lib) = {
        let mem = MemoryMetadataRepo::open(dir.path()).unwrap();
        fill(&mem).await
    };
    let snapshot = MetadataSnapshot::load_dir(dir.path()).unwrap();
    let repo = common::fresh_store("import").await.metadata();

    let report = import_snapshot(&repo, &snapshot).await.unwrap();
    assert_eq!(
        report,
        ImportReport {
            users: 1,
            items: 21,
            user_data: 1,
            devices: 1,
            activity: 3,
            display_preferences: 1,
            user_configurations: 1,
        }
    );
    // Again: upserts rewrite the same rows, activity is not duplicated.
    let again = import_snapshot(&repo, &snapshot).await.unwrap();
    assert_eq!(again.activity, 0);

    assert_eq!(
        repo.get_user_by_name("ärger 'QUOTED' 🎬").await.unwrap(),
        Some(user.clone())
    );
    let page = repo
        .query_items(&ItemQuery {
            parent_id: Some(lib.id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 20);
    for item in &snapshot.items {
        assert_eq!(repo.get_item(&item.id).await.unwrap().as_ref(), Some(item));
    }
    assert_eq!(
        repo.list_user_data(&user.id, &[snapshot.user_data[0].item_id.clone()])
            .await
            .unwrap(),
        snapshot.user_data
    );
    assert_eq!(repo.list_devices(None).await.unwrap(), snapshot.devices);
    assert_eq!(snapshot.display_preferences.len(), 1);
    assert_eq!(
        repo.get_display_preferences(&user.id, "usersettings", "emby")
            .await
            .unwrap()
            .as_ref(),
        snapshot.display_preferences.first()
    );
    assert_eq!(snapshot.user_configurations.len(), 1);
    assert_eq!(
        repo.get_user_configuration(&user.id)
            .await
            .unwrap()
            .as_ref(),
        snapshot.user_configurations.first()
    );
    let activity = repo.recent_activity(100).await.unwrap();
    let mut expected = snapshot.activity.clone();
    expected.reverse();
    assert_eq!(activity, expected);
    // New entries continue after the imported ids.
    let next = repo
        .append_activity(&NewActivity {
            at_ms: 10,
            user_id: None,
            kind: "k".into(),
            message: "after import".into(),
        })
        .await
        .unwrap();
    assert_eq!(next, snapshot.activity.last().unwrap().id + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_import_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mem = MemoryMetadataRepo::open(dir.path()).unwrap();
        fill(&mem).await;
    }
    let snapshot = MetadataSnapshot::load_dir(dir.path()).unwrap();
    let repo = common::fresh_store("import_conflict").await.metadata();
    // PostgreSQL already has a different user with the same name.
    let squatter = User {
        id: ids::new_id(),
        ..snapshot.users[0].clone()
    };
    repo.create_user(&squatter).await.unwrap();
    let result = import_snapshot(&repo, &snapshot).await;
    assert!(matches!(result, Err(Error::Conflict(_))), "{result:?}");
    assert_eq!(repo.list_users().await.unwrap(), vec![squatter]);
    let page = repo.query_items(&ItemQuery::default()).await.unwrap();
    assert_eq!(page.total, 0, "the transaction was rolled back");
}
