//! The page `/` and `/web/` answer when no web client is configured.
//!
//! Why a page and not a 404: whoever opens the server's address in a browser is about to give
//! up on it. The page says that the server runs, which address to type into a Jellyfin app,
//! and how to add the web client. Nothing in it comes from the request unescaped: the address
//! shown is the request's `Host` only when it looks like one, and it is escaped anyway.

use crate::dto::JELLYFIN_VERSION;

/// What the page shows.
#[derive(Debug, Clone)]
pub struct Landing<'a> {
    /// The server's name (`media-ha (<node>)`).
    pub server_name: &'a str,
    /// The address the person reached it at, or the advertised one.
    pub address: String,
}

/// The address to show: `http://<Host>` when the request's `Host` header is a plausible host
/// (name or address, optional port, at most 255 bytes), else the advertised URL.
pub fn address(host: Option<&str>, advertised: &str) -> String {
    let plausible = |h: &&str| {
        !h.is_empty()
            && h.len() <= 255
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
    };
    match host.filter(plausible) {
        Some(host) => format!("http://{host}"),
        None => advertised.to_owned(),
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Landing<'_> {
    /// The page.
    pub fn html(&self) -> String {
        let name = escape(self.server_name);
        let address = escape(&self.address);
        format!(
            r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 42em; margin: 3em auto; padding: 0 1em; line-height: 1.5; color: #222; }}
code {{ background: #f2f2f2; padding: 0.1em 0.3em; border-radius: 3px; }}
pre {{ background: #f2f2f2; padding: 0.7em; overflow-x: auto; }}
</style>
</head>
<body>
<h1>{name}</h1>
<p>This Jellyfin-compatible media server (API {version}) is running. Its address:</p>
<p><code id="address">{address}</code></p>
<h2>Connect an app</h2>
<p>Any Jellyfin app can connect to it — Jellyfin for Android and Android TV, Swiftfin on iOS and
Apple TV, Jellyfin Media Player, Findroid, the Kodi add-on and others: add a server and type the
address above, then sign in with your user name and password.</p>
<h2>Use it from this browser</h2>
<p>No web client is configured on this server. To add one, get the official Jellyfin web client
(jellyfin-web {version_major}.x) and point the server at the folder holding its
<code>index.html</code>:</p>
<ul>
<li>from the official Jellyfin container image: <code>docker create --name jf jellyfin/jellyfin</code>,
<code>docker cp jf:/jellyfin/jellyfin-web ./jellyfin-web</code>, <code>docker rm jf</code>;</li>
<li>or from the official release: the <code>jellyfin-web</code> folder of the server archive
from <a href="https://jellyfin.org/downloads/server">jellyfin.org/downloads/server</a>
(Debian's <code>jellyfin-web</code> package installs it in <code>/usr/share/jellyfin/web</code>).</li>
</ul>
<pre>media-ha-server --web-dir ./jellyfin-web
# or: MEDIA_HA_WEB_DIR=./jellyfin-web media-ha-server</pre>
<p>Then this address opens the web client at <code>/web/</code>.</p>
</body>
</html>
"#,
            version = JELLYFIN_VERSION,
            version_major = major_minor(JELLYFIN_VERSION),
        )
    }
}

/// `10.11` of `10.11.0`.
fn major_minor(version: &str) -> &str {
    match version.match_indices('.').nth(1) {
        Some((at, _)) => &version[..at],
        None => version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_header_is_shown_only_when_it_looks_like_one() {
        assert_eq!(
            address(Some("media.example:8096"), "http://10.0.0.1:8096"),
            "http://media.example:8096"
        );
        assert_eq!(address(Some("[::1]:8096"), "http://x"), "http://[::1]:8096");
        for bad in ["<script>", "a b", "", "x\"onload=1"] {
            assert_eq!(address(Some(bad), "http://adv"), "http://adv", "{bad}");
        }
        assert_eq!(address(None, "http://adv"), "http://adv");
        assert_eq!(address(Some(&"a".repeat(300)), "http://adv"), "http://adv");
    }

    #[test]
    fn the_page_escapes_what_it_shows() {
        let page = Landing {
            server_name: "<b>x</b>",
            address: "http://a&b".into(),
        }
        .html();
        assert!(page.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(page.contains("http://a&amp;b"));
        assert!(page.contains("--web-dir"));
        assert!(!page.contains("<b>x"));
    }

    #[test]
    fn major_minor_of_versions() {
        assert_eq!(major_minor("10.11.0"), "10.11");
        assert_eq!(major_minor("10"), "10");
    }
}
