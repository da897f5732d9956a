//! Opening connections outside the pool (the migrator's, the event listeners'), with or
//! without TLS.
//!
//! tokio-postgres' connection type depends on the TLS stream type, so the connection is driven
//! here, on its own task, and only what callers need leaves this module: the client and the
//! notifications the server pushes (for `LISTEN`). The channel closing means the connection
//! ended.

use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_postgres::tls::TlsStream;
use tokio_postgres::{AsyncMessage, Client, Connection, NoTls, Notification};

use crate::config::PgStoreConfig;
use crate::error::{PgError, PgResult};

/// Notifications from the server; an `Err` (then the end) when the connection fails.
pub(crate) type Notifications = mpsc::Receiver<Result<Notification, tokio_postgres::Error>>;

/// Opens a dedicated connection for `what`, with the session settings of every connection
/// applied; `role` is appended to its `application_name` (`media-ha/events`,
/// `media-ha/migrate`) so operators can tell them from pooled ones.
pub(crate) async fn open(
    config: &PgStoreConfig,
    what: &'static str,
    role: &str,
) -> PgResult<(Client, Notifications)> {
    let mut pg = config.connection_config();
    let name = format!("{}/{role}", pg.get_application_name().unwrap_or("media-ha"));
    pg.application_name(&name);
    let err = |e| PgError::from_db(what, e, config.statement_timeout);
    let (client, notifications) = connect(config, &pg).await.map_err(err)?;
    client
        .batch_execute(&config.session_setup())
        .await
        .map_err(err)?;
    Ok((client, notifications))
}

async fn connect(
    config: &PgStoreConfig,
    pg: &tokio_postgres::Config,
) -> Result<(Client, Notifications), tokio_postgres::Error> {
    #[cfg(feature = "tls")]
    if let Some(tls) = config.tls_connector() {
        let (client, connection) = pg.connect(tls).await?;
        return Ok((client, drive(connection)));
    }
    #[cfg(not(feature = "tls"))]
    let _ = config;
    let (client, connection) = pg.connect(NoTls).await?;
    Ok((client, drive(connection)))
}

/// Polls `connection` on its own task, forwarding notifications (bounded: a subscriber that
/// stops reading stops the polling, and the server queues for it).
fn drive<S, T>(mut connection: Connection<S, T>) -> Notifications
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + TlsStream + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            let item = match message {
                Ok(AsyncMessage::Notification(n)) => Ok(n),
                Ok(_) => continue,
                Err(e) => Err(e),
            };
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                return;
            }
        }
    });
    rx
}
