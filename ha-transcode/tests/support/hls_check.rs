//! Checks on written HLS segments with the ffprobe CLI, and a worker supervisor for tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use ha_transcode::hls::{PublishDecision, SegmentGate, SegmentReport};
use ha_transcode::worker::{Supervisor, SupervisorConfig, WorkerCommand};

/// The worker executable built with the tests.
pub fn worker_command() -> WorkerCommand {
    WorkerCommand::new(env!("CARGO_BIN_EXE_ha-transcode-worker"))
}

/// A supervisor running the test worker with a generous stall timeout (2 cores, debug build).
pub fn supervisor() -> Supervisor {
    let mut cfg = SupervisorConfig::new(worker_command());
    cfg.stall_timeout = Duration::from_secs(120);
    Supervisor::new(cfg)
}

/// A gate that publishes everything.
#[derive(Debug, Default)]
pub struct PublishAll;

#[async_trait::async_trait]
impl SegmentGate for PublishAll {
    async fn approve(&self, _segment: &SegmentReport) -> PublishDecision {
        PublishDecision::Publish
    }
}

/// `Arc<PublishAll>` as a gate.
pub fn publish_all() -> Arc<dyn SegmentGate> {
    Arc::new(PublishAll)
}

fn ffprobe(args: &[&str], file: &Path) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(file)
        .output()
        .expect("ffprobe CLI");
    assert!(
        out.status.success(),
        "ffprobe {args:?} {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Video frames decoded from `file` alone (ffprobe `-count_frames`).
pub fn decoded_frames(file: &Path) -> u64 {
    let s = ffprobe(
        &[
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ],
        file,
    );
    s.lines()
        .find_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .unwrap_or_else(|| panic!("no frame count for {}: {s:?}", file.display()))
}

/// PTS (90 kHz) of every video frame of `file`, in presentation order.
pub fn video_pts(file: &Path) -> Vec<i64> {
    let s = ffprobe(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=pts",
            "-of",
            "csv=p=0",
        ],
        file,
    );
    let mut v: Vec<i64> = s
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    v.sort_unstable();
    v
}

/// One `stream=` entry of the first video stream.
pub fn video_stream_entry(file: &Path, entry: &str) -> String {
    ffprobe(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            &format!("stream={entry}"),
            "-of",
            "csv=p=0",
        ],
        file,
    )
    .lines()
    .next()
    .unwrap_or("")
    .trim()
    .trim_end_matches(',')
    .to_owned()
}

/// Concatenates `files` into `out` (MPEG-TS concatenates byte-wise).
pub fn concat(files: &[PathBuf], out: &Path) {
    let mut bytes = Vec::new();
    for f in files {
        bytes.extend(std::fs::read(f).expect("read segment"));
    }
    std::fs::write(out, bytes).expect("write concatenation");
}

/// True when the process `pid` no longer exists (killed and reaped: no zombie left).
pub fn process_gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}
