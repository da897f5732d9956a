//! The HTTP API: Jellyfin's paths, grouped by area, one file each.
//!
//! | file | paths |
//! |---|---|
//! | `system.rs` | `/health`, `/health/ready`, `/System/Info[/Public]`, client start-up probes |
//! | `users.rs` | sign-in, sign-out, `/Users…` |
//! | `items.rs` | `/Items…`, `/Users/{id}/Items…`, views, resume, latest |
//! | `userdata.rs` | played / favourite marks |
//! | `sessions.rs` | playback reports, `/Sessions` |
//! | `stream.rs` | static streams with HTTP ranges |
//! | `library.rs` | `/Library/Refresh` |
//! | `playback.rs` | PlaybackInfo and HLS (the transcoder seam) |
//! | `metrics.rs` | `/metrics` (Prometheus text) |

pub mod items;
pub mod library;
pub mod metrics;
pub mod playback;
pub mod sessions;
pub mod stream;
pub mod system;
pub mod userdata;
pub mod users;

use axum::Router;

use crate::server::state::AppState;

/// Every route, without middleware (see `lib.rs` for the layers).
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(system::routes())
        .merge(users::routes())
        .merge(items::routes())
        .merge(userdata::routes())
        .merge(sessions::routes())
        .merge(stream::routes())
        .merge(library::routes())
        .merge(playback::routes())
        .merge(metrics::routes())
}
