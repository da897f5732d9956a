//! A worker whose supervisor died (the server was SIGKILLed, its end of the pipe closed) stops
//! instead of transcoding to the end of the file for nobody: at once when started with the
//! lifeline (its stdin reaches end of file), else at its next report.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ha_transcode::worker::{LIFELINE_ENV, ORPHANED_EXIT};
use support::{scratch_dir, Clip};

#[test]
fn a_worker_without_a_supervisor_exits() {
    let source = Clip::new("orphan-source.mkv")
        .video(320, 240, "25")
        .duration(20.0)
        .args(["-c:v", "libx264", "-preset", "ultrafast"])
        .make();
    let out = scratch_dir("worker-orphan");
    let spec = serde_json::json!({
        "input": source, "output_dir": out, "segment_ms": 2000,
        "video": { "rate": { "mode": "crf", "crf": 30 }, "preset": "ultrafast" },
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_ha-transcode-worker"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the worker");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(spec.to_string().as_bytes()).unwrap();
    drop(stdin);
    // The supervisor "dies": nobody reads the reports any more.
    drop(child.stdout.take());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the orphaned worker kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        status.code(),
        Some(3),
        "stopped because its reports had no reader"
    );
    let published = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .count();
    assert!(
        published < 10,
        "it stopped early, not after all 10 segments ({published})"
    );
}

/// With the lifeline the worker exits when its stdin closes, even though its reports are still
/// read: so it is the end of the pipe that stopped it, not a failed write.
#[test]
fn a_worker_with_a_lifeline_exits_when_its_stdin_closes() {
    let source = Clip::new("lifeline-source.mkv")
        .video(320, 240, "25")
        .duration(30.0)
        .args(["-c:v", "libx264", "-preset", "ultrafast"])
        .make();
    let out = scratch_dir("worker-lifeline");
    let spec = serde_json::json!({
        "input": source, "output_dir": out, "segment_ms": 2000,
        "video": { "rate": { "mode": "crf", "crf": 30 }, "preset": "ultrafast" },
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_ha-transcode-worker"))
        .env(LIFELINE_ENV, "stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the worker");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{spec}").unwrap();
    // Keep reading the reports; wait for the first segment so the worker is mid-run.
    let mut reports = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first_segment = reports
        .by_ref()
        .find(|line| line.as_ref().is_ok_and(|l| l.contains("\"segment\"")));
    assert!(first_segment.is_some(), "the worker reported a segment");
    let reader = std::thread::spawn(move || reports.count());
    // The supervisor's process dies: the kernel closes its end of the worker's stdin.
    drop(stdin);
    let closed = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if closed.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the worker outlived its lifeline");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let exited_after = closed.elapsed();
    reader.join().unwrap();
    eprintln!("worker exited {exited_after:?} after its stdin closed");
    assert_eq!(
        status.code(),
        Some(ORPHANED_EXIT),
        "stopped by the lifeline"
    );
    let segments = std::fs::read_dir(&out).unwrap().count();
    assert!(
        segments < 15,
        "it stopped early, not after all 15 segments ({segments})"
    );
}
