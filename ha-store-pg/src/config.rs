//! How to reach PostgreSQL: a URL plus the few knobs that matter for availability.
//!
//! # Why these knobs
//!
//! * `statement_timeout` is set on every connection when it opens (with `search_path`, in one
//!   `SET` round trip per connection, not in the start-up packet's `options`, which PgBouncer
//!   refuses or drops): a statement stuck behind a lock or on a wedged server fails with
//!   SQLSTATE 57014, which surfaces as [`ha_core::Error::Timeout`] instead of a hang. Every
//!   call is also bounded on the client side (the timeout plus the pool wait plus the connect
//!   budget plus a second), for a server that stopped answering altogether.
//! * `wait_timeout` / `connect_timeout` bound the pool: when every connection is busy or the
//!   server is down, callers get `Timeout`/`Unavailable` quickly instead of queueing forever.
//! * `schema` puts every table in one schema (created on first start): several deployments or
//!   test runs can share one database.
//!
//! # Several hosts (Patroni, CloudNativePG, any primary + standbys)
//!
//! A URL may list several hosts, as libpq's does:
//! `postgres://media@pg-a:5432,pg-b:5432,pg-c:5432/media?target_session_attrs=read-write`.
//! Each new connection tries them in order and keeps the first that accepts writes, so after a
//! failover the pool finds the new primary by itself: connections to the old one break (calls
//! in flight fail with `Unavailable`), the pool drops them, and the next ones go to whichever
//! host is read-write, without restarting the store. Without `target_session_attrs=read-write`
//! a connection may land on a standby and every write fails, so always set it with several
//! hosts (a single Service name in front of the primary, as CloudNativePG's `-rw` Service is,
//! needs neither). `connect_timeout` applies to each host, so the pool's budget for opening a
//! connection is `connect_timeout` times the number of hosts.
//!
//! TCP keepalives (after 30 s idle) and `TCP_USER_TIMEOUT` (the statement timeout; Linux) make a
//! connection to a host that vanished without closing its sockets (a crashed machine, a cut
//! network) fail instead of hanging until the kernel gives up after minutes.
//!
//! # Connection poolers
//!
//! PgBouncer in *session* mode works (each client connection keeps one server session). In
//! *transaction* or *statement* mode it does not: the migration lock, `LISTEN`, the settings
//! made when a connection opens and the prepared statements are all per session.
//! [`PgStore::connect`](crate::PgStore::connect) checks for this and refuses to start with
//! [`PgError::Unsupported`](crate::PgError::Unsupported), naming the fix (see
//! `session_check`).
//!
//! # TLS
//!
//! Without the `tls` feature connections are plain TCP (or Unix sockets): fine on loopback or a
//! private network, and `sslmode=require` fails to connect rather than silently going plain.
//! With the `tls` feature (rustls, no OpenSSL), TLS is used when
//! * the URL has `sslrootcert=/path/ca.pem` (trust exactly those CAs, as libpq does), or
//! * the URL has `sslmode=require` (trust the operating system's roots), or
//! * the config was given one with [`PgStoreConfig::with_tls`] /
//!   [`PgStoreConfig::with_tls_ca_file`].
//!
//! Every connection (pooled, migrator, event listeners) uses it. The server name checked
//! against the certificate is the URL's host.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use ha_store_pg::PgStoreConfig;
//!
//! let config = PgStoreConfig::from_url("postgres://media@db.internal/media?schema=media_ha&pool_size=8")
//!     .unwrap()
//!     .with_statement_timeout(Duration::from_secs(3))
//!     .with_job_retention(Duration::from_secs(600));
//! assert_eq!(config.schema(), "media_ha");
//! assert_eq!(config.pool_size(), 8);
//! assert_eq!(config.statement_timeout(), Duration::from_secs(3));
//! ```

use std::str::FromStr;
use std::time::Duration;

use crate::error::{PgError, PgResult};

/// Where and how to connect. Build it with [`PgStoreConfig::from_url`] and the `with_*`
/// setters; each setting has a getter of the same name without the prefix.
#[derive(Debug, Clone)]
pub struct PgStoreConfig {
    pub(crate) pg: tokio_postgres::Config,
    pub(crate) schema: String,
    pub(crate) pool_size: usize,
    pub(crate) statement_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) wait_timeout: Duration,
    pub(crate) job_retention: Duration,
    pub(crate) verify_on_checkout: bool,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// The parameters this crate reads from a URL's query string (the rest go to tokio-postgres).
const OWN_PARAMS: [&str; 7] = [
    "sslrootcert",
    "schema",
    "pool_size",
    "statement_timeout_ms",
    "wait_timeout_ms",
    "job_retention_ms",
    "verify_on_checkout",
];

impl PgStoreConfig {
    /// Parses a `postgres://user:password@host:port/dbname?...` URL (or a `key=value`
    /// connection string). Besides tokio-postgres' own parameters (`connect_timeout`,
    /// `application_name`, `options`, …) the query string may carry `schema`, `pool_size`,
    /// `statement_timeout_ms`, `wait_timeout_ms`, `job_retention_ms` and `verify_on_checkout`.
    ///
    /// # Errors
    /// [`PgError::Config`] when the URL or a parameter does not parse.
    pub fn from_url(url: &str) -> PgResult<Self> {
        let (base, own) = split_own_params(url);
        let pg = tokio_postgres::Config::from_str(&base)
            .map_err(|e| PgError::Config(format!("cannot parse postgres URL: {e}")))?;
        let mut config = Self::from_pg_config(pg);
        for (key, value) in own {
            let millis = || {
                value
                    .parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| PgError::Config(format!("{key}={value:?} is not a number")))
            };
            match key.as_str() {
                "schema" => config.schema = value.clone(),
                "pool_size" => {
                    config.pool_size = value
                        .parse()
                        .map_err(|_| PgError::Config(format!("pool_size={value:?}")))?
                }
                "statement_timeout_ms" => config.statement_timeout = millis()?,
                "wait_timeout_ms" => config.wait_timeout = millis()?,
                "job_retention_ms" => config.job_retention = millis()?,
                "verify_on_checkout" => config.verify_on_checkout = value == "true" || value == "1",
                #[cfg(feature = "tls")]
                "sslrootcert" => config = config.with_tls_ca_file(&value)?,
                #[cfg(not(feature = "tls"))]
                "sslrootcert" => {
                    return Err(PgError::Config(
                        "sslrootcert needs ha-store-pg's `tls` feature".into(),
                    ))
                }
                _ => {}
            }
        }
        #[cfg(feature = "tls")]
        if config.tls.is_none()
            && config.pg.get_ssl_mode() == tokio_postgres::config::SslMode::Require
        {
            config = config.with_tls_native_roots()?;
        }
        config.validate()?;
        Ok(config)
    }

    /// A configuration from an already built tokio-postgres one, with the defaults: schema
    /// `public`, 16 connections, 5 s statement timeout, 5 s connect timeout (unless set), 5 s
    /// pool wait, job records kept 5 min after their last write, fast recycling.
    pub fn from_pg_config(pg: tokio_postgres::Config) -> Self {
        let connect_timeout = pg
            .get_connect_timeout()
            .copied()
            .unwrap_or(Duration::from_secs(5));
        Self {
            pg,
            schema: "public".into(),
            pool_size: 16,
            statement_timeout: Duration::from_secs(5),
            connect_timeout,
            wait_timeout: Duration::from_secs(5),
            job_retention: Duration::from_secs(300),
            verify_on_checkout: false,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Puts every table in `schema` (created if missing). Lower-case ASCII letters, digits and
    /// `_`, starting with a letter or `_`, at most 63 bytes.
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// At most `size` pooled connections (the event bus's listening connections are extra).
    pub fn with_pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// The server-side `statement_timeout` of every connection.
    pub fn with_statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// How long opening a connection may take.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a call waits for a free pooled connection.
    pub fn with_wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// How long a transcode job record outlives its last write (the [`PgStore::jobs`]
    /// backend's retention; at least a few minutes, so a survivor finds an orphaned job).
    ///
    /// [`PgStore::jobs`]: crate::PgStore::jobs
    pub fn with_job_retention(mut self, retention: Duration) -> Self {
        self.job_retention = retention;
        self
    }

    /// Check each connection with a round trip before handing it out (deadpool's
    /// `RecyclingMethod::Verified`). Off by default: a connection the server closed is noticed
    /// without it (the driver marks it closed), and a call on one that broke silently fails
    /// with `Unavailable` once and the connection is discarded.
    pub fn with_verify_on_checkout(mut self, verify: bool) -> Self {
        self.verify_on_checkout = verify;
        self
    }

    /// The schema the tables live in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The pool's size.
    pub fn pool_size(&self) -> usize {
        self.pool_size
    }

    /// The server-side statement timeout of every connection.
    pub fn statement_timeout(&self) -> Duration {
        self.statement_timeout
    }

    /// How long opening a connection may take.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How long a call waits for a free pooled connection.
    pub fn wait_timeout(&self) -> Duration {
        self.wait_timeout
    }

    /// How long a transcode job record outlives its last write.
    pub fn job_retention(&self) -> Duration {
        self.job_retention
    }

    /// Whether each connection is checked before it is handed out.
    pub fn verify_on_checkout(&self) -> bool {
        self.verify_on_checkout
    }

    /// The driver's configuration as parsed from the URL (hosts, ports, user, database, …),
    /// before this crate adds its start-up options.
    pub fn pg_config(&self) -> &tokio_postgres::Config {
        &self.pg
    }

    /// The client-side bound on one call: statement timeout + pool wait + connect budget + 1 s.
    pub(crate) fn call_deadline(&self) -> Duration {
        self.statement_timeout + self.wait_timeout + self.connect_budget() + Duration::from_secs(1)
    }

    /// How long opening one connection may take: `connect_timeout` per host tried.
    pub(crate) fn connect_budget(&self) -> Duration {
        let hosts = self.pg.get_hosts().len().max(self.pg.get_hostaddrs().len());
        self.connect_timeout * u32::try_from(hosts.max(1)).unwrap_or(u32::MAX)
    }

    /// The URL without its password and query: `postgres://user@host:port,host:port/db`, for
    /// messages naming the store.
    pub fn target(&self) -> String {
        use tokio_postgres::config::Host;
        let ports = self.pg.get_ports();
        let hosts: Vec<String> = self
            .pg
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                match host {
                    Host::Tcp(h) if h.contains(':') => format!("[{h}]:{port}"),
                    Host::Tcp(h) => format!("{h}:{port}"),
                    Host::Unix(path) => format!("{}:{port}", path.display()),
                }
            })
            .collect();
        let hosts = if hosts.is_empty() {
            let addrs: Vec<String> = self
                .pg
                .get_hostaddrs()
                .iter()
                .map(ToString::to_string)
                .collect();
            addrs.join(",")
        } else {
            hosts.join(",")
        };
        let user = self
            .pg
            .get_user()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        let db = self.pg.get_dbname().unwrap_or("");
        format!("postgres://{user}{hosts}/{db}")
    }

    /// The statements run on every new connection: this crate's `search_path`,
    /// `statement_timeout`, and `jit = off`. (Not start-up `options`: PgBouncer refuses or
    /// drops those.) JIT compilation pays off for long analytical queries; for this crate's
    /// short ones it only adds its compile time, which the planner's cost estimate triggers
    /// on large recursive listings: 30 ms of a 200 ms listing of a 50,000-item library
    /// (benches/library-plans.md).
    pub(crate) fn session_setup(&self) -> String {
        format!(
            "SET search_path = {}; SET statement_timeout = {}; SET jit = off",
            self.schema,
            self.statement_timeout.as_millis().max(1)
        )
    }

    pub(crate) fn validate(&self) -> PgResult<()> {
        validate_schema(&self.schema)?;
        if self.pool_size == 0 {
            return Err(PgError::Config("pool_size must be at least 1".into()));
        }
        if self.statement_timeout.is_zero() {
            return Err(PgError::Config(
                "statement_timeout must be positive (0 would disable it)".into(),
            ));
        }
        Ok(())
    }

    /// The tokio-postgres configuration every connection uses: the caller's, plus the connect
    /// timeout, keepalives and `TCP_USER_TIMEOUT` (the settings of [`Self::session_setup`] are
    /// applied once connected).
    pub(crate) fn connection_config(&self) -> tokio_postgres::Config {
        let mut pg = self.pg.clone();
        pg.connect_timeout(self.connect_timeout);
        pg.keepalives(true);
        pg.keepalives_idle(Duration::from_secs(30));
        if pg.get_keepalives_interval().is_none() {
            pg.keepalives_interval(Duration::from_secs(5));
        }
        if pg.get_keepalives_retries().is_none() {
            pg.keepalives_retries(3);
        }
        if pg.get_tcp_user_timeout().is_none() {
            pg.tcp_user_timeout(self.statement_timeout.max(Duration::from_secs(1)));
        }
        if pg.get_application_name().is_none() {
            pg.application_name("media-ha");
        }
        pg
    }
}

#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
impl PgStoreConfig {
    /// Connects with TLS configured by `config` (feature `tls`).
    pub fn with_tls(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(std::sync::Arc::new(config));
        self
    }

    /// Connects with TLS, trusting only the CA certificates in the PEM file at `path`.
    ///
    /// # Errors
    /// [`PgError::Config`] when the file cannot be read or holds no certificate.
    pub fn with_tls_ca_file(self, path: impl AsRef<std::path::Path>) -> PgResult<Self> {
        self.tls_ca_file_inner(path.as_ref())
    }

    /// Connects with TLS, trusting the operating system's root certificates.
    ///
    /// # Errors
    /// [`PgError::Config`] when no root certificate could be loaded.
    pub fn with_tls_native_roots(self) -> PgResult<Self> {
        self.tls_native_roots_inner()
    }

    fn tls_ca_file_inner(self, path: &std::path::Path) -> PgResult<Self> {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| PgError::Config(format!("cannot read {}: {e}", path.display())))?;
        for cert in certs {
            let cert =
                cert.map_err(|e| PgError::Config(format!("bad PEM in {}: {e}", path.display())))?;
            roots
                .add(cert)
                .map_err(|e| PgError::Config(format!("bad CA in {}: {e}", path.display())))?;
        }
        if roots.is_empty() {
            return Err(PgError::Config(format!(
                "no certificate in {}",
                path.display()
            )));
        }
        Ok(self.with_roots(roots))
    }

    fn tls_native_roots_inner(self) -> PgResult<Self> {
        let mut roots = rustls::RootCertStore::empty();
        let loaded = rustls_native_certs::load_native_certs();
        for cert in loaded.certs {
            // One unusable system certificate must not disable TLS altogether.
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(PgError::Config(
                "no usable root certificate found in the operating system's store".into(),
            ));
        }
        Ok(self.with_roots(roots))
    }

    fn with_roots(self, roots: rustls::RootCertStore) -> Self {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth());
        match config {
            Ok(config) => self.with_tls(config),
            // The ring provider supports the default versions; this cannot fail in practice.
            Err(e) => {
                tracing::error!(error = %e, "rustls rejected its default protocol versions");
                self
            }
        }
    }

    /// The connector, when TLS is configured.
    pub(crate) fn tls_connector(&self) -> Option<tokio_postgres_rustls::MakeRustlsConnect> {
        self.tls
            .as_ref()
            .map(|c| tokio_postgres_rustls::MakeRustlsConnect::new((**c).clone()))
    }
}

impl FromStr for PgStoreConfig {
    type Err = PgError;

    fn from_str(url: &str) -> PgResult<Self> {
        Self::from_url(url)
    }
}

/// Checks a schema name (it ends up in `CREATE SCHEMA` and in the startup options, so only a
/// plain lower-case identifier is accepted: no quoting, no case folding surprises).
pub(crate) fn validate_schema(schema: &str) -> PgResult<()> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(PgError::Config(format!(
            "schema {schema:?} must be 1-63 bytes of [a-z0-9_], not starting with a digit"
        )))
    }
}

/// Splits this crate's own parameters off a URL's query string.
fn split_own_params(url: &str) -> (String, Vec<(String, String)>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), Vec::new());
    };
    let mut own = Vec::new();
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if OWN_PARAMS.contains(&key) {
            own.push((key.to_owned(), value.to_owned()));
        } else {
            rest.push(pair);
        }
    }
    let base = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (base, own)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parameters_are_split_between_us_and_the_driver() {
        let c = PgStoreConfig::from_url(
            "postgres://u@localhost:5433/db?schema=s1&application_name=x&pool_size=3&statement_timeout_ms=250",
        )
        .unwrap();
        assert_eq!(c.schema(), "s1");
        assert_eq!(c.pool_size(), 3);
        assert_eq!(c.statement_timeout(), Duration::from_millis(250));
        assert_eq!(c.pg.get_application_name(), Some("x"));
        assert_eq!(c.pg.get_dbname(), Some("db"));
        assert_eq!(
            c.session_setup(),
            "SET search_path = s1; SET statement_timeout = 250; SET jit = off"
        );
        // The caller's own start-up options pass through untouched, ours are not added.
        assert_eq!(c.connection_config().get_options(), None);
    }

    #[test]
    fn several_hosts_are_named_and_budgeted() {
        let c = PgStoreConfig::from_url(
            "postgres://media:secret@pg-a:5432,pg-b:5433/media?target_session_attrs=read-write&connect_timeout=2",
        )
        .unwrap();
        assert_eq!(c.target(), "postgres://media@pg-a:5432,pg-b:5433/media");
        assert!(!c.target().contains("secret"));
        assert_eq!(c.connect_timeout(), Duration::from_secs(2));
        assert_eq!(c.connect_budget(), Duration::from_secs(4));
        assert_eq!(
            c.pg.get_target_session_attrs(),
            tokio_postgres::config::TargetSessionAttrs::ReadWrite
        );
        let one = PgStoreConfig::from_url("postgres://u@h/db").unwrap();
        assert_eq!(one.target(), "postgres://u@h:5432/db");
        assert_eq!(one.connect_budget(), one.connect_timeout());
    }

    #[test]
    fn bad_schemas_and_sizes_are_rejected() {
        for bad in ["", "Upper", "1abc", "a-b", "a;drop", &"x".repeat(64)] {
            assert!(validate_schema(bad).is_err(), "{bad:?}");
        }
        assert!(PgStoreConfig::from_url("postgres://u@h/db?pool_size=0").is_err());
        assert!(PgStoreConfig::from_url("postgres://u@h/db?pool_size=x").is_err());
        assert!(PgStoreConfig::from_url("not a url ===").is_err());
    }
}
