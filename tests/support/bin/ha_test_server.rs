//! The reference server as the process-level tests spawn it: exactly `media-ha-server`'s
//! `main` ([`media_ha_server::run::main`]), built by cargo as a target of this package so that
//! `cargo test` always rebuilds it with the code under test. With `HA_TEST_HISTORY_DIR` set
//! it records its lease operations and fenced writes for the lease-history checker
//! (`ha_test_support::safety::recorded`).

/// The allocator `media-ha-server`'s `main` declares (the bench measures this binary).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    media_ha_server::run::main_with(ha_test_support::safety::recorded::layer_from_env())
}
