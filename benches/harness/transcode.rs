//! Item 5: the `ha-transcode-worker` against the ffmpeg CLI with identical settings on the
//! same generated clip (throughput, time to first segment, CPU). Item 6 is in [`crate::viewers`].
//!
//! Identical settings on both sides: 1080p25 testsrc2 + 440 Hz sine source; scale to 720p
//! (bicubic), libx264 veryfast CRF 23, GOP = keyint_min = one 4 s segment, no scene cuts, IDR
//! forced at every boundary; AAC 128 kb/s 48 kHz stereo; MPEG-TS segments of 4 s. The worker
//! writes one MPEG-TS file per segment; the CLI uses its `hls` muxer (the ha_transcode::hls docs
//! say why the worker does not).
//!
//! Time to first segment: the worker reports a `segment` event on stdout when segment 0 is on
//! disk; for the CLI, segment 0 is complete when its muxer opens segment 1 (polled every 10 ms,
//! which favours the CLI by up to 10 ms).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::cpu::children_cpu_secs;
use crate::peers::shell_line;
use crate::report::{Better, Figure};
use crate::Opts;

/// Segment length on both sides.
pub const SEGMENT_S: u32 = 4;
/// Source frame rate.
pub const FPS: u32 = 25;

/// One timed run.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Run {
    /// Wall seconds for the whole clip.
    pub total_s: f64,
    /// Wall seconds until segment 0 was complete.
    pub first_segment_s: f64,
    /// CPU seconds of the process (and its children).
    pub cpu_s: f64,
}

/// The worker executable: `HA_BENCH_WORKER`, else next to this bench's `deps/` directory.
pub fn worker_path() -> PathBuf {
    if let Ok(p) = std::env::var("HA_BENCH_WORKER") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("current exe");
    let release = exe.parent().and_then(Path::parent).expect("target/release");
    release.join("ha-transcode-worker")
}

/// Generates the source clip (1080p25 testsrc2 + sine) of `secs` seconds into `dir`.
pub fn make_clip(dir: &Path, secs: u32) -> PathBuf {
    let clip = dir.join("clip-1080p.mp4");
    let d = secs.to_string();
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=1920x1080:rate={FPS}:duration={d}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:sample_rate=48000:duration={d}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "superfast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-b:a", "128k", "-ac", "2", "-shortest"])
        .arg(&clip)
        .status()
        .expect("ffmpeg (apt-get install ffmpeg)");
    assert!(status.success(), "generating the clip failed");
    clip
}

/// The worker's JobSpec for `clip` into `out` (the same settings as [`cli_args`]).
pub fn spec(clip: &Path, out: &Path) -> serde_json::Value {
    json!({
        "input": clip, "output_dir": out, "segment_ms": SEGMENT_S * 1000,
        "video": { "target_height": 720, "rate": { "mode": "crf", "crf": 23 }, "preset": "veryfast" },
        "audio": { "bitrate": 128000, "channels": 2, "sample_rate": 48000 },
    })
}

/// The ffmpeg command line with the worker's settings (see the module docs).
pub fn cli_args(clip: &Path, out: &Path) -> Vec<String> {
    let gop = (SEGMENT_S * FPS).to_string();
    let mut a: Vec<String> = ["-nostdin", "-v", "error", "-y", "-i"]
        .map(String::from)
        .to_vec();
    a.push(clip.display().to_string());
    a.extend(
        [
            "-vf",
            "scale=w=1280:h=720:flags=bicubic,setsar=1,format=yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            "-g",
            &gop,
            "-keyint_min",
            &gop,
            "-sc_threshold",
            "0",
            "-force_key_frames",
            &format!("expr:gte(t,n_forced*{SEGMENT_S})"),
            "-x264-params",
            "forced-idr=1",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-ar",
            "48000",
            "-ac",
            "2",
            "-f",
            "hls",
            "-hls_time",
            &SEGMENT_S.to_string(),
            "-hls_playlist_type",
            "vod",
            "-hls_segment_filename",
        ]
        .map(String::from),
    );
    a.push(out.join("seg-%06d.ts").display().to_string());
    a.push(out.join("index.m3u8").display().to_string());
    a
}

fn fresh(dir: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("output dir");
    dir.to_path_buf()
}

async fn worker_run(worker: &Path, clip: &Path, out: &Path) -> Run {
    let out = fresh(out);
    let cpu0 = children_cpu_secs();
    let t0 = Instant::now();
    let mut child = Command::new(worker)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn ha-transcode-worker");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{}\n", spec(clip, &out)).as_bytes())
        .await
        .expect("write spec");
    drop(stdin);
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut first = None;
    while let Some(line) = lines.next_line().await.expect("worker stdout") {
        if first.is_none() && line.contains(r#""event":"segment""#) {
            first = Some(t0.elapsed().as_secs_f64());
        }
        assert!(
            !line.contains(r#""event":"error""#),
            "worker failed: {line}"
        );
    }
    let status = child.wait().await.expect("wait worker");
    assert!(status.success(), "worker exited with {status}");
    let total_s = t0.elapsed().as_secs_f64();
    Run {
        total_s,
        first_segment_s: first.unwrap_or(total_s),
        cpu_s: children_cpu_secs() - cpu0,
    }
}

async fn cli_run(clip: &Path, out: &Path) -> Run {
    let out = fresh(out);
    let cpu0 = children_cpu_secs();
    let t0 = Instant::now();
    let mut child = Command::new("ffmpeg")
        .args(cli_args(clip, &out))
        .spawn()
        .expect("spawn ffmpeg");
    let second = out.join("seg-000001.ts");
    let mut first = None;
    let status = loop {
        if first.is_none() && second.exists() {
            first = Some(t0.elapsed().as_secs_f64());
        }
        if let Some(status) = child.try_wait().expect("wait ffmpeg") {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert!(status.success(), "ffmpeg exited with {status}");
    let total_s = t0.elapsed().as_secs_f64();
    Run {
        total_s,
        first_segment_s: first.unwrap_or(total_s),
        cpu_s: children_cpu_secs() - cpu0,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Item 5. `work` holds the clip and outputs.
pub async fn worker_vs_cli(opts: &Opts, work: &Path, clip: &Path) -> Vec<Figure> {
    let worker = worker_path();
    assert!(
        worker.exists(),
        "{} missing: build it with `cargo build --release -p ha-transcode --bin ha-transcode-worker` \
         (scripts/bench.sh does) or set HA_BENCH_WORKER",
        worker.display()
    );
    let (mut ours, mut peer) = (Vec::new(), Vec::new());
    // Interleaved, so a burst of load from another user hits both sides alike.
    for i in 0..opts.transcode_runs {
        let (a, b) = if i % 2 == 0 {
            let a = worker_run(&worker, clip, &work.join("worker")).await;
            (a, cli_run(clip, &work.join("cli")).await)
        } else {
            let b = cli_run(clip, &work.join("cli")).await;
            (worker_run(&worker, clip, &work.join("worker")).await, b)
        };
        eprintln!("[harness] transcode run {i}: worker {a:?} cli {b:?}");
        ours.push(a);
        peer.push(b);
    }
    let secs = f64::from(opts.clip_secs);
    let m = |v: &[Run], f: fn(&Run) -> f64| median(v.iter().map(f).collect());
    let (ot, pt) = (m(&ours, |r| r.total_s), m(&peer, |r| r.total_s));
    let (of, pf) = (
        m(&ours, |r| r.first_segment_s),
        m(&peer, |r| r.first_segment_s),
    );
    let (oc, pc) = (m(&ours, |r| r.cpu_s), m(&peer, |r| r.cpu_s));
    let command = shell_line(
        "ffmpeg",
        &cli_args(Path::new("clip-1080p.mp4"), Path::new("out")),
    );
    let raw = json!({ "ours": ours, "peer": peer, "clip_secs": secs });
    let runs = opts.transcode_runs;
    vec![
        Figure {
            item: 5,
            name: format!("transcode throughput, {secs:.0} s 1080p → 720p"),
            unit: "× realtime".into(),
            ours: Some(secs / ot),
            peer: Some(secs / pt),
            peer_name: "ffmpeg CLI, same settings".into(),
            better: Better::Higher,
            target: Some(0.95),
            command: command.clone(),
            note: format!(
                "median of {runs}; wall s ours {ot:.2} / cli {pt:.2}; CPU s ours {oc:.1} / cli {pc:.1}"
            ),
            raw: raw.clone(),
        },
        Figure {
            item: 5,
            name: "time to first segment".into(),
            unit: "s".into(),
            ours: Some(of),
            peer: Some(pf),
            peer_name: "ffmpeg CLI, same settings".into(),
            better: Better::Lower,
            target: Some(1.0),
            command,
            note: format!("median of {runs}; {SEGMENT_S} s segments"),
            raw,
        },
    ]
}

/// Items 5 and 6 on one generated clip.
pub async fn run(opts: &Opts) -> Vec<Figure> {
    let work = tempfile::tempdir().expect("temp dir");
    let clip = make_clip(work.path(), opts.clip_secs);
    let mut figures = Vec::new();
    if opts.wants("transcode") {
        figures.extend(worker_vs_cli(opts, work.path(), &clip).await);
    }
    if opts.wants("viewers") {
        figures.extend(crate::viewers::run(opts, work.path(), &clip).await);
    }
    figures
}
