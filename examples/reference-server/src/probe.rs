//! What the scan learns about a media file: duration, container, and (with the `transcode`
//! feature) the full probe the playback decision reads later.
//!
//! Why two paths: with `transcode`, `ha-transcode`'s bounded in-process probe runs and its
//! result is stored with the item (`Item::probe_json`), so PlaybackInfo never probes again.
//! Without it the server still works as a direct-play server, and asks the `ffprobe` CLI (when
//! installed) for the duration so clients can show progress bars.

use std::path::Path;

#[cfg(feature = "transcode")]
use crate::triage::dimension_problem;

/// The facts stored with an item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileFacts {
    /// Duration in 100 ns ticks.
    pub runtime_ticks: Option<i64>,
    /// Short container name (`mp4`, `mkv`).
    pub container: Option<String>,
    /// The serialized probe (`transcode` feature only).
    pub probe_json: Option<String>,
}

/// Probes one file. `Err` holds why the file is not playable (the scan then leaves it out of
/// the library, see `triage.rs`); a probe that could not run at all (no `ffprobe` installed)
/// gives what could be learnt (the extension).
pub async fn probe_file(path: &Path) -> Result<FileFacts, String> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let mut facts = probe_inner(path).await?;
    if facts.container.is_none() {
        facts.container = extension;
    }
    Ok(facts)
}

#[cfg(feature = "transcode")]
async fn probe_inner(path: &Path) -> Result<FileFacts, String> {
    let probe = media_ha::transcode::probe::probe(path.to_path_buf())
        .await
        .map_err(|err| crate::error::chain(&err))?;
    if let Some(video) = probe.video().and_then(|v| v.video.as_ref()) {
        if let Some(problem) = dimension_problem(video.width, video.height) {
            return Err(problem);
        }
    }
    Ok(FileFacts {
        runtime_ticks: probe.duration_secs.map(secs_to_ticks),
        container: Some(probe.container.clone()).filter(|c| !c.is_empty()),
        probe_json: serde_json::to_string(&probe).ok(),
    })
}

#[cfg(not(feature = "transcode"))]
async fn probe_inner(path: &Path) -> Result<FileFacts, String> {
    let run = tokio::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(std::time::Duration::from_secs(20), run).await {
        Ok(Ok(out)) if out.status.success() => Ok(FileFacts {
            runtime_ticks: String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<f64>()
                .ok()
                .map(secs_to_ticks),
            ..FileFacts::default()
        }),
        Ok(Ok(out)) => Err(format!(
            "ffprobe cannot read it: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(Err(err)) => {
            tracing::debug!(error = %err, "ffprobe not available; durations unknown");
            Ok(FileFacts::default())
        }
        Err(_) => Err("ffprobe timed out after 20 s".to_owned()),
    }
}

/// Seconds → 100 ns ticks (Jellyfin's unit); negative or absurd values give none.
pub fn secs_to_ticks(secs: f64) -> i64 {
    if secs.is_finite() && secs > 0.0 && secs < 1e9 {
        (secs * 10_000_000.0).round() as i64
    } else {
        0
    }
}
