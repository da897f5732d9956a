//! Segment ready → answer: how long a request that waits for a segment still waits once the
//! segment is in place.
//!
//! A scripted runner publishes segments through the manager's own gate at irregular gaps
//! (40–120 ms, so the figure does not lock onto any timer's phase), and a viewer asks for each
//! segment as soon as it has the previous one, so almost every request waits. The figure is
//! the time from the segment being renamed into place (the runner's gate reports it published)
//! to the waiting request's answer, over every request that was waiting when its segment
//! landed. Two cases: the waiting request on the owner itself (local), and on a second
//! replica sharing the stores and the segment directory (remote). No FFmpeg: the manager's
//! waiting is all that is measured.
//!
//! ```sh
//! cargo bench --profile dev -p ha-transcode --bench segment_wait -- --label after --write benches/RESULTS.md
//! ```
//!
//! `--write` keeps the rows of other labels in the file's "Segment ready → answer" table, so a
//! run on an older commit (`--label before`) and one on this commit sit side by side.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ha_core::memory::{MemoryEventBus, MemoryJobStore, MemoryLeaseManager, MemorySlotLimiter};
use ha_core::SystemClock;
use ha_transcode::hls::SegmentReport;
use ha_transcode::hls::{publish_segment, segment_temp_name, PublishDecision, SegmentGate};
use ha_transcode::manager::{
    JobRunner, ManagerConfig, ManagerStores, Rendition, RunOutcome, RunningJob, SharedDirStorage,
    TranscodeManager, Viewer,
};
use ha_transcode::spec::{
    AudioSettings, HardwarePreference, JobSpec, RateControl, SegmentContainer, VideoSettings,
};
use ha_transcode::worker::WorkerError;
use tokio::task::JoinHandle;

/// Segments per case.
const SEGMENTS: u32 = 200;

/// When each segment was published (renamed into place), by index.
type Written = Arc<Mutex<HashMap<u32, Instant>>>;

/// Publishes segments through the manager's gate at scripted gaps.
#[derive(Debug)]
struct ScriptedRunner {
    written: Written,
}

/// Passes the manager's gate through, noting when each segment was published.
#[derive(Debug)]
struct Timed {
    inner: Arc<dyn SegmentGate>,
    written: Written,
}

#[async_trait]
impl SegmentGate for Timed {
    async fn approve(&self, segment: &SegmentReport) -> PublishDecision {
        self.inner.approve(segment).await
    }

    async fn published(&self, segment: &SegmentReport, path: &Path) {
        let now = Instant::now();
        ha_core::sync::lock(&self.written).insert(segment.index, now);
        self.inner.published(segment, path).await;
    }
}

#[derive(Debug)]
struct ScriptedRun {
    task: Option<JoinHandle<bool>>,
}

#[async_trait]
impl JobRunner for ScriptedRunner {
    async fn start(
        &self,
        spec: JobSpec,
        gate: Arc<dyn SegmentGate>,
    ) -> Result<Box<dyn RunningJob>, WorkerError> {
        let gate = Timed {
            inner: gate,
            written: self.written.clone(),
        };
        let task = tokio::spawn(async move {
            // A small linear congruential generator: irregular gaps without a dependency.
            let mut seed = 0x2545_f491_u64 ^ u64::from(spec.start_segment);
            for index in spec.start_segment..SEGMENTS {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let gap = 40 + (seed >> 33) % 81;
                tokio::time::sleep(Duration::from_millis(gap)).await;
                let temp = spec.output_dir.join(segment_temp_name(index));
                if tokio::fs::write(&temp, b"segment").await.is_err() {
                    return false;
                }
                let report = SegmentReport {
                    index,
                    temp_path: temp,
                    duration_secs: 2.0,
                    first_pts: 0,
                    frame_count: 50,
                    init_temp_path: None,
                };
                if publish_segment(&gate, &spec.output_dir, &report)
                    .await
                    .is_err()
                {
                    return false;
                }
            }
            true
        });
        Ok(Box::new(ScriptedRun { task: Some(task) }))
    }
}

#[async_trait]
impl RunningJob for ScriptedRun {
    fn cancel(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }

    async fn wait(&mut self) -> RunOutcome {
        let Some(task) = self.task.as_mut() else {
            return RunOutcome::Cancelled;
        };
        let result = task.await;
        self.task = None;
        match result {
            Ok(true) => RunOutcome::Completed,
            Ok(false) => RunOutcome::Failed(WorkerError::Cancelled),
            Err(_) => RunOutcome::Cancelled,
        }
    }
}

fn rendition() -> Rendition {
    Rendition {
        item_id: "bench-item".into(),
        source: PathBuf::from("/nonexistent/source.mkv"),
        duration_ms: u64::from(SEGMENTS) * 2_000,
        segment_ms: 2_000,
        video: VideoSettings {
            codec: Default::default(),
            target_height: Some(360),
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
        container: SegmentContainer::MpegTs,
    }
}

async fn manager(
    node: &str,
    stores: &ManagerStores,
    segments: &Path,
    written: &Written,
) -> TranscodeManager {
    let m = TranscodeManager::new(
        ManagerConfig::new(node),
        stores.clone(),
        Arc::new(SharedDirStorage::new(segments)),
        Arc::new(ScriptedRunner {
            written: written.clone(),
        }),
        SystemClock::shared(),
    )
    .expect("manager config");
    m.start(stores.events.clone()).await.expect("manager start");
    m
}

/// Milliseconds from each waited-for segment's publish to its answer.
async fn case(remote: bool) -> Vec<f64> {
    let dir = std::env::temp_dir().join(format!("ha-segment-wait-{}-{remote}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let stores = ManagerStores {
        leases: Arc::new(MemoryLeaseManager::new()),
        jobs: Arc::new(MemoryJobStore::new()),
        slots: Arc::new(MemorySlotLimiter::new()),
        events: Arc::new(MemoryEventBus::new()),
    };
    let written: Written = Arc::default();
    let owner = manager("owner", &stores, &dir, &written).await;
    let other = manager("other", &stores, &dir, &written).await;
    let r = rendition();
    let viewer = Viewer {
        user_id: "u".into(),
        play_session_id: Some("p".into()),
    };
    // The owner starts the job.
    owner
        .segment(&r.keyed(), 0, &viewer)
        .await
        .expect("segment 0");
    let asker = if remote { &other } else { &owner };
    let mut samples = Vec::new();
    for index in 1..SEGMENTS {
        let asked = Instant::now();
        asker
            .segment(&r.keyed(), index, &viewer)
            .await
            .expect("segment");
        let answered = Instant::now();
        let at = ha_core::sync::lock(&written).get(&index).copied();
        if let Some(at) = at.filter(|at| *at > asked) {
            samples.push(answered.saturating_duration_since(at).as_secs_f64() * 1e3);
        }
    }
    owner.shutdown(Duration::from_secs(2)).await;
    other.shutdown(Duration::from_secs(2)).await;
    let _ = std::fs::remove_dir_all(&dir);
    samples
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The section of `benches/RESULTS.md` this bench owns (the harness keeps it, see
/// `benches/harness/report.rs`).
const SECTION: &str = "## Measured by other commands";
const HEADING: &str = "### Segment ready → answer";
const COMMAND: &str = "cargo bench --profile dev -p ha-transcode --bench segment_wait -- --label LABEL --write benches/RESULTS.md";

/// Rewrites this bench's table in `path`: rows of other labels are kept, rows of `label` are
/// replaced by `rows`.
fn write_section(path: &str, label: &str, rows: &[String]) -> std::io::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let (before, section) = match old.find(SECTION) {
        Some(i) => (old[..i].to_owned(), old[i..].to_owned()),
        None => (old.clone(), String::new()),
    };
    let mine = section.find(HEADING);
    let kept_rows: Vec<String> = mine
        .map(|i| &section[i..])
        .map(|text| {
            let end = text[HEADING.len()..]
                .find("\n### ")
                .map_or(text.len(), |e| e + HEADING.len());
            text[..end]
                .lines()
                .filter(|l| l.starts_with("| ") && !l.starts_with("| build "))
                .filter(|l| l.split('|').nth(1).map(str::trim) != Some(label))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let others = match mine {
        Some(i) => {
            let text = &section[i..];
            let end = text[HEADING.len()..]
                .find("\n### ")
                .map_or(text.len(), |e| e + HEADING.len() + 1);
            format!("{}{}", &section[..i], &text[end..])
        }
        None => section.clone(),
    };
    let others = others.trim_start_matches(SECTION).trim().to_owned();
    let mut out = before.trim_end().to_owned();
    out.push_str("\n\n");
    out.push_str(SECTION);
    out.push_str("\n\n");
    if !others.is_empty() {
        out.push_str(&others);
        out.push_str("\n\n");
    }
    out.push_str(HEADING);
    out.push_str("\n\n");
    out.push_str(&format!(
        "Produced by `{COMMAND}` (one row set per label; `ha-transcode/benches/segment_wait.rs` \
         says what is measured). Time from a segment being renamed into place to the answer of \
         the request waiting for it; {SEGMENTS} segments published at 40–120 ms gaps; in-process \
         stores, default `ManagerConfig`. Dev profile: the figures are waits, not CPU work.\n\n"
    ));
    out.push_str("| build | case | waits | p50 ms | p99 ms | max ms | measured |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    for row in kept_rows.iter().chain(rows) {
        out.push_str(row);
        out.push('\n');
    }
    std::fs::write(path, out)
}

fn main() {
    let mut label = "this build".to_owned();
    let mut write = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--label" => label = args.next().expect("--label needs a value"),
            "--write" => write = Some(args.next().expect("--write needs a path")),
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let mut rows = Vec::new();
    println!("| build | case | waits | p50 ms | p99 ms | max ms | measured |");
    println!("|---|---|---|---|---|---|---|");
    for (name, remote) in [
        ("local (request on the owner)", false),
        ("remote (request on another replica, shared storage)", true),
    ] {
        let mut samples = rt.block_on(case(remote));
        samples.sort_by(f64::total_cmp);
        let row = format!(
            "| {label} | {name} | {} | {:.2} | {:.2} | {:.2} | {date} |",
            samples.len(),
            percentile(&samples, 50.0),
            percentile(&samples, 99.0),
            samples.last().copied().unwrap_or(f64::NAN),
        );
        println!("{row}");
        rows.push(row);
    }
    if let Some(path) = write {
        // `cargo bench` runs this in the package directory: a relative path means the
        // workspace root, where the command was typed.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path);
        let path = path.to_string_lossy();
        write_section(&path, &label, &rows).expect("write the results");
        eprintln!("wrote {path}");
    }
}
