//! [`TranscodeJobStore`] semantics every backend must show.
//!
//! Tokens here are what lease managers issue: microseconds since the Unix epoch around now
//! ([`tok`]), because a backend may refuse a claim with a token older than its own start when
//! no record exists (see [`TranscodeJobStore::claim`]).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::sleep;

use super::unique;
use crate::{Error, FencingToken, JobClaim, JobState, TranscodeJobStore};

/// Token number `n` of this test run: `n` µs after the run's first call (a realistic token).
fn tok(n: u64) -> FencingToken {
    static BASE: OnceLock<u64> = OnceLock::new();
    let base = *BASE.get_or_init(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
    });
    FencingToken(base + n)
}

fn claim(key: &str, node: &str, token: u64, start: u32) -> JobClaim {
    JobClaim {
        key: key.to_owned(),
        source: "item-1".into(),
        profile: r#"{"height":720,"codec":"h264"}"#.into(),
        owner_node: node.to_owned(),
        owner_addr: Some(format!("http://{node}:8096")),
        token: tok(token),
        start_segment: start,
    }
}

/// A first claim creates a running record with one attempt and no progress.
pub async fn jobs_claim_creates_running_record(s: Arc<dyn TranscodeJobStore>) {
    let key = unique("job");
    let rec = s.claim(&claim(&key, "a", 100, 0)).await.unwrap();
    assert_eq!(rec.key, key);
    assert_eq!(rec.state, JobState::Running);
    assert_eq!(rec.attempts, 1);
    assert_eq!(rec.last_segment, None);
    assert_eq!(rec.next_segment(), 0);
    assert_eq!(rec.token, tok(100));
    assert_eq!(rec.owner_addr.as_deref(), Some("http://a:8096"));
    assert_eq!(rec.profile, r#"{"height":720,"codec":"h264"}"#);
    assert!(rec.updated_ms >= rec.created_ms && rec.created_ms > 0);
    let got = s.get(&key).await.unwrap().expect("stored");
    assert_eq!(got, rec);
    assert!(s.get(&unique("job")).await.unwrap().is_none());
}

/// Progress moves forward only; an older segment leaves it unchanged without error.
pub async fn jobs_progress_only_moves_forward(s: Arc<dyn TranscodeJobStore>) {
    let key = unique("job");
    s.claim(&claim(&key, "a", 7, 0)).await.unwrap();
    let t = tok(7);
    assert_eq!(
        s.record_progress(&key, t, 0).await.unwrap().last_segment,
        Some(0)
    );
    assert_eq!(
        s.record_progress(&key, t, 3).await.unwrap().last_segment,
        Some(3)
    );
    assert_eq!(
        s.record_progress(&key, t, 1).await.unwrap().last_segment,
        Some(3)
    );
    let rec = s.record_progress(&key, t, 4).await.unwrap();
    assert_eq!(rec.last_segment, Some(4));
    assert_eq!(rec.next_segment(), 5);
    assert_eq!(s.get(&key).await.unwrap().unwrap().last_segment, Some(4));
}

/// After a takeover with a newer token, every write with the old token is fenced.
pub async fn jobs_stale_token_writes_are_fenced(s: Arc<dyn TranscodeJobStore>) {
    let key = unique("job");
    s.claim(&claim(&key, "a", 10, 0)).await.unwrap();
    s.record_progress(&key, tok(10), 2).await.unwrap();
    let taken = s.claim(&claim(&key, "b", 20, 3)).await.unwrap();
    assert_eq!(taken.attempts, 2);
    assert_eq!(taken.owner_node, "b");
    assert_eq!(taken.start_segment, 3);
    assert_eq!(taken.last_segment, None);

    let fenced = |r: crate::Result<_>| match r {
        Err(Error::Fenced {
            presented, current, ..
        }) => assert_eq!((presented, current), (tok(10), tok(20))),
        other => panic!("expected Fenced, got {other:?}"),
    };
    fenced(s.record_progress(&key, tok(10), 5).await.map(|_| ()));
    fenced(
        s.set_state(&key, tok(10), JobState::Completed, None)
            .await
            .map(|_| ()),
    );
    fenced(s.claim(&claim(&key, "a", 10, 0)).await.map(|_| ()));
    // A token newer than the record's is not the record's tenure either.
    assert!(matches!(
        s.record_progress(&key, tok(30), 5).await,
        Err(Error::Fenced { .. })
    ));
    let rec = s.get(&key).await.unwrap().unwrap();
    assert_eq!((rec.owner_node.as_str(), rec.token), ("b", tok(20)));
    assert_eq!(rec.last_segment, None);
    assert_eq!(rec.state, JobState::Running);
}

/// The same tenure may restart the run at another segment; attempts do not grow.
pub async fn jobs_same_token_reclaim_restarts_run(s: Arc<dyn TranscodeJobStore>) {
    let key = unique("job");
    s.claim(&claim(&key, "a", 5, 0)).await.unwrap();
    s.record_progress(&key, tok(5), 4).await.unwrap();
    let restarted = s.claim(&claim(&key, "a", 5, 50)).await.unwrap();
    assert_eq!(restarted.attempts, 1);
    assert_eq!(restarted.start_segment, 50);
    assert_eq!(restarted.last_segment, None);
    assert_eq!(restarted.next_segment(), 50);
    let rec = s.record_progress(&key, tok(5), 50).await.unwrap();
    assert_eq!(rec.last_segment, Some(50));
}

/// State changes are stored with their failure reason; a new claim clears the reason.
pub async fn jobs_set_state_records_failure(s: Arc<dyn TranscodeJobStore>) {
    let key = unique("job");
    s.claim(&claim(&key, "a", 1, 0)).await.unwrap();
    let failed = s
        .set_state(
            &key,
            tok(1),
            JobState::Failed,
            Some("decoder crashed: 'SIGSEGV'"),
        )
        .await
        .unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(
        failed.failure.as_deref(),
        Some("decoder crashed: 'SIGSEGV'")
    );
    let got = s.get(&key).await.unwrap().unwrap();
    assert_eq!(got.state, JobState::Failed);
    assert_eq!(got.failure.as_deref(), Some("decoder crashed: 'SIGSEGV'"));
    let retried = s.claim(&claim(&key, "b", 2, 0)).await.unwrap();
    assert_eq!(retried.state, JobState::Running);
    assert_eq!(retried.failure, None);
    assert_eq!(retried.attempts, 2);
    let done = s
        .set_state(&key, tok(2), JobState::Completed, None)
        .await
        .unwrap();
    assert_eq!(done.state, JobState::Completed);
}

/// Writes to a record that does not exist are `NotFound`.
pub async fn jobs_progress_on_missing_record_is_not_found(s: Arc<dyn TranscodeJobStore>) {
    let key = unique("job");
    assert!(matches!(
        s.record_progress(&key, tok(1), 0).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.set_state(&key, tok(1), JobState::Stopped, None).await,
        Err(Error::NotFound(_))
    ));
}

/// `list` shows live records; `remove` deletes regardless of token.
pub async fn jobs_list_and_remove(s: Arc<dyn TranscodeJobStore>) {
    let k1 = unique("job");
    let k2 = unique("job");
    s.claim(&claim(&k1, "a", 1, 0)).await.unwrap();
    s.claim(&claim(&k2, "b", 2, 0)).await.unwrap();
    let keys: Vec<String> = s.list().await.unwrap().into_iter().map(|r| r.key).collect();
    assert!(keys.contains(&k1) && keys.contains(&k2));
    assert!(s.remove(&k1).await.unwrap());
    assert!(!s.remove(&k1).await.unwrap());
    assert!(s.get(&k1).await.unwrap().is_none());
    let keys: Vec<String> = s.list().await.unwrap().into_iter().map(|r| r.key).collect();
    assert!(!keys.contains(&k1) && keys.contains(&k2));
}

/// Concurrent claims with different tokens: the highest token owns the record at the end.
pub async fn jobs_concurrent_claims_leave_highest_token(s: Arc<dyn TranscodeJobStore>) {
    let key = unique("job");
    let tasks = (1..=12u64).map(|t| {
        let s = s.clone();
        let c = claim(&key, &format!("n{t}"), t, 0);
        tokio::spawn(async move { s.claim(&c).await })
    });
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) | Err(Error::Fenced { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    let rec = s.get(&key).await.unwrap().unwrap();
    assert_eq!(rec.token, tok(12));
    assert_eq!(rec.owner_node, "n12");
}

/// Records disappear once the retention has passed since their last write (the store was built
/// with a 1 s retention for this test), but outlive a short lease.
pub async fn jobs_record_expires_after_retention(s: Arc<dyn TranscodeJobStore>) {
    let key = unique("job");
    s.claim(&claim(&key, "a", 1, 0)).await.unwrap();
    assert!(s.get(&key).await.unwrap().is_some());
    sleep(Duration::from_millis(2_500)).await;
    assert!(s.get(&key).await.unwrap().is_none(), "retention passed");
    assert!(!s.list().await.unwrap().iter().any(|r| r.key == key));
    assert!(matches!(
        s.record_progress(&key, tok(1), 0).await,
        Err(Error::NotFound(_))
    ));
}
