//! Item 6: N viewers of one rendition through the TranscodeManager (one shared job) against
//! N independent transcodes (what Jellyfin does: its job key includes the play session).
//!
//! Both sides go through the same manager and worker; the only difference is the job key
//! (independent viewers get renditions that differ in `item_id`, so nothing is shared). CPU is
//! the children's user + system time, read after every worker has been reaped. Each viewer
//! fetches every segment in order, as a player does.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ha_core::memory::{MemoryEventBus, MemoryJobStore, MemoryLeaseManager, MemorySlotLimiter};
use ha_core::SystemClock;
use ha_transcode::manager::{
    ManagerConfig, ManagerStores, Rendition, SharedDirStorage, TranscodeManager, Viewer,
    WorkerRunner,
};
use ha_transcode::spec::{AudioSettings, HardwarePreference, RateControl, VideoSettings};
use ha_transcode::worker::{Supervisor, SupervisorConfig, WorkerCommand};
use serde_json::json;

use crate::cpu::children_cpu_secs;
use crate::report::{Better, Figure};
use crate::transcode::{worker_path, SEGMENT_S};
use crate::Opts;

fn rendition(item: &str, clip: &Path, secs: u32) -> Rendition {
    Rendition {
        item_id: item.into(),
        source: clip.to_path_buf(),
        duration_ms: u64::from(secs) * 1000,
        segment_ms: SEGMENT_S * 1000,
        video: VideoSettings {
            codec: Default::default(),
            target_height: Some(720),
            rate: RateControl::Crf {
                crf: 23,
                maxrate: None,
                bufsize: None,
            },
            preset: "veryfast".into(),
            profile: None,
            level: None,
            low_power: false,
        },
        audio: Some(AudioSettings::default()),
        audio_stream: None,
        subtitle_stream: None,
        hardware: HardwarePreference::Software,
        container: Default::default(),
    }
}

async fn manager(segments: &Path) -> TranscodeManager {
    let stores = ManagerStores {
        leases: Arc::new(MemoryLeaseManager::new()),
        jobs: Arc::new(MemoryJobStore::new()),
        slots: Arc::new(MemorySlotLimiter::new()),
        events: Arc::new(MemoryEventBus::new()),
    };
    let config = ManagerConfig::new("bench-node")
        .with_segment_wait(Duration::from_secs(600))
        .with_max_local_jobs(16);
    let runner = WorkerRunner::new(Supervisor::new(SupervisorConfig::new(WorkerCommand::new(
        worker_path(),
    ))));
    let m = TranscodeManager::new(
        config,
        stores.clone(),
        Arc::new(SharedDirStorage::new(segments)),
        Arc::new(runner),
        SystemClock::shared(),
    )
    .expect("manager config");
    m.start(stores.events.clone()).await.expect("manager start");
    m
}

/// Wall and CPU seconds for `n` viewers; `shared` decides whether they share one rendition.
async fn phase(n: usize, shared: bool, clip: &Path, secs: u32, dir: &Path) -> (f64, f64) {
    let segments = dir.join(format!("viewers-{n}-{shared}"));
    let _ = std::fs::remove_dir_all(&segments);
    std::fs::create_dir_all(&segments).expect("segment dir");
    let m = manager(&segments).await;
    let cpu0 = children_cpu_secs();
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|v| {
            let item = if shared {
                "item".to_owned()
            } else {
                format!("item-{v}")
            };
            let r = rendition(&item, clip, secs);
            let m = m.clone();
            tokio::spawn(async move {
                let viewer = Viewer {
                    user_id: format!("user-{v}"),
                    play_session_id: Some(format!("play-{v}")),
                };
                for i in 0..r.segment_count() {
                    m.segment(&r.keyed(), i, &viewer).await.expect("segment");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("viewer task");
    }
    // Workers exit after the last segment; wait until every one is reaped before reading CPU.
    let reaped = Instant::now();
    while m.local_jobs() > 0 && reaped.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = children_cpu_secs() - cpu0;
    m.shutdown(Duration::from_secs(5)).await;
    (wall, cpu)
}

/// Item 6 for each viewer count in `opts.viewers`.
pub async fn run(opts: &Opts, work: &Path, clip: &Path) -> Vec<Figure> {
    let mut out = Vec::new();
    for &n in &opts.viewers {
        let (sw, sc) = phase(n, true, clip, opts.clip_secs, work).await;
        let (iw, ic) = phase(n, false, clip, opts.clip_secs, work).await;
        eprintln!("[harness] {n} viewers: shared {sw:.1} s wall {sc:.1} s CPU; independent {iw:.1} s wall {ic:.1} s CPU");
        out.push(Figure {
            item: 6,
            name: format!("{n} viewer(s) of one rendition: CPU"),
            unit: "CPU s".into(),
            ours: Some(sc),
            peer: Some(ic),
            peer_name: format!("{n} independent transcode(s)"),
            better: Better::Lower,
            target: None,
            command: String::new(),
            note: format!(
                "{} s clip; wall s shared {sw:.1} / independent {iw:.1}",
                opts.clip_secs
            ),
            raw: json!({ "viewers": n, "shared": { "wall_s": sw, "cpu_s": sc },
                         "independent": { "wall_s": iw, "cpu_s": ic } }),
        });
    }
    out
}
