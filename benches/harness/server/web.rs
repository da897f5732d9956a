//! Item 10 (issue 15, Performance): what the web client's home and live channel cost.
//!
//! * **Cached poster** (`GET /Items/{id}/Images/Primary?fillHeight=297&fillWidth=198&quality=96`,
//!   jellyfin-web's card size) p50/p99 on one replica, against `GET /health` of the same process
//!   in the same run (the same client, concurrency and duration, seconds apart): the HTTP stack
//!   with nothing behind it, the bar a cached image should stay near.
//! * **First-request artwork extraction**: the first poster request of each of a few films with
//!   no picture beside them (a frame extracted by the server, then resized), median and max.
//!   Each shelf film is a distinct item, so each first request is a cold extraction.
//! * **WebSocket fan-out across replicas**: a `/socket` client on replica B, a played mark
//!   posted through replica A (Redis + PostgreSQL), time from the POST until B's client holds
//!   `UserDataChanged`; p50/p99 over [`FANOUT_ROUNDS`] marks, one at a time.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::runtime::Runtime;
use tokio_tungstenite::tungstenite::Message;

use super::setup::{auth_header, Cluster, Stores};
use crate::load::{closed_loop, percentile, LoadStats};
use crate::report::{Better, Figure};
use crate::Opts;

/// Clients of the poster and /health phases.
const CONCURRENCY: usize = 8;
/// Films whose first poster request is timed.
const COLD: usize = 5;
/// Marks timed across replicas.
const FANOUT_ROUNDS: usize = 60;
/// jellyfin-web's card query of a portrait poster.
const CARD: &str = "fillHeight=297&fillWidth=198&quality=96";

const ITEM: u8 = 10;

fn stats_note(s: &LoadStats) -> String {
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, {:.0} req/s, {} errors; {CONCURRENCY} clients",
        s.p50_ms, s.p99_ms, s.ops_per_sec, s.errors
    )
}

/// Runs the web section.
pub fn run(opts: &Opts, rt: &Runtime, media: &Path, stores: &Stores) -> Vec<Figure> {
    let mut figures = Vec::new();
    match rt.block_on(posters(opts, media)) {
        Ok(mut f) => figures.append(&mut f),
        Err(e) => figures.push(not_measured("cached poster vs /health", &e)),
    }
    match rt.block_on(fanout(media, stores)) {
        Ok(f) => figures.push(f),
        Err(e) => figures.push(not_measured("WebSocket fan-out across 2 replicas", &e)),
    }
    figures
}

fn not_measured(name: &str, why: &str) -> Figure {
    eprintln!("[harness] {name}: {why}");
    Figure {
        item: ITEM,
        name: name.into(),
        unit: "ms".into(),
        ours: None,
        peer: None,
        peer_name: String::new(),
        better: Better::Lower,
        target: None,
        command: String::new(),
        note: format!("not measured: {why}"),
        raw: Value::Null,
    }
}

async fn get(http: &reqwest::Client, url: &str, auth: &str) -> Result<u16, String> {
    let resp = http
        .get(url)
        .header("Authorization", auth)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status().as_u16();
    resp.bytes().await.map_err(|e| format!("{url}: {e}"))?;
    Ok(status)
}

async fn posters(opts: &Opts, media: &Path) -> Result<Vec<Figure>, String> {
    let cluster = Cluster::start(media, None, 1).await?;
    let base = cluster.bases()[0].clone();
    let auth = auth_header("bench-web", Some(&cluster.token));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;

    // Cold: the first request of each of a few films extracts its frame.
    let mut cold_ms = Vec::new();
    for id in cluster.ids.iter().skip(1).take(COLD) {
        let url = format!("{base}/Items/{id}/Images/Primary?{CARD}");
        let t0 = Instant::now();
        let status = get(&http, &url, &auth).await?;
        if status != 200 {
            return Err(format!("first poster of {id}: {status}"));
        }
        cold_ms.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    cold_ms.sort_by(f64::total_cmp);
    let cold_median = cold_ms[cold_ms.len() / 2];
    let cold_max = cold_ms[cold_ms.len() - 1];

    // Warm: one poster, over and over, against /health of the same server.
    let poster = format!("{base}/Items/{}/Images/Primary?{CARD}", cluster.ids[0]);
    if get(&http, &poster, &auth).await? != 200 {
        return Err("warming the poster".into());
    }
    let phase = |url: String| {
        let http = http.clone();
        let auth = auth.clone();
        closed_loop(CONCURRENCY, opts.secs, move |_, _| {
            let (http, auth, url) = (http.clone(), auth.clone(), url.clone());
            async move {
                match get(&http, &url, &auth).await? {
                    200 => Ok::<bool, String>(true),
                    s => Err(format!("{url}: {s}")),
                }
            }
        })
    };
    let health = phase(format!("{base}/health")).await;
    let cached = phase(poster.clone()).await;
    let health_after = phase(format!("{base}/health")).await;
    let command = "cargo bench --features full --bench compare -- --only web".to_owned();
    Ok(vec![
        Figure {
            item: ITEM,
            name: "cached poster p50 (GET /Items/{id}/Images/Primary, card size) vs GET /health"
                .into(),
            unit: "ms".into(),
            ours: Some(cached.p50_ms),
            peer: Some(health.p50_ms.max(health_after.p50_ms)),
            peer_name: "GET /health, same process and run".into(),
            better: Better::Lower,
            target: None,
            command: command.clone(),
            note: format!(
                "poster: {}; /health before {}, after {}",
                stats_note(&cached),
                stats_note(&health),
                stats_note(&health_after)
            ),
            raw: json!({ "poster": [cached.p50_ms, cached.p99_ms, cached.ops_per_sec],
                         "health": [health.p50_ms, health.p99_ms, health.ops_per_sec],
                         "health_after": [health_after.p50_ms, health_after.p99_ms] }),
        },
        Figure {
            item: ITEM,
            name: "cached poster p99 vs GET /health p99".into(),
            unit: "ms".into(),
            ours: Some(cached.p99_ms),
            peer: Some(health.p99_ms.max(health_after.p99_ms)),
            peer_name: "GET /health, same process and run".into(),
            better: Better::Lower,
            target: None,
            command: command.clone(),
            note: "same phases as the row above".into(),
            raw: Value::Null,
        },
        Figure {
            item: ITEM,
            name: "first-request artwork extraction (frame extracted + resized), median".into(),
            unit: "ms".into(),
            ours: Some(cold_median),
            peer: None,
            peer_name: String::new(),
            better: Better::Lower,
            target: None,
            command,
            note: format!(
                "{COLD} films with no picture beside them, one request each: median {cold_median:.0} ms, \
                 max {cold_max:.0} ms (320x240 H.264 clips)"
            ),
            raw: json!({ "cold_ms": cold_ms }),
        },
    ])
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Waits for the next `UserDataChanged` on `socket` (other messages skipped).
async fn user_data_changed(socket: &mut Socket) -> Result<(), String> {
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    let m: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                    if m["MessageType"] == "UserDataChanged" {
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
                other => return Err(format!("socket ended: {other:?}")),
            }
        }
    })
    .await
    .map_err(|_| "no UserDataChanged within 15 s".to_owned())?
}

async fn fanout(media: &Path, stores: &Stores) -> Result<Figure, String> {
    let cluster = Cluster::start(media, Some(stores), 2).await?;
    let bases = cluster.bases();
    let (a, b) = (&bases[0], &bases[1]);
    let token = &cluster.token;
    let url = format!(
        "{}/socket?api_key={token}&deviceId=bench-web",
        b.replacen("http://", "ws://", 1)
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| format!("socket on B: {e}"))?;
    // Let the subscription settle before timing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let http = reqwest::Client::new();
    let auth = auth_header("bench-web", Some(token));
    let user = &cluster.user;
    let mut lat_us = Vec::new();
    for round in 0..FANOUT_ROUNDS {
        let id = &cluster.ids[round % cluster.ids.len()];
        // Alternate played / unplayed so every mark is a change.
        let req = if (round / cluster.ids.len()) % 2 == 0 {
            http.post(format!("{a}/Users/{user}/PlayedItems/{id}"))
        } else {
            http.delete(format!("{a}/Users/{user}/PlayedItems/{id}"))
        };
        let t0 = Instant::now();
        let status = req
            .header("Authorization", &auth)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .status();
        if !status.is_success() {
            return Err(format!("mark through A: {status}"));
        }
        user_data_changed(&mut socket).await?;
        lat_us.push(crate::load::micros(t0.elapsed()));
    }
    let _ = socket.send(Message::Close(None)).await;
    lat_us.sort_unstable();
    let p50 = percentile(&lat_us, 0.50);
    let p99 = percentile(&lat_us, 0.99);
    Ok(Figure {
        item: ITEM,
        name: "WebSocket fan-out across 2 replicas (mark on A → UserDataChanged on B), p50".into(),
        unit: "ms".into(),
        ours: Some(p50),
        peer: None,
        peer_name: String::new(),
        better: Better::Lower,
        target: None,
        command: "cargo bench --features full --bench compare -- --only web".into(),
        note: format!(
            "p50 {p50:.2} ms, p99 {p99:.2} ms over {FANOUT_ROUNDS} marks one at a time, from the \
             POST through A (its response included) to the message on B's socket; Redis pub/sub \
             event bus, metadata on PostgreSQL"
        ),
        raw: json!({ "lat_us": lat_us }),
    })
}
