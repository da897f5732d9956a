//! The process around the server: what `main` does, as a library function so that the
//! installed binary (`media-ha-server`) and the binary the integration tests spawn run the very
//! same code.
//!
//! Arguments → [`Config`] → [`start`] → on Ctrl-C or SIGTERM, drain and shut down
//! ([`drain`](crate::drain): readiness fails, requests are still served for the drain window,
//! then in-flight requests finish; a second signal exits at once).
//! Transcode workers are this same executable re-executed with [`WORKER_FLAG`](crate::WORKER_FLAG)
//! (one process per job, so a decoder crash costs one job, never the server): that is decided
//! before any runtime or logger starts.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::{start, Config};

/// Runs the server process (or a transcode worker, when re-executed as one) to its end.
pub fn main() -> ExitCode {
    main_with(None)
}

/// [`main`] with its stores wrapped by `layer` ([`crate::config::Config::store_layer`]).
pub fn main_with(layer: Option<crate::config::StoreLayer>) -> ExitCode {
    #[cfg(feature = "transcode")]
    if std::env::args().nth(1).as_deref() == Some(crate::WORKER_FLAG) {
        media_ha::transcode::worker::run_worker_main();
    }
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(serve(layer)),
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(layer: Option<crate::config::StoreLayer>) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let mut config = Config::from(crate::config::Args::parse());
    config.store_layer = layer;
    let server = match start(config).await {
        Ok(server) => server,
        Err(err) => {
            tracing::error!(error = %crate::error::chain(err.as_ref()), "cannot start");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "media-ha reference server listening on {}",
        server.base_url()
    );
    let (drain, grace) = (
        server.state().config.shutdown_drain,
        server.state().config.shutdown_grace,
    );
    crate::drain::run_until_signalled(server, drain, grace).await
}
