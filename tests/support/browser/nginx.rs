//! nginx (open source: passive failure detection only, no active health checks) round robin
//! over the replicas, with the README's `proxy_next_upstream` settings or with retries off.
//!
//! The configuration is `deploy/load-balancer/nginx.conf`, the file the README points users
//! to, with only addresses and paths changed: the `listen` (a free loopback port), the upstream
//! `server` lines (the replicas, with the file's parameters), and the pid, logs and temp
//! directories in the test's own directory (plus a status log for the counts).
//! [`NginxRetry::Off`] also drops the server parameters and turns `proxy_next_upstream` off.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::haproxy::Answers;
use crate::cluster::replica::Endpoint;

/// Whether a request that failed on one replica goes to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NginxRetry {
    /// The README's: `proxy_next_upstream error timeout` (nginx's own default) with
    /// `proxy_next_upstream_tries 2`, `max_fails=1 fail_timeout=2s` and a 1 s connect timeout.
    Recommended,
    /// `proxy_next_upstream off`: every failure reaches the player.
    Off,
}

/// The deployable configuration (`deploy/load-balancer/nginx.conf`).
pub const DEPLOY_CONFIG: &str = include_str!("../../../deploy/load-balancer/nginx.conf");

/// Location lines that move a failed request to the next replica (dropped by
/// [`NginxRetry::Off`]).
const RETRY_LINES: [&str; 3] = [
    "proxy_next_upstream ",
    "proxy_next_upstream_tries ",
    "proxy_connect_timeout ",
];

/// [`DEPLOY_CONFIG`] listening on `127.0.0.1:port`, its upstream servers replaced by `servers`
/// (`host:port`, with the file's parameters unless `retry` is off), its pid, logs and temp
/// files under `dir`. Panics when the file lost a line this needs.
pub fn config_for(port: u16, servers: &[String], retry: NginxRetry, dir: &Path) -> String {
    let p = dir.display();
    let mut out = format!("pid {p}/nginx.pid;\nerror_log {p}/error.log;\n");
    let (mut listens, mut servers_done, mut retries_seen) = (0, false, 0);
    for line in DEPLOY_CONFIG.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if trimmed.starts_with("listen ") {
            listens += 1;
            let _ = writeln!(out, "{indent}listen 127.0.0.1:{port};");
        } else if let Some(rest) = trimmed
            .strip_prefix("server ")
            .filter(|rest| !rest.trim_start().starts_with('{'))
        {
            if !servers_done {
                servers_done = true;
                // `server <address> <parameters…>;`: the parameters are the file's.
                let params: Vec<&str> = rest
                    .trim_end_matches(';')
                    .split_whitespace()
                    .skip(1)
                    .collect();
                for addr in servers {
                    let params = match retry {
                        NginxRetry::Recommended if !params.is_empty() => {
                            format!(" {}", params.join(" "))
                        }
                        _ => String::new(),
                    };
                    let _ = writeln!(out, "{indent}server {addr}{params};");
                }
            }
        } else if RETRY_LINES.iter().any(|l| trimmed.starts_with(l)) {
            retries_seen += 1;
            match retry {
                NginxRetry::Recommended => {
                    let _ = writeln!(out, "{line}");
                }
                NginxRetry::Off if retries_seen == 1 => {
                    let _ = writeln!(out, "{indent}proxy_next_upstream off;");
                }
                NginxRetry::Off => {}
            }
        } else if trimmed.starts_with("http {") {
            let _ = writeln!(out, "{line}");
            let _ = writeln!(
                out,
                "    log_format st '$status';\n    access_log {p}/status.log st;\n    \
                 client_body_temp_path {p}/body;\n    proxy_temp_path {p}/proxy;\n    \
                 fastcgi_temp_path {p}/fastcgi;\n    uwsgi_temp_path {p}/uwsgi;\n    \
                 scgi_temp_path {p}/scgi;"
            );
        } else {
            let _ = writeln!(out, "{line}");
        }
    }
    assert!(
        listens == 1 && servers_done && retries_seen == RETRY_LINES.len(),
        "deploy/load-balancer/nginx.conf needs one listen, upstream servers and the \
         proxy_next_upstream lines"
    );
    out
}

/// A running nginx (stopped on drop).
pub struct Nginx {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx in front of `replicas`; waits until it answers.
    pub async fn start(replicas: &[Endpoint], retry: NginxRetry) -> Self {
        let dir = tempfile::tempdir().expect("a directory for nginx");
        let port = ha_testkit::free_port();
        let servers: Vec<String> = replicas
            .iter()
            .map(|r| r.base.trim_start_matches("http://").to_owned())
            .collect();
        let conf = config_for(port, &servers, retry, dir.path());
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).expect("write nginx.conf");
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&path)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nginx (scripts/install-deps.sh installs nginx-light)");
        let lb = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(format!("{}/health", lb.base)).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx never answered: {}",
                std::fs::read_to_string(lb.dir.path().join("error.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        lb
    }

    /// What it answered so far (from its status log), the readiness probe above excluded.
    pub fn answers(&self) -> Answers {
        let log = std::fs::read_to_string(self.dir.path().join("status.log")).unwrap_or_default();
        let mut a = Answers::default();
        for status in log
            .lines()
            .skip(1)
            .filter_map(|l| l.trim().parse::<u16>().ok())
        {
            match status {
                200..=299 => a.ok += 1,
                300..=499 => a.client += 1,
                _ => a.server_error += 1,
            }
        }
        a
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers() -> Vec<String> {
        vec!["127.0.0.1:9001".into(), "127.0.0.1:9002".into()]
    }

    #[test]
    fn the_deployed_file_is_run_with_only_addresses_and_paths_changed() {
        let cfg = config_for(8100, &servers(), NginxRetry::Recommended, Path::new("/t"));
        assert!(cfg.contains("listen 127.0.0.1:8100;"), "{cfg}");
        assert!(
            cfg.contains("server 127.0.0.1:9001 max_fails=1 fail_timeout=2s;"),
            "{cfg}"
        );
        assert!(!cfg.contains("10.0.0."), "{cfg}");
        for line in DEPLOY_CONFIG.lines() {
            let t = line.trim_start();
            let upstream_server = t.starts_with("server ") && t.ends_with(';');
            if !(t.starts_with("listen ") || upstream_server) {
                assert!(cfg.lines().any(|l| l == line), "lost {line:?}");
            }
        }
    }

    /// Both variants are configurations nginx accepts (`nginx -t`).
    #[test]
    fn nginx_accepts_both_variants() {
        for retry in [NginxRetry::Recommended, NginxRetry::Off] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("nginx.conf");
            std::fs::write(&path, config_for(8100, &servers(), retry, dir.path())).unwrap();
            let out = Command::new("nginx")
                .arg("-t")
                .arg("-p")
                .arg(dir.path())
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .arg("-c")
                .arg(&path)
                .output()
                .expect("nginx (scripts/install-deps.sh installs nginx-light)");
            assert!(
                out.status.success(),
                "{retry:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn off_turns_the_retries_off() {
        let cfg = config_for(8100, &servers(), NginxRetry::Off, Path::new("/t"));
        assert!(cfg.contains("proxy_next_upstream off;"), "{cfg}");
        assert!(!cfg.contains("proxy_next_upstream error"), "{cfg}");
        assert!(!cfg.contains("max_fails"), "{cfg}");
        assert!(cfg.contains("server 127.0.0.1:9002;"), "{cfg}");
    }
}
