//! The Sentinel path: resolve the primary through a real `redis-server --sentinel`.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ha_core::{BusMessage, EventBus, EventPublisher, LeaseManager};
use ha_store_redis::{RedisStore, RedisStoreConfig, Target};
use ha_testkit::RedisServer;

mod common;

/// A sentinel process, killed on drop.
struct Sentinel {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Sentinel {
    async fn start(primary_port: u16) -> Sentinel {
        Self::start_with_auth(primary_port, None).await
    }

    /// A sentinel whose primary needs `auth.0` (`auth-pass`) and which itself needs `auth.1`
    /// (`requirepass`).
    async fn start_with_auth(primary_port: u16, auth: Option<(&str, &str)>) -> Sentinel {
        let port = ha_testkit::free_port();
        let dir = std::env::temp_dir().join(ha_testkit::unique("ha-sentinel"));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor media-ha 127.0.0.1 {primary_port} 1\n\
                 sentinel down-after-milliseconds media-ha 1000\n\
                 sentinel failover-timeout media-ha 5000\n{}",
                dir.display(),
                auth.map_or(String::new(), |(primary, own)| format!(
                    "sentinel auth-pass media-ha {primary}\nrequirepass {own}\n"
                )),
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (sentinel mode) runs");
        let sentinel = Sentinel { child, port, dir };
        // Wait until it answers for the service.
        let login = auth.map_or(String::new(), |(_, own)| format!(":{own}@"));
        let client = redis::Client::open(format!("redis://{login}127.0.0.1:{port}")).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let answer: redis::RedisResult<Vec<String>> = async {
                let mut c = client.get_multiplexed_async_connection().await?;
                redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg("media-ha")
                    .query_async(&mut c)
                    .await
            }
            .await;
            if answer.is_ok_and(|a| a.len() == 2) {
                return sentinel;
            }
            assert!(tokio::time::Instant::now() < deadline, "sentinel not ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_and_events_through_sentinel() {
    let primary = RedisServer::start().await;
    let sentinel = Sentinel::start(primary.port()).await;
    let url = format!("redis+sentinel://127.0.0.1:{}/media-ha", sentinel.port);
    assert!(matches!(
        Target::parse(&url).unwrap(),
        Target::Sentinel { .. }
    ));
    let config = RedisStoreConfig::from_url(&url)
        .unwrap()
        .with_prefix(ha_testkit::unique("sentinel"));
    let store = RedisStore::connect(config).await.unwrap();

    let leases = store.leases();
    let lease = leases
        .try_acquire("k", "a", Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    // The lease really is on the primary the sentinel named.
    let mut raw = redis::Client::open(primary.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*sentinel*lease:k}")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(leases.release(&lease).await.unwrap());

    let bus: Arc<dyn EventBus> = Arc::new(store.events());
    let mut sub = bus.subscribe().await.unwrap();
    EventPublisher::new(bus.clone(), "n")
        .publish("t", serde_json::json!({}))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap();
    assert!(matches!(got, Some(BusMessage::Event(_))), "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_follows_a_sentinel_failover() {
    let mut primary = RedisServer::start().await;
    let replica = RedisServer::start().await;
    let mut raw = redis::Client::open(replica.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(primary.port())
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    let sentinel = Sentinel::start(primary.port()).await;
    let url = format!("redis+sentinel://127.0.0.1:{}/media-ha", sentinel.port);
    let config = RedisStoreConfig::from_url(&url)
        .unwrap()
        .with_prefix(ha_testkit::unique("failover"))
        .with_op_timeout(Duration::from_secs(1));
    let store = RedisStore::connect(config).await.unwrap();
    let leases = store.leases();
    let before = leases
        .try_acquire("k", "a", Duration::from_secs(2))
        .await
        .unwrap()
        .unwrap();

    primary.kill();
    // Retry until the sentinel promoted the replica and the store switched to it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let after = loop {
        match leases.try_acquire("k2", "b", Duration::from_secs(2)).await {
            Ok(Some(lease)) => break lease,
            Ok(None) => panic!("k2 was never taken"),
            Err(e) => {
                assert!(e.is_transient(), "{e:?}");
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no failover within 40 s: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    // Tokens come from the (shared, local) clock: larger than before the failover.
    assert!(after.token > before.token);
    // The promotion dropped our old connections to it; open a fresh one.
    let mut raw = redis::Client::open(replica.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(info.contains("role:master"), "{info}");
}

/// The common chart default: the primary has a password and so do the sentinels. Credentials
/// from the URL reach both (percent-decoded), and a wrong primary password is refused at
/// connect with the store named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_and_primary_with_passwords() {
    let primary = RedisServer::start().await;
    let primary_password = "p@ss:w/rd";
    let mut raw = redis::Client::open(primary.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg(primary_password)
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    let sentinel =
        Sentinel::start_with_auth(primary.port(), Some((primary_password, "s3nt"))).await;
    let url = |password: &str| {
        format!(
            "redis+sentinel://:{password}@127.0.0.1:{}/media-ha?sentinel_password=s3nt",
            sentinel.port
        )
    };
    let store = RedisStore::connect(
        RedisStoreConfig::from_url(&url("p%40ss%3Aw%2Frd"))
            .unwrap()
            .with_prefix(ha_testkit::unique("sentinel-auth")),
    )
    .await
    .expect("connects through the sentinel to the primary, both with passwords");
    let leases = store.leases();
    let lease = leases
        .try_acquire("k", "a", Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert!(leases.release(&lease).await.unwrap());
    let bus: Arc<dyn EventBus> = Arc::new(store.events());
    let mut sub = bus.subscribe().await.unwrap();
    EventPublisher::new(bus.clone(), "n")
        .publish("t", serde_json::json!({}))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap();
    assert!(matches!(got, Some(BusMessage::Event(_))), "{got:?}");

    let refused = RedisStore::connect(
        RedisStoreConfig::from_url(&url("wrong"))
            .unwrap()
            .with_prefix(ha_testkit::unique("sentinel-auth"))
            .with_connect_timeout(Duration::from_secs(2)),
    )
    .await;
    assert!(refused.is_err(), "a wrong primary password connects");
}

/// A failover that never fails the store's connection: the old primary stays up and stays a
/// primary (here nobody demotes it; after `SENTINEL FAILOVER` the sentinels do, about 11 s
/// later), so only asking the sentinels finds the new one. Until the store does, its writes go
/// to a node whose data the new primary does not have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_follows_a_new_primary_while_the_old_one_still_accepts_writes() {
    let old = RedisServer::start().await;
    let new = RedisServer::start().await;
    let sentinel = Sentinel::start(old.port()).await;
    let url = format!("redis+sentinel://127.0.0.1:{}/media-ha", sentinel.port);
    let prefix = ha_testkit::unique("moved");
    let store = RedisStore::connect(
        RedisStoreConfig::from_url(&url)
            .unwrap()
            .with_prefix(prefix.clone()),
    )
    .await
    .unwrap();
    let leases = store.leases();
    leases
        .try_acquire("before", "a", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    let keys_on = |server: &RedisServer, pattern: String| {
        let url = server.url();
        async move {
            let mut raw = redis::Client::open(url)
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap();
            redis::cmd("KEYS")
                .arg(pattern)
                .query_async::<Vec<String>>(&mut raw)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        keys_on(&old, format!("*{prefix}*lease:before}}"))
            .await
            .len(),
        1
    );

    // The sentinels now name `new` as the primary; `old` is untouched and still a primary.
    let mut raw = redis::Client::open(format!("redis://127.0.0.1:{}", sentinel.port))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis::cmd("SENTINEL")
        .arg("REMOVE")
        .arg("media-ha")
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    redis::cmd("SENTINEL")
        .arg("MONITOR")
        .arg("media-ha")
        .arg("127.0.0.1")
        .arg(new.port())
        .arg(1)
        .query_async::<()>(&mut raw)
        .await
        .unwrap();

    // Each attempt takes a lease of its own; the store must start writing to `new` by itself.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for n in 0.. {
        let key = format!("after-{n}");
        leases
            .try_acquire(&key, "a", Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap();
        if keys_on(&new, format!("*{prefix}*lease:{key}}}"))
            .await
            .len()
            == 1
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the store still writes to the old primary"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(
            &mut redis::Client::open(old.url())
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(
        info.contains("role:master"),
        "the old primary was never demoted: {info}"
    );
}

/// A TLS-only `redis-server` (data node or sentinel) with the test CA's server certificate; its
/// working directory and process go on drop.
struct TlsProcess {
    child: Child,
    port: u16,
}

impl TlsProcess {
    fn start(dir: &std::path::Path, name: &str, extra: &str, sentinel: bool) -> TlsProcess {
        let port = ha_testkit::free_port();
        let own = dir.join(name);
        std::fs::create_dir_all(&own).unwrap();
        let conf = own.join("redis.conf");
        std::fs::write(
            &conf,
            format!(
                "port 0\ntls-port {port}\nbind 127.0.0.1\ndir {own}\n\
                 tls-cert-file {d}/server.crt\ntls-key-file {d}/server.key\n\
                 tls-ca-cert-file {d}/ca.crt\ntls-auth-clients no\ntls-replication yes\n\
                 save \"\"\nappendonly no\n{extra}",
                own = own.display(),
                d = dir.display(),
            ),
        )
        .unwrap();
        let mut cmd = Command::new("redis-server");
        cmd.arg(&conf);
        if sentinel {
            cmd.arg("--sentinel");
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        TlsProcess { child, port }
    }
}

impl Drop for TlsProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sentinel with TLS everywhere and a private CA given as a file in the URL
/// (`rediss+sentinel://…&tls_ca_file=`): the sentinels and the data nodes listen on TLS only,
/// with passwords; the store finds the primary, works, follows a `SENTINEL FAILOVER` to the
/// TLS replica, and without the CA it does not connect at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_and_primary_over_tls_with_a_private_ca_file() {
    let dir = std::env::temp_dir().join(ha_testkit::unique("ha-sentinel-tls"));
    std::fs::create_dir_all(&dir).unwrap();
    common::make_test_ca(&dir);
    let auth = "requirepass pw\nmasterauth pw\n";
    let primary = TlsProcess::start(&dir, "primary", auth, false);
    let replica = TlsProcess::start(
        &dir,
        "replica",
        &format!("{auth}replicaof 127.0.0.1 {}\n", primary.port),
        false,
    );
    let sentinel = TlsProcess::start(
        &dir,
        "sentinel",
        &format!(
            "sentinel monitor media-ha 127.0.0.1 {} 1\nsentinel auth-pass media-ha pw\n\
             sentinel down-after-milliseconds media-ha 1000\n\
             sentinel failover-timeout media-ha 5000\nrequirepass spw\n",
            primary.port
        ),
        true,
    );
    let ca_file = dir.join("ca.crt");
    let url = |ca: bool| {
        format!(
            "rediss+sentinel://:pw@127.0.0.1:{}/media-ha?sentinel_password=spw{}",
            sentinel.port,
            if ca {
                format!("&tls_ca_file={}", ca_file.display())
            } else {
                String::new()
            }
        )
    };
    let prefix = ha_testkit::unique("sentinel-tls");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let store = loop {
        let config = RedisStoreConfig::from_url(&url(true))
            .unwrap()
            .with_prefix(prefix.clone())
            .with_op_timeout(Duration::from_secs(1));
        match RedisStore::connect(config).await {
            Ok(store) => break store,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no TLS connection through the sentinel: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let leases = store.leases();
    let lease = leases
        .try_acquire("k", "a", Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert!(leases.release(&lease).await.unwrap());
    let bus: Arc<dyn EventBus> = Arc::new(store.events());
    let mut sub = bus.subscribe().await.unwrap();
    EventPublisher::new(bus.clone(), "n")
        .publish("t", serde_json::json!({}))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap();
    assert!(matches!(got, Some(BusMessage::Event(_))), "{got:?}");

    // A raw TLS connection with the same CA, to the sentinel and to the replica.
    let ca = std::fs::read(&ca_file).unwrap();
    let raw = |url: String| {
        let ca = ca.clone();
        async move {
            redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(ca),
                },
            )
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
        }
    };
    // The replica must be in sync before a failover can pick it.
    let mut to_replica = raw(format!("rediss://:pw@127.0.0.1:{}", replica.port)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut to_replica)
            .await
            .unwrap();
        if info.contains("master_link_status:up") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica never synced: {info}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut to_sentinel = raw(format!("rediss://:spw@127.0.0.1:{}", sentinel.port)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while redis::cmd("SENTINEL")
        .arg("FAILOVER")
        .arg("media-ha")
        .query_async::<()>(&mut to_sentinel)
        .await
        .is_err()
    {
        // "NOGOODSLAVE" until the sentinel has seen the replica in the primary's INFO.
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failover accepted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The store moves to the promoted replica over TLS with the same CA.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for n in 0.. {
        let key = format!("after-{n}");
        let acquired = leases.try_acquire(&key, "a", Duration::from_secs(30)).await;
        // A fresh connection each time: the promotion may drop the old ones.
        let mut to_replica = raw(format!("rediss://:pw@127.0.0.1:{}", replica.port)).await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("*{prefix}*lease:{key}}}"))
            .query_async(&mut to_replica)
            .await
            .unwrap_or_default();
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut to_replica)
            .await
            .unwrap_or_default();
        let role = info
            .lines()
            .find(|l| l.starts_with("role:"))
            .unwrap_or("")
            .to_owned();
        if matches!(acquired, Ok(Some(_))) && keys.len() == 1 && role.contains("master") {
            break;
        }
        let last = format!("{acquired:?}, keys {keys:?}, replica {role}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the store never wrote to the promoted replica: {last}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Without the CA the sentinels' certificate is not trusted: no fallback to plain text.
    let untrusted = RedisStore::connect(
        RedisStoreConfig::from_url(&url(false))
            .unwrap()
            .with_prefix(prefix)
            .with_connect_timeout(Duration::from_secs(2)),
    )
    .await;
    assert!(untrusted.is_err(), "connected without the CA");
    drop((primary, replica, sentinel));
    let _ = std::fs::remove_dir_all(&dir);
}
