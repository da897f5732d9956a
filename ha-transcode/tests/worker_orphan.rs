//! A worker whose supervisor died (the server was SIGKILLed, its end of the pipe closed) stops
//! at its next report instead of transcoding to the end of the file for nobody.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
                .ends_with(".ts.tmp")
        })
        .count();
    assert!(
        published < 10,
        "it stopped early, not after all 10 segments ({published})"
    );
}
