//! The sign-out race of issue 20 (finding 1), shared by the single-node and the 2-replica
//! tests: a token must stay signed out however many playback reports were in flight.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::{Client, ADMIN, ADMIN_PW};

/// Runs the sign-out race `runs` times against `bases` (reports spread over them): sign in,
/// 12 reporters sending up to 50 progress reports each, sign out meanwhile. Then, once the
/// session cache's bound (2 s) has passed, counts the tokens still accepted anywhere: each one
/// a signed-out token that a report brought back.
pub async fn logout_race(bases: &[&str], item: &str, runs: usize) -> usize {
    let http = reqwest::Client::new();
    let mut tokens = Vec::new();
    for _ in 0..runs {
        let mut c = Client::for_url(bases[0]);
        c.login(ADMIN, ADMIN_PW).await;
        let token = c.token.clone().unwrap();
        let reporters: Vec<_> = (0..12)
            .map(|i| {
                let http = http.clone();
                let base = bases[i % bases.len()].to_owned();
                let token = token.clone();
                let item = item.to_owned();
                tokio::spawn(async move {
                    for n in 0..50 {
                        let resp = http
                            .post(format!("{base}/Sessions/Playing/Progress"))
                            .header("X-Emby-Token", &token)
                            .json(&json!({ "ItemId": item, "PositionTicks": n * 10_000_000 }))
                            .send()
                            .await;
                        if resp.is_ok_and(|r| r.status() == StatusCode::UNAUTHORIZED) {
                            break;
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(30)).await;
        let (status, _) = c.post("/Sessions/Logout", json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        for r in reporters {
            r.await.unwrap();
        }
        tokens.push(token);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut revived = 0;
    for token in &tokens {
        for base in bases {
            let resp = http
                .get(format!("{base}/Users/Me"))
                .header("X-Emby-Token", token)
                .send()
                .await
                .unwrap();
            if resp.status() == StatusCode::OK {
                revived += 1;
                break;
            }
        }
    }
    revived
}
