//! Helpers shared by the reference-server tests: a tiny generated library, servers on free
//! ports, and a small Jellyfin-style HTTP client.

pub mod proxy;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use media_ha_server::{self as server, Config, Server};

pub mod logs;
pub mod race;
pub mod raw;

/// The administrator every test server is seeded with.
pub const ADMIN: &str = "admin";
/// Their password.
pub const ADMIN_PW: &str = "admin-password";
/// How long a test server gets to shut down.
pub const GRACE: Duration = Duration::from_secs(10);

/// A tiny library, generated once per test binary with the ffmpeg CLI:
/// `Alpha.mp4` (H.264/AAC, 3 s) and `Sub/Beta.mkv` (MPEG-2/MP2, 3 s).
pub fn media_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = crate::target_tmpdir().join("server-api-media");
        std::fs::create_dir_all(dir.join("Sub")).unwrap();
        let clips: [(&str, &[&str]); 2] = [
            (
                "Alpha.mp4",
                &[
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                    "-pix_fmt",
                    "yuv420p",
                    "-c:a",
                    "aac",
                    "-f",
                    "mp4",
                ],
            ),
            (
                "Sub/Beta.mkv",
                &["-c:v", "mpeg2video", "-c:a", "mp2", "-f", "matroska"],
            ),
        ];
        for (name, codec) in clips {
            make_clip(&dir.join(name), 3, codec);
        }
        dir
    })
    .clone()
}

/// Encodes `seconds` of a 320x240 test pattern and a tone into `target` with the ffmpeg CLI
/// (`codec`: the codec and muxer arguments), unless it exists; written under a temporary name
/// and renamed, so an interrupted run never leaves half a clip.
pub fn make_clip(target: &Path, seconds: u32, codec: &[&str]) {
    if target.exists() {
        return;
    }
    let name = target.file_name().unwrap().to_string_lossy();
    let tmp = target.with_file_name(format!("{name}.partial"));
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &seconds.to_string()])
        .args(codec)
        .arg(&tmp)
        .status()
        .expect("the tests need the ffmpeg CLI");
    assert!(status.success(), "ffmpeg failed for {}", target.display());
    std::fs::rename(&tmp, target).unwrap();
}

/// A config for a test server: free port, the admin seeded, no periodic rescans.
pub fn test_config(data: &Path, media: &Path) -> Config {
    let mut config = Config::new(data);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.media = vec![media.to_path_buf()];
    config.node_id = "test-node".into();
    // These tests check answers, not patience: a first segment on a loaded 2-core CI machine
    // (debug build, other builds beside it) can take longer than a player's patience, and their
    // clients do not retry a 503 as players do. The players' 6 s default runs in the cluster
    // scenarios (tests/support/cluster, whose balancer retries as players do) and the browser
    // test.
    config.segment_wait = std::time::Duration::from_secs(30);
    config.admin = Some(server::config::AdminSeed {
        name: ADMIN.into(),
        password: ADMIN_PW.into(),
    });
    // The test binary cannot be re-executed as a worker: workers are the test server binary
    // in worker mode, exactly as `media-ha-server` runs them.
    #[cfg(feature = "transcode")]
    {
        config.transcode_worker = Some((
            crate::cluster::binary::server_binary(),
            vec![server::WORKER_FLAG.into()],
        ));
    }
    config
}

/// Starts a server on `data` over the shared tiny library, after its first scan.
pub async fn start(data: &Path) -> Server {
    start_with_media(data, &media_dir()).await
}

/// Starts a server on `data` over `media`, after its first scan.
pub async fn start_with_media(data: &Path, media: &Path) -> Server {
    start_config(test_config(data, media)).await
}

/// Starts a server from a config and waits for its first scan attempt.
pub async fn start_config(config: Config) -> Server {
    let srv = server::start(config).await.expect("server starts");
    srv.state().scanner.wait_for_runs(1).await;
    srv
}

/// A server on a fresh data directory (keep the directory alive as long as the server).
pub async fn start_fresh() -> (Server, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    (start(data.path()).await, data)
}

/// A Jellyfin-style client: sends the MediaBrowser authorization header.
pub struct Client {
    /// The HTTP client.
    pub http: reqwest::Client,
    /// `http://host:port`.
    pub base: String,
    /// The access token once signed in.
    pub token: Option<String>,
}

impl Client {
    /// A client of `srv`.
    pub fn new(srv: &Server) -> Self {
        Self::for_url(&srv.base_url())
    }

    /// A client of any server.
    pub fn for_url(base: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            token: None,
        }
    }

    /// Absolute URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Adds the authorization header.
    pub fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut value = r#"MediaBrowser Client="media-ha tests", Device="Test", DeviceId="test-device", Version="1.0""#.to_owned();
        if let Some(t) = &self.token {
            value.push_str(&format!(r#", Token="{t}""#));
        }
        req.header("Authorization", value)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = self.authed(req).send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// GET, JSON (or the text as a JSON string).
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(self.url(path))).await
    }

    /// GET, text.
    pub async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let resp = self
            .authed(self.http.get(self.url(path)))
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    /// POST a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }

    /// POST a raw body as JSON.
    pub async fn post_raw(&self, path: &str, body: &str) -> (StatusCode, Value) {
        let req = self
            .http
            .post(self.url(path))
            .header("Content-Type", "application/json")
            .body(body.to_owned());
        self.send(req).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.delete(self.url(path))).await
    }

    /// Signs in; panics unless it works. Keeps the token.
    pub async fn login(&mut self, user: &str, pw: &str) -> Value {
        let (status, body) = self
            .post(
                "/Users/AuthenticateByName",
                json!({ "Username": user, "Pw": pw }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login of {user}: {body}");
        self.token = Some(body["AccessToken"].as_str().unwrap().to_owned());
        body
    }

    /// Tries to sign in; the status.
    pub async fn login_status(&self, user: &str, pw: &str) -> StatusCode {
        self.post(
            "/Users/AuthenticateByName",
            json!({ "Username": user, "Pw": pw }),
        )
        .await
        .0
    }
}

/// The id and runtime of the movie named `name`.
pub async fn find_item(c: &Client, name: &str) -> (String, i64) {
    let (status, items) = c
        .get(&format!("/Items?Recursive=true&SearchTerm={name}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{items}");
    let item = items["Items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["Name"] == json!(name))
        .unwrap_or_else(|| panic!("no item {name} in {items}"));
    (
        item["Id"].as_str().unwrap().to_owned(),
        item["RunTimeTicks"].as_i64().unwrap_or(0),
    )
}

/// What an HLS player reads before its first segment: PlaybackInfo's transcoding URL, the master
/// playlist there, and the media playlist the master lists.
pub struct HlsPlaylists {
    /// The transcoding URL (the master playlist), server-relative with its query.
    pub master_url: String,
    /// `/Videos/{id}/`: what the playlists' relative URIs resolve against.
    pub base: String,
    /// The media playlist's text.
    pub media: String,
    /// The segment URIs in playlist order, relative to `base` (`hls1/…`).
    pub segments: Vec<String>,
}

impl HlsPlaylists {
    /// The segment URLs, server-relative.
    pub fn segment_paths(&self) -> Vec<String> {
        let base = &self.base;
        self.segments
            .iter()
            .map(|uri| format!("{base}{uri}"))
            .collect()
    }
}

/// A PlaybackInfo body whose client plays nothing directly and wants H.264/AAC HLS in fMP4
/// (a TranscodingProfile with `Container: "mp4"`).
pub fn fmp4_profile() -> Value {
    json!({
        "DeviceProfile": {
            "DirectPlayProfiles": [],
            "TranscodingProfiles": [{
                "Container": "mp4",
                "Type": "Video",
                "VideoCodec": "h264",
                "AudioCodec": "aac",
                "Protocol": "hls",
                "Context": "Streaming"
            }]
        }
    })
}

/// Asks PlaybackInfo for `item_id` (which must need a transcode) and follows it to the segment
/// list, asserting every step answers 200.
pub async fn open_hls(c: &Client, item_id: &str) -> HlsPlaylists {
    open_hls_with(c, item_id, json!({})).await
}

/// [`open_hls`] with PlaybackInfo body `body` (e.g. a `DeviceProfile`).
pub async fn open_hls_with(c: &Client, item_id: &str, body: Value) -> HlsPlaylists {
    let (status, info) = c
        .post(&format!("/Items/{item_id}/PlaybackInfo"), body)
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    let master_url = info["MediaSources"][0]["TranscodingUrl"]
        .as_str()
        .unwrap_or_else(|| panic!("{item_id} should need a transcode: {info}"))
        .to_owned();
    let (status, master) = c.get_text(&master_url).await;
    assert_eq!(status, StatusCode::OK, "{master}");
    let media_uri = master
        .lines()
        .find(|l| l.starts_with("main.m3u8"))
        .expect("master lists the media playlist")
        .to_owned();
    let base = format!("/Videos/{item_id}/");
    let (status, media) = c.get_text(&format!("{base}{media_uri}")).await;
    assert_eq!(status, StatusCode::OK, "{media}");
    let segments = media
        .lines()
        .filter(|l| l.starts_with("hls1/"))
        .map(str::to_owned)
        .collect();
    HlsPlaylists {
        master_url,
        base,
        media,
        segments,
    }
}

/// The video frames ffprobe decodes from `input` (a file, or an HLS URL it then plays as a
/// client would). Async because the server under test may run on the test's own runtime.
pub async fn count_frames(input: &str) -> u32 {
    let out = tokio::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(input)
        .output()
        .await
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe {input}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // MPEG-TS lists the stream under its program too: the first number is the count.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches(','))
        .find(|l| !l.is_empty())
        .and_then(|l| l.parse().ok())
        .expect("a frame count")
}

/// A 15 s MPEG-2 clip (five 3 s segments; MPEG-2 makes PlaybackInfo offer a transcode),
/// generated once (shared by the test binaries) in its own library directory.
pub fn long_clip_library() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join("media-ha-server-node-local-media");
    let target = dir.join("Gamma.mkv");
    if !target.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let tmp = dir.join(format!("Gamma.partial-{}.mkv", std::process::id()));
        let status = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args([
                "-t",
                "15",
                "-c:v",
                "mpeg2video",
                "-c:a",
                "mp2",
                "-f",
                "matroska",
            ])
            .arg(&tmp)
            .status()
            .expect("the tests need the ffmpeg CLI");
        assert!(status.success(), "ffmpeg failed for Gamma.mkv");
        std::fs::rename(&tmp, &target).unwrap();
    }
    dir
}
