//! TranscodeManager with several managers ("replicas") in one process sharing stores and a
//! segment directory, running real worker processes on real media. Every scenario runs twice:
//! on the in-process stores and on a real Redis.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ha_core::memory::{MemoryEventBus, MemoryJobStore, MemoryLeaseManager, MemorySlotLimiter};
use ha_core::{JobState, SystemClock};
use ha_transcode::hls::SegmentGate;
use ha_transcode::manager::{
    JobRunner, KeyedRendition, ManagerConfig, ManagerStores, NodeLocalDirStorage, Rendition,
    RunningJob, SegmentError, SegmentLocation, SegmentStorage, SharedDirStorage, TranscodeManager,
    Viewer, WorkerRunner,
};
use ha_transcode::spec::JobSpec;
use ha_transcode::spec::{
    AudioSettings, HardwarePreference, RateControl, SegmentContainer, VideoSettings,
};
use ha_transcode::worker::{Supervisor, SupervisorConfig, WorkerCommand, WorkerError};
use support::{scratch_dir, Clip};

const FPS: u32 = 25;
const SECONDS: u32 = 12;
/// Environment variable tagging each worker with its manager and scenario (see `workers_of`).
const WORKER_TAG_VAR: &str = "MEDIA_HA_TEST_WORKER_OF";

fn source() -> PathBuf {
    Clip::new("manager-source.mkv")
        .video(320, 240, "25")
        .audio(48_000)
        .duration(f64::from(SECONDS))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "50",
            "-c:a",
            "aac",
        ])
        .make()
}

fn rendition(source: &Path) -> Rendition {
    Rendition {
        item_id: "item-1".into(),
        source: source.to_path_buf(),
        duration_ms: u64::from(SECONDS) * 1000,
        segment_ms: 2_000,
        video: VideoSettings {
            codec: Default::default(),
            target_height: Some(240),
            rate: RateControl::Crf {
                crf: 28,
                maxrate: None,
                bufsize: None,
            },
            preset: "ultrafast".into(),
            profile: None,
            level: None,
            low_power: false,
        },
        audio: Some(AudioSettings::default()),
        audio_stream: None,
        subtitle_stream: None,
        hardware: HardwarePreference::Software,
        container: SegmentContainer::MpegTs,
    }
}

fn memory_stores() -> ManagerStores {
    ManagerStores {
        leases: Arc::new(MemoryLeaseManager::new()),
        jobs: Arc::new(MemoryJobStore::new()),
        slots: Arc::new(MemorySlotLimiter::new()),
        events: Arc::new(MemoryEventBus::new()),
    }
}

/// Waits end on events (a run's progress, a cluster message); the poll stays at its 1 s
/// default, so a missing event would show as a slow test, not be papered over.
fn config(node: &str) -> ManagerConfig {
    ManagerConfig::new(node)
        .with_lease_ttl(Duration::from_secs(2))
        .with_segment_wait(Duration::from_secs(90))
}

async fn manager(
    config: ManagerConfig,
    stores: &ManagerStores,
    segments: &Path,
) -> TranscodeManager {
    manager_on(config, stores, Arc::new(SharedDirStorage::new(segments))).await
}

async fn manager_on(
    config: ManagerConfig,
    stores: &ManagerStores,
    storage: Arc<dyn SegmentStorage>,
) -> TranscodeManager {
    let worker = WorkerCommand::new(env!("CARGO_BIN_EXE_ha-transcode-worker"));
    manager_with(config, stores, storage, worker).await
}

async fn manager_with(
    config: ManagerConfig,
    stores: &ManagerStores,
    storage: Arc<dyn SegmentStorage>,
    worker: WorkerCommand,
) -> TranscodeManager {
    let runner = WorkerRunner::new(Supervisor::new(SupervisorConfig::new(worker)));
    let m = TranscodeManager::new(
        config,
        stores.clone(),
        storage,
        Arc::new(runner),
        SystemClock::shared(),
    )
    .unwrap();
    m.start(stores.events.clone()).await.unwrap();
    m
}

fn viewer(user: &str) -> Viewer {
    Viewer {
        user_id: user.into(),
        play_session_id: None,
    }
}

fn ffprobe(args: &[&str], file: &Path) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(file)
        .output()
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Concatenates `segments` and checks the result decodes as one stream with every frame once:
/// presentation timestamps step by exactly one frame from the first to the last.
fn assert_stitches(segments: &[PathBuf], dir: &Path) {
    assert_stitches_frames(segments, dir, FPS * SECONDS);
}

/// [`assert_stitches`] for a source of `frames` frames.
fn assert_stitches_frames(segments: &[PathBuf], dir: &Path, frames: u32) {
    // An fMP4 stream starts with its init segment.
    let mp4 = segments.first().is_some_and(|s| s.ends_with("init.mp4"));
    let joined = dir.join(if mp4 { "joined.mp4" } else { "joined.ts" });
    let mut bytes = Vec::new();
    for s in segments {
        bytes.extend(std::fs::read(s).unwrap());
    }
    std::fs::write(&joined, bytes).unwrap();
    let pts: Vec<i64> = ffprobe(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=pts",
            "-of",
            "csv=p=0",
        ],
        &joined,
    )
    .lines()
    .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
    .collect();
    assert_eq!(pts.len() as u32, frames, "every frame decoded once");
    let step = 90_000 / i64::from(FPS);
    for w in pts.windows(2) {
        assert_eq!(
            w[1] - w[0],
            step,
            "no gap, duplicate or jump at pts {}",
            w[0]
        );
    }
}

async fn fetch_all(managers: &[&TranscodeManager], r: &KeyedRendition, from: u32) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for i in from..r.segment_count() {
        let m = managers[i as usize % managers.len()];
        out.push(
            m.segment(r, i, &viewer("u1"))
                .await
                .unwrap_or_else(|e| panic!("segment {i}: {e}")),
        );
    }
    out
}

async fn two_viewers_on_two_replicas_share_one_job(s: ManagerStores) {
    let dir = scratch_dir("mgr-shared");
    let a = manager(config("a"), &s, &dir).await;
    let b = manager(config("b"), &s, &dir).await;
    let r = rendition(&source()).keyed();
    let (u1, u2) = (viewer("u1"), viewer("u2"));
    let (sa, sb) = tokio::join!(a.segment(&r, 0, &u1), b.segment(&r, 0, &u2));
    assert_eq!(sa.unwrap(), sb.unwrap());
    assert_eq!(
        a.local_jobs() + b.local_jobs(),
        1,
        "one worker for both viewers"
    );
    let record = s.jobs.get(r.job_key().as_str()).await.unwrap().unwrap();
    assert_eq!(record.attempts, 1);
    assert_eq!(a.stats().jobs_started + b.stats().jobs_started, 1);
    let all = fetch_all(&[&b, &a], &r, 0).await;
    assert_stitches(&all, &dir);
    a.shutdown(Duration::from_secs(10)).await;
    b.shutdown(Duration::from_secs(10)).await;
}

async fn a_replica_losing_its_lease_is_replaced_and_the_stream_splices(s: ManagerStores) {
    let dir = scratch_dir("mgr-takeover");
    let tagged = WorkerCommand::new(env!("CARGO_BIN_EXE_ha-transcode-worker"))
        .env(WORKER_TAG_VAR, worker_tag("a", &dir));
    let a = manager_with(
        config("a"),
        &s,
        Arc::new(SharedDirStorage::new(&dir)),
        tagged,
    )
    .await;
    let b = manager(config("b"), &s, &dir).await;
    // The scenario needs the owner's job still running when its tenure ends, so the owner's
    // worker is frozen (SIGSTOP) right after segment 1 and cannot finish meanwhile. Should the
    // whole clip be done before the freeze lands (a fast machine, a stalled test task), the
    // attempt proves nothing and runs again on a fresh rendition.
    for attempt in 0..3 {
        let mut r = rendition(&source());
        r.item_id = format!("item-takeover-{attempt}");
        let r = r.keyed();
        let key = r.job_key();
        let first = a.segment(&r, 0, &viewer("u1")).await.unwrap();
        let second = a.segment(&r, 1, &viewer("u1")).await.unwrap();
        let frozen = workers_of("a", &dir);
        for pid in &frozen {
            signal(*pid, "-STOP");
        }
        let lease = s.leases.current(&format!("transcode:{key}")).await.unwrap();
        let record = s.jobs.get(key.as_str()).await.unwrap().unwrap();
        let unfinished = record
            .last_segment
            .is_none_or(|last| last + 1 < r.segment_count());
        let Some(lease) = lease.filter(|_| unfinished && !frozen.is_empty()) else {
            for pid in &frozen {
                signal(*pid, "-CONT");
            }
            eprintln!("attempt {attempt}: the job finished before its worker was frozen");
            continue;
        };
        // The owner's tenure ends behind its back (as when it pauses past its TTL).
        assert_eq!(lease.holder, "a");
        assert!(s.leases.release(&lease).await.unwrap());
        let mut rest = fetch_all(&[&b], &r, 2).await;
        let record = s.jobs.get(key.as_str()).await.unwrap().unwrap();
        assert_eq!(record.owner_node, "b");
        assert!(record.token > lease.token);
        assert_eq!(record.attempts, 2);
        assert_eq!(b.stats().takeovers, 1);
        // The old owner stopped its (frozen) worker on its own: SIGKILL needs no SIGCONT.
        tokio::time::timeout(Duration::from_secs(10), async {
            while a.local_jobs() > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("old owner stops after losing its lease");
        assert!(
            workers_of("a", &dir).is_empty(),
            "the frozen worker was killed"
        );
        let mut all = vec![first, second];
        all.append(&mut rest);
        assert_stitches(&all, &dir);
        b.shutdown(Duration::from_secs(10)).await;
        return;
    }
    panic!("in every attempt the job finished before its worker could be frozen");
}

/// An owner without a live liveness record (here: one that keeps none) loses its job to the
/// first replica that needs it, at once, although it renews the job lease: the lapsed-liveness
/// takeover, fenced like any other (the old owner's run stops on its next renewal).
async fn an_owner_without_liveness_is_taken_over_before_its_lease_expires(s: ManagerStores) {
    let dir = scratch_dir("mgr-liveness");
    let tagged = WorkerCommand::new(env!("CARGO_BIN_EXE_ha-transcode-worker"))
        .env(WORKER_TAG_VAR, worker_tag("a", &dir));
    // A long lease: a takeover inside it cannot be the expiry path.
    let long = |node: &str| config(node).with_lease_ttl(Duration::from_secs(30));
    let a = manager_with(
        long("a").with_liveness_ttl(None),
        &s,
        Arc::new(SharedDirStorage::new(&dir)),
        tagged,
    )
    .await;
    let b = manager(long("b"), &s, &dir).await;
    for attempt in 0..3 {
        let mut r = rendition(&source());
        r.item_id = format!("item-liveness-{attempt}");
        let r = r.keyed();
        let key = r.job_key();
        let first = a.segment(&r, 0, &viewer("u1")).await.unwrap();
        // The owner's worker is frozen so that the job is still running when b asks.
        let frozen = workers_of("a", &dir);
        for pid in &frozen {
            signal(*pid, "-STOP");
        }
        let before = s.jobs.get(key.as_str()).await.unwrap().unwrap();
        if frozen.is_empty()
            || before
                .last_segment
                .is_some_and(|l| l + 1 >= r.segment_count())
        {
            for pid in &frozen {
                signal(*pid, "-CONT");
            }
            eprintln!("attempt {attempt}: the job finished before its worker was frozen");
            continue;
        }
        let asked = std::time::Instant::now();
        let next = before.last_segment.map_or(0, |l| l + 1);
        let rest = fetch_all(&[&b], &r, next).await;
        let record = s.jobs.get(key.as_str()).await.unwrap().unwrap();
        assert_eq!(record.owner_node, "b");
        assert!(record.token > before.token, "fenced by a newer token");
        assert_eq!(b.stats().takeovers, 1);
        assert_eq!(b.stats().liveness_takeovers, 1);
        assert!(
            asked.elapsed() < Duration::from_secs(30),
            "taken over inside the old owner's lease, not after it"
        );
        tokio::time::timeout(Duration::from_secs(20), async {
            while a.local_jobs() > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the old owner stops its run once its lease renewal is refused");
        // Every segment, the old owner's and the new one's, splices.
        let all = fetch_all(&[&b], &r, 0).await;
        assert_eq!(all[0], first);
        assert_eq!(all.len() - rest.len(), next as usize);
        assert_stitches(&all, &dir);
        b.shutdown(Duration::from_secs(10)).await;
        return;
    }
    panic!("in every attempt the job finished before its worker could be frozen");
}

/// The environment tag the takeover scenario gives the workers of `node` writing into `segments`.
fn worker_tag(node: &str, segments: &Path) -> String {
    format!("{node}@{}", segments.display())
}

/// Live worker processes of `node` for the scenario using `segments` (found by their tag in
/// `/proc/<pid>/environ`), so a scenario can freeze one replica's worker.
fn workers_of(node: &str, segments: &Path) -> Vec<u32> {
    let wanted = format!("{WORKER_TAG_VAR}={}", worker_tag(node, segments));
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let zombie =
                std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
                    stat.rsplit(") ")
                        .next()
                        .is_some_and(|rest| rest.starts_with('Z'))
                });
            !zombie
                && std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == wanted.as_bytes()))
        })
        .collect()
}

fn signal(pid: u32, signal: &str) {
    // A worker that exited on its own in between makes `kill` fail; nothing to do then.
    let _exited_meanwhile = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
}

async fn graceful_shutdown_hands_the_job_over_at_once(s: ManagerStores) {
    let dir = scratch_dir("mgr-shutdown");
    let a = manager(config("a"), &s, &dir).await;
    let b = manager(config("b"), &s, &dir).await;
    let r = rendition(&source()).keyed();
    let mut all = vec![a.segment(&r, 0, &viewer("u1")).await.unwrap()];
    a.shutdown(Duration::from_secs(10)).await;
    assert_eq!(a.local_jobs(), 0);
    assert!(
        s.leases
            .current(&format!("transcode:{}", r.job_key()))
            .await
            .unwrap()
            .is_none(),
        "released"
    );
    assert!(matches!(
        a.segment(&r, 5, &viewer("u1")).await,
        Err(SegmentError::ShuttingDown) | Ok(_)
    ));
    all.extend(fetch_all(&[&b], &r, 1).await);
    assert_stitches(&all, &dir);
    b.shutdown(Duration::from_secs(10)).await;
}

/// A draining owner hands its job to a live replica at once, make-before-break, and keeps
/// serving: the other replica takes the lease over from it (not from a lapsed liveness record,
/// not after a release), the draining owner's run stops as soon as it is adopted, it serves the
/// new owner's segments, and a job nobody runs that is asked of it starts on the live replica.
async fn a_draining_owner_hands_its_job_over_and_keeps_serving(s: ManagerStores) {
    let dir = scratch_dir("mgr-handover");
    let tagged = WorkerCommand::new(env!("CARGO_BIN_EXE_ha-transcode-worker"))
        .env(WORKER_TAG_VAR, worker_tag("a", &dir));
    // A long lease: a handover inside it cannot be the expiry path.
    let long = |node: &str| config(node).with_lease_ttl(Duration::from_secs(30));
    let a = manager_with(long("a"), &s, Arc::new(SharedDirStorage::new(&dir)), tagged).await;
    let b = manager(long("b"), &s, &dir).await;
    for attempt in 0..3 {
        let mut r = rendition(&source());
        r.item_id = format!("item-handover-{attempt}");
        let r = r.keyed();
        let key = r.job_key();
        let first = a.segment(&r, 0, &viewer("u1")).await.unwrap();
        // The owner's worker is frozen so that the job is still running at the handover.
        let frozen = workers_of("a", &dir);
        for pid in &frozen {
            signal(*pid, "-STOP");
        }
        let before = s.jobs.get(key.as_str()).await.unwrap().unwrap();
        if frozen.is_empty()
            || before
                .last_segment
                .is_some_and(|l| l + 1 >= r.segment_count())
        {
            for pid in &frozen {
                signal(*pid, "-CONT");
            }
            eprintln!("attempt {attempt}: the job finished before its worker was frozen");
            continue;
        }
        let drained = std::time::Instant::now();
        a.hand_over();
        assert!(a.is_draining());
        let record = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let record = s.jobs.get(key.as_str()).await.unwrap().unwrap();
                if record.owner_node == "b" {
                    return record;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the live replica takes the job over without any segment request");
        eprintln!("handed over {:?} after hand_over", drained.elapsed());
        assert!(record.token > before.token, "fenced by a newer token");
        tokio::time::timeout(Duration::from_secs(5), async {
            while a.local_jobs() > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the draining owner stops its run once the job is adopted");
        // The draining replica still answers, with the new owner's segments.
        let next = before.last_segment.map_or(0, |l| l + 1);
        let rest = fetch_all(&[&a], &r, next).await;
        let all = fetch_all(&[&a, &b], &r, 0).await;
        assert_eq!(all[0], first);
        assert_eq!(all.len() - rest.len(), next as usize);
        assert_stitches(&all, &dir);
        assert_eq!(b.stats().takeovers, 1);
        assert_eq!(
            b.stats().liveness_takeovers,
            0,
            "the draining owner is alive"
        );
        assert_eq!(
            (a.stats().jobs_started, a.stats().takeovers),
            (1, 0),
            "a draining replica takes no job"
        );
        // A job nobody runs, asked of the draining replica, starts on the live one.
        let mut fresh = rendition(&source());
        fresh.item_id = format!("item-handover-fresh-{attempt}");
        let fresh = fresh.keyed();
        a.segment(&fresh, 0, &viewer("u2")).await.unwrap();
        let record = s.jobs.get(fresh.job_key().as_str()).await.unwrap().unwrap();
        assert_eq!(record.owner_node, "b");
        assert_eq!(a.local_jobs(), 0);
        a.shutdown(Duration::from_secs(10)).await;
        b.shutdown(Duration::from_secs(10)).await;
        return;
    }
    panic!("in every attempt the job finished before its worker could be frozen");
}

async fn a_poison_file_is_refused_after_max_attempts(s: ManagerStores) {
    let dir = scratch_dir("mgr-poison");
    let bad = dir.join("poison.mkv");
    std::fs::write(
        &bad,
        b"\x1a\x45\xdf\xa3 this is not really matroska".repeat(100),
    )
    .unwrap();
    let a = manager(config("a"), &s, &dir).await;
    let b = manager(config("b"), &s, &dir).await;
    let r = rendition(&bad).keyed();
    let err = a.segment(&r, 0, &viewer("u1")).await.unwrap_err();
    assert!(
        matches!(err, SegmentError::Poisoned { attempts: 3, .. }),
        "{err:?}"
    );
    let err = b.segment(&r, 0, &viewer("u2")).await.unwrap_err();
    assert!(
        matches!(err, SegmentError::Poisoned { .. }),
        "other replicas refuse it too: {err:?}"
    );
    let record = s.jobs.get(r.job_key().as_str()).await.unwrap().unwrap();
    assert_eq!(record.state, JobState::Failed);
    assert!(record.failure.is_some());
}

async fn per_user_limit_refuses_a_second_job_and_frees_on_stop(s: ManagerStores) {
    let dir = scratch_dir("mgr-limit");
    let a = manager(config("a").with_max_jobs_per_user(Some(1)), &s, &dir).await;
    let b = manager(config("b").with_max_jobs_per_user(Some(1)), &s, &dir).await;
    let r1 = rendition(&source());
    let mut r2 = r1.clone();
    r2.video.target_height = Some(120);
    let (r1, r2) = (r1.keyed(), r2.keyed());
    // One user's first requests for the same rendition, at once on two replicas: they share one
    // job, and losing the race for its lease is not "over the limit".
    let u1 = viewer("u1");
    let (w, x, y, z) = tokio::join!(
        a.segment(&r1, 0, &u1),
        b.segment(&r1, 0, &u1),
        a.segment(&r1, 0, &u1),
        b.segment(&r1, 0, &u1)
    );
    for first in [w, x, y, z] {
        first.unwrap();
    }
    assert_eq!(
        a.stats().jobs_started + b.stats().jobs_started,
        1,
        "one job for the rendition"
    );
    let err = a.segment(&r2, 0, &u1).await.unwrap_err();
    assert!(
        matches!(err, SegmentError::CapacityExhausted { .. }),
        "{err:?}"
    );
    // Another user is not limited by u1's job.
    a.segment(&r2, 0, &viewer("u2")).await.unwrap();
    a.shutdown(Duration::from_secs(10)).await;
    b.shutdown(Duration::from_secs(10)).await;
}

async fn cleanup_removes_only_unreferenced_job_directories(s: ManagerStores) {
    let dir = scratch_dir("mgr-cleanup");
    let a = manager(config("a").with_keep_window(Duration::ZERO), &s, &dir).await;
    let r = rendition(&source()).keyed();
    let all = fetch_all(&[&a], &r, 0).await;
    let orphan = dir.join("0123456789abcdef0123456789abcdef");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("seg-000000.ts"), b"old").unwrap();
    let foreign = dir.join("someone-elses-files");
    std::fs::create_dir_all(&foreign).unwrap();
    let removed = a.cleanup().await.unwrap();
    assert_eq!(removed, 1);
    assert!(!orphan.exists());
    assert!(foreign.exists(), "never touch what is not ours");
    assert!(
        all.iter().all(|p| p.exists()),
        "a live record's segments stay"
    );
    a.shutdown(Duration::from_secs(10)).await;
}

/// A replica with its own segment directory, reachable (for the test) at `http://<node>.test`.
async fn node_local(node: &str, stores: &ManagerStores, dir: &Path) -> TranscodeManager {
    let c = config(node).with_advertise(format!("http://{node}.test:8096"));
    manager_on(c, stores, Arc::new(NodeLocalDirStorage::new(dir))).await
}

/// What a server does with node-local storage: serve a local segment, or forward the request
/// to the owner named in the answer (one of `reachable`, which serves it with `segment`);
/// an owner not in `reachable` is reported unreachable and the segment located again.
async fn fetch_via_owner(
    m: &TranscodeManager,
    reachable: &[&TranscodeManager],
    r: &KeyedRendition,
    i: u32,
) -> PathBuf {
    for _ in 0..4 {
        match m.locate(r, i, &viewer("u1")).await {
            Ok(SegmentLocation::Local(path)) => return path,
            Ok(SegmentLocation::Owner { node, .. }) => {
                match reachable.iter().find(|o| o.node_id() == node) {
                    Some(owner) => match owner.segment(r, i, &viewer("u1")).await {
                        Ok(path) => return path,
                        Err(SegmentError::NotOwner { .. }) => continue,
                        Err(e) => panic!("segment {i} on its owner {node}: {e}"),
                    },
                    None => m.owner_unreachable(&node),
                }
            }
            Err(e) => panic!("segment {i}: {e}"),
        }
    }
    panic!("segment {i}: no owner served it");
}

async fn node_local_non_owner_is_sent_to_the_owner(s: ManagerStores) {
    let (dir_a, dir_b) = (scratch_dir("mgr-local-a"), scratch_dir("mgr-local-b"));
    let a = node_local("a", &s, &dir_a).await;
    let b = node_local("b", &s, &dir_b).await;
    let r = rendition(&source()).keyed();
    let first = a.segment(&r, 0, &viewer("u1")).await.unwrap();
    assert!(first.starts_with(&dir_a), "{}", first.display());
    let mut all = vec![first];
    for i in 0..r.segment_count() {
        // Asked while the owner runs the job and after it completed: both point at the owner.
        let location = b.locate(&r, i, &viewer("u2")).await.unwrap();
        assert_eq!(
            location,
            SegmentLocation::Owner {
                node: "a".into(),
                address: "http://a.test:8096".into()
            },
            "segment {i}"
        );
        // The forwarded request, served by the owner from its own directory.
        let path = a.segment(&r, i, &viewer("u2")).await.unwrap();
        assert!(path.starts_with(&dir_a));
        if i > 0 {
            all.push(path);
        }
    }
    // A request forwarded to a node that does not own the job is refused, never run twice.
    let err = b.segment(&r, 1, &viewer("u2")).await.unwrap_err();
    assert!(
        matches!(&err, SegmentError::NotOwner { owner, .. } if owner == "a"),
        "{err:?}"
    );
    let sb = b.stats();
    assert_eq!((sb.jobs_started, sb.takeovers, b.local_jobs()), (0, 0, 0));
    assert_eq!(
        std::fs::read_dir(&dir_b).map_or(0, |d| d.count()),
        0,
        "the non-owner wrote nothing"
    );
    assert_eq!(a.stats().jobs_started, 1);
    assert_stitches(&all, &dir_a);
    a.shutdown(Duration::from_secs(10)).await;
    b.shutdown(Duration::from_secs(10)).await;
}

async fn node_local_takeover_regenerates_the_old_owners_segments(s: ManagerStores) {
    let (dir_a, dir_b) = (scratch_dir("mgr-regen-a"), scratch_dir("mgr-regen-b"));
    let a = node_local("a", &s, &dir_a).await;
    let b = node_local("b", &s, &dir_b).await;
    let r = rendition(&source()).keyed();
    let from_a = vec![
        a.segment(&r, 0, &viewer("u1")).await.unwrap(),
        fetch_via_owner(&b, &[&a], &r, 1).await,
    ];
    assert!(from_a.iter().all(|p| p.starts_with(&dir_a)));
    // The owner goes away with its disk: whether it handed the job over mid-run or had
    // finished it, B must make every segment it is asked for itself.
    a.shutdown(Duration::from_secs(10)).await;
    let mut from_b = Vec::new();
    for i in 0..r.segment_count() {
        from_b.push(fetch_via_owner(&b, &[], &r, i).await);
    }
    assert!(from_b.iter().all(|p| p.starts_with(&dir_b)), "{from_b:?}");
    assert_eq!(b.stats().takeovers, 1);
    let record = s.jobs.get(r.job_key().as_str()).await.unwrap().unwrap();
    assert_eq!(record.owner_node, "b");
    // B's own segments make the whole stream, and splice after what the viewer got from A.
    assert_stitches(&from_b, &dir_b);
    let mut mixed = from_a.clone();
    mixed.extend_from_slice(&from_b[2..]);
    assert_stitches(&mixed, &dir_b);
    b.shutdown(Duration::from_secs(10)).await;
}

/// The worker runner, counting the runs it starts (a job's first run and every restart).
#[derive(Debug)]
struct CountingRunner {
    inner: WorkerRunner,
    runs: Arc<AtomicU32>,
}

#[async_trait::async_trait]
impl JobRunner for CountingRunner {
    async fn start(
        &self,
        spec: JobSpec,
        gate: Arc<dyn SegmentGate>,
    ) -> Result<Box<dyn RunningJob>, WorkerError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.inner.start(spec, gate).await
    }
}

async fn two_viewers_far_apart_take_turns_instead_of_thrashing(s: ManagerStores) {
    const LONG: u32 = 40;
    let dir = scratch_dir("mgr-turns");
    let source = Clip::new("manager-long.mkv")
        .video(320, 240, "25")
        .audio(48_000)
        .duration(f64::from(LONG))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "50",
            "-c:a",
            "aac",
        ])
        .make();
    let r = Rendition {
        duration_ms: u64::from(LONG) * 1000,
        ..rendition(&source)
    }
    .keyed();
    let hold = Duration::from_millis(1500);
    let runs = Arc::new(AtomicU32::new(0));
    let replica = |node: &str| {
        let c = config(node)
            .with_reach(1)
            .with_seek_hold(hold)
            .with_near_window(Duration::from_secs(1));
        let worker = WorkerCommand::new(env!("CARGO_BIN_EXE_ha-transcode-worker"));
        let runner = CountingRunner {
            inner: WorkerRunner::new(Supervisor::new(SupervisorConfig::new(worker))),
            runs: runs.clone(),
        };
        let m = TranscodeManager::new(
            c,
            s.clone(),
            Arc::new(SharedDirStorage::new(&dir)),
            Arc::new(runner),
            SystemClock::shared(),
        )
        .unwrap();
        let events = s.events.clone();
        async move {
            m.start(events).await.unwrap();
            m
        }
    };
    let (a, b) = (replica("a").await, replica("b").await);
    let session = |id: &str| Viewer {
        user_id: "u1".into(),
        play_session_id: Some(id.into()),
    };
    let (count, half) = (r.segment_count(), r.segment_count() / 2);
    let started = std::time::Instant::now();
    // One viewer from the start on A (the owner), one from the middle on B, at the same time.
    let (first, second) = tokio::join!(
        async {
            let mut got = Vec::new();
            for i in 0..half {
                got.push(a.segment(&r, i, &session("v1")).await.unwrap());
            }
            got
        },
        async {
            let mut got = Vec::new();
            for i in half..count {
                got.push(b.segment(&r, i, &session("v2")).await.unwrap());
            }
            got
        }
    );
    let elapsed = started.elapsed();
    let runs = runs.load(Ordering::SeqCst);
    // Without turns every request of one viewer would move the run away from the other. With
    // them: the first run, one move per slice boundary, one when a viewer's range is done
    // (nobody else near), one fresh start after the job completed, one of slack.
    let bound = 4 + (elapsed.as_secs_f64() / hold.as_secs_f64()).ceil() as u32;
    assert!(
        runs <= bound,
        "{runs} runs in {elapsed:?} (at most {bound}): far viewers must take turns"
    );
    let mut all = first;
    all.extend(second);
    assert_stitches_frames(&all, &dir, FPS * LONG);
    a.shutdown(Duration::from_secs(10)).await;
    b.shutdown(Duration::from_secs(10)).await;
}

/// An fMP4 rendition is its own job (not the TS one), its init segment is there before any
/// media segment was asked for, and two replicas serve a stream that decodes behind it.
async fn fmp4_renditions_share_one_job_and_serve_their_init(s: ManagerStores) {
    let dir = scratch_dir("mgr-fmp4");
    let a = manager(config("a"), &s, &dir).await;
    let b = manager(config("b"), &s, &dir).await;
    let ts = rendition(&source());
    let r = Rendition {
        container: SegmentContainer::Fmp4,
        ..ts.clone()
    }
    .keyed();
    let ts = ts.keyed();
    assert_ne!(
        r.job_key(),
        ts.job_key(),
        "TS and fMP4 are different outputs"
    );
    let (u1, u2) = (viewer("u1"), viewer("u2"));
    let (init_a, init_b) = tokio::join!(a.init_segment(&r, 0, &u1), b.init_segment(&r, 0, &u2));
    let init = init_a.unwrap();
    assert_eq!(init, init_b.unwrap());
    assert!(init.ends_with("init.mp4"), "{}", init.display());
    assert_eq!(
        a.local_jobs() + b.local_jobs(),
        1,
        "one worker for both viewers"
    );
    assert!(
        a.init_segment(&ts, 0, &u1).await.is_err(),
        "a TS rendition has no init segment"
    );
    let segments = fetch_all(&[&b, &a], &r, 0).await;
    assert!(segments
        .iter()
        .all(|p| p.extension().is_some_and(|e| e == "m4s")));
    let mut all = vec![init];
    all.extend(segments);
    assert_stitches(&all, &dir);
    a.shutdown(Duration::from_secs(10)).await;
    b.shutdown(Duration::from_secs(10)).await;
}

async fn redis_stores() -> ManagerStores {
    let url = ha_testkit::redis_url().await;
    let config = ha_store_redis::RedisStoreConfig::from_url(&url)
        .expect("test redis URL")
        .with_prefix(ha_testkit::unique("ha-mgr-test"));
    let store = ha_store_redis::RedisStore::connect(config)
        .await
        .expect("connect to the test redis");
    ManagerStores {
        leases: Arc::new(store.leases()),
        jobs: Arc::new(store.jobs()),
        slots: Arc::new(store.slots()),
        events: Arc::new(store.events()),
    }
}

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::memory_stores()).await;
                }
            )*
        }
        mod on_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::redis_stores().await).await;
                }
            )*
        }
    };
}

on_every_backend!(
    two_viewers_on_two_replicas_share_one_job,
    a_replica_losing_its_lease_is_replaced_and_the_stream_splices,
    an_owner_without_liveness_is_taken_over_before_its_lease_expires,
    graceful_shutdown_hands_the_job_over_at_once,
    a_draining_owner_hands_its_job_over_and_keeps_serving,
    a_poison_file_is_refused_after_max_attempts,
    per_user_limit_refuses_a_second_job_and_frees_on_stop,
    cleanup_removes_only_unreferenced_job_directories,
    node_local_non_owner_is_sent_to_the_owner,
    node_local_takeover_regenerates_the_old_owners_segments,
    two_viewers_far_apart_take_turns_instead_of_thrashing,
    fmp4_renditions_share_one_job_and_serve_their_init,
);
