//! Lenient serde for Jellyfin's device profile JSON.
//!
//! Why lenient: device profiles come from many clients (web, Android, TV apps, DLNA) written
//! over years against several Jellyfin versions. They put numbers in strings (`"6"`), send
//! `null` for empty lists, write codec lists as `"h264,hevc"`, and use enum values a given
//! server version has never heard of. Rejecting a whole profile for one odd field would leave
//! the client with no playback at all, so: unknown fields are ignored, unknown enum values
//! become `Unknown` (and match nothing), lists accept a comma-separated string or an array,
//! numbers accept strings, `null` means "absent".

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, Serializer};
use serde_json::Value;

/// A comma-separated list of names (containers, codecs), lower-cased and trimmed. Empty means
/// "any" wherever Jellyfin gives it that meaning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameList(pub Vec<String>);

impl NameList {
    /// Parses `"h264, HEVC,,vp9"` into `["h264", "hevc", "vp9"]`.
    pub fn parse(s: &str) -> Self {
        NameList(
            s.split(',')
                .map(|n| n.trim().to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect(),
        )
    }

    /// True when the list names nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl<'de> Deserialize<'de> for NameList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => NameList::parse(&s),
            Value::Array(items) => {
                let joined: Vec<String> = items.iter().filter_map(value_to_string).collect();
                NameList::parse(&joined.join(","))
            }
            _ => NameList::default(),
        })
    }
}

impl Serialize for NameList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.join(","))
    }
}

/// A scalar JSON value as a string (`"51"`, `51`, `true` → `"51"`, `"51"`, `"true"`).
pub(crate) fn value_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `Option<u64>` from a number, a numeric string, or null/garbage (→ `None`).
pub(crate) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// `bool` from a bool, `"true"`/`"false"` (any case), or null/garbage (→ `false`).
pub(crate) fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => b,
        Value::String(s) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    })
}

/// `Option<String>` from any scalar, or null (→ `None`).
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(value_to_string(&Value::deserialize(d)?))
}

/// `T::default()` for null, else `T` (lists sent as `null`).
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Declares a string enum that parses case-insensitively and maps anything unknown to
/// `Unknown`, serialising back to Jellyfin's spelling.
macro_rules! lenient_enum {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $v,)+
            /// A value this version does not know; matches nothing.
            Unknown,
        }

        impl $name {
            /// Parses Jellyfin's name, ignoring case; unknown names give `Unknown`.
            pub fn parse(s: &str) -> Self {
                let s = s.trim();
                $(if s.eq_ignore_ascii_case(stringify!($v)) {
                    return $name::$v;
                })+
                $name::Unknown
            }

            /// Jellyfin's name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$v => stringify!($v),)+
                    $name::Unknown => "Unknown",
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::Unknown
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = serde_json::Value::deserialize(d)?;
                Ok($crate::decision::lenient::value_to_string(&v)
                    .map(|s| $name::parse(&s))
                    .unwrap_or_default())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

pub(crate) use lenient_enum;

/// Rewrites every object key's first letter to upper case, so camelCase profiles
/// (`maxStreamingBitrate`) read like Jellyfin's PascalCase ones.
pub(crate) fn pascal_case_keys(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let mut c = k.chars();
                    let key = match c.next() {
                        Some(f) => f.to_uppercase().chain(c).collect(),
                        None => k,
                    };
                    (key, pascal_case_keys(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(pascal_case_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_lists() {
        assert_eq!(NameList::parse(" H264, hevc,,").0, vec!["h264", "hevc"]);
        let l: NameList = serde_json::from_str(r#"["mp4", "M4V"]"#).unwrap();
        assert_eq!(l.0, vec!["mp4", "m4v"]);
        let l: NameList = serde_json::from_str("null").unwrap();
        assert!(l.is_empty());
        assert_eq!(
            serde_json::to_string(&NameList::parse("a,b")).unwrap(),
            r#""a,b""#
        );
    }

    #[test]
    fn keys_become_pascal_case() {
        let v = pascal_case_keys(serde_json::json!({"maxStreamingBitrate": 1, "a": [{"bC": 2}]}));
        assert_eq!(
            v,
            serde_json::json!({"MaxStreamingBitrate": 1, "A": [{"BC": 2}]})
        );
    }
}
