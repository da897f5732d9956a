//! Case-insensitive request paths, as Jellyfin's ASP.NET routing has them.
//!
//! Why: Jellyfin matches routes ignoring case, and clients rely on it without knowing —
//! `jellyfin-apiclient-python` connects through `GET /system/info/public`, others send
//! `/users/{id}/items`. axum matches exactly. Instead of registering every spelling, the request
//! path is rewritten before routing: each segment equal (ignoring ASCII case) to a literal
//! segment of some route template takes that template's spelling. Ids, file names and other
//! parameters pass untouched unless they happen to spell a literal, and then the route that
//! literal belongs to is what Jellyfin would have matched too.
//!
//! The literals are read from the route files' own `.route("…")` calls
//! ([`route_templates`]), so a new route needs no second list kept in step.
//!
//! A template ending in a wildcard (`/web/{*path}`) names files, not routes: once a request's
//! leading segments match its literal prefix, the rest of the path is left as sent (a web
//! client's `assets/audio/silence.mp3` must not become `assets/Audio/…` because some route has
//! an `Audio` segment; file systems are case-sensitive).

use std::collections::HashMap;

/// Maps lower-cased literal path segments to their canonical spelling.
#[derive(Debug, Clone, Default)]
pub struct PathCase {
    canonical: HashMap<String, String>,
    /// The lower-cased literal prefixes of wildcard templates (`["web"]` for `/web/{*path}`).
    verbatim_after: Vec<Vec<String>>,
}

impl PathCase {
    /// Learns the literal segments of `templates` (axum route paths such as
    /// `/Users/{user_id}/Items`; `{…}` segments are parameters and ignored).
    pub fn from_templates<'a>(templates: impl IntoIterator<Item = &'a str>) -> Self {
        let mut canonical = HashMap::new();
        let mut verbatim_after = Vec::new();
        for template in templates {
            if let Some((prefix, _)) = template.split_once("/{*") {
                verbatim_after.push(
                    prefix
                        .split('/')
                        .filter(|s| !s.is_empty())
                        .map(str::to_ascii_lowercase)
                        .collect(),
                );
            }
            for segment in template.split('/') {
                if segment.is_empty() || segment.contains('{') {
                    continue;
                }
                canonical
                    .entry(segment.to_ascii_lowercase())
                    .or_insert_with(|| segment.to_owned());
            }
        }
        Self {
            canonical,
            verbatim_after,
        }
    }

    /// `path` with every literal segment in its canonical spelling; `None` when nothing changes.
    pub fn canonicalize(&self, path: &str) -> Option<String> {
        let mut changed = false;
        let mut seen: Vec<String> = Vec::new();
        let mut verbatim = false;
        let segments: Vec<&str> = path
            .split('/')
            .map(|segment| {
                if verbatim {
                    return segment;
                }
                let out = match self.canonical.get(&segment.to_ascii_lowercase()) {
                    Some(canonical) if canonical != segment => {
                        changed = true;
                        canonical.as_str()
                    }
                    _ => segment,
                };
                if !segment.is_empty() {
                    seen.push(segment.to_ascii_lowercase());
                    verbatim = self.verbatim_after.contains(&seen);
                }
                out
            })
            .collect();
        changed.then(|| segments.join("/"))
    }
}

/// The path of every `.route("…", …)` call in a Rust source file.
pub fn route_templates(source: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let trimmed = rest.trim_start();
        let Some(literal) = trimmed.strip_prefix('"') else {
            continue;
        };
        if let Some(end) = literal.find('"') {
            out.push(&literal[..end]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case() -> PathCase {
        PathCase::from_templates([
            "/System/Info/Public",
            "/Users/{user_id}/Items",
            "/Users/Me",
            "/Videos/{item_id}/master.m3u8",
        ])
    }

    #[test]
    fn literal_segments_take_the_template_spelling() {
        let c = case();
        assert_eq!(
            c.canonicalize("/system/info/public").as_deref(),
            Some("/System/Info/Public")
        );
        assert_eq!(
            c.canonicalize("/users/0123abcd/ITEMS").as_deref(),
            Some("/Users/0123abcd/Items")
        );
        assert_eq!(c.canonicalize("/users/me").as_deref(), Some("/Users/Me"));
        assert_eq!(
            c.canonicalize("/videos/AbC/Master.M3U8").as_deref(),
            Some("/Videos/AbC/master.m3u8"),
            "parameters keep their case"
        );
    }

    #[test]
    fn after_a_wildcard_prefix_the_path_is_left_as_sent() {
        let c = PathCase::from_templates(["/web/{*path}", "/Audio/{item_id}/stream", "/Items"]);
        assert_eq!(
            c.canonicalize("/WEB/assets/audio/Items.mp3").as_deref(),
            Some("/web/assets/audio/Items.mp3"),
            "only the prefix is rewritten"
        );
        assert_eq!(c.canonicalize("/web/assets/audio/silence.mp3"), None);
        assert_eq!(
            c.canonicalize("/audio/x/stream").as_deref(),
            Some("/Audio/x/stream"),
            "other routes still are"
        );
        assert_eq!(
            c.canonicalize("/items/web/audio").as_deref(),
            Some("/Items/web/Audio"),
            "a prefix counts only from the start"
        );
    }

    #[test]
    fn unchanged_and_unknown_paths_are_left_alone() {
        let c = case();
        assert_eq!(c.canonicalize("/System/Info/Public"), None);
        assert_eq!(c.canonicalize("/no/such/route"), None);
        assert_eq!(c.canonicalize("/"), None);
        assert_eq!(c.canonicalize(""), None);
        assert_eq!(
            c.canonicalize("//system//").as_deref(),
            Some("//System//"),
            "empty segments are kept"
        );
    }

    #[test]
    fn templates_are_read_from_route_calls() {
        let source = r#"
            Router::new()
                .route("/Items", get(items))
                .route(
                    "/Items/{item_id}/PlaybackInfo",
                    post(info),
                )
                .route(PATH_CONST, get(x))
        "#;
        assert_eq!(
            route_templates(source),
            ["/Items", "/Items/{item_id}/PlaybackInfo"]
        );
        assert!(route_templates("no routes here").is_empty());
    }
}
