//! `--redis-tls-ca-file`: the CA certificate of a TLS Redis with a private CA, given apart from
//! the URL.
//!
//! Why apart: in Kubernetes the Redis URL (which carries the password) comes from a Secret the
//! operator writes, while the CA file's path is wherever the manifest mounts it
//! (deploy/kubernetes/components/redis-tls-ca). A flag lets the manifest name the path without
//! the operator editing the URL in the Secret. The flag only adds the `tls_ca_file=` parameter
//! that ha-store-redis reads, so both spellings behave the same: a TLS URL only (`rediss://`,
//! `rediss+sentinel://`), not `redis+cluster://`, and the file read once at start.

use std::path::Path;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The query parameter ha-store-redis takes the CA file from.
const PARAM: &str = "tls_ca_file";

/// `url` with `tls_ca_file=<ca_file>` added (percent-encoded, after `?` or `&`).
///
/// # Errors
/// When the URL names a CA file already (two sources would leave one silently unused), or the
/// path is not UTF-8.
pub fn redis_url_with_ca_file(url: &str, ca_file: &Path) -> Result<String, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    if query
        .split('&')
        .any(|pair| pair.split_once('=').map_or(pair, |(k, _)| k) == PARAM)
    {
        return Err(format!(
            "the Redis URL has {PARAM}= and --redis-tls-ca-file is set too: give the CA file once"
        ));
    }
    let path = ca_file
        .to_str()
        .ok_or_else(|| format!("--redis-tls-ca-file {ca_file:?} is not UTF-8"))?;
    let separator = match query {
        "" if url.ends_with('?') => "",
        "" => "?",
        _ => "&",
    };
    Ok(format!("{url}{separator}{PARAM}={}", encode(path)))
}

/// Everything but unreserved characters and `/` is percent-encoded (ha-store-redis decodes).
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

fn encode(s: &str) -> String {
    utf8_percent_encode(s, ENCODED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parameter_follows_whatever_query_the_url_has() {
        let ca = Path::new("/etc/media-ha/redis-ca/ca.crt");
        assert_eq!(
            redis_url_with_ca_file("rediss://:pw@redis:6380/0", ca).unwrap(),
            "rediss://:pw@redis:6380/0?tls_ca_file=/etc/media-ha/redis-ca/ca.crt"
        );
        assert_eq!(
            redis_url_with_ca_file("rediss+sentinel://:pw@s1:26379,s2:26379/mymaster?sentinel_password=x", ca)
                .unwrap(),
            "rediss+sentinel://:pw@s1:26379,s2:26379/mymaster?sentinel_password=x&tls_ca_file=/etc/media-ha/redis-ca/ca.crt"
        );
        assert_eq!(
            redis_url_with_ca_file("rediss://redis/?", Path::new("/ca dir/a&b.pem")).unwrap(),
            "rediss://redis/?tls_ca_file=/ca%20dir/a%26b.pem"
        );
    }

    #[test]
    fn a_ca_file_given_twice_is_refused() {
        let err = redis_url_with_ca_file("rediss://redis/?tls_ca_file=/a.pem", Path::new("/b.pem"))
            .unwrap_err();
        assert!(err.contains("give the CA file once"), "{err}");
    }

    #[test]
    fn the_url_with_the_parameter_is_what_the_store_crate_reads() {
        // The parameter reaches ha-store-redis' own parser: its error names the file it tried.
        let url =
            redis_url_with_ca_file("rediss://redis:6380/0", Path::new("/no such/ca.pem")).unwrap();
        let err = media_ha::redis::RedisStoreConfig::from_url(&url).unwrap_err();
        assert!(err.to_string().contains("/no such/ca.pem"), "{err}");
        let plain = redis_url_with_ca_file("redis://redis:6379/0", Path::new("/ca.pem")).unwrap();
        let err = media_ha::redis::RedisStoreConfig::from_url(&plain).unwrap_err();
        assert!(err.to_string().contains("needs a TLS URL"), "{err}");
    }
}
