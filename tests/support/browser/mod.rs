//! A real player behind a real load balancer: hls.js in Debian's chromium (driven by
//! playwright-core from npm, `tests/browser/`) through HAProxy in front of replica processes.
//!
//! Why not the cluster's own viewer: a player decides by itself when a request took too long,
//! when to retry and what counts as an error, and a load balancer decides which replica gets
//! a request and what to do when one dies. Issue 16 was found this way, and only this way
//! shows whether a failover is visible to a viewer.
//!
//! | module | what |
//! |---|---|
//! | [`haproxy`] | HAProxy round robin over replicas with the README's settings (or none of them), and its answer counts |
//! | [`nginx`] | nginx round robin with the README's `proxy_next_upstream` settings or retries off |
//! | [`player`] | one hls.js play in headless chromium: its events as they happen, and a summary |
//! | [`scenario`] | the player through a load balancer while the owner is killed or stopped |
//!
//! The tools are required, never skipped: [`require_tools`] panics naming what is missing
//! and how to install it; [`install_player`] installs the npm packages once
//! (`tests/browser/install.sh`, into the git-ignored `tests/browser/node_modules`).

pub mod haproxy;
pub mod nginx;
pub mod player;
pub mod scenario;

use std::path::PathBuf;
use std::process::Command;

/// `tests/browser/`: the player scripts and their npm packages.
pub fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// The chromium the player runs (Debian's package; playwright never downloads a browser here).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Panics unless chromium, haproxy and node are installed (`scripts/install-deps.sh` installs
/// them).
pub fn require_tools() {
    let missing: Vec<&str> = [
        ("chromium", CHROMIUM, "--version"),
        ("haproxy", "haproxy", "-v"),
        ("node", "node", "--version"),
    ]
    .into_iter()
    .filter(|(_, program, version)| {
        Command::new(program)
            .arg(version)
            .output()
            .map_or(true, |o| !o.status.success())
    })
    .map(|(name, _, _)| name)
    .collect();
    assert!(
        missing.is_empty(),
        "the browser tests need {missing:?}: run scripts/install-deps.sh (Debian packages \
         chromium, haproxy, nodejs, npm)"
    );
}

/// Installs hls.js and playwright-core into `tests/browser/node_modules` unless done.
pub fn install_player() {
    install_node_packages(&browser_dir());
}

/// Installs the npm packages `dir/package.json` pins into `dir/node_modules` unless done
/// (`tests/browser/install.sh DIR`: one installer for every Node test).
pub fn install_node_packages(dir: &std::path::Path) {
    let out = Command::new(browser_dir().join("install.sh"))
        .arg(dir)
        .output()
        .expect("run tests/browser/install.sh");
    assert!(
        out.status.success(),
        "tests/browser/install.sh {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
