//! `redis_url` / `postgres_url`: the shared servers answer, and a missing one fails loudly.
//!
//! The "fails loudly" half re-runs this test binary as a child with the variables removed and
//! Docker pointed at nothing, so it neither depends on nor disturbs this process's environment.

use std::process::Command;

/// Runs one ignored test of this binary in a child with no backend configured.
fn run_child_without_backends(test: &str) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", test, "--nocapture"])
        .env_remove("HA_TEST_REDIS_URL")
        .env_remove("HA_TEST_DATABASE_URL")
        .env(
            "DOCKER_HOST",
            "unix:///nonexistent/ha-testkit-no-docker.sock",
        )
        .output()
        .unwrap()
}

#[test]
fn missing_redis_panics_naming_the_variable() {
    let out = run_child_without_backends("child_redis_url");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must fail, not skip");
    assert!(stderr.contains("HA_TEST_REDIS_URL"), "{stderr}");
    assert!(stderr.contains("scripts/test.sh"), "{stderr}");
}

#[test]
fn missing_postgres_panics_naming_the_variable() {
    let out = run_child_without_backends("child_postgres_url");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must fail, not skip");
    assert!(stderr.contains("HA_TEST_DATABASE_URL"), "{stderr}");
}

#[tokio::test]
#[ignore = "run by missing_redis_panics_naming_the_variable in a child process"]
async fn child_redis_url() {
    let _ = ha_testkit::redis_url().await;
}

#[tokio::test]
#[ignore = "run by missing_postgres_panics_naming_the_variable in a child process"]
async fn child_postgres_url() {
    let _ = ha_testkit::postgres_url().await;
}

#[tokio::test]
async fn shared_redis_answers() {
    let url = ha_testkit::redis_url().await;
    let mut con = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let pong: String = redis::cmd("PING").query_async(&mut con).await.unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn shared_postgres_answers() {
    let url = ha_testkit::postgres_url().await;
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let schema = ha_testkit::unique("testkit");
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}; DROP SCHEMA {schema};"))
        .await
        .expect("unique() names are valid schema names");
}
