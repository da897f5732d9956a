//! The kept orders (`ordered.rs`) answer exactly what sorting on every call answered: every
//! listing shape checked against a brute-force reference, then again after items are added,
//! renamed and deleted and marks change (each must show at once).

use std::cmp::Ordering;

use super::ordered::MAX_LISTINGS;
use super::MemoryMetadataRepo;
use crate::{Item, ItemKind, ItemQuery, ItemSort, MetadataRepo, User, UserFilter, UserItemData};

const USER: &str = "u1";

/// A small deterministic generator (no dependency needed for a test's variety).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn item(id: String, parent: Option<&str>, kind: ItemKind, name: String, added: u64) -> Item {
    Item {
        path: format!("/m/{id}"),
        id,
        parent_id: parent.map(str::to_owned),
        kind,
        name,
        date_added_ms: added,
        size_bytes: None,
        runtime_ticks: None,
        container: None,
        probe_json: None,
        images: Vec::new(),
    }
}

/// A root, two folders under it, and `n` films and episodes with clashing names and dates.
async fn library(repo: &MemoryMetadataRepo, rng: &mut Lcg, n: usize) {
    repo.upsert_item(&item(
        "root".into(),
        None,
        ItemKind::CollectionFolder,
        "Root".into(),
        0,
    ))
    .await
    .unwrap();
    for folder in ["fa", "fb"] {
        let f = item(
            folder.into(),
            Some("root"),
            ItemKind::Folder,
            folder.into(),
            1,
        );
        repo.upsert_item(&f).await.unwrap();
    }
    let names = ["alpha", "Alpha", "beta", "Été", "été", "Zulu", "zeta"];
    for i in 0..n {
        let parent = ["root", "fa", "fb"][rng.next(3) as usize];
        let kind = [ItemKind::Movie, ItemKind::Episode][rng.next(2) as usize];
        let name = format!("{} {}", names[rng.next(7) as usize], rng.next(4));
        let it = item(format!("i{i:03}"), Some(parent), kind, name, rng.next(5));
        repo.upsert_item(&it).await.unwrap();
    }
}

async fn mark(repo: &MemoryMetadataRepo, rng: &mut Lcg, n: usize) {
    for _ in 0..n / 3 {
        let mut d = UserItemData::empty(USER, &format!("i{:03}", rng.next(n as u64)));
        d.played = rng.next(2) == 0;
        d.is_favorite = rng.next(2) == 0;
        d.position_ticks = rng.next(3) as i64;
        repo.put_user_data(&d).await.unwrap();
    }
}

/// What the listing must be: every item filtered, sorted in full, paged.
fn reference(all: &[Item], marks: &[UserItemData], q: &ItemQuery) -> (Vec<String>, u64) {
    let is_under = |item: &Item, ancestor: &str| {
        let mut parent = item.parent_id.clone();
        while let Some(p) = parent {
            if p == ancestor {
                return true;
            }
            parent = all
                .iter()
                .find(|i| i.id == p)
                .and_then(|i| i.parent_id.clone());
        }
        false
    };
    let mut matched: Vec<&Item> = all
        .iter()
        .filter(|i| match (&q.parent_id, q.recursive) {
            (None, false) => i.parent_id.is_none(),
            (None, true) => true,
            (Some(p), false) => i.parent_id.as_deref() == Some(p.as_str()),
            (Some(p), true) => is_under(i, p),
        })
        .filter(|i| q.kinds.is_empty() || q.kinds.contains(&i.kind))
        .filter(|i| {
            q.user.as_ref().is_none_or(|u| {
                u.matches(
                    marks
                        .iter()
                        .find(|d| d.item_id == i.id && d.user_id == u.user_id),
                )
            })
        })
        .collect();
    matched.sort_by(|a, b| {
        let primary = match q.sort {
            ItemSort::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
            _ => a.date_added_ms.cmp(&b.date_added_ms),
        };
        let ordering: Ordering = primary.then_with(|| a.id.cmp(&b.id));
        if q.descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
    let total = matched.len() as u64;
    let ids = matched
        .into_iter()
        .skip(q.start_index as usize)
        .take(q.limit.map_or(usize::MAX, |l| l as usize))
        .map(|i| i.id.clone())
        .collect();
    (ids, total)
}

/// Every listing shape the kept orders serve, with and without a user filter.
fn queries() -> Vec<ItemQuery> {
    let mut out = Vec::new();
    // 4 places x 2 kind lists x 2 sorts = 16 orders, all kept at once (`MAX_LISTINGS`): so a
    // stale order would be served, not rebuilt, if a change failed to retire it.
    let places = [
        (None, true),
        (Some("root"), false),
        (Some("root"), true),
        (Some("fa"), false),
    ];
    let users = [
        None,
        Some(UserFilter {
            played: Some(false),
            ..UserFilter::new(USER)
        }),
        Some(UserFilter {
            favorite: Some(false),
            resumable: Some(false),
            ..UserFilter::new(USER)
        }),
        Some(UserFilter::new(USER)),
    ];
    for (parent, recursive) in places {
        for kinds in [vec![], vec![ItemKind::Episode, ItemKind::Movie]] {
            for sort in [ItemSort::Name, ItemSort::DateAdded] {
                for descending in [false, true] {
                    for (start_index, limit) in
                        [(0, None), (0, Some(7)), (9, Some(5)), (500, Some(3))]
                    {
                        for user in &users {
                            out.push(ItemQuery {
                                parent_id: parent.map(str::to_owned),
                                recursive,
                                kinds: kinds.clone(),
                                sort,
                                descending,
                                start_index,
                                limit,
                                user: user.clone(),
                                ..ItemQuery::default()
                            });
                        }
                    }
                }
            }
        }
    }
    let orders: std::collections::HashSet<_> = out
        .iter()
        .map(|q| (q.parent_id.clone(), q.recursive, q.kinds.clone(), q.sort))
        .collect();
    assert_eq!(orders.len(), MAX_LISTINGS);
    out
}

async fn check_all(repo: &MemoryMetadataRepo, when: &str) {
    let snapshot = repo.snapshot();
    for q in queries() {
        let page = repo.query_items(&q).await.unwrap();
        let got: Vec<String> = page.items.iter().map(|i| i.id.clone()).collect();
        let want = reference(&snapshot.items, &snapshot.user_data, &q);
        assert_eq!((got, page.total), want, "{when}: {q:?}");
    }
}

#[tokio::test]
async fn kept_orders_answer_what_a_full_sort_answers_before_and_after_changes() {
    let repo = MemoryMetadataRepo::in_memory();
    let user = User {
        id: USER.into(),
        name: "viewer".into(),
        password_hash: String::new(),
        is_admin: false,
        created_ms: 0,
    };
    repo.create_user(&user).await.unwrap();
    let mut rng = Lcg(7);
    library(&repo, &mut rng, 60).await;
    mark(&repo, &mut rng, 60).await;
    check_all(&repo, "fresh").await;
    // Twice: the second round is served from the kept orders.
    check_all(&repo, "kept").await;

    // A new item, a renamed one, a moved one, a deleted one, changed marks: all seen at once.
    let added = item(
        "i999".into(),
        Some("fa"),
        ItemKind::Movie,
        "AAA first".into(),
        0,
    );
    repo.upsert_item(&added).await.unwrap();
    check_all(&repo, "added").await;
    let mut renamed = repo.get_item("i001").await.unwrap().unwrap();
    renamed.name = "zzz last".into();
    renamed.parent_id = Some("fb".into());
    repo.upsert_item(&renamed).await.unwrap();
    check_all(&repo, "renamed and moved").await;
    assert!(repo.delete_item("i002").await.unwrap());
    check_all(&repo, "deleted").await;
    mark(&repo, &mut rng, 60).await;
    check_all(&repo, "marks changed").await;
}
