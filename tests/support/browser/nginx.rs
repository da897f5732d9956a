//! nginx (open source: passive failure detection only, no active health checks) round robin
//! over the replicas, with the README's `proxy_next_upstream` settings or with retries off.

use std::fmt::Write as _;
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

impl NginxRetry {
    /// The `upstream` server parameters and `location` lines, as the README shows them.
    pub fn lines(self) -> (&'static str, &'static str) {
        match self {
            Self::Recommended => (
                " max_fails=1 fail_timeout=2s",
                "        proxy_next_upstream error timeout;\n        \
                 proxy_next_upstream_tries 2;\n        proxy_connect_timeout 1s;\n",
            ),
            Self::Off => ("", "        proxy_next_upstream off;\n"),
        }
    }
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
        let (server_params, location) = retry.lines();
        let p = dir.path().display();
        let mut upstream = String::new();
        for r in replicas {
            let _ = writeln!(
                upstream,
                "        server {}{server_params};",
                r.base.trim_start_matches("http://")
            );
        }
        let conf = format!(
            "worker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n    access_log {p}/access.log;\n    log_format st '$status';\n    \
             client_body_temp_path {p}/body;\n    proxy_temp_path {p}/proxy;\n    \
             fastcgi_temp_path {p}/fastcgi;\n    uwsgi_temp_path {p}/uwsgi;\n    \
             scgi_temp_path {p}/scgi;\n    \
             upstream replicas {{\n{upstream}    }}\n    \
             server {{\n        listen 127.0.0.1:{port};\n        access_log {p}/status.log st;\n        \
             location / {{\n        proxy_pass http://replicas;\n        \
             proxy_read_timeout 60s;\n        proxy_buffering off;\n{location}        }}\n    }}\n}}\n"
        );
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
