//! Starting a play the way a Jellyfin client does, spread over the replicas: sign in on one,
//! PlaybackInfo on another, the playlists on others; and the watch position (progress
//! reports and the item's UserData).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use super::client::Client;
use super::media::Clip;
use super::replica::Endpoint;
use super::{ADMIN, ADMIN_PW, PATIENCE, SEGMENT_SECS};

/// A started play: the item, and every segment's URI path.
#[derive(Debug, Clone)]
pub struct Playback {
    /// The signed-in user.
    pub user_id: String,
    /// The clip's item id.
    pub item_id: String,
    /// Every segment, in order (paths on any replica).
    pub segments: Vec<String>,
    /// The master playlist's path and query (what PlaybackInfo's `TranscodingUrl` names).
    pub master_url: String,
}

impl Playback {
    /// Signs `c` in on the first replica, waits until every replica lists the clip, asks for
    /// PlaybackInfo on the second, the master playlist on the first and the media playlist on
    /// the second (no stickiness anywhere).
    pub async fn open(c: &mut Client, replicas: &[Endpoint], clip: &Clip) -> Self {
        let first = &replicas[0].base;
        let second = &replicas[1 % replicas.len()].base;
        let (status, auth) = c
            .post(
                first,
                "/Users/AuthenticateByName",
                json!({ "Username": ADMIN, "Pw": ADMIN_PW }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login: {auth}");
        c.token = Some(auth["AccessToken"].as_str().expect("a token").to_owned());
        let user_id = auth["User"]["Id"].as_str().expect("a user id").to_owned();
        let item_id = wait_for_item(c, &replicas[0]).await;
        for r in &replicas[1..] {
            assert_eq!(wait_for_item(c, r).await, item_id, "one item id everywhere");
        }

        let (status, info) = c
            .post(second, &format!("/Items/{item_id}/PlaybackInfo"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{info}");
        let master_url = info["MediaSources"][0]["TranscodingUrl"]
            .as_str()
            .unwrap_or_else(|| panic!("MPEG-2 in Matroska needs a transcode: {info}"))
            .to_owned();
        let (status, master) = c.get(first, &master_url).await;
        assert_eq!(status, StatusCode::OK, "{master}");
        let media_uri = master
            .as_str()
            .expect("a playlist")
            .lines()
            .find(|l| l.starts_with("main.m3u8"))
            .expect("master lists the media playlist")
            .to_owned();
        let base = format!("/Videos/{item_id}/");
        let (status, media) = c.get(second, &format!("{base}{media_uri}")).await;
        assert_eq!(status, StatusCode::OK, "{media}");
        let media = media.as_str().expect("a playlist");
        let segments: Vec<String> = media
            .lines()
            .filter(|l| l.starts_with("hls1/"))
            .map(|l| format!("{base}{l}"))
            .collect();
        assert_eq!(
            segments.len() as u32,
            clip.secs / SEGMENT_SECS,
            "{SEGMENT_SECS} s segments: {media}"
        );
        Self {
            user_id,
            item_id,
            segments,
            master_url,
        }
    }

    /// Reports the play position through `replica` (what a player sends every few seconds).
    pub async fn report_progress(&self, c: &Client, replica: &Endpoint, ticks: i64) {
        let (status, body) = c
            .post(
                &replica.base,
                "/Sessions/Playing/Progress",
                json!({ "ItemId": self.item_id, "PositionTicks": ticks }),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::NO_CONTENT,
            "progress on {}: {body}",
            replica.node
        );
    }

    /// The watch position `replica` returns for the item.
    pub async fn position(&self, c: &Client, replica: &Endpoint) -> i64 {
        let (status, item) = c
            .get(
                &replica.base,
                &format!("/Users/{}/Items/{}", self.user_id, self.item_id),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "item on {}: {item}", replica.node);
        item["UserData"]["PlaybackPositionTicks"]
            .as_i64()
            .unwrap_or_else(|| panic!("no position on {}: {item}", replica.node))
    }
}

/// Waits until `r` lists the clip (the scan runs on one replica; the others read it from
/// PostgreSQL). Returns its id.
async fn wait_for_item(c: &Client, r: &Endpoint) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, items) = c
            .get(
                &r.base,
                &format!("/Items?Recursive=true&SearchTerm={}", Clip::NAME),
            )
            .await;
        if status == StatusCode::OK {
            if let Some(item) = items["Items"]
                .as_array()
                .and_then(|a| a.iter().find(|i| i["Name"] == json!(Clip::NAME)))
            {
                return item["Id"].as_str().expect("an item id").to_owned();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared on {}: {status} {items}",
            Clip::NAME,
            r.node
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
