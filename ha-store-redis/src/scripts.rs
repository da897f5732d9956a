//! The Lua scripts, one per file in `lua/`, loaded once.
//!
//! Every check-and-change runs as one script so it is atomic on the server: no other client's
//! command runs between the check (holder, token, expiry) and the change. `redis::Script` sends
//! `EVALSHA` and falls back to loading the script when the server answers `NOSCRIPT` (after a
//! restart or a failover, the script cache is empty).
//!
//! `lua/incarnation.lua` is not a script of its own: it defines `incarnation_start_us()` and is
//! prepended to the scripts that need it (Redis scripts cannot import one another), so the
//! start of the server's incarnation is computed one way everywhere. It reads `INFO server`,
//! which costs about as much server time as the rest of a lease acquire, so only the rare paths
//! run it: `job_claim.lua` when the record is missing, and `incarnation_start.lua`, whose answer
//! the store caches and hands to `lease_acquire.lua` as an argument
//! ([`RedisStore::incarnation_start_us`](crate::RedisStore)).

use redis::Script;

/// The exact source of the lease scripts as the store sends them (preludes included), for
/// benchmarks and peers that must run the very same Lua (`SCRIPT LOAD` + `EVALSHA`).
pub mod source {
    /// `lua/lease_acquire.lua`.
    pub const LEASE_ACQUIRE: &str = include_str!("../lua/lease_acquire.lua");
    /// `lua/lease_renew.lua`.
    pub const LEASE_RENEW: &str = include_str!("../lua/lease_renew.lua");
    /// `lua/lease_release.lua`.
    pub const LEASE_RELEASE: &str = include_str!("../lua/lease_release.lua");
}

/// Every script this crate runs.
#[derive(Debug)]
pub(crate) struct Scripts {
    pub lease_acquire: Script,
    pub lease_renew: Script,
    pub lease_release: Script,
    pub lease_current: Script,
    pub incarnation_start: Script,
    pub job_claim: Script,
    pub job_progress: Script,
    pub job_state: Script,
    pub index_prune: Script,
    pub session_put: Script,
    pub session_touch: Script,
    pub session_update: Script,
    pub slot_acquire: Script,
    pub slot_renew: Script,
    pub slot_release: Script,
    pub slot_in_use: Script,
}

impl Scripts {
    pub fn new() -> Self {
        Self {
            lease_acquire: Script::new(source::LEASE_ACQUIRE),
            lease_renew: Script::new(source::LEASE_RENEW),
            lease_release: Script::new(source::LEASE_RELEASE),
            lease_current: Script::new(include_str!("../lua/lease_current.lua")),
            incarnation_start: Script::new(concat!(
                include_str!("../lua/incarnation.lua"),
                include_str!("../lua/incarnation_start.lua")
            )),
            job_claim: Script::new(concat!(
                include_str!("../lua/incarnation.lua"),
                include_str!("../lua/job_claim.lua")
            )),
            job_progress: Script::new(include_str!("../lua/job_progress.lua")),
            job_state: Script::new(include_str!("../lua/job_state.lua")),
            index_prune: Script::new(include_str!("../lua/index_prune.lua")),
            session_put: Script::new(include_str!("../lua/session_put.lua")),
            session_touch: Script::new(include_str!("../lua/session_touch.lua")),
            session_update: Script::new(include_str!("../lua/session_update.lua")),
            slot_acquire: Script::new(include_str!("../lua/slot_acquire.lua")),
            slot_renew: Script::new(include_str!("../lua/slot_renew.lua")),
            slot_release: Script::new(include_str!("../lua/slot_release.lua")),
            slot_in_use: Script::new(include_str!("../lua/slot_in_use.lua")),
        }
    }
}
