//! One client's WebSocket: credentials, keep-alive, the session list, and the limits.
//!
//! Credentials are the HTTP ones (the [`Caller`] extractor: `api_key`/`ApiKey` in the query, as
//! jellyfin-web sends them on the upgrade, or the `Authorization` header), checked before the
//! upgrade: a bad token is a plain `401`, over the socket caps a `429`.
//!
//! What closes a connection, and why the server does not care: a message over
//! [`MAX_INBOUND_BYTES`] (the WebSocket layer refuses to buffer it: close `1009`), more messages
//! than the [`FloodMeter`] allows (close `1008`), `LOST_AFTER_SECS` of silence (no
//! `KeepAlive`, no ping), a queue the hub could not add to (the client reads too slowly),
//! server shutdown (`1012`: clients reconnect to another replica). Each connection is one task
//! with bounded buffers, so none of these costs other clients anything.

use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use tokio::sync::watch;

use super::hub::{Outbound, Owner, Refused, Registration};
use super::protocol::{
    outbound, parse_inbound, FloodMeter, Inbound, LOST_AFTER_SECS, MAX_INBOUND_BYTES,
};
use super::sessions::session_list;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Close codes (RFC 6455 §7.4.1).
const POLICY: u16 = 1008;
const TOO_BIG: u16 = 1009;
const RESTART: u16 = 1012;

/// `GET /socket` (and `/embywebsocket`, the old name): upgrade to the live channel.
pub async fn upgrade(
    State(state): State<AppState>,
    caller: Caller,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let owner = Owner {
        user_id: caller.user.id.clone(),
        session_id: caller.session.id.clone(),
    };
    let registration = state.live.hub.register(owner).map_err(|r| {
        let what = match r {
            Refused::SessionFull => "this session has too many open sockets",
            Refused::UserFull => "this user has too many open sockets",
        };
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, what)
    })?;
    let closing = state.live.closing();
    Ok(ws
        .max_message_size(MAX_INBOUND_BYTES)
        .max_frame_size(MAX_INBOUND_BYTES)
        .on_upgrade(move |socket| run(socket, state, caller, registration, closing)))
}

/// The connection's loop: one task, until either side ends it.
async fn run(
    mut socket: WebSocket,
    state: AppState,
    caller: Caller,
    mut registration: Registration,
    mut closing: watch::Receiver<bool>,
) {
    let user = caller.user.id.clone();
    tracing::debug!(%user, session = %caller.session.id, "live: socket open");
    let lost_after = Duration::from_secs(LOST_AFTER_SECS);
    let force = outbound("ForceKeepAlive", Some(&Value::from(LOST_AFTER_SECS)));
    if socket.send(Message::Text(force.into())).await.is_err() {
        return;
    }
    let mut flood = FloodMeter::new(Instant::now());
    let mut last_heard = Instant::now();
    let mut sessions: Option<tokio::time::Interval> = None;
    let reason = loop {
        let silence = tokio::time::sleep_until((last_heard + lost_after).into());
        tokio::select! {
            incoming = socket.recv() => {
                let message = match incoming {
                    None => break None,
                    Some(Ok(m)) => m,
                    Some(Err(err)) => {
                        // Over the size limit, or a protocol error: say so if the socket still
                        // takes a frame, then go.
                        tracing::info!(%user, error = %err, "live: closing a socket after a bad frame");
                        break Some((TOO_BIG, "message too big or malformed"));
                    }
                };
                last_heard = Instant::now();
                if !flood.allow(last_heard) {
                    tracing::info!(%user, "live: closing a flooding socket");
                    break Some((POLICY, "too many messages"));
                }
                match message {
                    Message::Text(text) => match parse_inbound(text.as_str()) {
                        Some(Inbound::KeepAlive) => {
                            if socket.send(Message::Text(outbound("KeepAlive", None).into())).await.is_err() {
                                break None;
                            }
                        }
                        Some(Inbound::SessionsStart { initial, period }) => {
                            let start = tokio::time::Instant::now() + initial;
                            let mut interval = tokio::time::interval_at(start, period);
                            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                            sessions = Some(interval);
                        }
                        Some(Inbound::SessionsStop) => sessions = None,
                        Some(Inbound::Other(kind)) => tracing::debug!(%user, kind, "live: message ignored"),
                        None => tracing::debug!(%user, "live: malformed message ignored"),
                    },
                    Message::Close(_) => break None,
                    // Pings are answered by the WebSocket layer; binary is not part of the protocol.
                    Message::Binary(_) | Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            out = registration.recv() => {
                let text = match out {
                    None => break Some((POLICY, "too slow: messages were piling up")),
                    Some(Outbound::Text(text)) => Some(text.to_string()),
                    Some(Outbound::RefreshSessions) => match sessions.as_ref() {
                        Some(_) => sessions_message(&state, &caller).await,
                        None => None,
                    },
                };
                if let Some(text) = text {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break None;
                    }
                }
            }
            () = tick(&mut sessions) => {
                if let Some(text) = sessions_message(&state, &caller).await {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break None;
                    }
                }
            }
            () = silence => {
                tracing::debug!(%user, "live: socket silent too long; closing");
                break Some((POLICY, "no keep-alive"));
            }
            () = closed(&mut closing) => {
                break Some((RESTART, "server shutting down"));
            }
        }
    };
    if let Some((code, why)) = reason {
        let frame = CloseFrame {
            code,
            reason: why.into(),
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            socket.send(Message::Close(Some(frame))),
        )
        .await;
    }
    tracing::debug!(%user, "live: socket closed");
}

/// Resolves once the server shuts down.
async fn closed(closing: &mut watch::Receiver<bool>) {
    if closing.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The next tick of the `Sessions` period; never when not subscribed.
async fn tick(sessions: &mut Option<tokio::time::Interval>) {
    match sessions.as_mut() {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// A `Sessions` message for `caller` (their sessions; all for an administrator).
async fn sessions_message(state: &AppState, caller: &Caller) -> Option<String> {
    match session_list(state, &caller.user).await {
        Ok(list) => Some(outbound("Sessions", Some(&Value::Array(list)))),
        Err(err) => {
            tracing::warn!(error = %err.message, "live: cannot list sessions");
            None
        }
    }
}
