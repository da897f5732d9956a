//! The testcontainers fallback: one Redis and one Postgres container per test process.
//!
//! Each `#[tokio::test]` has its own runtime, so the container cannot belong to any one test: it
//! lives in a process-wide `OnceCell` and is started by whichever test asks first. Statics are
//! never dropped, so the containers outlive the test process; they carry the label
//! `media-ha.testkit=1` so `docker rm -f $(docker ps -q --filter label=media-ha.testkit=1)`
//! removes them. Setting the `HA_TEST_*` URLs avoids containers altogether.

use testcontainers::core::IntoContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, Image, ImageExt};
use testcontainers_modules::postgres::Postgres;
use testcontainers_modules::redis::{Redis, REDIS_PORT};
use tokio::sync::OnceCell;

/// A started container and the URL that reaches it; kept alive by being stored.
struct Started<I: Image> {
    _container: ContainerAsync<I>,
    url: String,
}

const LABEL: (&str, &str) = ("media-ha.testkit", "1");

/// The shared Redis container's URL, starting it on first use.
pub(crate) async fn redis() -> String {
    static CELL: OnceCell<Started<Redis>> = OnceCell::const_new();
    let started = CELL
        .get_or_init(|| async {
            let container = Redis::default()
                .with_label(LABEL.0, LABEL.1)
                .start()
                .await
                .unwrap_or_else(|e| panic!("ha-testkit: starting a Redis container failed: {e}"));
            let host = container.get_host().await.expect("container host");
            let port = container
                .get_host_port_ipv4(REDIS_PORT.tcp())
                .await
                .expect("container port");
            let url = format!("redis://{host}:{port}/");
            Started {
                _container: container,
                url,
            }
        })
        .await;
    started.url.clone()
}

/// The shared Postgres container's URL, starting it on first use.
pub(crate) async fn postgres() -> String {
    static CELL: OnceCell<Started<Postgres>> = OnceCell::const_new();
    let started = CELL
        .get_or_init(|| async {
            let container = Postgres::default()
                .with_host_auth()
                .with_label(LABEL.0, LABEL.1)
                .start()
                .await
                .unwrap_or_else(|e| {
                    panic!("ha-testkit: starting a PostgreSQL container failed: {e}")
                });
            let host = container.get_host().await.expect("container host");
            let port = container
                .get_host_port_ipv4(5432.tcp())
                .await
                .expect("container port");
            let url = format!("postgres://postgres@{host}:{port}/postgres");
            Started {
                _container: container,
                url,
            }
        })
        .await;
    started.url.clone()
}
