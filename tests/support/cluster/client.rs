//! A Jellyfin-style client: one token, sent to whichever replica it is given, as a client
//! behind a load balancer does.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

/// See the module docs.
pub struct Client {
    http: reqwest::Client,
    /// The access token once signed in.
    pub token: Option<String>,
}

impl Client {
    /// A client with no token. No connection pooling: every request opens its own loopback
    /// connection, so a request never lands on a kept-alive connection to a replica that has
    /// just begun shutting down (a load balancer retries *connect* failures; see `balancer`).
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(0)
                .build()
                .expect("an HTTP client"),
            token: None,
        }
    }

    /// The `Authorization` header it sends (with the token once signed in): a player given it
    /// is the same client.
    pub fn authorization(&self) -> String {
        let mut value = r#"MediaBrowser Client="media-ha failover test", Device="Test", DeviceId="failover-device", Version="1.0""#.to_owned();
        if let Some(t) = &self.token {
            value.push_str(&format!(r#", Token="{t}""#));
        }
        value
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        req.header("Authorization", self.authorization())
    }

    async fn json(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = self.authed(req).send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `GET base+path`, the body as JSON (or a JSON string when it is not JSON).
    pub async fn get(&self, base: &str, path: &str) -> (StatusCode, Value) {
        self.json(self.http.get(format!("{base}{path}"))).await
    }

    /// `POST base+path` with a JSON body.
    pub async fn post(&self, base: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.json(self.http.post(format!("{base}{path}")).json(&body))
            .await
    }

    /// `DELETE base+path`.
    pub async fn delete(&self, base: &str, path: &str) -> (StatusCode, Value) {
        self.json(self.http.delete(format!("{base}{path}"))).await
    }

    /// `GET base+path`, the raw body; the transport error as is (the balancer decides).
    pub async fn get_bytes(
        &self,
        base: &str,
        path: &str,
    ) -> Result<(StatusCode, Vec<u8>), reqwest::Error> {
        let resp = self
            .authed(self.http.get(format!("{base}{path}")))
            .send()
            .await?;
        let status = resp.status();
        Ok((status, resp.bytes().await?.to_vec()))
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}
