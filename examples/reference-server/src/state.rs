//! What every handler shares: the configuration, the stores, and this server's identity.
//!
//! Why so little: any replica must be able to answer any request, so the state that matters
//! lives in the stores; what is here is either configuration or a handle (scan trigger, event
//! publisher, transcoder) that is the same on every replica or only about this one.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use media_ha::core::{ids, EventPublisher};

use crate::artwork::Artwork;
use crate::config::Config;
use crate::item_json::ItemJsonMemo;
use crate::live::Live;
use crate::progress::ProgressCoalescer;
use crate::readiness::ReadinessLog;
use crate::scan::ScanTrigger;
use crate::stores::Stores;
use crate::transcoder::Transcoder;

/// The shared state, cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// The fields of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// Resolved configuration.
    pub config: Config,
    /// The stores.
    pub stores: Stores,
    /// The id clients see (the same on every replica of one cluster).
    pub server_id: String,
    /// The name clients see.
    pub server_name: String,
    /// The URL this replica is reached at.
    pub local_address: String,
    /// The library roots scanned (`--media`, or the generated demo library).
    pub library_roots: Vec<PathBuf>,
    /// Publishes cluster events from this replica.
    pub publisher: EventPublisher,
    /// Asks for a library scan.
    pub scanner: ScanTrigger,
    /// The transcode manager, once wired (see `routes::playback`).
    pub transcoder: Option<Arc<dyn Transcoder>>,
    /// The last readiness verdict, so `/health/ready` logs changes once.
    pub readiness: ReadinessLog,
    /// Artwork: frames, the resize cache, counters.
    pub artwork: Artwork,
    /// The live channel (`/socket`).
    pub live: Live,
    /// Set when SIGTERM starts the drain: `/health/ready` fails from then on, while every
    /// other request is still answered (`drain.rs`).
    pub draining: AtomicBool,
    /// Progress reports waiting for their session's next write (`progress/mod.rs`).
    pub progress: ProgressCoalescer,
    /// Items' DTO fields and media, finished once per item version (`item_json.rs`).
    pub item_json: ItemJsonMemo,
}

impl AppState {
    /// Wraps the fields.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The server id: `--server-id` if given; with shared stores, derived from the store URL
/// (credentials and host left out, so replicas that reach one database under different host
/// names still agree); on a single node, a random id kept in `<data>/server-id`.
///
/// # Errors
/// When the id file cannot be read or written.
pub fn server_id(config: &Config) -> std::io::Result<String> {
    if let Some(id) = &config.server_id {
        return Ok(normalize_id(id).unwrap_or_else(|| ids::item_id_for_path(id)));
    }
    let shared = config
        .stores
        .postgres
        .as_ref()
        .or(config.stores.redis.as_ref());
    if let Some(url) = shared {
        let namespace = config.namespace.as_deref().unwrap_or("");
        return Ok(ids::item_id_for_path(&format!(
            "media-ha-server:{}:{namespace}",
            url_identity(url)
        )));
    }
    let path = config.data_dir.join("server-id");
    read_or_create_id(&path)
}

fn read_or_create_id(path: &Path) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            if let Some(id) = normalize_id(&text) {
                return Ok(id);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let id = ids::new_id();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{id}\n"))?;
    std::fs::rename(&tmp, path)?;
    Ok(id)
}

/// The part of a store URL that names the database: scheme, port and path (no user, password,
/// host or query).
fn url_identity(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let port = authority.rsplit_once(':').map_or("", |(_, p)| p);
    let path = path.split('?').next().unwrap_or("");
    format!("{scheme}:{port}/{path}")
}

/// Accepts a GUID with or without dashes/braces, any case; returns 32 lower-case hex digits.
pub fn normalize_id(raw: &str) -> Option<String> {
    let id: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, '-' | '{' | '}'))
        .collect::<String>()
        .to_ascii_lowercase();
    (id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit())).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_normalize_like_guids() {
        let plain = "0123456789abcdef0123456789abcdef";
        assert_eq!(normalize_id(plain).as_deref(), Some(plain));
        assert_eq!(
            normalize_id("{01234567-89AB-CDEF-0123-456789ABCDEF}").as_deref(),
            Some(plain)
        );
        assert_eq!(normalize_id("xyz"), None);
        assert_eq!(normalize_id(&"g".repeat(32)), None);
    }

    #[test]
    fn url_identity_ignores_credentials_and_host() {
        assert_eq!(
            url_identity("postgres://u:p@db-a:5432/media?sslmode=disable"),
            url_identity("postgres://other@10.0.0.5:5432/media")
        );
        assert_ne!(
            url_identity("redis://h:6379/0"),
            url_identity("redis://h:6379/1")
        );
    }

    #[test]
    fn single_node_id_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::new(dir.path());
        let a = server_id(&config).unwrap();
        assert_eq!(server_id(&config).unwrap(), a);
        assert_eq!(a.len(), 32);
    }
}
