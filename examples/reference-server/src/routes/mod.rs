//! The HTTP API: Jellyfin's paths, grouped by area, one file each.
//!
//! | file | paths |
//! |---|---|
//! | `system.rs` | `/health`, `/health/ready`, `/System/Info[/Public]`, client start-up probes |
//! | `localization.rs` | `/Localization/…`: cultures, countries, ratings, display languages |
//! | `catalog.rs` | media folders, filters, genres/studios/persons, search hints, similar, next up, intros, media segments |
//! | `network.rs` | `/System/Endpoint`, `/Playback/BitrateTest` |
//! | `display_prefs.rs` | `/DisplayPreferences/{id}`: per user and client, in the stores |
//! | `users.rs` | sign-in, sign-out, `/Users…` |
//! | `items.rs` | `/Items…`, `/Users/{id}/Items…`, views, resume, latest |
//! | `images.rs` | `/Items/{id}/Images/…`: artwork |
//! | `remote.rs` | `/socket` (the live channel) and remote control of sessions |
//! | `userdata.rs` | played / favourite marks |
//! | `sessions.rs` | playback reports, `/Sessions`, `/Sessions/Capabilities[/Full]` |
//! | `stream.rs` | static streams with HTTP ranges |
//! | `library.rs` | `/Library/Refresh` |
//! | `playback.rs` | PlaybackInfo and HLS (the transcoder seam) |
//! | `metrics.rs` | `/metrics` (Prometheus text) |
//! | `item_extras.rs` | `/Items/{id}/ThemeMedia`, `/Users/{uid}/Items/{id}/Intros` (none) |
//! | `web.rs` | `/`, `/web/…`: the web client or the landing page |

pub mod catalog;
pub mod display_prefs;
pub mod images;
pub mod item_extras;
pub mod items;
pub mod library;
pub mod localization;
pub mod metrics;
pub mod network;
pub mod playback;
pub mod remote;
pub mod sessions;
pub mod stream;
pub mod system;
pub mod userdata;
pub mod users;
pub mod web;

use axum::Router;

use crate::paths::route_templates;
use crate::state::AppState;

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
        .merge(images::routes())
        .merge(remote::routes())
        .merge(network::routes())
        .merge(display_prefs::routes())
        .merge(web::routes())
        .merge(localization::routes())
        .merge(catalog::routes())
        .merge(item_extras::routes())
}

/// The path template of every route above, read from the route files themselves (for
/// case-insensitive matching, see `paths.rs`).
pub fn templates() -> Vec<&'static str> {
    const SOURCES: [&str; 17] = [
        include_str!("catalog.rs"),
        include_str!("display_prefs.rs"),
        include_str!("images.rs"),
        include_str!("item_extras.rs"),
        include_str!("items.rs"),
        include_str!("library.rs"),
        include_str!("localization.rs"),
        include_str!("metrics.rs"),
        include_str!("network.rs"),
        include_str!("playback.rs"),
        include_str!("remote.rs"),
        include_str!("sessions.rs"),
        include_str!("stream.rs"),
        include_str!("system.rs"),
        include_str!("userdata.rs"),
        include_str!("users.rs"),
        include_str!("web.rs"),
    ];
    SOURCES.into_iter().flat_map(route_templates).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_file_yields_its_templates() {
        let templates = super::templates();
        for expected in [
            "/Items",
            "/Library/Refresh",
            "/metrics",
            "/Items/{item_id}/PlaybackInfo",
            "/Sessions/Playing",
            "/Videos/{item_id}/{file}",
            "/System/Info/Public",
            "/Users/{user_id}/PlayedItems/{item_id}",
            "/Users/AuthenticateByName",
            "/Items/{item_id}/Images/{image_type}/{image_index}",
            "/socket",
            "/Sessions/{session_id}/Playing/{command}",
            "/DisplayPreferences/{prefs_id}",
            "/System/Endpoint",
            "/Playback/BitrateTest",
            "/Sessions/Capabilities/Full",
            "/web/{*path}",
            "/Localization/Cultures",
            "/Search/Hints",
            "/MediaSegments/{item_id}",
        ] {
            assert!(templates.contains(&expected), "{expected} in {templates:?}");
        }
    }
}
