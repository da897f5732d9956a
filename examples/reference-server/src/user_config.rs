//! Jellyfin's `UserConfiguration`: what `POST /Users/{id}/Configuration` takes and what the user
//! DTO's `Configuration` returns.
//!
//! Why a field list and not the posted document as it is: the document is kept in the shared
//! metadata store and sent back in every user DTO, so what a client may put there is bounded
//! here — the known fields only (unknown ones are ignored, as Jellyfin's deserialiser ignores
//! them), each of its type (400 naming the field otherwise), strings and lists capped. A post
//! replaces the whole configuration, as in Jellyfin (clients post back the full object they
//! read); fields it leaves out read as their defaults.

use serde_json::{Map, Value};

/// Longest string kept in a field (language codes, a cast receiver id).
pub const MAX_STRING: usize = 128;
/// Most entries kept in a list field (view ids).
pub const MAX_LIST: usize = 64;

/// What a field holds.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Bool(bool),
    /// A string, its default, and whether `null` is allowed.
    Text(&'static str, bool),
    /// One of these strings (the first is the default).
    OneOf(&'static [&'static str]),
    /// A list of ids.
    Ids,
}

/// Jellyfin 10.11's `UserConfiguration`, in its order, with its defaults.
const FIELDS: &[(&str, Kind)] = &[
    ("AudioLanguagePreference", Kind::Text("", true)),
    ("PlayDefaultAudioTrack", Kind::Bool(true)),
    ("SubtitleLanguagePreference", Kind::Text("", false)),
    ("DisplayMissingEpisodes", Kind::Bool(false)),
    ("GroupedFolders", Kind::Ids),
    (
        "SubtitleMode",
        Kind::OneOf(&["Default", "Always", "OnlyForced", "None", "Smart"]),
    ),
    ("DisplayCollectionsView", Kind::Bool(false)),
    ("EnableLocalPassword", Kind::Bool(false)),
    ("OrderedViews", Kind::Ids),
    ("LatestItemsExcludes", Kind::Ids),
    ("MyMediaExcludes", Kind::Ids),
    ("HidePlayedInLatest", Kind::Bool(true)),
    ("RememberAudioSelections", Kind::Bool(true)),
    ("RememberSubtitleSelections", Kind::Bool(true)),
    ("EnableNextEpisodeAutoPlay", Kind::Bool(true)),
    ("CastReceiverId", Kind::Text("", true)),
];

/// The configuration a user has: `stored` (a document [`normalize`] made) over the defaults.
/// A stored document that does not parse reads as the defaults.
pub fn effective(stored: Option<&str>) -> Value {
    let stored: Map<String, Value> = stored
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let mut out = Map::new();
    for (name, kind) in FIELDS {
        let value = stored.get(*name).cloned().unwrap_or_else(|| match kind {
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Text(_, true) => Value::Null,
            Kind::Text(s, false) => Value::String((*s).to_owned()),
            Kind::OneOf(options) => Value::String(options[0].to_owned()),
            Kind::Ids => Value::Array(Vec::new()),
        });
        out.insert((*name).to_owned(), value);
    }
    Value::Object(out)
}

/// The document to store for a posted configuration: its known fields (names matched ignoring
/// case, written in Jellyfin's spelling), checked. `Err` names the first bad field.
pub fn normalize(body: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (key, value) in body {
        let Some((name, kind)) = FIELDS.iter().find(|(n, _)| n.eq_ignore_ascii_case(key)) else {
            continue;
        };
        let checked = match (kind, value) {
            (Kind::Bool(_), Value::Bool(_)) => value.clone(),
            (Kind::Text(_, true), Value::Null) => Value::Null,
            (Kind::Text(..), Value::String(s)) if s.len() <= MAX_STRING => value.clone(),
            (Kind::Text(..), Value::String(_)) => {
                return Err(format!("{name} is longer than {MAX_STRING} bytes"));
            }
            (Kind::OneOf(options), Value::String(s)) => {
                match options.iter().find(|o| o.eq_ignore_ascii_case(s)) {
                    Some(o) => Value::String((*o).to_owned()),
                    None => return Err(format!("{name} must be one of {}", options.join(", "))),
                }
            }
            (Kind::Ids, Value::Array(list)) => {
                if list.len() > MAX_LIST {
                    return Err(format!("{name} has more than {MAX_LIST} entries"));
                }
                if !list
                    .iter()
                    .all(|v| v.as_str().is_some_and(|s| s.len() <= MAX_STRING))
                {
                    return Err(format!(
                        "{name} must be a list of ids (strings of at most {MAX_STRING} bytes)"
                    ));
                }
                value.clone()
            }
            (Kind::Bool(_), _) => return Err(format!("{name} must be true or false")),
            (Kind::Text(_, nullable), _) => {
                let or_null = if *nullable { " or null" } else { "" };
                return Err(format!("{name} must be a string{or_null}"));
            }
            (Kind::OneOf(_), _) => return Err(format!("{name} must be a string")),
            (Kind::Ids, _) => return Err(format!("{name} must be a list of ids")),
        };
        out.insert((*name).to_owned(), checked);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn defaults_without_a_stored_document() {
        let c = effective(None);
        assert_eq!(c["PlayDefaultAudioTrack"], json!(true));
        assert_eq!(c["SubtitleMode"], json!("Default"));
        assert_eq!(c["OrderedViews"], json!([]));
        assert_eq!(c["AudioLanguagePreference"], Value::Null);
        assert_eq!(c.as_object().unwrap().len(), FIELDS.len());
        assert_eq!(effective(Some("not json")), c);
    }

    #[test]
    fn known_fields_kept_in_jellyfins_spelling_unknown_ignored() {
        let doc = normalize(&map(json!({
            "subtitlemode": "always",
            "AudioLanguagePreference": "fre",
            "OrderedViews": ["a", "b"],
            "PlayDefaultAudioTrack": false,
            "Whatever": {"deep": 1},
        })))
        .unwrap();
        assert_eq!(
            Value::Object(doc.clone()),
            json!({
                "SubtitleMode": "Always",
                "AudioLanguagePreference": "fre",
                "OrderedViews": ["a", "b"],
                "PlayDefaultAudioTrack": false,
            })
        );
        let c = effective(Some(&Value::Object(doc).to_string()));
        assert_eq!(c["SubtitleMode"], json!("Always"));
        assert_eq!(c["HidePlayedInLatest"], json!(true), "left out: default");
    }

    #[test]
    fn bad_fields_are_named() {
        let bad = |v: Value| normalize(&map(v)).unwrap_err();
        assert!(bad(json!({"PlayDefaultAudioTrack": "yes"})).contains("PlayDefaultAudioTrack"));
        assert!(bad(json!({"SubtitleMode": "Loud"})).contains("SubtitleMode"));
        assert!(bad(json!({"SubtitleLanguagePreference": null})).contains("string"));
        assert!(bad(json!({"OrderedViews": [1]})).contains("OrderedViews"));
        assert!(bad(json!({"OrderedViews": vec!["x"; MAX_LIST + 1]})).contains("entries"));
        assert!(bad(json!({"CastReceiverId": "x".repeat(MAX_STRING + 1)})).contains("longer"));
    }

    #[test]
    fn the_largest_document_fits_the_store() {
        let id = "x".repeat(MAX_STRING);
        let mut body = Map::new();
        for (name, kind) in FIELDS {
            let v = match kind {
                Kind::Bool(_) => json!(true),
                Kind::Text(..) => json!(id),
                Kind::OneOf(_) => json!("OnlyForced"),
                Kind::Ids => json!(vec![id.clone(); MAX_LIST]),
            };
            body.insert((*name).to_owned(), v);
        }
        let doc = Value::Object(normalize(&body).unwrap()).to_string();
        assert!(doc.len() <= media_ha::core::metadata::MAX_USER_CONFIGURATION_BYTES);
    }
}
