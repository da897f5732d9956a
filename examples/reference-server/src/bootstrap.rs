//! First-start duties: make sure somebody can sign in.
//!
//! Why print, not log: with no users and no `--admin-*` flags the server creates `admin` with a
//! random password and prints it once to standard output — the only place it ever appears.
//! Logs are shipped and kept; a password must not be. Replicas starting together may both try;
//! the store's unique user name makes one of them win, and the loser says so instead of
//! printing a password that does not work.

use media_ha::core::hash_pool::HashPool;
use media_ha::core::{ids, Error, User};
use rand::distributions::Alphanumeric;
use rand::Rng;

use crate::config::AdminSeed;
use crate::stores::Stores;
use crate::timefmt::now_ms;

/// Ensures an administrator exists (see the module docs).
///
/// # Errors
/// When the metadata store fails.
pub async fn ensure_admin(stores: &Stores, seed: Option<&AdminSeed>) -> Result<(), Error> {
    let metadata = &stores.metadata;
    if let Some(seed) = seed {
        return match metadata.get_user_by_name(&seed.name).await? {
            Some(mut user) => {
                if !user.is_admin || !verify(&seed.password, &user.password_hash).await {
                    user.is_admin = true;
                    user.password_hash = hash(&seed.password).await?;
                    metadata.update_user(&user).await?;
                    tracing::info!(user = %user.name, "administrator updated from --admin-user");
                }
                Ok(())
            }
            None => create(stores, &seed.name, &seed.password).await.map(|_| ()),
        };
    }
    if !metadata.list_users().await?.is_empty() {
        return Ok(());
    }
    let password: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    if create(stores, "admin", &password).await? {
        println!("\n  media-ha: created user `admin` with password `{password}` (shown once)\n");
    } else {
        println!("\n  media-ha: user `admin` was created by another replica\n");
    }
    Ok(())
}

/// Creates an administrator; `Ok(false)` when the name was taken meanwhile.
async fn create(stores: &Stores, name: &str, password: &str) -> Result<bool, Error> {
    let user = User {
        id: ids::new_id(),
        name: name.to_owned(),
        password_hash: hash(password).await?,
        is_admin: true,
        created_ms: now_ms(),
    };
    match stores.metadata.create_user(&user).await {
        Ok(()) => {
            tracing::info!(user = %name, "administrator created");
            Ok(true)
        }
        Err(Error::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Argon2 is deliberately slow (and takes 19 MiB): run it on the process's small hashing pool
/// (`ha_core::hash_pool`), not on tokio's blocking threads, so memory stays bounded and a
/// sign-in flood queues instead of hashing all at once.
pub async fn hash(password: &str) -> Result<String, Error> {
    HashPool::shared()?.hash(password.to_owned()).await
}

/// Argon2 verification on the hashing pool; `false` if the pool cannot run it.
pub async fn verify(password: &str, hash: &str) -> bool {
    match HashPool::shared() {
        Ok(pool) => pool.verify(password.to_owned(), hash.to_owned()).await,
        Err(err) => {
            tracing::error!(error = %err, "no password hashing pool");
            false
        }
    }
}
