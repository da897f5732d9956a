//! Decoding script replies into contract types: pure functions, no I/O, unit-tested.
//!
//! Scripts answer in a few fixed shapes (documented at the top of each `lua/*.lua` file). Any
//! other shape is a [`RedisStoreError::Protocol`], never a panic: the server is input too.

use std::collections::HashMap;

use ha_core::{FencingToken, JobRecord, JobState};
use redis::Value;

use crate::error::{RedisStoreError, StoreResult};

/// A decimal u64 token.
pub(crate) fn parse_token(what: &'static str, s: &str) -> StoreResult<FencingToken> {
    s.parse::<u64>()
        .map(FencingToken)
        .map_err(|_| RedisStoreError::protocol(what, format!("token {s:?} is not a u64")))
}

fn text(what: &'static str, v: &Value) -> StoreResult<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone())
            .map_err(|_| RedisStoreError::protocol(what, "reply is not UTF-8")),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        other => Err(RedisStoreError::protocol(
            what,
            format!("expected a string, got {other:?}"),
        )),
    }
}

fn number<T: std::str::FromStr>(what: &'static str, v: &Value) -> StoreResult<T> {
    let s = text(what, v)?;
    s.parse()
        .map_err(|_| RedisStoreError::protocol(what, format!("{s:?} is not a number")))
}

/// `lease_current.lua`: `{holder, token, ttl_ms, pttl_ms}` or nil.
pub(crate) fn lease_current(v: Value) -> StoreResult<Option<(String, u64, u64, u64)>> {
    const WHAT: &str = "lease current";
    match v {
        Value::Nil | Value::Boolean(false) => Ok(None),
        Value::Array(items) if items.len() == 4 => Ok(Some((
            text(WHAT, &items[0])?,
            number(WHAT, &items[1])?,
            number(WHAT, &items[2])?,
            number(WHAT, &items[3])?,
        ))),
        other => Err(RedisStoreError::protocol(WHAT, format!("{other:?}"))),
    }
}

/// What a job script answered.
#[derive(Debug, PartialEq)]
pub(crate) enum JobReply {
    /// The record after the write.
    Ok(JobRecord),
    /// The record holds another token.
    Fenced(FencingToken),
    /// No record.
    Missing,
}

/// `{'ok', field, value, …}`, `{'fenced', token}` or `{'missing'}`.
pub(crate) fn job_reply(what: &'static str, v: Value) -> StoreResult<JobReply> {
    let Value::Array(items) = v else {
        return Err(RedisStoreError::protocol(what, format!("{v:?}")));
    };
    let status = items
        .first()
        .map(|s| text(what, s))
        .transpose()?
        .unwrap_or_default();
    match status.as_str() {
        "ok" => Ok(JobReply::Ok(job_record(what, &items[1..])?)),
        "fenced" => {
            let token = items
                .get(1)
                .ok_or_else(|| RedisStoreError::protocol(what, "fenced without token"))?;
            Ok(JobReply::Fenced(parse_token(what, &text(what, token)?)?))
        }
        "missing" => Ok(JobReply::Missing),
        other => Err(RedisStoreError::protocol(
            what,
            format!("unknown status {other:?}"),
        )),
    }
}

/// A job hash as a flat `field, value, …` list (HGETALL).
pub(crate) fn job_record(what: &'static str, flat: &[Value]) -> StoreResult<JobRecord> {
    if !flat.len().is_multiple_of(2) {
        return Err(RedisStoreError::protocol(what, "odd field list"));
    }
    let mut fields = HashMap::with_capacity(flat.len() / 2);
    for pair in flat.chunks_exact(2) {
        fields.insert(text(what, &pair[0])?, text(what, &pair[1])?);
    }
    job_record_from_map(what, fields)
}

/// A job hash as a map of fields.
pub(crate) fn job_record_from_map(
    what: &'static str,
    mut f: HashMap<String, String>,
) -> StoreResult<JobRecord> {
    let mut take = |name: &str| {
        f.remove(name)
            .ok_or_else(|| RedisStoreError::protocol(what, format!("job field {name} missing")))
    };
    let parse_u32 = |name: &str, s: String| {
        s.parse::<u32>()
            .map_err(|_| RedisStoreError::protocol(what, format!("job field {name} = {s:?}")))
    };
    let parse_u64 = |name: &str, s: String| {
        s.parse::<u64>()
            .map_err(|_| RedisStoreError::protocol(what, format!("job field {name} = {s:?}")))
    };
    let key = take("key")?;
    let source = take("source")?;
    let profile = take("profile")?;
    let owner_node = take("owner_node")?;
    let token = parse_token(what, &take("token")?)?;
    let start_segment = parse_u32("start_segment", take("start_segment")?)?;
    let state_name = take("state")?;
    let state = JobState::parse(&state_name)
        .map_err(|_| RedisStoreError::protocol(what, format!("job state {state_name:?}")))?;
    let attempts = parse_u32("attempts", take("attempts")?)?;
    let created_ms = parse_u64("created_ms", take("created_ms")?)?;
    let updated_ms = parse_u64("updated_ms", take("updated_ms")?)?;
    let last_segment = match f.remove("last_segment") {
        Some(s) => Some(parse_u32("last_segment", s)?),
        None => None,
    };
    Ok(JobRecord {
        key,
        source,
        profile,
        owner_node,
        owner_addr: f.remove("owner_addr"),
        token,
        start_segment,
        last_segment,
        state,
        attempts,
        failure: f.remove("failure"),
        created_ms,
        updated_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn record_fields() -> Vec<Value> {
        [
            ("key", "k"),
            ("source", "s"),
            ("profile", "{}"),
            ("owner_node", "a"),
            ("token", "18446744073709551615"),
            ("start_segment", "3"),
            ("state", "running"),
            ("attempts", "2"),
            ("created_ms", "1"),
            ("updated_ms", "2"),
            ("last_segment", "7"),
        ]
        .iter()
        .flat_map(|(k, v)| [bulk(k), bulk(v)])
        .collect()
    }

    #[test]
    fn decodes_ok_fenced_and_missing() {
        let mut ok = vec![bulk("ok")];
        ok.extend(record_fields());
        let JobReply::Ok(r) = job_reply("t", Value::Array(ok)).unwrap() else {
            panic!("not ok")
        };
        assert_eq!(r.token, FencingToken(u64::MAX));
        assert_eq!(
            (r.last_segment, r.owner_addr, r.failure),
            (Some(7), None, None)
        );
        assert_eq!(
            job_reply("t", Value::Array(vec![bulk("fenced"), bulk("12")])).unwrap(),
            JobReply::Fenced(FencingToken(12))
        );
        assert_eq!(
            job_reply("t", Value::Array(vec![bulk("missing")])).unwrap(),
            JobReply::Missing
        );
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        assert!(job_reply("t", Value::Nil).is_err());
        assert!(job_reply("t", Value::Array(vec![])).is_err());
        assert!(job_reply("t", Value::Array(vec![bulk("ok"), bulk("key")])).is_err());
        assert!(job_reply("t", Value::Array(vec![bulk("fenced")])).is_err());
        assert!(lease_current(Value::Array(vec![bulk("a")])).is_err());
        assert_eq!(lease_current(Value::Nil).unwrap(), None);
        assert!(parse_token("t", "-1").is_err());
    }
}
