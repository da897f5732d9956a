//! [`MetadataRepo`] semantics every backend must show. Tests share one repo, so each builds its
//! own users and its own library subtree and never asserts on global counts.

use std::sync::Arc;

use super::unique;
use crate::{
    auth, ids, Device, DisplayPreferences, Error, ImageKind, Item, ItemImage, ItemKind, ItemQuery,
    ItemSort, MetadataRepo, NewActivity, User, UserConfiguration, UserFilter, UserItemData,
};

fn user(name: &str) -> User {
    User {
        id: ids::new_id(),
        name: name.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        is_admin: false,
        created_ms: 1_700_000_000_000,
    }
}

fn item(parent: Option<&Item>, name: &str, kind: ItemKind, added: u64) -> Item {
    let path = match parent {
        Some(p) => format!("{}/{name}", p.path),
        None => format!("/media/{}/{name}", unique("lib")),
    };
    Item {
        id: ids::item_id_for_path(&path),
        parent_id: parent.map(|p| p.id.clone()),
        path,
        kind,
        name: name.to_owned(),
        date_added_ms: added,
        size_bytes: (!kind.is_folder()).then_some(1_234_567),
        runtime_ticks: (!kind.is_folder()).then_some(600_000_000),
        container: (!kind.is_folder()).then(|| "matroska".to_owned()),
        probe_json: (!kind.is_folder()).then(|| r#"{"streams":[{"codec":"h264"}]}"#.to_owned()),
        images: Vec::new(),
    }
}

/// Users: create, find by id and case-insensitive name, conflicts, update, delete.
pub async fn metadata_users_crud_and_case_insensitive_names(r: Arc<dyn MetadataRepo>) {
    let name = unique("Alice");
    let mut u = user(&name);
    u.password_hash = auth::hash_password("s3cret").unwrap();
    r.create_user(&u).await.unwrap();
    assert_eq!(r.get_user(&u.id).await.unwrap(), Some(u.clone()));
    let by_name = r
        .get_user_by_name(&name.to_uppercase())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_name.id, u.id);
    assert!(auth::verify_password("s3cret", &by_name.password_hash));

    let clash = user(&name.to_lowercase());
    assert!(matches!(
        r.create_user(&clash).await,
        Err(Error::Conflict(_))
    ));
    let same_id = User {
        name: unique("other"),
        ..u.clone()
    };
    assert!(matches!(
        r.create_user(&same_id).await,
        Err(Error::Conflict(_))
    ));

    let bob = user(&unique("bob"));
    r.create_user(&bob).await.unwrap();
    let renamed_onto_alice = User {
        name: name.clone(),
        ..bob.clone()
    };
    assert!(matches!(
        r.update_user(&renamed_onto_alice).await,
        Err(Error::Conflict(_))
    ));
    let promoted = User {
        is_admin: true,
        name: format!("{name}-renamed"),
        ..u.clone()
    };
    r.update_user(&promoted).await.unwrap();
    assert_eq!(r.get_user(&u.id).await.unwrap(), Some(promoted.clone()));
    assert!(matches!(
        r.update_user(&user(&unique("ghost"))).await,
        Err(Error::NotFound(_))
    ));

    let listed = r.list_users().await.unwrap();
    assert!(listed.iter().any(|x| x == &promoted) && listed.iter().any(|x| x.id == bob.id));
    assert!(r.delete_user(&bob.id).await.unwrap());
    assert!(!r.delete_user(&bob.id).await.unwrap());
    assert!(r.get_user(&bob.id).await.unwrap().is_none());
    assert!(r.get_user_by_name(&bob.name).await.unwrap().is_none());
}

/// Items: upsert by id, lookup by id and path, one item per path.
pub async fn metadata_items_upsert_and_path_uniqueness(r: Arc<dyn MetadataRepo>) {
    let root = item(None, "Movies", ItemKind::CollectionFolder, 1);
    let film = item(Some(&root), "Film.mkv", ItemKind::Movie, 2);
    r.upsert_item(&root).await.unwrap();
    r.upsert_item(&film).await.unwrap();
    assert_eq!(r.get_item(&film.id).await.unwrap(), Some(film.clone()));
    assert_eq!(
        r.get_item_by_path(&film.path).await.unwrap(),
        Some(film.clone())
    );
    assert!(r.get_item(&ids::new_id()).await.unwrap().is_none());

    let probed = Item {
        name: "Film (2024)".into(),
        probe_json: Some(r#"{"duration":61.5}"#.into()),
        images: vec![
            ItemImage {
                kind: ImageKind::Primary,
                path: format!("{}/Film-poster.jpg", root.path),
                tag: "p1".into(),
                width: Some(1000),
                height: Some(1500),
            },
            ItemImage {
                kind: ImageKind::Backdrop,
                path: format!("{}/fanart.jpg", root.path),
                tag: "b1".into(),
                width: None,
                height: None,
            },
            ItemImage {
                kind: ImageKind::Backdrop,
                path: format!("{}/fanart1.jpg", root.path),
                tag: "b2".into(),
                width: Some(1920),
                height: None,
            },
        ],
        ..film.clone()
    };
    r.upsert_item(&probed).await.unwrap();
    assert_eq!(r.get_item(&film.id).await.unwrap(), Some(probed.clone()));

    let squatter = Item {
        id: ids::new_id(),
        ..film.clone()
    };
    assert!(matches!(
        r.upsert_item(&squatter).await,
        Err(Error::Conflict(_))
    ));

    assert!(r.delete_item(&film.id).await.unwrap());
    assert!(!r.delete_item(&film.id).await.unwrap());
    assert!(r.get_item_by_path(&film.path).await.unwrap().is_none());
}

/// Listings filtered by one user's marks (played, favourite, resumable) and ordered by when
/// that user played: joined in the store, so pages and totals hold at any library size, and
/// another user's marks never leak in.
pub async fn metadata_item_queries_filter_on_user_marks(r: Arc<dyn MetadataRepo>) {
    let viewer = user(&unique("viewer"));
    let other = user(&unique("other"));
    r.create_user(&viewer).await.unwrap();
    r.create_user(&other).await.unwrap();
    let root = item(None, "Library", ItemKind::CollectionFolder, 1);
    r.upsert_item(&root).await.unwrap();
    let films: Vec<Item> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|n| item(Some(&root), n, ItemKind::Movie, 2))
        .collect();
    for film in &films {
        r.upsert_item(film).await.unwrap();
    }
    let mark =
        |who: &User, film: &Item, played: bool, position: i64, at: Option<u64>, fav| UserItemData {
            played,
            play_count: u32::from(played),
            position_ticks: position,
            last_played_ms: at,
            is_favorite: fav,
            ..UserItemData::empty(&who.id, &film.id)
        };
    // a: played; b: resumable, played at 200; c: resumable at 300, favourite; d: a favourite
    // never played; e: untouched by the viewer, but resumable and played for the other user.
    for data in [
        mark(&viewer, &films[0], true, 0, Some(100), false),
        mark(&viewer, &films[1], false, 5_000, Some(200), false),
        mark(&viewer, &films[2], false, 7_000, Some(300), true),
        mark(&viewer, &films[3], false, 0, None, true),
        mark(&other, &films[4], true, 9_000, Some(400), true),
    ] {
        r.put_user_data(&data).await.unwrap();
    }
    let list = |filter: UserFilter, sort, descending| {
        let r = Arc::clone(&r);
        let root = root.id.clone();
        async move {
            let page = r
                .query_items(&ItemQuery {
                    parent_id: Some(root),
                    user: Some(filter),
                    sort,
                    descending,
                    ..Default::default()
                })
                .await
                .unwrap();
            let names: Vec<String> = page.items.iter().map(|i| i.name.clone()).collect();
            assert_eq!(page.total, names.len() as u64);
            names
        }
    };
    let marks = |played, favorite, resumable| UserFilter {
        played,
        favorite,
        resumable,
        ..UserFilter::new(&viewer.id)
    };
    use ItemSort::{DatePlayed, Name};
    assert_eq!(
        list(marks(Some(true), None, None), Name, false).await,
        ["a"]
    );
    assert_eq!(
        list(marks(Some(false), None, None), Name, false).await,
        ["b", "c", "d", "e"]
    );
    assert_eq!(
        list(marks(None, Some(true), None), Name, false).await,
        ["c", "d"]
    );
    assert_eq!(
        list(marks(None, Some(false), None), Name, false).await,
        ["a", "b", "e"]
    );
    // "Continue watching": started, not finished, most recently played first.
    assert_eq!(
        list(marks(None, None, Some(true)), DatePlayed, true).await,
        ["c", "b"]
    );
    assert_eq!(
        list(marks(None, None, Some(false)), Name, false).await,
        ["a", "d", "e"]
    );
    assert_eq!(
        list(marks(Some(false), Some(true), Some(true)), Name, false).await,
        ["c"]
    );
    // Never played sorts first; ties by id, reversed with the order.
    let ascending = list(UserFilter::new(&viewer.id), DatePlayed, false).await;
    assert_eq!(ascending[2..], ["a", "b", "c"]);
    let mut never: Vec<&Item> = vec![&films[3], &films[4]];
    never.sort_by(|x, y| x.id.cmp(&y.id));
    let never: Vec<String> = never.iter().map(|i| i.name.clone()).collect();
    assert_eq!(ascending[..2], never[..]);
    let descending = list(UserFilter::new(&viewer.id), DatePlayed, true).await;
    let reversed: Vec<String> = ascending.iter().rev().cloned().collect();
    assert_eq!(descending, reversed);

    // Paging a filtered listing counts every match.
    let page = r
        .query_items(&ItemQuery {
            parent_id: Some(root.id.clone()),
            user: Some(marks(Some(false), None, None)),
            start_index: 1,
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 4);
    assert_eq!(page.items.len(), 2);

    // Ordering by plays without saying whose is refused.
    assert!(matches!(
        r.query_items(&ItemQuery {
            parent_id: Some(root.id.clone()),
            sort: DatePlayed,
            ..Default::default()
        })
        .await,
        Err(Error::Invalid(_))
    ));
}

/// Recursive listings follow the tree as it is now, whatever order it was written in: a child
/// stored before its parent, a folder moved to another library, a root put under another, a
/// folder deleted (its orphans are descendants of the missing id, not of the old library).
/// Backends that keep ancestry to answer these fast must keep it right through all of this.
pub async fn metadata_recursive_listings_follow_moves_and_deletions(r: Arc<dyn MetadataRepo>) {
    let films = item(None, "Films", ItemKind::CollectionFolder, 1);
    let shows = item(None, "Shows", ItemKind::CollectionFolder, 2);
    let series = item(Some(&films), "Series", ItemKind::Folder, 3);
    let season = item(Some(&series), "Season 1", ItemKind::Folder, 4);
    let e1 = item(Some(&season), "e1", ItemKind::Episode, 5);
    let e2 = item(Some(&series), "e2", ItemKind::Episode, 6);
    // Children first: their parents are unknown when they are written.
    for i in [&e1, &e2, &season, &films, &shows, &series] {
        r.upsert_item(i).await.unwrap();
    }
    let under = |parent: &Item, kinds: Vec<ItemKind>| {
        let r = r.clone();
        let query = ItemQuery {
            parent_id: Some(parent.id.clone()),
            recursive: true,
            kinds,
            limit: Some(crate::metadata::MAX_PAGE),
            ..Default::default()
        };
        async move {
            let page = r.query_items(&query).await.unwrap();
            let mut names: Vec<String> = page.items.iter().map(|i| i.name.clone()).collect();
            names.sort();
            assert_eq!(page.total as usize, names.len(), "total matches the page");
            names
        }
    };
    assert_eq!(
        under(&films, vec![]).await,
        ["Season 1", "Series", "e1", "e2"]
    );
    assert_eq!(under(&films, vec![ItemKind::Episode]).await, ["e1", "e2"]);
    assert!(under(&shows, vec![]).await.is_empty());

    // The series moves to the other library, with everything under it.
    let mut moved = series.clone();
    moved.parent_id = Some(shows.id.clone());
    r.upsert_item(&moved).await.unwrap();
    assert!(under(&films, vec![]).await.is_empty());
    assert_eq!(under(&shows, vec![ItemKind::Episode]).await, ["e1", "e2"]);
    // Rewriting an item unchanged (a rescan) changes nothing.
    r.upsert_item(&moved).await.unwrap();
    assert_eq!(
        under(&shows, vec![]).await,
        ["Season 1", "Series", "e1", "e2"]
    );

    // A whole library put under the other.
    let mut nested = shows.clone();
    nested.parent_id = Some(films.id.clone());
    r.upsert_item(&nested).await.unwrap();
    assert_eq!(
        under(&films, vec![]).await,
        ["Season 1", "Series", "Shows", "e1", "e2"]
    );
    assert_eq!(under(&shows, vec![ItemKind::Episode]).await, ["e1", "e2"]);

    // The series is deleted: its orphans belong to no library any more.
    assert!(r.delete_item(&series.id).await.unwrap());
    assert_eq!(under(&films, vec![]).await, ["Shows"]);
    assert!(under(&shows, vec![]).await.is_empty());
    assert_eq!(under(&series, vec![]).await, ["Season 1", "e1", "e2"]);
    // Written again, under the first library: found there again.
    r.upsert_item(&series).await.unwrap();
    assert_eq!(under(&films, vec![ItemKind::Episode]).await, ["e1", "e2"]);
    assert!(under(&shows, vec![]).await.is_empty());
}

/// Listings: children vs descendants, kind and name filters, both sorts, stable paging.
pub async fn metadata_item_queries_filter_sort_and_page(r: Arc<dyn MetadataRepo>) {
    let root = item(None, "Library", ItemKind::CollectionFolder, 1);
    let folder = item(Some(&root), "Season 1", ItemKind::Folder, 2);
    let e1 = item(Some(&folder), "b episode", ItemKind::Episode, 30);
    let e2 = item(Some(&folder), "A Episode", ItemKind::Episode, 10);
    let e3 = item(Some(&folder), "c episode", ItemKind::Episode, 20);
    let m1 = item(Some(&root), "Zulu", ItemKind::Movie, 5);
    let m2 = item(Some(&root), "alpha", ItemKind::Movie, 6);
    for i in [&root, &folder, &e1, &e2, &e3, &m1, &m2] {
        r.upsert_item(i).await.unwrap();
    }
    let names = |p: &crate::Page<Item>| p.items.iter().map(|i| i.name.clone()).collect::<Vec<_>>();

    let children = r
        .query_items(&ItemQuery {
            parent_id: Some(root.id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(children.total, 3);
    assert_eq!(names(&children), ["alpha", "Season 1", "Zulu"]);

    let all = r
        .query_items(&ItemQuery {
            parent_id: Some(root.id.clone()),
            recursive: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.total, 6);

    let episodes_newest_first = r
        .query_items(&ItemQuery {
            parent_id: Some(root.id.clone()),
            recursive: true,
            kinds: vec![ItemKind::Episode],
            sort: ItemSort::DateAdded,
            descending: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        names(&episodes_newest_first),
        ["b episode", "c episode", "A Episode"]
    );

    let search = r
        .query_items(&ItemQuery {
            parent_id: Some(root.id.clone()),
            recursive: true,
            search_term: Some("EPISODE".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(names(&search), ["A Episode", "b episode", "c episode"]);

    let page = r
        .query_items(&ItemQuery {
            parent_id: Some(root.id.clone()),
            recursive: true,
            start_index: 2,
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 6);
    assert_eq!(names(&page), ["b episode", "c episode"]);

    let beyond = r
        .query_items(&ItemQuery {
            parent_id: Some(root.id.clone()),
            start_index: 100,
            limit: Some(u32::MAX),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((beyond.total, beyond.items.len()), (3, 0));

    let movies_desc = r
        .query_items(&ItemQuery {
            parent_id: Some(root.id.clone()),
            kinds: vec![ItemKind::Movie],
            descending: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(names(&movies_desc), ["Zulu", "alpha"]);

    let roots = r.query_items(&ItemQuery::default()).await.unwrap();
    assert!(roots.items.iter().all(|i| i.parent_id.is_none()));
    assert!(roots.items.iter().any(|i| i.id == root.id));
    assert!(!roots.items.iter().any(|i| i.id == folder.id));
    let everywhere = r
        .query_items(&ItemQuery {
            recursive: true,
            kinds: vec![ItemKind::Episode],
            search_term: Some("episode".into()),
            limit: Some(crate::metadata::MAX_PAGE),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!([&e1, &e2, &e3]
        .iter()
        .all(|e| everywhere.items.iter().any(|i| i.id == e.id)));
}

/// Per-user item data: round trip, batch read, and removal with its user or item.
pub async fn metadata_user_data_round_trip_and_cascade(r: Arc<dyn MetadataRepo>) {
    let u = user(&unique("viewer"));
    r.create_user(&u).await.unwrap();
    let root = item(None, "Shows", ItemKind::CollectionFolder, 1);
    let a = item(Some(&root), "a.mkv", ItemKind::Video, 2);
    let b = item(Some(&root), "b.mkv", ItemKind::Video, 3);
    for i in [&root, &a, &b] {
        r.upsert_item(i).await.unwrap();
    }
    assert!(r.get_user_data(&u.id, &a.id).await.unwrap().is_none());
    let mut data = UserItemData::empty(&u.id, &a.id);
    data.position_ticks = 42_000_000_000;
    data.last_played_ms = Some(1_700_000_123_456);
    r.put_user_data(&data).await.unwrap();
    data.played = true;
    data.play_count = 3;
    data.is_favorite = true;
    r.put_user_data(&data).await.unwrap();
    assert_eq!(
        r.get_user_data(&u.id, &a.id).await.unwrap(),
        Some(data.clone())
    );

    let batch = r
        .list_user_data(&u.id, &[a.id.clone(), b.id.clone(), ids::new_id()])
        .await
        .unwrap();
    assert_eq!(batch, vec![data.clone()]);

    let orphan = UserItemData::empty(&ids::new_id(), &a.id);
    assert!(matches!(
        r.put_user_data(&orphan).await,
        Err(Error::NotFound(_))
    ));
    let no_item = UserItemData::empty(&u.id, &ids::new_id());
    assert!(matches!(
        r.put_user_data(&no_item).await,
        Err(Error::NotFound(_))
    ));

    r.put_user_data(&UserItemData::empty(&u.id, &b.id))
        .await
        .unwrap();
    assert!(r.delete_item(&a.id).await.unwrap());
    assert!(r.get_user_data(&u.id, &a.id).await.unwrap().is_none());
    assert!(r.delete_user(&u.id).await.unwrap());
    assert!(r.get_user_data(&u.id, &b.id).await.unwrap().is_none());
}

/// Devices: upsert by id, listed per user, most recently seen first.
pub async fn metadata_devices_by_user_newest_first(r: Arc<dyn MetadataRepo>) {
    let user_id = ids::new_id();
    let device = |seen: u64| Device {
        id: unique("dev"),
        user_id: user_id.clone(),
        name: "Living room TV".into(),
        app_name: "Jellyfin Web".into(),
        app_version: "10.9".into(),
        last_seen_ms: seen,
    };
    let old = device(1_000);
    let mut new = device(2_000);
    r.upsert_device(&old).await.unwrap();
    r.upsert_device(&new).await.unwrap();
    new.last_seen_ms = 3_000;
    r.upsert_device(&new).await.unwrap();
    let mine = r.list_devices(Some(&user_id)).await.unwrap();
    assert_eq!(mine, vec![new.clone(), old.clone()]);
    let all = r.list_devices(None).await.unwrap();
    assert!(all.contains(&new) && all.contains(&old));
}

/// Display preferences: kept per (user, id, client), replaced in place, bounded per user and
/// per document, refused for unknown users, deleted with their user.
pub async fn metadata_display_preferences_per_user_and_client(r: Arc<dyn MetadataRepo>) {
    use crate::metadata::{DISPLAY_PREFERENCES_PER_USER, MAX_DISPLAY_PREFERENCES_BYTES};
    let u = user(&unique("prefs"));
    r.create_user(&u).await.unwrap();
    let other = user(&unique("prefs-other"));
    r.create_user(&other).await.unwrap();
    let prefs = |user: &User, id: &str, client: &str, json: &str| DisplayPreferences {
        user_id: user.id.clone(),
        id: id.to_owned(),
        client: client.to_owned(),
        json: json.to_owned(),
        updated_ms: 1_700_000_000_000,
    };
    assert_eq!(
        r.get_display_preferences(&u.id, "usersettings", "emby")
            .await
            .unwrap(),
        None
    );
    let web = prefs(
        &u,
        "usersettings",
        "emby",
        r#"{"CustomPrefs":{"homesection0":"resume"}}"#,
    );
    r.put_display_preferences(&web).await.unwrap();
    // Another client, another id and another user each have their own document.
    let tv = prefs(&u, "usersettings", "Android TV", r#"{"CustomPrefs":{}}"#);
    r.put_display_preferences(&tv).await.unwrap();
    let theirs = prefs(&other, "usersettings", "emby", "{}");
    r.put_display_preferences(&theirs).await.unwrap();
    let get = |user: &User, id: &str, client: &str| {
        let (r, user, id, client) = (r.clone(), user.id.clone(), id.to_owned(), client.to_owned());
        async move {
            r.get_display_preferences(&user, &id, &client)
                .await
                .unwrap()
        }
    };
    assert_eq!(get(&u, "usersettings", "emby").await, Some(web.clone()));
    assert_eq!(
        get(&u, "usersettings", "Android TV").await,
        Some(tv.clone())
    );
    assert_eq!(get(&other, "usersettings", "emby").await, Some(theirs));
    assert_eq!(
        get(&u, "UserSettings", "emby").await,
        None,
        "ids compare exactly"
    );
    // Replaced in place.
    let mut changed = web.clone();
    changed.json = r#"{"CustomPrefs":{"homesection0":"latestmedia"}}"#.into();
    changed.updated_ms += 1;
    r.put_display_preferences(&changed).await.unwrap();
    assert_eq!(get(&u, "usersettings", "emby").await, Some(changed.clone()));

    // Bad input.
    let huge = prefs(
        &u,
        "big",
        "emby",
        &"x".repeat(MAX_DISPLAY_PREFERENCES_BYTES + 1),
    );
    assert!(matches!(
        r.put_display_preferences(&huge).await,
        Err(Error::Invalid(_))
    ));
    for bad in [prefs(&u, "", "emby", "{}"), prefs(&u, "x", "", "{}")] {
        assert!(matches!(
            r.put_display_preferences(&bad).await,
            Err(Error::Invalid(_))
        ));
    }
    let ghost = User {
        id: ids::new_id(),
        ..u.clone()
    };
    assert!(matches!(
        r.put_display_preferences(&prefs(&ghost, "usersettings", "emby", "{}"))
            .await,
        Err(Error::NotFound(_))
    ));

    // At most DISPLAY_PREFERENCES_PER_USER documents per user; replacing one still works.
    for i in 2..DISPLAY_PREFERENCES_PER_USER {
        r.put_display_preferences(&prefs(&u, &format!("view-{i}"), "emby", "{}"))
            .await
            .unwrap();
    }
    assert!(matches!(
        r.put_display_preferences(&prefs(&u, "one-too-many", "emby", "{}"))
            .await,
        Err(Error::Conflict(_))
    ));
    r.put_display_preferences(&web).await.unwrap();
    r.put_display_preferences(&prefs(&other, "view-2", "emby", "{}"))
        .await
        .unwrap();

    // Deleted with the user.
    assert!(r.delete_user(&u.id).await.unwrap());
    assert_eq!(get(&u, "usersettings", "emby").await, None);
    assert_eq!(get(&u, "view-2", "emby").await, None);
}

/// User configuration: one document per user, replaced in place, bounded, deleted with the user.
pub async fn metadata_user_configuration_per_user(r: Arc<dyn MetadataRepo>) {
    use crate::metadata::MAX_USER_CONFIGURATION_BYTES;
    let u = user(&unique("config"));
    r.create_user(&u).await.unwrap();
    let other = user(&unique("config-other"));
    r.create_user(&other).await.unwrap();
    let config = |user: &User, json: &str, at: u64| UserConfiguration {
        user_id: user.id.clone(),
        json: json.to_owned(),
        updated_ms: at,
    };
    assert_eq!(r.get_user_configuration(&u.id).await.unwrap(), None);
    let mine = config(
        &u,
        r#"{"SubtitleMode":"Always","OrderedViews":["a","b"]}"#,
        1,
    );
    r.put_user_configuration(&mine).await.unwrap();
    let theirs = config(&other, r#"{"SubtitleMode":"None"}"#, 2);
    r.put_user_configuration(&theirs).await.unwrap();
    assert_eq!(r.get_user_configuration(&u.id).await.unwrap(), Some(mine));
    assert_eq!(
        r.get_user_configuration(&other.id).await.unwrap(),
        Some(theirs.clone())
    );
    // Replaced in place.
    let changed = config(&u, r#"{"SubtitleMode":"Smart"}"#, 3);
    r.put_user_configuration(&changed).await.unwrap();
    assert_eq!(
        r.get_user_configuration(&u.id).await.unwrap(),
        Some(changed)
    );

    // Bad input.
    let huge = config(&u, &"x".repeat(MAX_USER_CONFIGURATION_BYTES + 1), 4);
    assert!(matches!(
        r.put_user_configuration(&huge).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        r.put_user_configuration(&config(&user(""), "{}", 4)).await,
        Err(Error::NotFound(_))
    ));
    let nameless = UserConfiguration {
        user_id: String::new(),
        ..theirs.clone()
    };
    assert!(matches!(
        r.put_user_configuration(&nameless).await,
        Err(Error::Invalid(_))
    ));

    // Deleted with the user.
    assert!(r.delete_user(&u.id).await.unwrap());
    assert_eq!(r.get_user_configuration(&u.id).await.unwrap(), None);
    assert_eq!(
        r.get_user_configuration(&other.id).await.unwrap(),
        Some(theirs)
    );
}

/// Activity: ids increase; the newest come first.
pub async fn metadata_activity_ids_increase_newest_first(r: Arc<dyn MetadataRepo>) {
    let kind = unique("Test");
    let mut ids = Vec::new();
    for i in 0..5u64 {
        let id = r
            .append_activity(&NewActivity {
                at_ms: 1_700_000_000_000 + i,
                user_id: Some("u".into()),
                kind: kind.clone(),
                message: format!("entry {i}"),
            })
            .await
            .unwrap();
        ids.push(id);
    }
    assert!(ids.windows(2).all(|w| w[1] > w[0]), "{ids:?}");
    let recent = r.recent_activity(1_000).await.unwrap();
    let mine: Vec<_> = recent.iter().filter(|a| a.entry.kind == kind).collect();
    assert_eq!(mine.len(), 5);
    assert_eq!(mine[0].entry.message, "entry 4");
    assert_eq!(mine[4].entry.message, "entry 0");
    assert!(recent.windows(2).all(|w| w[0].id > w[1].id));
    assert!(r.recent_activity(2).await.unwrap().len() <= 2);
}

/// Quotes, SQL, Unicode and long strings are stored and read back exactly.
pub async fn metadata_hostile_strings_round_trip(r: Arc<dyn MetadataRepo>) {
    let hostile = [
        "'; DROP TABLE users; --",
        "Robert'); DROP TABLE items;--",
        "quote \" and back\\slash and %wildcard_",
        "日本語のタイトル 🎬 ñandú",
        "\u{202e}rtl override",
    ];
    let root = item(None, "Hostile", ItemKind::CollectionFolder, 1);
    r.upsert_item(&root).await.unwrap();
    for (i, s) in hostile.iter().enumerate() {
        let u = user(&format!("{s}{}", unique("")));
        r.create_user(&u).await.unwrap();
        assert_eq!(r.get_user_by_name(&u.name).await.unwrap(), Some(u.clone()));
        let mut it = item(Some(&root), s, ItemKind::Video, i as u64);
        it.probe_json = Some(serde_json::json!({ "title": s }).to_string());
        r.upsert_item(&it).await.unwrap();
        assert_eq!(r.get_item(&it.id).await.unwrap(), Some(it.clone()));
        assert_eq!(
            r.get_item_by_path(&it.path).await.unwrap(),
            Some(it.clone())
        );
    }
    let wildcard = r
        .query_items(&ItemQuery {
            parent_id: Some(root.id.clone()),
            search_term: Some("%wildcard_".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(wildcard.total, 1, "search terms are literal, not patterns");
    let none = r
        .query_items(&ItemQuery {
            parent_id: Some(root.id.clone()),
            search_term: Some("%".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(none.total, 1);

    let long_name = "x".repeat(100_000);
    let mut long = item(Some(&root), "long", ItemKind::Video, 9);
    long.name = long_name.clone();
    r.upsert_item(&long).await.unwrap();
    assert_eq!(r.get_item(&long.id).await.unwrap().unwrap().name, long_name);
}
