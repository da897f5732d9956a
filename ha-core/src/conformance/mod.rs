//! The conformance suite: one list of tests every backend of every contract runs.
//!
//! # Why one suite
//!
//! A contract is only as good as the guarantee every backend gives. Instead of each backend crate
//! writing its own tests (and each forgetting a different corner), the semantics live here, as
//! generic async functions, and one macro per contract expands them into `#[tokio::test]`s in
//! the backend's test crate (the tower-sessions-stores pattern):
//!
//! ```text
//! // ha-store-redis/tests/conformance.rs
//! async fn leases() -> Arc<dyn ha_core::LeaseManager> { /* connect to the test Redis */ }
//! ha_core::lease_manager_conformance!(leases);
//! ```
//!
//! | macro | factory signature |
//! |---|---|
//! | [`lease_manager_conformance!`](crate::lease_manager_conformance) | `async fn() -> Arc<dyn LeaseManager>` |
//! | [`job_store_conformance!`](crate::job_store_conformance) | `async fn(retention: Duration) -> Arc<dyn TranscodeJobStore>` |
//! | [`session_store_conformance!`](crate::session_store_conformance) | `async fn() -> Arc<dyn SessionStore>` |
//! | [`event_bus_conformance!`](crate::event_bus_conformance) | `async fn() -> Arc<dyn EventBus>` (two calls = two replicas on one backend) |
//! | [`slot_limiter_conformance!`](crate::slot_limiter_conformance) | `async fn() -> Arc<dyn SlotLimiter>` |
//! | [`metadata_repo_conformance!`](crate::metadata_repo_conformance) | `async fn() -> Arc<dyn MetadataRepo>` |
//!
//! Every test uses unique keys and names ([`unique`]), so all tests may share one server and
//! run concurrently. Expiry tests use short TTLs and sleep well past them; nothing asserts that
//! something happens inside a narrow window, so a loaded machine does not make them flaky.
//! The calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a dev-dependency.

pub mod events;
pub mod jobs;
pub mod lease;
pub mod metadata;
pub mod sessions;
pub mod slots;

use std::future::Future;
use std::time::Duration;

/// A name no other test (or test process) uses: `prefix-<random>`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", crate::ids::new_id())
}

/// Awaits `fut` for at most `secs` seconds, panicking with `what` if it takes longer (a hung
/// backend must fail the test, not hang the suite).
pub async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {secs} s"),
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($module:ident, $args:tt, [$($name:ident),* $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::conformance::$module::$name $args.await;
            }
        )*
    };
}

/// Expands to the [`LeaseManager`](crate::LeaseManager) conformance tests.
/// `$factory`: `async fn() -> Arc<dyn LeaseManager>`.
#[macro_export]
macro_rules! lease_manager_conformance {
    ($factory:path) => {
        $crate::__conformance_tests!(
            lease,
            ($factory().await),
            [
                lease_acquire_excludes_other_holders,
                lease_renew_keeps_token_and_extends,
                lease_release_frees_key_and_next_token_is_larger,
                lease_release_by_non_owner_is_refused,
                lease_expiry_allows_takeover_and_fences_old_holder,
                lease_renew_many_reports_each_lease,
                lease_concurrent_contenders_have_one_winner,
                lease_current_reports_holder_and_deadline,
                lease_local_deadline_is_counted_from_send,
                lease_tokens_increase_over_tenures,
                lease_invalid_arguments_are_rejected,
                lease_take_over_replaces_live_tenure_and_fences_it,
                lease_take_over_of_another_tenure_is_refused,
                lease_concurrent_take_overs_have_one_winner,
            ]
        );
    };
}

/// Expands to the [`TranscodeJobStore`](crate::TranscodeJobStore) conformance tests.
/// `$factory`: `async fn(retention: Duration) -> Arc<dyn TranscodeJobStore>`.
#[macro_export]
macro_rules! job_store_conformance {
    ($factory:path) => {
        $crate::__conformance_tests!(
            jobs,
            ($factory(::std::time::Duration::from_secs(600)).await),
            [
                jobs_claim_creates_running_record,
                jobs_progress_only_moves_forward,
                jobs_stale_token_writes_are_fenced,
                jobs_same_token_reclaim_restarts_run,
                jobs_set_state_records_failure,
                jobs_progress_on_missing_record_is_not_found,
                jobs_list_and_remove,
                jobs_concurrent_claims_leave_highest_token,
            ]
        );
        $crate::__conformance_tests!(
            jobs,
            ($factory(::std::time::Duration::from_secs(1)).await),
            [jobs_record_expires_after_retention,]
        );
    };
}

/// Expands to the [`SessionStore`](crate::SessionStore) conformance tests.
/// `$factory`: `async fn() -> Arc<dyn SessionStore>`.
#[macro_export]
macro_rules! session_store_conformance {
    ($factory:path) => {
        $crate::__conformance_tests!(
            sessions,
            ($factory().await),
            [
                sessions_put_get_round_trip,
                sessions_expire_after_ttl,
                sessions_touch_extends_ttl,
                sessions_take_long_ttls,
                sessions_remove_ends_session,
                sessions_put_replaces_and_list_shows_live,
                sessions_count_counts_live_sessions,
                sessions_update_only_replaces_a_live_session,
                sessions_update_racing_remove_never_revives,
            ]
        );
    };
}

/// Expands to the [`EventBus`](crate::EventBus) conformance tests.
/// `$factory`: `async fn() -> Arc<dyn EventBus>`; two calls must give two handles on one backend.
#[macro_export]
macro_rules! event_bus_conformance {
    ($factory:path) => {
        $crate::__conformance_tests!(
            events,
            ($factory().await, $factory().await),
            [
                events_arrive_in_order_across_instances,
                events_gap_is_reported_before_the_event,
                events_duplicates_are_dropped,
                events_every_subscriber_receives,
            ]
        );
    };
}

/// Expands to the [`SlotLimiter`](crate::SlotLimiter) conformance tests.
/// `$factory`: `async fn() -> Arc<dyn SlotLimiter>`.
#[macro_export]
macro_rules! slot_limiter_conformance {
    ($factory:path) => {
        $crate::__conformance_tests!(
            slots,
            ($factory().await),
            [
                slots_capacity_is_enforced,
                slots_release_returns_capacity,
                slots_expired_holder_returns_capacity,
                slots_renew_extends_and_fails_after_expiry,
                slots_concurrent_acquirers_respect_capacity,
            ]
        );
    };
}

/// Expands to the [`MetadataRepo`](crate::MetadataRepo) conformance tests.
/// `$factory`: `async fn() -> Arc<dyn MetadataRepo>`.
#[macro_export]
macro_rules! metadata_repo_conformance {
    ($factory:path) => {
        $crate::__conformance_tests!(
            metadata,
            ($factory().await),
            [
                metadata_users_crud_and_case_insensitive_names,
                metadata_items_upsert_and_path_uniqueness,
                metadata_item_queries_filter_sort_and_page,
                metadata_recursive_listings_follow_moves_and_deletions,
                metadata_item_queries_filter_on_user_marks,
                metadata_user_data_round_trip_and_cascade,
                metadata_devices_by_user_newest_first,
                metadata_display_preferences_per_user_and_client,
                metadata_user_configuration_per_user,
                metadata_activity_ids_increase_newest_first,
                metadata_hostile_strings_round_trip,
            ]
        );
    };
}
