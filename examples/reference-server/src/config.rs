//! Command line and environment → one resolved [`Config`].
//!
//! Why two types: [`Args`] is what a person types (every field optional, `MEDIA_HA_*` variables
//! as fallbacks, so a container needs no command line); [`Config`] is what the server runs on,
//! with every default filled in. Tests build a [`Config`] directly and never touch the process
//! environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::client_addr::TrustedProxies;
use clap::Parser;

pub use crate::readiness::ReadinessPolicy;

/// The reference server's command line. Every flag can also be set as `MEDIA_HA_<FLAG>`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "media-ha-server",
    version,
    about = "A Jellyfin-compatible media server built on media-ha; run several replicas on one Redis/PostgreSQL.",
    after_help = "Durations take units: 500ms, 5s, 2m, 1h30m."
)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "MEDIA_HA_LISTEN", default_value = "127.0.0.1:8096")]
    pub listen: SocketAddr,
    /// A media directory (a library root); repeat for several. None: a generated demo library.
    #[arg(long = "media", env = "MEDIA_HA_MEDIA", value_delimiter = ',')]
    pub media: Vec<PathBuf>,
    /// Where this replica keeps its files (in-process metadata, sessions, demo library, server id).
    #[arg(long, env = "MEDIA_HA_DATA", default_value = "./media-ha-data")]
    pub data: PathBuf,
    /// A jellyfin-web build (the folder holding its `index.html`) to serve at `/web/`. Unset: `/`
    /// and `/web/` answer a page saying how to connect an app and where to get the web client.
    #[arg(long, env = "MEDIA_HA_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Where transcodes are written (default: `<data>/transcodes`; share it between replicas).
    #[arg(long, env = "MEDIA_HA_TRANSCODE_DIR")]
    pub transcode_dir: Option<PathBuf>,
    /// `shared`: every replica mounts the same transcode directory. `node-local`: each replica
    /// has its own, and a segment is fetched from its job's owner at the owner's `--advertise`.
    #[arg(long, env = "MEDIA_HA_TRANSCODE_STORAGE", value_enum, default_value_t = TranscodeStorage::Shared)]
    pub transcode_storage: TranscodeStorage,
    /// Redis URL: leases, jobs, sessions, events and slots live there.
    #[arg(long, env = "MEDIA_HA_REDIS")]
    pub redis: Option<String>,
    /// PEM CA certificate trusted for a TLS Redis URL (`rediss://`, `rediss+sentinel://`): the
    /// URL's `tls_ca_file=`, given apart so the URL can stay in a Secret (`redis_ca.rs`).
    #[arg(long, env = "MEDIA_HA_REDIS_TLS_CA_FILE", requires = "redis")]
    pub redis_tls_ca_file: Option<PathBuf>,
    /// PostgreSQL URL: metadata lives there (and everything else when no Redis is given).
    #[arg(long, env = "MEDIA_HA_POSTGRES")]
    pub postgres: Option<String>,
    /// This replica's id (lease holder name). Default: the host name plus a random suffix.
    #[arg(long, env = "MEDIA_HA_NODE_ID")]
    pub node_id: Option<String>,
    /// The URL clients and other replicas reach this replica at (default: `http://<listen>`).
    #[arg(long, env = "MEDIA_HA_ADVERTISE")]
    pub advertise: Option<String>,
    /// Name of an administrator to create (or whose password to set) at start.
    #[arg(long, env = "MEDIA_HA_ADMIN_USER", requires = "admin_password")]
    pub admin_user: Option<String>,
    /// That administrator's password.
    #[arg(long, env = "MEDIA_HA_ADMIN_PASSWORD", requires = "admin_user")]
    pub admin_password: Option<String>,
    /// Concurrent Intel QSV transcodes this replica's GPU takes.
    #[arg(long, env = "MEDIA_HA_QSV_SLOTS", default_value_t = 8)]
    pub qsv_slots: u32,
    /// The GPU render node Intel QSV uses (`/dev/dri/renderD129` for a second GPU). Probed at
    /// start; transcodes fall back to software when it does not work.
    #[arg(
        long,
        env = "MEDIA_HA_RENDER_NODE",
        default_value = "/dev/dri/renderD128"
    )]
    pub render_node: PathBuf,
    /// Concurrent transcodes one user may hold, cluster-wide.
    #[arg(long, env = "MEDIA_HA_MAX_TRANSCODES_PER_USER", default_value_t = 3)]
    pub max_transcodes_per_user: u32,
    /// Redis key prefix and PostgreSQL schema (several clusters on one Redis / database).
    #[arg(long, env = "MEDIA_HA_NAMESPACE")]
    pub namespace: Option<String>,
    /// A fixed server id (32 hex digits) clients see; default: derived (see `state::server_id`).
    #[arg(long, env = "MEDIA_HA_SERVER_ID")]
    pub server_id: Option<String>,
    /// How long a transcode job's lease lasts without renewal (`5s`, 300ms to 10m). A replica
    /// killed mid-stream is replaced after at most this long, so it bounds the viewer's stall;
    /// the owner renews at a third of it, so too short a TTL costs store round trips and risks
    /// losing leases to a slow store.
    #[arg(long, env = "MEDIA_HA_LEASE_TTL", value_parser = parse_lease_ttl, default_value = "5s")]
    pub lease_ttl: Duration,
    /// How long this replica's liveness record lasts without renewal (`1s`; renewed four times
    /// per TTL; `0`: no record). A replica killed mid-stream has its transcodes taken over
    /// after about this long instead of the lease TTL. Must be below `--lease-ttl`, and the same
    /// on every replica: one without a record would have its jobs taken over at once.
    #[arg(long, env = "MEDIA_HA_LIVENESS_TTL", value_parser = parse_liveness_ttl, default_value = "1s")]
    pub liveness_ttl: Duration,
    /// How long one segment request waits for a segment that is being made before answering
    /// 503 with `Retry-After: 1` (`6s`, 1s to 5m). Keep it below the players' patience for one
    /// request (ExoPlayer 8 s, hls.js 10 s): a player that gives up itself counts an error
    /// and may wait longer before it asks again (docs/RELIABILITY.md).
    #[arg(long, env = "MEDIA_HA_SEGMENT_WAIT", value_parser = parse_segment_wait, default_value = "6s")]
    pub segment_wait: Duration,
    /// Old spelling of `--lease-ttl`, in milliseconds.
    #[arg(long, env = "MEDIA_HA_LEASE_TTL_MS", hide = true, conflicts_with = "lease_ttl",
          value_parser = clap::value_parser!(u64).range(300..=600_000))]
    pub lease_ttl_ms: Option<u64>,
    /// Rescan the library this often (`30m`, `1h`; `0`: only at start and on request). A bare
    /// number is seconds, as in earlier versions.
    #[arg(long, env = "MEDIA_HA_SCAN_INTERVAL", value_parser = parse_seconds_or_duration, default_value = "30m")]
    pub scan_interval: Duration,
    /// How long this replica answers a validated session from memory (`2s`, at most `60s`;
    /// `0s`: ask the session store on every request). A sign-out elsewhere reaches this replica
    /// by a cluster event at once; this is the bound when that event is lost.
    #[arg(long, env = "MEDIA_HA_SESSION_CACHE", value_parser = parse_session_cache, default_value = "2s")]
    pub session_cache: Duration,
    /// Playback progress reports of one session reach the stores at most this often per
    /// replica (default `5s`; `0s`: every report is written; at most `60s`). The first report
    /// of a session, every report that comes at least this long after the last write (a client
    /// reporting every 10 s, as Jellyfin's do), and every start and stop are written at once;
    /// only faster reports wait, and this replica's own reads show them at once. Other
    /// replicas see a waiting report up to this long late, and a replica killed without a
    /// drain loses at most this much of a session's progress (`progress/mod.rs`).
    #[arg(long, env = "MEDIA_HA_PROGRESS_INTERVAL", value_parser = parse_session_cache, default_value = "5s")]
    pub progress_interval: Duration,
    /// How long this replica answers users, items and user-independent listing pages from
    /// memory (default `2s`, at most `60s`; `0s`: ask the metadata store every time). A change
    /// through any replica reaches the others by a cluster event at once; this is the bound
    /// when that event is lost, or for a change made behind the servers' backs (SQL)
    /// (`metadata_cache/mod.rs`). Only with shared stores; measured in docs/BENCHMARKS.md,
    /// "The HA request path".
    #[arg(long, env = "MEDIA_HA_METADATA_CACHE", value_parser = parse_session_cache, default_value = "2s")]
    pub metadata_cache: Duration,
    /// How often one replica (the holder of the `metrics-reporter` lease) counts the cluster's
    /// live sessions for `media_ha_cluster_sessions` (`15s`; 1 s to 10 min). The others report
    /// 0, so the sum over replicas is the cluster's count, read once per interval, not once per
    /// scrape of every replica.
    #[arg(long, env = "MEDIA_HA_CLUSTER_GAUGE_INTERVAL", value_parser = parse_cluster_gauge_interval, default_value = "15s")]
    pub cluster_gauge_interval: Duration,
    /// How long a signed-in device may stay unused before it must sign in again (`30d`,
    /// `12h`; 1 s to 10 years). `none` (the default, as in Jellyfin): a device stays signed in
    /// until it signs out or an administrator revokes it. Every request restarts the clock.
    #[arg(long, env = "MEDIA_HA_SESSION_IDLE", value_parser = parse_session_idle, default_value = "none")]
    pub session_idle: SessionIdle,
    /// Old spelling of `--session-cache`, in milliseconds.
    #[arg(long, env = "MEDIA_HA_SESSION_CACHE_MS", hide = true, conflicts_with = "session_cache",
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub session_cache_ms: Option<u64>,
    /// What `/health/ready` answers while a shared store is down: `stay-ready` (200
    /// `Degraded`; the replica stays in the load balancer and requests that need the store answer
    /// 503 with Retry-After) or `strict` (503). See `readiness.rs` for the trade-off.
    #[arg(long, env = "MEDIA_HA_READINESS_POLICY", value_enum, default_value_t = ReadinessPolicy::StayReady)]
    pub readiness_policy: ReadinessPolicy,
    /// Keep retrying unreachable stores at start-up for this long (`90s`; backoff from 0.5 s
    /// to 10 s) instead of exiting at the first failure. `0s`: fail at once.
    #[arg(long, env = "MEDIA_HA_WAIT_FOR_STORES", value_parser = parse_duration, default_value = "0s")]
    pub wait_for_stores: Duration,
    /// The secret every replica shares to sign the requests they forward to one another
    /// (`--transcode-storage node-local`; required there, at least 16 bytes). See
    /// `peer_auth.rs`.
    #[arg(long, env = "MEDIA_HA_CLUSTER_SECRET", hide_env_values = true)]
    pub cluster_secret: Option<String>,
    /// A bearer token `GET /metrics` then requires (`Authorization: Bearer <token>`, as
    /// Prometheus sends it). Unset: `/metrics` answers whoever reaches the port (it holds
    /// counters only; see `routes/metrics.rs` for the decision).
    #[arg(long, env = "MEDIA_HA_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// A response write that makes no progress for this long ends the connection (`60s`; an
    /// unread download is released after it). See `conn_io.rs`.
    #[arg(long, env = "MEDIA_HA_WRITE_TIMEOUT", value_parser = parse_duration, default_value = "60s")]
    pub write_timeout: Duration,
    /// Open connections this replica accepts in all (0: no cap). See `conn_limit.rs`.
    #[arg(long, env = "MEDIA_HA_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Open connections one client address may hold (0: no cap; raise it behind a reverse
    /// proxy, whose address every client shares).
    #[arg(long, env = "MEDIA_HA_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,
    /// Reverse proxies in front of this replica (addresses or networks, comma-separated:
    /// `10.0.0.0/8,127.0.0.1`). A request from one of them is attributed to the client its
    /// `X-Forwarded-For` names, so the sign-in brake counts each client on its own instead of
    /// braking everyone behind the proxy. Empty (the default): `X-Forwarded-For` is ignored.
    /// See `client_addr.rs`.
    #[arg(long, env = "MEDIA_HA_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,
    /// Which symlinks in the library are followed when a file is served: `inside-roots` (a
    /// link whose target is outside every library root is refused, checked on the opened
    /// file) or `always`.
    #[arg(long, env = "MEDIA_HA_FOLLOW_SYMLINKS", value_enum, default_value_t = SymlinkPolicy::InsideRoots)]
    pub follow_symlinks: SymlinkPolicy,
    /// On SIGTERM, how long this replica keeps answering requests after failing its readiness
    /// check (`10s`, `500ms`). Size it to the load balancer's health
    /// checks: the time they take to mark the replica down (HAProxy `inter 2s fall 3`: 6 s;
    /// Kubernetes: the endpoint update, a second or two after the readiness probe fails) plus a
    /// margin. 0: stop accepting at once.
    #[arg(long, env = "MEDIA_HA_SHUTDOWN_DRAIN", default_value = "10s",
          value_parser = parse_duration)]
    pub shutdown_drain: Duration,
    /// After the drain, how long requests still in flight (a segment being sent, a request
    /// waiting for one) may take before the process exits anyway.
    #[arg(long, env = "MEDIA_HA_SHUTDOWN_GRACE", default_value = "10s",
          value_parser = parse_duration)]
    pub shutdown_grace: Duration,
}

/// Which symlinks are followed when a library file is served (see `--follow-symlinks`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SymlinkPolicy {
    /// Only to files inside a library root (checked on the file actually opened).
    #[default]
    InsideRoots,
    /// Wherever they point (a media directory writable by others can then serve any file
    /// the server may read).
    Always,
}

/// The cluster secret; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterSecret(pub String);

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(<hidden>)")
    }
}

/// The token `/metrics` requires; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken(pub String);

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(<hidden>)")
    }
}

/// Whether replicas share the transcode directory (see `--transcode-storage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TranscodeStorage {
    /// One directory every replica mounts (NFS, a Kubernetes RWX volume, one disk).
    #[default]
    Shared,
    /// A directory per replica; segments are fetched from the job's owner over HTTP.
    NodeLocal,
}

/// Where metadata and the cluster state live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreUrls {
    /// Redis URL.
    pub redis: Option<String>,
    /// PostgreSQL URL.
    pub postgres: Option<String>,
}

impl StoreUrls {
    /// True when state is shared with other replicas.
    pub fn is_shared(&self) -> bool {
        self.redis.is_some() || self.postgres.is_some()
    }
}

/// The administrator to ensure at start.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminSeed {
    /// User name.
    pub name: String,
    /// Password (never logged: `Debug` hides it).
    pub password: String,
}

impl std::fmt::Debug for AdminSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSeed")
            .field("name", &self.name)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// Everything the server runs on, defaults resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (port 0: any free port, see `Server::local_addr`).
    pub listen: SocketAddr,
    /// Library roots. Empty: generate a demo library under `data_dir`.
    pub media: Vec<PathBuf>,
    /// This replica's own directory.
    pub data_dir: PathBuf,
    /// Transcode output directory.
    pub transcode_dir: PathBuf,
    /// Whether other replicas see `transcode_dir`.
    pub transcode_storage: TranscodeStorage,
    /// The jellyfin-web build served at `/web/` (`None`: the landing page; `web.rs`).
    pub web_dir: Option<PathBuf>,
    /// Shared stores, if any.
    pub stores: StoreUrls,
    /// CA file for the Redis URL's TLS (`--redis-tls-ca-file`; `redis_ca.rs`).
    pub redis_tls_ca_file: Option<PathBuf>,
    /// Redis prefix / PostgreSQL schema (`None`: the crates' defaults).
    pub namespace: Option<String>,
    /// Lease holder name of this replica.
    pub node_id: String,
    /// Advertised URL (`None`: derived from the bound address).
    pub advertise: Option<String>,
    /// Administrator to ensure.
    pub admin: Option<AdminSeed>,
    /// QSV slots of this replica.
    pub qsv_slots: u32,
    /// The render node QSV uses (passed to the workers as `MEDIA_HA_RENDER_NODE`).
    pub render_node: PathBuf,
    /// Per-user transcode limit.
    pub max_transcodes_per_user: u32,
    /// Fixed server id.
    pub server_id: Option<String>,
    /// Transcode job lease TTL: the bound on a SIGKILLed owner's replacement time.
    pub lease_ttl: Duration,
    /// This replica's liveness record TTL (zero: none): how soon a SIGKILLed owner's jobs are
    /// taken over.
    pub liveness_ttl: Duration,
    /// How long one segment request waits before a 503 the player retries.
    pub segment_wait: Duration,
    /// What `/health/ready` answers while a shared store is down.
    pub readiness_policy: ReadinessPolicy,
    /// How long start-up retries unreachable stores (zero: fail at once; `startup.rs`).
    pub wait_for_stores: Duration,
    /// Periodic rescan (`None`: never).
    pub scan_interval: Option<Duration>,
    /// How often the cluster-wide gauges are read by the replica that reports them
    /// (`cluster_gauges.rs`).
    pub cluster_gauge_interval: Duration,
    /// How long a session may stay unused (`None`: no limit, as in Jellyfin; the session
    /// lives until sign-out or revocation). See [`Config::session_ttl`].
    pub session_idle: Option<Duration>,
    /// Most sessions one user keeps; a sign-in beyond it signs out the least recently used
    /// (`session_limit.rs`; what bounds the session store now that sessions need not expire).
    pub max_sessions_per_user: usize,
    /// How long a validated session is answered from this replica's memory
    /// (`ha_core::session_cache`; zero: never). The staleness bound of a revocation whose
    /// cluster event was lost.
    pub session_cache: Duration,
    /// Progress reports of one session are written at most this often per replica (zero:
    /// every report; `progress/mod.rs`).
    pub progress_interval: Duration,
    /// How long users, items and user-independent pages are answered from this replica's
    /// memory with shared stores (zero: never; `metadata_cache/mod.rs`).
    pub metadata_cache: Duration,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Longest time a handler may take to produce its response head once the request body is
    /// read (503 after that).
    pub request_timeout: Duration,
    /// Longest time a client may take to send a request body, from the end of its head (408
    /// after that; `body_timeout.rs`).
    pub body_read_timeout: Duration,
    /// Longest time a client may take to send a request head (slowloris bound).
    pub header_read_timeout: Duration,
    /// On SIGTERM: how long requests are still answered after readiness fails (`run.rs`).
    pub shutdown_drain: Duration,
    /// After the drain: how long in-flight requests may take before the process exits.
    pub shutdown_grace: Duration,
    /// The transcode worker to run (program, arguments); `None`: this binary re-executed with
    /// `--transcode-worker`. In-process tests point it at their server binary in worker mode.
    pub transcode_worker: Option<(PathBuf, Vec<String>)>,
    /// The secret replicas sign forwarded requests with (`peer_auth.rs`).
    pub cluster_secret: Option<ClusterSecret>,
    /// The bearer token `/metrics` requires (`None`: open; `routes/metrics.rs`).
    pub metrics_token: Option<MetricsToken>,
    /// A response write stalled this long ends the connection (`conn_io.rs`).
    pub write_timeout: Duration,
    /// Open connections in all (0: no cap).
    pub max_connections: usize,
    /// Open connections per client address (0: no cap).
    pub max_connections_per_ip: usize,
    /// Proxies whose `X-Forwarded-For` names the client (`client_addr.rs`).
    pub trusted_proxies: TrustedProxies,
    /// Which library symlinks are followed when serving a file.
    pub follow_symlinks: SymlinkPolicy,
    /// Wraps the stores once they are open (`None`: as they are). The process tests' server
    /// binary records every lease operation and fenced write through it, for the lease-history
    /// checker (`tests/support/safety`); no flag sets it.
    pub store_layer: Option<StoreLayer>,
}

impl Config {
    /// The TTL sessions are written and touched with: the idle limit, or without one
    /// [`MAX_SESSION_TTL`](media_ha::core::sessions::MAX_SESSION_TTL) (ten years, renewed by
    /// every use: in practice never).
    pub fn session_ttl(&self) -> Duration {
        self.session_idle
            .unwrap_or(media_ha::core::sessions::MAX_SESSION_TTL)
    }
}

/// `--session-idle`: a duration, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionIdle(pub Option<Duration>);

/// See [`Config::store_layer`].
pub type StoreLayer = fn(crate::stores::Stores) -> crate::stores::Stores;

impl Config {
    /// Defaults for a single node keeping its files under `data_dir` (what tests start from).
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8096)),
            media: Vec::new(),
            transcode_dir: data_dir.join("transcodes"),
            transcode_storage: TranscodeStorage::Shared,
            web_dir: None,
            data_dir,
            stores: StoreUrls::default(),
            redis_tls_ca_file: None,
            namespace: None,
            node_id: default_node_id(),
            advertise: None,
            admin: None,
            qsv_slots: 8,
            render_node: "/dev/dri/renderD128".into(),
            max_transcodes_per_user: 3,
            server_id: None,
            lease_ttl: Duration::from_secs(5),
            liveness_ttl: Duration::from_secs(1),
            segment_wait: media_ha::transcode::manager::DEFAULT_SEGMENT_WAIT,
            wait_for_stores: Duration::ZERO,
            readiness_policy: ReadinessPolicy::StayReady,
            scan_interval: None,
            cluster_gauge_interval: Duration::from_secs(15),
            session_idle: None,
            max_sessions_per_user: crate::session_limit::MAX_SESSIONS_PER_USER,
            session_cache: Duration::from_secs(2),
            progress_interval: Duration::from_secs(5),
            metadata_cache: Duration::from_secs(2),
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(15),
            header_read_timeout: Duration::from_secs(15),
            shutdown_drain: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            transcode_worker: None,
            cluster_secret: None,
            metrics_token: None,
            write_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            max_connections_per_ip: 256,
            trusted_proxies: TrustedProxies::default(),
            follow_symlinks: SymlinkPolicy::InsideRoots,
            store_layer: None,
        }
    }
}

impl From<Args> for Config {
    fn from(args: Args) -> Self {
        let mut config = Config::new(args.data);
        config.listen = args.listen;
        config.media = args.media;
        if let Some(dir) = args.transcode_dir {
            config.transcode_dir = dir;
        }
        config.transcode_storage = args.transcode_storage;
        config.web_dir = args.web_dir;
        config.stores = StoreUrls {
            redis: args.redis.filter(|s| !s.is_empty()),
            postgres: args.postgres.filter(|s| !s.is_empty()),
        };
        config.redis_tls_ca_file = args.redis_tls_ca_file.filter(|p| !p.as_os_str().is_empty());
        config.namespace = args.namespace.filter(|s| !s.is_empty());
        if let Some(id) = args.node_id.filter(|s| !s.is_empty()) {
            config.node_id = id;
        }
        config.advertise = args.advertise.filter(|s| !s.is_empty());
        config.admin = match (args.admin_user, args.admin_password) {
            (Some(name), Some(password)) => Some(AdminSeed { name, password }),
            _ => None,
        };
        config.qsv_slots = args.qsv_slots;
        config.render_node = args.render_node;
        config.max_transcodes_per_user = args.max_transcodes_per_user;
        config.server_id = args.server_id.filter(|s| !s.is_empty());
        config.lease_ttl = args
            .lease_ttl_ms
            .map_or(args.lease_ttl, Duration::from_millis);
        config.liveness_ttl = args.liveness_ttl;
        config.segment_wait = args.segment_wait;
        config.scan_interval = (!args.scan_interval.is_zero()).then_some(args.scan_interval);
        config.cluster_gauge_interval = args.cluster_gauge_interval;
        config.session_idle = args.session_idle.0;
        config.session_cache = args
            .session_cache_ms
            .map_or(args.session_cache, Duration::from_millis);
        config.progress_interval = args.progress_interval;
        config.metadata_cache = args.metadata_cache;
        config.wait_for_stores = args.wait_for_stores;
        config.readiness_policy = args.readiness_policy;
        config.cluster_secret = args
            .cluster_secret
            .filter(|s| !s.is_empty())
            .map(ClusterSecret);
        config.metrics_token = args
            .metrics_token
            .filter(|s| !s.is_empty())
            .map(MetricsToken);
        config.write_timeout = args.write_timeout;
        config.max_connections = args.max_connections;
        config.max_connections_per_ip = args.max_connections_per_ip;
        config.trusted_proxies = args.trusted_proxies;
        config.follow_symlinks = args.follow_symlinks;
        config.shutdown_drain = args.shutdown_drain;
        config.shutdown_grace = args.shutdown_grace;
        config
    }
}

/// A duration with units (`500ms`, `5s`, `1h30m`; humantime's syntax).
fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| e.to_string())
}

/// A duration with units, or a bare number of seconds (what `--scan-interval` took before).
fn parse_seconds_or_duration(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => parse_duration(s),
    }
}

fn parse_in_range(s: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < min || d > max {
        return Err(format!(
            "{} is outside {} to {}",
            humantime::format_duration(d),
            humantime::format_duration(min),
            humantime::format_duration(max)
        ));
    }
    Ok(d)
}

/// `--lease-ttl`: 300 ms to 10 min (shorter risks losing leases to a slow store, longer leaves
/// viewers of a dead replica waiting).
fn parse_lease_ttl(s: &str) -> Result<Duration, String> {
    parse_in_range(s, Duration::from_millis(300), Duration::from_secs(600))
}

/// `--liveness-ttl`: 0 (off) or 100 ms to 1 min (below the lease TTL, checked at start).
fn parse_liveness_ttl(s: &str) -> Result<Duration, String> {
    let d = parse_in_range(s, Duration::ZERO, Duration::from_secs(60))?;
    if !d.is_zero() && d < Duration::from_millis(100) {
        return Err(format!("{s} is below 100ms (0 turns liveness records off)"));
    }
    Ok(d)
}

/// `--segment-wait`: 1 s to 5 min.
fn parse_segment_wait(s: &str) -> Result<Duration, String> {
    parse_in_range(s, Duration::from_secs(1), Duration::from_secs(300))
}

/// `--cluster-gauge-interval`: 1 s to 10 min.
fn parse_cluster_gauge_interval(s: &str) -> Result<Duration, String> {
    parse_in_range(s, Duration::from_secs(1), Duration::from_secs(600))
}

/// `--session-cache`: 0 to 60 s (the staleness bound of a lost revocation).
fn parse_session_cache(s: &str) -> Result<Duration, String> {
    parse_in_range(s, Duration::ZERO, Duration::from_secs(60))
}

/// `--session-idle`: `none` (also `off`, `never`, `0`) or 1 s to 10 years.
fn parse_session_idle(s: &str) -> Result<SessionIdle, String> {
    let s = s.trim();
    if ["none", "off", "never", "0", "0s"]
        .iter()
        .any(|n| s.eq_ignore_ascii_case(n))
    {
        return Ok(SessionIdle(None));
    }
    parse_in_range(
        s,
        Duration::from_secs(1),
        media_ha::core::sessions::MAX_SESSION_TTL,
    )
    .map(|d| SessionIdle(Some(d)))
}

/// The host name (from `HOSTNAME` or `/etc/hostname`) plus a short random suffix, so two
/// processes on one host never share a lease holder name.
fn default_node_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".to_owned());
    format!("{host}-{}", &media_ha::core::ids::new_id()[..6])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_resolve_into_config() {
        let args = Args::try_parse_from([
            "reference-server",
            "--listen",
            "0.0.0.0:9000",
            "--media",
            "/a",
            "--media",
            "/b",
            "--admin-user",
            "root",
            "--admin-password",
            "pw",
            "--scan-interval",
            "0",
            "--lease-ttl",
            "2500ms",
            "--session-cache",
            "500ms",
            "--wait-for-stores",
            "1m30s",
            "--redis",
            "rediss://redis:6380/0",
            "--redis-tls-ca-file",
            "/etc/media-ha/redis-ca/ca.crt",
        ])
        .unwrap();
        let config = Config::from(args);
        assert_eq!(
            config.redis_tls_ca_file.as_deref(),
            Some(std::path::Path::new("/etc/media-ha/redis-ca/ca.crt"))
        );
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.media.len(), 2);
        assert_eq!(config.admin.as_ref().unwrap().name, "root");
        assert!(config.scan_interval.is_none());
        assert_eq!(config.lease_ttl, Duration::from_millis(2500));
        assert_eq!(config.session_cache, Duration::from_millis(500));
        assert_eq!(config.wait_for_stores, Duration::from_secs(90));
        assert!(!format!("{:?}", config.admin).contains("pw\""));
    }

    #[test]
    fn security_flags_resolve_and_the_secret_stays_hidden() {
        let args = Args::try_parse_from([
            "reference-server",
            "--cluster-secret",
            "s3cret-s3cret-s3cret",
            "--write-timeout",
            "5s",
            "--max-connections-per-ip",
            "0",
            "--follow-symlinks",
            "always",
            "--trusted-proxies",
            "10.0.0.0/8, 127.0.0.1",
        ])
        .unwrap();
        let config = Config::from(args);
        assert_eq!(config.write_timeout, Duration::from_secs(5));
        assert_eq!(config.max_connections_per_ip, 0);
        assert_eq!(config.follow_symlinks, SymlinkPolicy::Always);
        assert!(config.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(!config
            .trusted_proxies
            .contains("192.0.2.1".parse().unwrap()));
        assert!(config.cluster_secret.is_some());
        assert!(!format!("{config:?}").contains("s3cret"));
        let default = Config::from(Args::try_parse_from(["reference-server"]).unwrap());
        assert_eq!(default.follow_symlinks, SymlinkPolicy::InsideRoots);
        assert!(default.trusted_proxies.is_empty());
        assert!(default.cluster_secret.is_none());
    }

    #[test]
    fn metrics_token_is_optional_and_never_shown() {
        let args =
            Args::try_parse_from(["reference-server", "--metrics-token", "m3trics-t0ken"]).unwrap();
        let config = Config::from(args);
        assert_eq!(
            config.metrics_token,
            Some(MetricsToken("m3trics-t0ken".into()))
        );
        assert!(!format!("{config:?}").contains("m3trics"));
        let empty = Config::from(
            Args::try_parse_from(["reference-server", "--metrics-token", ""]).unwrap(),
        );
        assert!(
            empty.metrics_token.is_none(),
            "an empty token leaves /metrics open"
        );
    }

    #[test]
    fn session_idle_defaults_to_none_and_takes_durations() {
        let default = Config::from(Args::try_parse_from(["reference-server"]).unwrap());
        assert_eq!(default.session_idle, None);
        assert_eq!(
            default.session_ttl(),
            media_ha::core::sessions::MAX_SESSION_TTL
        );
        let set = |v: &str| {
            Args::try_parse_from(["reference-server", "--session-idle", v])
                .map(|a| Config::from(a).session_idle)
        };
        assert_eq!(set("30d").unwrap(), Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(set("2s").unwrap(), Some(Duration::from_secs(2)));
        assert_eq!(set("None").unwrap(), None);
        assert_eq!(set("0").unwrap(), None);
        assert!(set("500ms").is_err(), "below 1 s");
        assert!(set("11years").is_err(), "above 10 years");
        assert!(set("soon").is_err());
    }

    #[test]
    fn web_dir_flag() {
        let default = Config::from(Args::try_parse_from(["reference-server"]).unwrap());
        assert_eq!(default.web_dir, None);
        let args =
            Args::try_parse_from(["reference-server", "--web-dir", "/srv/jellyfin-web"]).unwrap();
        assert_eq!(
            Config::from(args).web_dir,
            Some(PathBuf::from("/srv/jellyfin-web"))
        );
        assert!(
            Args::try_parse_from(["reference-server", "--web-dir", ""]).is_err(),
            "an empty path is refused"
        );
    }

    #[test]
    fn transcode_storage_flag() {
        let default = Config::from(Args::try_parse_from(["reference-server"]).unwrap());
        assert_eq!(default.transcode_storage, TranscodeStorage::Shared);
        let args = Args::try_parse_from(["reference-server", "--transcode-storage", "node-local"])
            .unwrap();
        assert_eq!(
            Config::from(args).transcode_storage,
            TranscodeStorage::NodeLocal
        );
        assert!(Args::try_parse_from(["reference-server", "--transcode-storage", "nfs"]).is_err());
    }

    #[test]
    fn lease_ttl_out_of_range_is_refused() {
        for bad in ["0s", "299ms", "10m1s", "-5s", "5", "soon"] {
            assert!(
                Args::try_parse_from(["reference-server", "--lease-ttl", bad]).is_err(),
                "{bad}"
            );
        }
        for bad in ["0", "299", "600001", "-5", "5s"] {
            assert!(
                Args::try_parse_from(["reference-server", "--lease-ttl-ms", bad]).is_err(),
                "{bad}"
            );
        }
        let default = Config::from(Args::try_parse_from(["reference-server"]).unwrap());
        assert_eq!(default.lease_ttl, Duration::from_secs(5));
        assert_eq!(default.scan_interval, Some(Duration::from_secs(1800)));
        assert_eq!(default.session_cache, Duration::from_secs(2));
        assert_eq!(default.wait_for_stores, Duration::ZERO);
    }

    #[test]
    fn old_flags_still_work() {
        let args = Args::try_parse_from([
            "reference-server",
            "--lease-ttl-ms",
            "2500",
            "--session-cache-ms",
            "0",
            "--scan-interval",
            "600",
        ])
        .unwrap();
        let config = Config::from(args);
        assert_eq!(config.lease_ttl, Duration::from_millis(2500));
        assert_eq!(config.session_cache, Duration::ZERO);
        assert_eq!(config.scan_interval, Some(Duration::from_secs(600)));
        // Not both spellings at once.
        assert!(Args::try_parse_from([
            "reference-server",
            "--lease-ttl",
            "5s",
            "--lease-ttl-ms",
            "5000"
        ])
        .is_err());
    }

    #[test]
    fn version_is_the_package_version() {
        let err = Args::try_parse_from(["media-ha-server", "--version"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayVersion);
        assert!(err.to_string().contains(env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn shutdown_durations() {
        let default = Config::from(Args::try_parse_from(["reference-server"]).unwrap());
        assert_eq!(default.shutdown_drain, Duration::from_secs(10));
        assert_eq!(default.shutdown_grace, Duration::from_secs(10));
        let args = Args::try_parse_from([
            "reference-server",
            "--shutdown-drain",
            "1500ms",
            "--shutdown-grace",
            "2m",
        ])
        .unwrap();
        let config = Config::from(args);
        assert_eq!(config.shutdown_drain, Duration::from_millis(1500));
        assert_eq!(config.shutdown_grace, Duration::from_secs(120));
        for bad in ["", "s", "-1s", "10x"] {
            assert!(
                Args::try_parse_from(["reference-server", "--shutdown-drain", bad]).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn admin_user_requires_password() {
        assert!(Args::try_parse_from(["reference-server", "--admin-user", "root"]).is_err());
    }
}
