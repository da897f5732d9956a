//! This replica's open WebSockets, and the hand-off of cluster events to them.
//!
//! Why a bounded queue per connection and `try_send`: the hub runs on the task that follows
//! the event bus; if it awaited a slow client, one stalled phone would delay every other
//! client's messages (and the bus subscription behind it). A connection whose queue is full
//! is dropped from the hub instead, which closes it; the client reconnects and reloads.
//!
//! The queue is bounded in messages ([`OUTBOUND_QUEUE`]) and in bytes ([`OUTBOUND_BYTES`]):
//! counting messages alone let a client that stops reading pin 64 messages of any size per
//! socket.
//!
//! Caps ([`MAX_PER_SESSION`], [`MAX_PER_USER`]) keep one account from holding thousands of
//! sockets (each a task and a queue) on a replica.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::events::LiveEvent;
use super::protocol::{outbound, MAX_PER_SESSION, MAX_PER_USER, OUTBOUND_BYTES, OUTBOUND_QUEUE};

/// What the hub hands a connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    /// A message, ready to send.
    Text(Arc<str>),
    /// The session list changed: send a fresh `Sessions` if subscribed.
    RefreshSessions,
}

/// Which connections a message is for.
type Audience = Box<dyn Fn(&Owner) -> bool>;

/// Who a connection belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The user.
    pub user_id: String,
    /// The session (one per signed-in device).
    pub session_id: String,
}

#[derive(Debug)]
struct Conn {
    owner: Owner,
    tx: mpsc::Sender<Outbound>,
    /// Bytes of text queued and not yet taken by the connection's task.
    queued: Arc<AtomicUsize>,
}

impl Outbound {
    /// The bytes this message holds while queued.
    fn bytes(&self) -> usize {
        match self {
            Self::Text(text) => text.len(),
            Self::RefreshSessions => 0,
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The session already holds [`MAX_PER_SESSION`] sockets here.
    SessionFull,
    /// The user already holds [`MAX_PER_USER`] sockets here.
    UserFull,
}

/// The registry, cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct LiveHub {
    inner: Arc<Mutex<HashMap<u64, Conn>>>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

/// A registered connection; unregisters itself when dropped.
#[derive(Debug)]
pub struct Registration {
    hub: LiveHub,
    id: u64,
    rx: mpsc::Receiver<Outbound>,
    queued: Arc<AtomicUsize>,
}

impl Registration {
    /// The next message for this connection; `None` once the hub dropped it (too slow).
    pub async fn recv(&mut self) -> Option<Outbound> {
        let message = self.rx.recv().await?;
        self.queued.fetch_sub(message.bytes(), Ordering::Relaxed);
        Some(message)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.lock().remove(&self.id);
    }
}

impl LiveHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Conn>> {
        // A panic elsewhere while holding the lock leaves a usable map: keep serving.
        media_ha::core::sync::lock(&self.inner)
    }

    /// Registers a connection of `owner`, within the caps.
    ///
    /// # Errors
    /// [`Refused`] when the session or the user holds too many sockets already.
    pub fn register(&self, owner: Owner) -> Result<Registration, Refused> {
        let mut conns = self.lock();
        let per_session = conns
            .values()
            .filter(|c| c.owner.session_id == owner.session_id)
            .count();
        if per_session >= MAX_PER_SESSION {
            return Err(Refused::SessionFull);
        }
        let per_user = conns
            .values()
            .filter(|c| c.owner.user_id == owner.user_id)
            .count();
        if per_user >= MAX_PER_USER {
            return Err(Refused::UserFull);
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        conns.insert(
            id,
            Conn {
                owner,
                tx,
                queued: queued.clone(),
            },
        );
        Ok(Registration {
            hub: self.clone(),
            id,
            rx,
            queued,
        })
    }

    /// Open connections on this replica.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hands `event` to the connections it concerns; a connection that cannot take it (queue
    /// full in messages or bytes: too slow) is dropped, which closes it.
    pub fn deliver(&self, event: &LiveEvent) {
        let (wanted, message): (Audience, Outbound) = match event {
            LiveEvent::UserData { user_id, data } => {
                let text = outbound(
                    "UserDataChanged",
                    Some(&serde_json::json!({ "UserId": user_id, "UserDataList": data })),
                );
                let user = user_id.clone();
                (
                    Box::new(move |o: &Owner| o.user_id == user),
                    Outbound::Text(text.into()),
                )
            }
            LiveEvent::Library(change) => {
                let mut data = serde_json::json!(change);
                if let Some(map) = data.as_object_mut() {
                    map.insert(
                        "IsEmpty".into(),
                        serde_json::json!(*change == Default::default()),
                    );
                }
                (
                    Box::new(|_: &Owner| true),
                    Outbound::Text(outbound("LibraryChanged", Some(&data)).into()),
                )
            }
            LiveEvent::Sessions => (Box::new(|_: &Owner| true), Outbound::RefreshSessions),
            LiveEvent::Command(command) => {
                let session = command.session_id.clone();
                (
                    Box::new(move |o: &Owner| o.session_id == session),
                    Outbound::Text(outbound(&command.message_type, Some(&command.data)).into()),
                )
            }
        };
        let bytes = message.bytes();
        let mut conns = self.lock();
        conns.retain(|id, conn| {
            if !wanted(&conn.owner) {
                return true;
            }
            // Only the hub adds (under the lock), so the sum cannot overshoot between the load
            // and the add; the connection's task only takes away.
            let queued = conn.queued.load(Ordering::Relaxed);
            if queued > 0 && queued + bytes > OUTBOUND_BYTES {
                tracing::info!(connection = id, user = %conn.owner.user_id, queued, "live: client too slow (bytes); closing its socket");
                return false;
            }
            conn.queued.fetch_add(bytes, Ordering::Relaxed);
            match conn.tx.try_send(message.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::info!(connection = id, user = %conn.owner.user_id, "live: client too slow; closing its socket");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(user: &str, session: &str) -> Owner {
        Owner {
            user_id: user.into(),
            session_id: session.into(),
        }
    }

    #[test]
    fn delivers_by_user_and_session() {
        let hub = LiveHub::default();
        let mut a = hub.register(owner("u1", "s1")).unwrap();
        let mut b = hub.register(owner("u2", "s2")).unwrap();
        hub.deliver(&LiveEvent::UserData {
            user_id: "u1".into(),
            data: vec![],
        });
        assert!(matches!(a.rx.try_recv(), Ok(Outbound::Text(t)) if t.contains("UserDataChanged")));
        assert!(b.rx.try_recv().is_err());
        hub.deliver(&LiveEvent::Command(super::super::events::SessionCommand {
            session_id: "s2".into(),
            message_type: "Playstate".into(),
            data: serde_json::json!({"Command": "Pause"}),
        }));
        assert!(matches!(b.rx.try_recv(), Ok(Outbound::Text(t)) if t.contains("Pause")));
        assert!(a.rx.try_recv().is_err());
        hub.deliver(&LiveEvent::Sessions);
        assert_eq!(a.rx.try_recv(), Ok(Outbound::RefreshSessions));
        assert_eq!(hub.len(), 2);
        drop(a);
        assert_eq!(hub.len(), 1);
    }

    #[test]
    fn caps_and_slow_clients() {
        let hub = LiveHub::default();
        let held: Vec<_> = (0..MAX_PER_SESSION)
            .map(|_| hub.register(owner("u", "s")).unwrap())
            .collect();
        assert_eq!(
            hub.register(owner("u", "s")).unwrap_err(),
            Refused::SessionFull
        );
        let mut others = Vec::new();
        for i in MAX_PER_SESSION..MAX_PER_USER {
            others.push(hub.register(owner("u", &format!("s{i}"))).unwrap());
        }
        assert_eq!(
            hub.register(owner("u", "new")).unwrap_err(),
            Refused::UserFull
        );
        drop(others);
        drop(held);
        assert!(hub.is_empty());

        let slow = hub.register(owner("u", "s")).unwrap();
        for _ in 0..=OUTBOUND_QUEUE {
            hub.deliver(&LiveEvent::Sessions);
        }
        assert!(hub.is_empty(), "a full queue drops the connection");
        drop(slow);
    }

    /// Second attack pass: a socket that stops reading may not pin more than
    /// [`OUTBOUND_BYTES`] of large messages (before: [`OUTBOUND_QUEUE`] of any size each).
    #[tokio::test]
    async fn a_slow_client_is_dropped_once_its_queue_holds_too_many_bytes() {
        let hub = LiveHub::default();
        let command = |text: String| {
            LiveEvent::Command(super::super::events::SessionCommand {
                session_id: "s".into(),
                message_type: "GeneralCommand".into(),
                data: serde_json::json!({ "Text": text }),
            })
        };
        let big = "x".repeat(OUTBOUND_BYTES / 4);
        let mut reader = hub.register(owner("u", "s")).unwrap();
        let _slow = hub.register(owner("u", "s")).unwrap();
        for _ in 0..3 {
            hub.deliver(&command(big.clone()));
        }
        assert_eq!(hub.len(), 2, "three quarters of the budget is still taken");
        for _ in 0..3 {
            assert!(reader.recv().await.is_some());
        }
        hub.deliver(&command(big.clone()));
        assert_eq!(hub.len(), 1, "the reader stays, the slow one is dropped");
        // One message larger than the whole budget still reaches a connection that is caught up.
        assert!(reader.recv().await.is_some());
        hub.deliver(&command("y".repeat(OUTBOUND_BYTES * 2)));
        assert!(matches!(reader.recv().await, Some(Outbound::Text(t)) if t.len() > OUTBOUND_BYTES));
        assert_eq!(hub.len(), 1);
    }
}
