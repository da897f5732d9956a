//! The sign-in brake: failed passwords are counted per account, per address and per
//! (account, address) pair, cluster-wide, and past a limit the next attempt is answered
//! `429 Too Many Requests` with `Retry-After` before any password is checked.
//!
//! Why: `POST /Users/AuthenticateByName` had no brake; 240 wrong passwords at 34–76 tries a
//! second went through, then the right one worked (issue 20, finding 8).
//!
//! How: each failure takes a slot in the shared [`SlotLimiter`] for [`Brake::window`] — the
//! same cluster-wide counter with expiry the transcode limits use, so every replica sees every
//! failure and nothing needs a new store contract. A slot expires on its own: there is no
//! permanent lockout, and no state to clean up. Pool names hold a hash of the account name and
//! the address (IPv6 by /64, what one host usually controls), never the name itself.
//!
//! The limits (defaults): 5 failures per (account, address) and 30 per address within 5
//! minutes stop one host guessing; 100 per account stop a guess spread over many hosts. A
//! stranger can hold a real user's account brake only while sustaining 100 failures per 5
//! minutes from at least 4 addresses, and it lifts 5 minutes after they stop; the user's own
//! address is never braked by someone else's failures below that. Failures for user names that
//! do not exist count per address only (so made-up names create no per-account state).
//!
//! Behind a reverse proxy every request comes from the proxy's address: list the proxy in
//! `--trusted-proxies` and the brake counts the client it names in `X-Forwarded-For`
//! (`client_addr.rs`); otherwise one stranger's failures brake everyone behind that proxy.

use std::net::IpAddr;
use std::time::Duration;

use media_ha::core::{auth, Result, SlotLimiter};

/// Thresholds and window of the brake.
#[derive(Debug, Clone, Copy)]
pub struct BrakeLimits {
    /// How long a failure counts.
    pub window: Duration,
    /// Failures per (account, address) within the window.
    pub per_pair: u32,
    /// Failures per address within the window.
    pub per_address: u32,
    /// Failures per account within the window.
    pub per_account: u32,
}

impl Default for BrakeLimits {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(300),
            per_pair: 5,
            per_address: 30,
            per_account: 100,
        }
    }
}

/// Which counter stopped an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Braked {
    /// Too many failures for this account from this address.
    Pair,
    /// Too many failures from this address.
    Address,
    /// Too many failures for this account.
    Account,
}

/// The brake over a cluster-wide slot limiter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Brake {
    limits: BrakeLimits,
}

/// The pools one attempt counts in.
struct Pools {
    pair: Option<String>,
    address: String,
    account: Option<String>,
}

fn pools(account: Option<&str>, ip: IpAddr) -> Pools {
    let address = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    };
    let account = account.map(|name| auth::hash_token(&name.trim().to_lowercase()));
    Pools {
        pair: account
            .as_ref()
            .map(|a| format!("signin-fail:pair:{a}:{}", auth::hash_token(&address))),
        account: account.map(|a| format!("signin-fail:account:{a}")),
        address: format!("signin-fail:address:{}", auth::hash_token(&address)),
    }
}

impl Brake {
    /// A brake with `limits`.
    pub fn new(limits: BrakeLimits) -> Self {
        Self { limits }
    }

    /// How long a failure counts (the `Retry-After` of a braked attempt: the latest a slot
    /// still counting can expire).
    pub fn window(&self) -> Duration {
        self.limits.window
    }

    /// Whether an attempt for `account` (when such a user exists) from `ip` must be refused.
    ///
    /// # Errors
    /// The slot limiter's.
    pub async fn check(
        &self,
        slots: &dyn SlotLimiter,
        account: Option<&str>,
        ip: IpAddr,
    ) -> Result<Option<Braked>> {
        let p = pools(account, ip);
        if let Some(pair) = &p.pair {
            if slots.in_use(pair).await? >= self.limits.per_pair {
                return Ok(Some(Braked::Pair));
            }
        }
        if slots.in_use(&p.address).await? >= self.limits.per_address {
            return Ok(Some(Braked::Address));
        }
        if let Some(acct) = &p.account {
            if slots.in_use(acct).await? >= self.limits.per_account {
                return Ok(Some(Braked::Account));
            }
        }
        Ok(None)
    }

    /// Counts a failed attempt; returns the counter this failure filled, if any (so the caller
    /// records in the activity log once when a brake engages, not on every refusal).
    ///
    /// # Errors
    /// The slot limiter's.
    pub async fn failed(
        &self,
        slots: &dyn SlotLimiter,
        account: Option<&str>,
        ip: IpAddr,
    ) -> Result<Option<Braked>> {
        let p = pools(account, ip);
        let window = self.limits.window;
        let mut engaged = None;
        let count = |pool: &str, cap: u32, which: Braked| {
            let pool = pool.to_owned();
            async move {
                // A unique holder per failure: each one is its own slot, expiring on its own.
                let holder = media_ha::core::ids::new_id();
                let taken = slots.try_acquire(&pool, &holder, cap, window).await?;
                Ok::<_, media_ha::core::Error>(
                    (taken.is_some() && slots.in_use(&pool).await? >= cap).then_some(which),
                )
            }
        };
        if let Some(pair) = &p.pair {
            engaged = engaged.or(count(pair, self.limits.per_pair, Braked::Pair).await?);
        }
        engaged = engaged.or(count(&p.address, self.limits.per_address, Braked::Address).await?);
        if let Some(acct) = &p.account {
            engaged = engaged.or(count(acct, self.limits.per_account, Braked::Account).await?);
        }
        Ok(engaged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media_ha::core::memory::MemorySlotLimiter;

    fn limits() -> BrakeLimits {
        BrakeLimits {
            window: Duration::from_millis(800),
            per_pair: 2,
            per_address: 3,
            per_account: 4,
        }
    }

    #[tokio::test]
    async fn brakes_engage_per_pair_address_and_account_and_lift_after_the_window() {
        let slots = MemorySlotLimiter::new();
        let brake = Brake::new(limits());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let c: IpAddr = "2001:db8::1".parse().unwrap();
        let c2: IpAddr = "2001:db8::2".parse().unwrap();
        assert_eq!(brake.check(&slots, Some("alice"), a).await.unwrap(), None);
        assert_eq!(brake.failed(&slots, Some("alice"), a).await.unwrap(), None);
        assert_eq!(
            brake.failed(&slots, Some("Alice "), a).await.unwrap(),
            Some(Braked::Pair),
            "names compare as sign-in does"
        );
        assert_eq!(
            brake.check(&slots, Some("alice"), a).await.unwrap(),
            Some(Braked::Pair)
        );
        // Another account from the same address is still allowed, until the address fills.
        assert_eq!(brake.check(&slots, Some("bob"), a).await.unwrap(), None);
        brake.failed(&slots, None, a).await.unwrap();
        assert_eq!(
            brake.check(&slots, Some("bob"), a).await.unwrap(),
            Some(Braked::Address)
        );
        // Another address may still try alice, until the account fills (one /64 is one address).
        assert_eq!(brake.check(&slots, Some("alice"), b).await.unwrap(), None);
        brake.failed(&slots, Some("alice"), b).await.unwrap();
        brake.failed(&slots, Some("alice"), c).await.unwrap();
        assert_eq!(
            brake.check(&slots, Some("alice"), c2).await.unwrap(),
            Some(Braked::Account)
        );
        // Nothing is permanent.
        tokio::time::sleep(Duration::from_millis(900)).await;
        for ip in [a, b, c] {
            assert_eq!(brake.check(&slots, Some("alice"), ip).await.unwrap(), None);
        }
    }
}
