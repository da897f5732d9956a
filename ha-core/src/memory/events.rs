//! In-process [`EventBus`] on a tokio broadcast channel.

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc};

use crate::{Event, EventBus, Result, Subscription, Transport};

/// Events within one process. A subscriber that falls more than `capacity` events behind gets a
/// [`crate::BusMessage::Resync`], never a silent loss.
#[derive(Debug, Clone)]
pub struct MemoryEventBus {
    tx: broadcast::Sender<Event>,
}

impl MemoryEventBus {
    /// A bus buffering up to 1024 events per slow subscriber.
    pub fn new() -> Self {
        Self::with_capacity(1024)
    }

    /// A bus buffering up to `capacity` events per slow subscriber.
    pub fn with_capacity(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self { tx }
    }
}

impl Default for MemoryEventBus {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl EventBus for MemoryEventBus {
    async fn send(&self, event: &Event) -> Result<()> {
        // No subscriber is not an error: nobody is listening, nothing is missed.
        let _ = self.tx.send(event.clone());
        Ok(())
    }

    async fn subscribe(&self) -> Result<Subscription> {
        let mut rx = self.tx.subscribe();
        let (out, out_rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let item = match rx.recv().await {
                    Ok(event) => Transport::Event(event),
                    Err(broadcast::error::RecvError::Lagged(n)) => Transport::Interrupted {
                        reason: format!("subscriber fell {n} events behind"),
                    },
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if out.send(item).await.is_err() {
                    return;
                }
            }
        });
        Ok(Subscription::new(out_rx))
    }
}
