//! Where the Redis deployment is, and the URL forms that name it.
//!
//! # Why credentials are not part of the target
//!
//! A Sentinel deployment has two kinds of server with two sets of credentials: the sentinels
//! (often unprotected, or with their own `requirepass`) and the data nodes they point at
//! (`requirepass`, which the sentinels know as `auth-pass`). One URL's user info cannot serve
//! both, and a primary found through a sentinel has no URL at all. So the URL parser splits a
//! URL into a [`Target`] (addresses) and credentials for each kind of server, which the
//! config keeps apart and never prints.
//!
//! | URL | target |
//! |---|---|
//! | `redis://[user:pass@]host:port[/db]`, `rediss://…` (TLS), `redis+unix://`, `unix://` | one server or a proxy |
//! | `redis+sentinel://[user:pass@]s1:26379,s2:26379/<service>[?sentinel_username=…&sentinel_password=…]` | a primary found through Sentinel; `rediss+sentinel://` is TLS to the sentinels *and* the data nodes |
//! | `redis+cluster://[user:pass@]n1:6379,n2:6379,n3:6379`, `rediss+cluster://…` | Redis Cluster through these seed nodes |
//!
//! User info is always the *data nodes'* credentials; Sentinel's own `requirepass` goes in the
//! query (or [`crate::RedisStoreConfig::with_sentinel_password`]). Percent-encode `@ : / ? & %`
//! in a password.

use std::fmt;

use crate::error::RedisStoreError;

/// Where the Redis deployment is (addresses only; credentials live in the config).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// One server (or a proxy): a `redis://` or `rediss://` (TLS) URL.
    Standalone(String),
    /// A primary found through Sentinel.
    Sentinel {
        /// Sentinel addresses as URLs (`redis://host:26379`, `rediss://…` for TLS).
        sentinels: Vec<String>,
        /// The monitored service (master) name.
        service: String,
    },
    /// Redis Cluster, reached through any of these seed node URLs.
    Cluster(Vec<String>),
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Standalone(url) => f.debug_tuple("Standalone").field(&redact(url)).finish(),
            Target::Sentinel { sentinels, service } => f
                .debug_struct("Sentinel")
                .field("sentinels", sentinels)
                .field("service", service)
                .finish(),
            Target::Cluster(nodes) => f.debug_tuple("Cluster").field(nodes).finish(),
        }
    }
}

impl fmt::Display for Target {
    /// The addresses, for messages: never a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts = |urls: &[String]| {
            urls.iter()
                .map(|u| host_of(u))
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            Target::Standalone(url) => f.write_str(&host_of(url)),
            Target::Sentinel { sentinels, service } => {
                write!(f, "sentinels {} (service {service:?})", hosts(sentinels))
            }
            Target::Cluster(nodes) => write!(f, "cluster seeds {}", hosts(nodes)),
        }
    }
}

impl Target {
    /// True when any connection of this target uses TLS.
    pub(crate) fn uses_tls(&self) -> bool {
        match self {
            Target::Standalone(url) => url.starts_with("rediss"),
            Target::Sentinel { sentinels, .. } => sentinels.iter().any(|u| u.starts_with("rediss")),
            Target::Cluster(nodes) => nodes.iter().any(|u| u.starts_with("rediss")),
        }
    }
}

/// A user name and password (either may be absent); never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Auth {
    pub username: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Auth {
    /// Applies these credentials over those already in `info` (a URL's user info).
    pub(crate) fn apply(&self, info: redis::ConnectionInfo) -> redis::ConnectionInfo {
        let mut settings = info.redis_settings().clone();
        if let Some(user) = &self.username {
            settings = settings.set_username(user);
        }
        if let Some(password) = &self.password {
            settings = settings.set_password(password);
        }
        info.set_redis_settings(settings)
    }
}

/// A URL split into its target and the credentials of each kind of server.
#[derive(Debug)]
pub(crate) struct ParsedUrl {
    pub target: Target,
    /// For the data nodes (Sentinel and Cluster URLs; a standalone URL keeps its own).
    pub auth: Auth,
    /// For the sentinels themselves.
    pub sentinel_auth: Auth,
}

/// Parses one of the URL forms in the module docs.
pub(crate) fn parse(url: &str) -> Result<ParsedUrl, RedisStoreError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| RedisStoreError::Config(format!("{:?} is not a URL", redact(url))))?;
    let plain = |target| ParsedUrl {
        target,
        auth: Auth::default(),
        sentinel_auth: Auth::default(),
    };
    let (inner, kind) = match scheme {
        "redis" | "rediss" | "redis+unix" | "unix" => {
            return Ok(plain(Target::Standalone(url.to_owned())))
        }
        "redis+sentinel" => ("redis", Kind::Sentinel),
        "rediss+sentinel" => ("rediss", Kind::Sentinel),
        "redis+cluster" => ("redis", Kind::Cluster),
        "rediss+cluster" => ("rediss", Kind::Cluster),
        other => {
            return Err(RedisStoreError::Config(format!(
                "unsupported URL scheme {other:?} (use redis, rediss, redis+sentinel, \
                 rediss+sentinel, redis+cluster or rediss+cluster)"
            )))
        }
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let auth = match userinfo {
        None => Auth::default(),
        Some(u) => {
            let (user, password) = u.split_once(':').unwrap_or((u, ""));
            Auth {
                username: non_empty(decode(user)?),
                password: non_empty(decode(password)?),
            }
        }
    };
    let hosts: Vec<String> = hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| format!("{inner}://{h}"))
        .collect();
    if hosts.is_empty() {
        return Err(RedisStoreError::Config(format!(
            "{scheme} URL names no host"
        )));
    }
    let mut sentinel_auth = Auth::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match (kind, key) {
            (Kind::Sentinel, "sentinel_username") => {
                sentinel_auth.username = non_empty(decode(value)?)
            }
            (Kind::Sentinel, "sentinel_password") => {
                sentinel_auth.password = non_empty(decode(value)?)
            }
            _ => {
                return Err(RedisStoreError::Config(format!(
                    "unknown {scheme} URL parameter {key:?} (a Sentinel URL takes \
                     sentinel_username and sentinel_password)"
                )))
            }
        }
    }
    let path = path.trim_matches('/');
    let target = match kind {
        Kind::Sentinel => {
            if path.is_empty() {
                return Err(RedisStoreError::Config(
                    "a Sentinel URL needs the service name: redis+sentinel://host:26379/<service>"
                        .into(),
                ));
            }
            Target::Sentinel {
                sentinels: hosts,
                service: decode(path)?,
            }
        }
        Kind::Cluster => {
            if !path.is_empty() {
                return Err(RedisStoreError::Config(format!(
                    "a Cluster URL has no path (Cluster has only database 0), found /{path}"
                )));
            }
            Target::Cluster(hosts)
        }
    };
    Ok(ParsedUrl {
        target,
        auth,
        sentinel_auth,
    })
}

#[derive(Clone, Copy)]
enum Kind {
    Sentinel,
    Cluster,
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Percent-decoding of URL user info, paths and query values.
fn decode(s: &str) -> Result<String, RedisStoreError> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| RedisStoreError::Config("a URL part is not UTF-8 once decoded".into()))
}

/// `host:port` of a URL (or the socket path), without scheme or user info.
pub(crate) fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    match authority.rsplit_once('@') {
        Some((_, host)) => host.to_owned(),
        None => authority.to_owned(),
    }
}

/// The URL with any password replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{}", &rest[end..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_url_splits_hosts_service_and_both_credentials() {
        let p = parse(
            "redis+sentinel://app:p%40ss@s1:26379,s2:26379/mymaster?sentinel_password=s%2Fpw",
        )
        .unwrap();
        assert_eq!(
            p.target,
            Target::Sentinel {
                sentinels: vec!["redis://s1:26379".into(), "redis://s2:26379".into()],
                service: "mymaster".into()
            }
        );
        assert_eq!(p.auth.username.as_deref(), Some("app"));
        assert_eq!(p.auth.password.as_deref(), Some("p@ss"));
        assert_eq!(p.sentinel_auth.password.as_deref(), Some("s/pw"));
        assert_eq!(p.sentinel_auth.username, None);
        // A password alone (the usual `requirepass`).
        let p = parse("rediss+sentinel://:pw@s1/m").unwrap();
        assert!(p.target.uses_tls());
        assert_eq!(p.auth.username, None);
        assert_eq!(p.auth.password.as_deref(), Some("pw"));
    }

    #[test]
    fn cluster_url_lists_seeds() {
        let p = parse("redis+cluster://:pw@n1:7000,n2:7001,n3:7002").unwrap();
        assert_eq!(
            p.target,
            Target::Cluster(vec![
                "redis://n1:7000".into(),
                "redis://n2:7001".into(),
                "redis://n3:7002".into()
            ])
        );
        assert_eq!(p.auth.password.as_deref(), Some("pw"));
        assert!(parse("rediss+cluster://n1:7000/")
            .unwrap()
            .target
            .uses_tls());
        assert!(parse("redis+cluster://n1:7000/3").is_err());
    }

    #[test]
    fn bad_urls_are_refused_with_the_reason() {
        assert!(parse("redis+sentinel://s1").is_err());
        assert!(parse("redis+sentinel:///m").is_err());
        assert!(parse("http://x").is_err());
        assert!(parse("redis+sentinel://s1/m?password=x").is_err());
        assert!(parse("redis+cluster://n1?sentinel_password=x").is_err());
        assert!(parse("rediss://h:6380").unwrap().target.uses_tls());
    }

    #[test]
    fn messages_never_show_a_password() {
        let url = "redis://user:secret@h:6379/0";
        assert_eq!(redact(url), "redis://user:***@h:6379/0");
        assert_eq!(host_of(url), "h:6379");
        let t = Target::Standalone(url.into());
        assert!(!format!("{t:?}").contains("secret"));
        assert_eq!(t.to_string(), "h:6379");
        let p = parse("redis+sentinel://:secret@s1:26379/m?sentinel_password=other").unwrap();
        assert!(!format!("{p:?}").contains("secret"));
        assert!(!format!("{p:?}").contains("other"));
        assert_eq!(p.target.to_string(), "sentinels s1:26379 (service \"m\")");
    }
}
