//! The official Jellyfin web client in a real browser: the jellyfin-web fixture, unpacked once,
//! Debian's chromium driven by `playwright-core` (`tests/web_client/flow.cjs`), and what the
//! flow saw, for `tests/server_web_client.rs`.
//!
//! Nothing here is optional: without the fixture, node/npm or chromium a test fails and says
//! what is missing and how to get it (a browser test that skips itself is how a broken web
//! client ships).
//!
//! * The fixture is `jellyfin-web-10.11.11.tar.xz`, an unchanged build of the official client
//!   kept outside the repository (`../shared/fixtures/jellyfin-web/` from the repository root,
//!   or `MEDIA_HA_JELLYFIN_WEB_TARBALL`); it is unpacked under `<target>/tmp/`, never copied
//!   into the repository.
//! * `playwright-core` is the browser tests' (`tests/browser/package.json`, installed once by
//!   `tests/browser/install.sh` into the git-ignored `tests/browser/node_modules`; it downloads
//!   no browser). The browser is Debian's `/usr/bin/chromium` ([`crate::browser::CHROMIUM`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};

/// The fixture's file name.
pub const TARBALL: &str = "jellyfin-web-10.11.11.tar.xz";

/// The repository root (this package is `tests/`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The fixture: `MEDIA_HA_JELLYFIN_WEB_TARBALL`, else `<repo>/../shared/fixtures/jellyfin-web/`.
pub fn tarball() -> PathBuf {
    let path = std::env::var_os("MEDIA_HA_JELLYFIN_WEB_TARBALL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            repo_root()
                .join("../shared/fixtures/jellyfin-web")
                .join(TARBALL)
        });
    assert!(
        path.is_file(),
        "the jellyfin-web fixture is missing at {}: put the official jellyfin-web 10.11 build \
         ({TARBALL}, see ../shared/fixtures/jellyfin-web/README.md) there, or point \
         MEDIA_HA_JELLYFIN_WEB_TARBALL at it",
        path.display()
    );
    path
}

/// The unpacked web client (a folder holding `index.html`), unpacked once per fixture under
/// `<target>/tmp/`: into a temporary directory first, renamed when complete.
pub fn web_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tarball = tarball();
        let meta = std::fs::metadata(&tarball).expect("the fixture's metadata");
        let dir = crate::target_tmpdir().join(format!("jellyfin-web-{}", meta.len()));
        if dir.join("index.html").is_file() {
            return dir;
        }
        let partial = tempfile::tempdir_in(crate::target_tmpdir()).expect("a scratch directory");
        let status = Command::new("tar")
            .arg("-xJf")
            .arg(&tarball)
            .arg("-C")
            .arg(partial.path())
            .status()
            .expect("tar runs");
        assert!(status.success(), "cannot unpack {}", tarball.display());
        let unpacked = partial.keep();
        // Another test binary may have won the race: its copy is as good.
        if std::fs::rename(&unpacked, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&unpacked);
        }
        assert!(
            dir.join("index.html").is_file(),
            "{} has no index.html after unpacking {}",
            dir.display(),
            tarball.display()
        );
        dir
    })
    .clone()
}

/// `node_modules` holding `playwright-core`: the browser tests' own (`tests/browser/`,
/// installed once by `tests/browser/install.sh`).
pub fn node_modules() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        crate::browser::require_tools();
        crate::browser::install_player();
        let dir = crate::browser::browser_dir().join("node_modules");
        assert!(dir.join("playwright-core").is_dir(), "{}", dir.display());
        dir
    })
    .clone()
}

/// What the flow is asked to do.
#[derive(Debug, Clone)]
pub struct Flow {
    /// The server's (or the load balancer's) URL.
    pub base: String,
    /// Who signs in.
    pub user: String,
    /// Their password.
    pub password: String,
    /// The film to open and play (its name).
    pub film: String,
    /// Where screenshots go.
    pub shots: PathBuf,
    /// Seconds to play directly, then transcoded.
    pub seconds: u32,
    /// How far to seek forward in the transcoded stream (then play 2 s on).
    pub seek_seconds: u32,
    /// The quality (bits per second) chosen in the player to force a transcode.
    pub quality: u64,
}

/// Runs `tests/web_client/flow.cjs`; its result (see that file).
pub async fn run(flow: &Flow) -> Value {
    std::fs::create_dir_all(&flow.shots).expect("the screenshot directory");
    let config = json!({
        "base": flow.base,
        "user": flow.user,
        "password": flow.password,
        "film": flow.film,
        "shots": flow.shots,
        "chromium": crate::browser::CHROMIUM,
        "nodeModules": node_modules(),
        "directSeconds": flow.seconds,
        "transcodeSeconds": flow.seconds,
        "seekSeconds": flow.seek_seconds,
        "quality": flow.quality.to_string(),
    });
    let file = tempfile::NamedTempFile::new().expect("a config file");
    std::fs::write(file.path(), config.to_string()).expect("the config is written");
    let script = repo_root().join("tests/web_client/flow.cjs");
    let run = tokio::process::Command::new("node")
        .arg(&script)
        .arg(file.path())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the browser flow finished within 300 s")
        .expect("node runs (apt package nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| {
            panic!(
                "flow.cjs printed no result\nstdout:\n{stdout}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    serde_json::from_str(line).expect("the flow's result is JSON")
}
