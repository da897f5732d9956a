//! One or two reference-server replicas over the generated library, signed in and ready.
//!
//! Single node: in-process stores (the zero-configuration default). HA: every replica on the
//! same Redis and PostgreSQL, under a namespace of its own so runs never see each other's data.
//! The processes are `tests/support/cluster/`'s replicas, as in the failover test.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::cluster::replica::Replica;
use super::cluster::setup::Shared;
use super::cluster::{ADMIN, ADMIN_PW};
use super::library::MOVIES;

/// Generous bound for the first scan of the library on a busy machine.
const PATIENCE: Duration = Duration::from_secs(180);

/// The shared stores of HA mode: the harness's private ha-testkit servers (their pids are
/// what [`super::profile`] reads the CPU of).
#[derive(Debug, Clone)]
pub struct Stores {
    /// Redis URL.
    pub redis: String,
    /// PostgreSQL URL.
    pub postgres: String,
    /// Redis port (for `redis-cli INFO`).
    pub redis_port: u16,
    /// The redis-server process.
    pub redis_pid: u32,
    /// The PostgreSQL postmaster (its backends are its children).
    pub postgres_pid: u32,
}

/// Running replicas and a signed-in user.
pub struct Cluster {
    /// The replicas, killed on drop.
    pub replicas: Vec<Replica>,
    /// Access token of the admin.
    pub token: String,
    /// Their user id.
    pub user: String,
    /// Ids of 20 movies (the scripts cycle over them).
    pub ids: Vec<String>,
    /// Stores, transcode and log directories of HA mode.
    _shared: Option<Shared>,
    _logs: tempfile::TempDir,
}

/// `MediaBrowser …` header of a client on device `device`.
pub fn auth_header(device: &str, token: Option<&str>) -> String {
    let mut h = format!(
        r#"MediaBrowser Client="media-ha bench", Device="Bench", DeviceId="{device}", Version="1.0""#
    );
    if let Some(t) = token {
        h.push_str(&format!(r#", Token="{t}""#));
    }
    h
}

async fn call(
    http: &reqwest::Client,
    url: &str,
    auth: &str,
    body: Option<Value>,
) -> Result<(u16, Value), String> {
    let req = match body {
        Some(b) => http.post(url).json(&b),
        None => http.get(url),
    };
    let resp = req
        .header("Authorization", auth)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| format!("{url}: {e}"))?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// Signs the admin in on `base` from `device`; returns (token, user id).
pub async fn login(
    http: &reqwest::Client,
    base: &str,
    device: &str,
) -> Result<(String, String), String> {
    login_as(http, base, device, ADMIN, ADMIN_PW).await
}

/// Signs `user` in on `base` from `device`; returns (token, user id).
pub async fn login_as(
    http: &reqwest::Client,
    base: &str,
    device: &str,
    user: &str,
    password: &str,
) -> Result<(String, String), String> {
    let (status, auth) = call(
        http,
        &format!("{base}/Users/AuthenticateByName"),
        &auth_header(device, None),
        Some(json!({ "Username": user, "Pw": password })),
    )
    .await?;
    match (
        status,
        auth["AccessToken"].as_str(),
        auth["User"]["Id"].as_str(),
    ) {
        (200, Some(t), Some(u)) => Ok((t.to_owned(), u.to_owned())),
        _ => Err(format!("sign-in on {base}: {status} {auth}")),
    }
}

impl Cluster {
    /// Starts `n` replicas (HA on `stores` if given), waits until each lists the whole library
    /// and returns with the admin signed in.
    pub async fn start(media: &Path, stores: Option<&Stores>, n: usize) -> Result<Self, String> {
        let logs = tempfile::tempdir().map_err(|e| e.to_string())?;
        let shared = stores.map(|s| Shared::new(s.redis.clone(), s.postgres.clone()));
        let mut replicas: Vec<Replica> = (1..=n)
            .map(|i| {
                let node = format!("r{i}");
                match &shared {
                    Some(shared) => Replica::start(&node, shared, media),
                    None => Replica::start_single(&node, media, logs.path()),
                }
            })
            .collect();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        for r in &mut replicas {
            r.wait_ready(&http).await;
        }
        let (token, user) = login(&http, replicas[0].base(), "bench-setup").await?;
        let auth = auth_header("bench-setup", Some(&token));
        let mut ids = Vec::new();
        for r in &replicas {
            let deadline = Instant::now() + PATIENCE;
            loop {
                let url = format!(
                    "{}/Users/{user}/Items?Recursive=true&IncludeItemTypes=Movie&SortBy=SortName&Limit=20",
                    r.base()
                );
                let (status, page) = call(&http, &url, &auth, None).await?;
                if status == 200 && page["TotalRecordCount"] == json!(MOVIES) {
                    ids = page["Items"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|i| i["Id"].as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default();
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "{} lists {} of {MOVIES} movies\n{}",
                        r.node(),
                        page["TotalRecordCount"],
                        r.log_tail()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        Ok(Self {
            replicas,
            token,
            user,
            ids,
            _shared: shared,
            _logs: logs,
        })
    }

    /// Creates a user (not an administrator) through the first replica, as the admin.
    pub async fn create_user(&self, name: &str, password: &str) -> Result<(), String> {
        let http = reqwest::Client::new();
        let base = self.replicas[0].base();
        let (status, body) = call(
            &http,
            &format!("{base}/Users/New"),
            &auth_header("bench-setup", Some(&self.token)),
            Some(json!({ "Name": name, "Password": password })),
        )
        .await?;
        match status {
            200 => Ok(()),
            _ => Err(format!("creating user {name} on {base}: {status} {body}")),
        }
    }

    /// Signs `n` viewers in, each from a device of its own (`bench-viewer-{k}`), as `n`
    /// clients playing at once would; returns their tokens in order.
    pub async fn sign_in_viewers(&self, n: usize) -> Result<Vec<String>, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        let mut tokens = Vec::with_capacity(n);
        for k in 0..n {
            let base = self.replicas[k % self.replicas.len()].base();
            let (token, _) = login(&http, base, &format!("bench-viewer-{k}")).await?;
            tokens.push(token);
        }
        Ok(tokens)
    }

    /// The replicas' pids.
    pub fn pids(&self) -> Vec<u32> {
        self.replicas
            .iter()
            .filter_map(|r| u32::try_from(r.pid().as_raw()).ok())
            .collect()
    }

    /// The replicas' base URLs.
    pub fn bases(&self) -> Vec<String> {
        self.replicas.iter().map(|r| r.base().to_owned()).collect()
    }
}
