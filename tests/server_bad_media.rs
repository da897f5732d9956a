//! Bad media in the library: zero-byte, truncated, corrupt-header, mislabelled, huge-frame and
//! endless files (a FIFO, a device), next to good ones.
//!
//! What must hold: the scan finishes in bounded time and lists the good files; each bad one is
//! either left out with a reason in the scan report (and the log), or listed and then fails
//! alone when played; nothing blocks on a FIFO, nothing crashes, and the next play of a good
//! item works. Files are generated here: ffmpeg's lavfi sources for the valid clips, then
//! truncated or overwritten; the huge frame is a Matroska header patched to claim 32768x32768.

use ha_test_support::cluster::binary::SERVER_BINARY;
use ha_test_support::in_process as common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

const H264: &[&str] = &[
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-pix_fmt",
    "yuv420p",
    "-c:a",
    "aac",
    "-f",
    "matroska",
];

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

/// A 2-frame raw-video Matroska file whose header claims `side`x`side` (the 256x256 it was
/// encoded at, patched in the `PixelWidth`/`PixelHeight` elements; `side` < 65536).
fn huge_frame_file(path: &Path, side: u16) {
    let tmp = path.with_extension("partial");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=256x256:rate=25",
            "-frames:v",
            "2",
        ])
        .args(["-c:v", "rawvideo", "-pix_fmt", "yuv420p", "-f", "matroska"])
        .arg(&tmp)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    let mut bytes = std::fs::read(&tmp).unwrap();
    std::fs::remove_file(&tmp).unwrap();
    // EBML: id 0xB0 (PixelWidth) / 0xBA (PixelHeight), size 0x82, value 0x0100 = 256.
    for id in [0xB0u8, 0xBA] {
        let at = bytes
            .windows(4)
            .position(|w| w == [id, 0x82, 0x01, 0x00])
            .expect("the Matroska header stores 256 in two bytes");
        bytes[at + 2..at + 4].copy_from_slice(&side.to_be_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

/// The library: what each file is, and whether the scan must list it.
fn bad_library(dir: &Path) -> Vec<(&'static str, bool)> {
    make_clip(&dir.join("Good.mkv"), 9, H264);
    let good = std::fs::read(dir.join("Good.mkv")).unwrap();
    // Truncated at 40 %: the header (and its 9 s duration) is intact, the tail is gone.
    std::fs::write(dir.join("Truncated.mkv"), &good[..good.len() * 4 / 10]).unwrap();
    // The first 64 bytes (the EBML header) overwritten.
    let mut corrupt = good.clone();
    corrupt[..64].fill(0xFF);
    std::fs::write(dir.join("CorruptHeader.mkv"), corrupt).unwrap();
    // Garbage in the middle of the data, header intact.
    let mut garbled = good.clone();
    let mid = garbled.len() / 3;
    for (i, b) in garbled[mid..mid + 64 * 1024].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(151) ^ 0x5A;
    }
    std::fs::write(dir.join("Garbled.mkv"), garbled).unwrap();
    // Wrong extensions: Matroska named .mp4 (playable), a text file named .avi (not media).
    std::fs::write(dir.join("Mislabelled.mp4"), &good).unwrap();
    std::fs::write(dir.join("Notes.avi"), "this is not a video\n".repeat(100)).unwrap();
    std::fs::write(dir.join("Empty.mkv"), b"").unwrap();
    // Beyond what FFmpeg decodes: its decoder refuses the size, the probe reports 0x0.
    huge_frame_file(&dir.join("Huge.mkv"), 32768);
    // Within FFmpeg's limits, so it probes fine and is listed; its packets are far too small
    // for 8192x8192 frames, so a transcode of it decodes nothing.
    huge_frame_file(&dir.join("Huge8k.mkv"), 8192);
    mkfifo(&dir.join("Endless.mkv"));
    std::os::unix::fs::symlink("/dev/zero", dir.join("Zero.ts")).unwrap();
    // Listed at scan time, swapped for a FIFO afterwards (see the test).
    std::fs::write(dir.join("Swapped.mp4"), &good).unwrap();
    vec![
        ("Good", true),
        ("Truncated", true),
        ("Garbled", true),
        ("Mislabelled", true),
        ("Swapped", true),
        ("Huge8k", true),
        ("CorruptHeader", false),
        ("Notes", false),
        ("Empty", false),
        ("Huge", false),
        ("Endless", false),
        ("Zero", false),
    ]
}

/// Fetches every segment of `item`'s HLS rendition: the statuses, in order.
async fn play(c: &Client, item: &str, query: &str) -> Vec<u16> {
    let (status, playlist) = c
        .get_text(&format!("/Videos/{item}/main.m3u8?{query}"))
        .await;
    if status != StatusCode::OK {
        println!("  main.m3u8 of {item}: {status} {playlist:?}");
        return vec![status.as_u16()];
    }
    let mut statuses = Vec::new();
    for uri in playlist.lines().filter(|l| l.starts_with("hls1/")) {
        let (status, body) = c.get_text(&format!("/Videos/{item}/{uri}")).await;
        if status != StatusCode::OK {
            println!(
                "  {} of {item}: {status} {body:?}",
                uri.split('?').next().unwrap_or("")
            );
        }
        statuses.push(status.as_u16());
    }
    statuses
}

/// Transcode worker processes this test process started (its children by `/proc`).
fn worker_pids() -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces, so split after the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok());
        // Workers are the test server binary re-executed in worker mode (see
        // `in_process::test_config`); `comm` is the executable's name.
        if ppid == Some(me) && head.ends_with(&format!("({SERVER_BINARY}")) {
            pids.push(pid);
        }
    }
    pids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_are_reported_and_nothing_hangs() {
    let data = tempfile::tempdir().unwrap();
    let media = data.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    let expected = bad_library(&media);

    let started = Instant::now();
    let srv = tokio::time::timeout(
        Duration::from_secs(90),
        start_with_media(&data.path().join("srv"), &media),
    )
    .await
    .expect("the scan of a library with a FIFO and /dev/zero finishes");
    let scan_time = started.elapsed();
    let report = srv.state().scanner.report();
    assert!(report.ran, "{report:?}");

    let mut c = Client::new(&srv);
    c.login(ADMIN, ADMIN_PW).await;
    let (_, items) = c.get("/Items?Recursive=true").await;
    let listed: Vec<&str> = items["Items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["Name"].as_str())
        .collect();
    for (name, listed_expected) in &expected {
        let skipped = report
            .skipped
            .iter()
            .find(|s| Path::new(&s.path).file_stem().and_then(|n| n.to_str()) == Some(name));
        if *listed_expected {
            assert!(
                listed.contains(name),
                "{name} not listed: {listed:?} {report:?}"
            );
            assert!(skipped.is_none(), "{name} skipped: {skipped:?}");
        } else {
            assert!(!listed.contains(name), "{name} listed: {listed:?}");
            let skipped = skipped.unwrap_or_else(|| panic!("{name} not reported: {report:?}"));
            assert!(!skipped.reason.is_empty());
        }
    }
    println!(
        "scan of {} files took {scan_time:.2?}; left out:",
        expected.len()
    );
    for s in &report.skipped {
        println!(
            "  {}: {}",
            Path::new(&s.path).file_name().unwrap().to_string_lossy(),
            s.reason
        );
    }
    let reason_of = |name: &str| {
        report
            .skipped
            .iter()
            .find(|s| s.path.contains(name))
            .map(|s| s.reason.clone())
            .unwrap_or_default()
    };
    assert!(
        reason_of("Endless").contains("FIFO"),
        "{}",
        reason_of("Endless")
    );
    assert!(
        reason_of("Zero").contains("device"),
        "{}",
        reason_of("Zero")
    );
    assert!(
        reason_of("Empty").contains("empty"),
        "{}",
        reason_of("Empty")
    );

    // A listed file swapped for a FIFO after the scan: the stream refuses it at once instead
    // of blocking a thread on open().
    let (swapped, _) = find_item(&c, "Swapped").await;
    std::fs::remove_file(media.join("Swapped.mp4")).unwrap();
    mkfifo(&media.join("Swapped.mp4"));
    let t = Instant::now();
    let (status, body) = tokio::time::timeout(
        Duration::from_secs(20),
        c.get_text(&format!("/Videos/{swapped}/stream")),
    )
    .await
    .expect("a FIFO in place of a media file does not block the stream route");
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    println!(
        "stream of a file swapped for a FIFO: {status} after {:.2?}",
        t.elapsed()
    );

    // Playing the damaged-but-listed files: each fails or ends alone (4xx for what is missing,
    // never a 5xx), and the good file plays fully afterwards on the same server.
    let (truncated, _) = find_item(&c, "Truncated").await;
    let (garbled, _) = find_item(&c, "Garbled").await;
    let (good, _) = find_item(&c, "Good").await;
    let t = Instant::now();
    let trunc_statuses = play(&c, &truncated, "VideoBitrate=500000").await;
    let garbled_statuses = play(&c, &garbled, "VideoBitrate=500000").await;
    let bad_time = t.elapsed();
    for s in trunc_statuses.iter().chain(&garbled_statuses) {
        assert!(
            *s < 500,
            "truncated {trunc_statuses:?}, garbled {garbled_statuses:?}"
        );
    }
    assert!(
        trunc_statuses.contains(&404),
        "segments past the truncation point are missing, not faked: {trunc_statuses:?}"
    );
    let (huge8k, _) = find_item(&c, "Huge8k").await;
    let huge_statuses = play(&c, &huge8k, "VideoBitrate=500000").await;
    assert!(huge_statuses.iter().all(|s| *s < 500), "{huge_statuses:?}");

    // A worker that crashes mid-job (SIGSEGV, as a decoder bug would): that attempt is lost,
    // the server and the other jobs are not; the viewer still gets every segment.
    let viewer = Client {
        http: c.http.clone(),
        base: c.base.clone(),
        token: c.token.clone(),
    };
    let crash_item = good.clone();
    let crashing =
        tokio::spawn(async move { play(&viewer, &crash_item, "VideoBitrate=700000").await });
    let t = Instant::now();
    let victim = loop {
        if let Some(pid) = worker_pids().first().copied() {
            break pid;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no worker process appeared"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim),
        nix::sys::signal::Signal::SIGSEGV,
    )
    .expect("signal the worker");
    let crash_statuses = crashing.await.unwrap();
    assert!(
        crash_statuses.iter().all(|s| *s == 200),
        "after a worker crash: {crash_statuses:?}"
    );
    println!(
        "worker {victim} killed with SIGSEGV {:.2?} after the play started: segments {crash_statuses:?}",
        t.elapsed()
    );

    let t = Instant::now();
    let good_statuses = play(&c, &good, "VideoBitrate=500000").await;
    assert!(
        good_statuses.iter().all(|s| *s == 200),
        "the good file after the bad ones: {good_statuses:?}"
    );
    let metrics = srv.state().transcoder.as_ref().and_then(|t| t.metrics());
    println!(
        "HLS: truncated {trunc_statuses:?}, garbled {garbled_statuses:?} ({bad_time:.2?}), 8192x8192 {huge_statuses:?}; then good {good_statuses:?} ({:.2?}); manager: {metrics:?}",
        t.elapsed()
    );
    let (status, _) = c.get("/health").await;
    assert_eq!(status, StatusCode::OK);
    let (_, info) = c.get(&format!("/Items/{good}")).await;
    assert_eq!(info["Name"], Value::from("Good"));
    srv.shutdown(GRACE).await;
}
