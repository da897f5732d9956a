//! `cargo run --release --example reference-server -- --help`
//!
//! Thin on purpose: arguments → [`Config`](server::Config) → [`server::start`] → wait for
//! Ctrl-C or SIGTERM → graceful shutdown (in-flight requests finish, the scan lease is released
//! so another replica takes over at once). Everything else is in `lib.rs`.

// Some of the library's API (the `Server::state` handle, scan reports) is only used by tests.
#[allow(dead_code)]
#[path = "lib.rs"]
mod server;

use std::time::Duration;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    // Transcode workers are this binary re-executed (one process per job, so a decoder crash
    // costs one job, never the server): decide before any runtime or logger starts.
    #[cfg(feature = "transcode")]
    if std::env::args().nth(1).as_deref() == Some(server::WORKER_FLAG) {
        media_ha::transcode::worker::run_worker_main();
    }
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(serve()),
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = server::Config::from(server::config::Args::parse());
    let server = match server::start(config).await {
        Ok(server) => server,
        Err(err) => {
            tracing::error!(error = %server::error::chain(err.as_ref()), "cannot start");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!(
        "media-ha reference server listening on {}",
        server.base_url()
    );
    wait_for_signal().await;
    tracing::info!("shutting down");
    server.shutdown(Duration::from_secs(10)).await;
    std::process::ExitCode::SUCCESS
}

/// Ctrl-C or SIGTERM (what `docker stop` and Kubernetes send).
async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
