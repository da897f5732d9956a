//! What an image request asks for: size, format, quality, and whether it names a tag.
//!
//! Why a type of its own: the same parameters decide the output size, the disk-cache key and
//! the ETag, so they are parsed and normalised once, here, and every bad value is a 400 that
//! says which parameter was wrong. Sizes follow Jellyfin's rules (`DrawingUtils`): an exact
//! `width`/`height` first, then `maxWidth`/`maxHeight` shrink, then `fillWidth`/`fillHeight`
//! shrink to the smallest size that still covers the box, and never larger than the source.
//! Anything larger than [`MAX_DIMENSION`] is capped to it, not refused: clients compute sizes
//! from screen pixels and a 5K display is no reason for an error.

use std::collections::HashMap;

use crate::error::{ApiError, ApiResult};

/// The largest output side in pixels.
pub const MAX_DIMENSION: u32 = 4096;
/// JPEG/WebP quality when the request names none.
pub const DEFAULT_QUALITY: u8 = 90;

/// An output encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `image/jpeg`.
    Jpeg,
    /// `image/png`.
    Png,
    /// `image/webp` (lossless: the `image` crate's encoder).
    Webp,
}

impl Format {
    /// From a `format=` value or a file extension, ignoring case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" => Some(Self::Jpeg),
            "png" => Some(Self::Png),
            "webp" => Some(Self::Webp),
            _ => None,
        }
    }

    /// The file extension of the cache entry.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
        }
    }

    /// The `Content-Type`.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }
}

/// One image request's parameters, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageRequest {
    /// `width`: exact width.
    pub width: Option<u32>,
    /// `height`: exact height.
    pub height: Option<u32>,
    /// `maxWidth`.
    pub max_width: Option<u32>,
    /// `maxHeight`.
    pub max_height: Option<u32>,
    /// `fillWidth`.
    pub fill_width: Option<u32>,
    /// `fillHeight`.
    pub fill_height: Option<u32>,
    /// `quality` (1–100).
    pub quality: Option<u8>,
    /// `format`.
    pub format: Option<Format>,
    /// `tag`: the client names the version it wants (then the answer is immutable).
    pub tag: Option<String>,
}

impl ImageRequest {
    /// From the query parameters (lower-cased keys). Unknown parameters are ignored.
    ///
    /// # Errors
    /// 400 for a size that is not a non-negative integer, a quality outside 1–100, or an
    /// unknown format.
    pub fn parse(params: &HashMap<String, String>) -> ApiResult<Self> {
        let size = |key: &str, name: &str| -> ApiResult<Option<u32>> {
            match params.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => {
                    // Clients send what they computed; some send `300.5`. Jellyfin takes ints.
                    let n: u64 = v.parse().map_err(|_| {
                        ApiError::bad_request(format!("{name} must be a non-negative integer"))
                    })?;
                    Ok((n > 0).then(|| n.min(u64::from(MAX_DIMENSION)) as u32))
                }
            }
        };
        let quality = match params
            .get("quality")
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        {
            None => None,
            Some(v) => match v.parse::<u8>() {
                Ok(q) if (1..=100).contains(&q) => Some(q),
                _ => {
                    return Err(ApiError::bad_request(
                        "quality must be an integer from 1 to 100",
                    ))
                }
            },
        };
        let format = match params
            .get("format")
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        {
            None => None,
            Some(v) => Some(Format::parse(v).ok_or_else(|| {
                ApiError::bad_request(format!("format {v:?} is not one of jpg, png, webp"))
            })?),
        };
        Ok(Self {
            width: size("width", "width")?,
            height: size("height", "height")?,
            max_width: size("maxwidth", "maxWidth")?,
            max_height: size("maxheight", "maxHeight")?,
            fill_width: size("fillwidth", "fillWidth")?,
            fill_height: size("fillheight", "fillHeight")?,
            quality,
            format,
            tag: params.get("tag").filter(|t| !t.is_empty()).cloned(),
        })
    }

    /// True when the picture must be decoded and encoded again (any size or format asked).
    pub fn transforms(&self) -> bool {
        self.width.is_some()
            || self.height.is_some()
            || self.max_width.is_some()
            || self.max_height.is_some()
            || self.fill_width.is_some()
            || self.fill_height.is_some()
            || self.format.is_some()
            || self.quality.is_some()
    }

    /// The output size for a `source`-sized picture.
    pub fn output_size(&self, source: (u32, u32)) -> (u32, u32) {
        let (sw, sh) = (source.0.max(1), source.1.max(1));
        let (mut w, mut h) = (f64::from(sw), f64::from(sh));
        match (self.width, self.height) {
            (Some(ew), Some(eh)) => (w, h) = (f64::from(ew), f64::from(eh)),
            (None, Some(eh)) => (w, h) = (w * f64::from(eh) / h, f64::from(eh)),
            (Some(ew), None) => (w, h) = (f64::from(ew), h * f64::from(ew) / w),
            (None, None) => {}
        }
        if let Some(mh) = self.max_height.map(f64::from).filter(|m| *m < h) {
            (w, h) = (w * mh / h, mh);
        }
        if let Some(mw) = self.max_width.map(f64::from).filter(|m| *m < w) {
            (w, h) = (mw, h * mw / w);
        }
        if self.fill_width.is_some() || self.fill_height.is_some() {
            let fw = f64::from(self.fill_width.unwrap_or(1));
            let fh = f64::from(self.fill_height.unwrap_or(1));
            let ratio = (w / fw).min(h / fh);
            if ratio >= 1.0 {
                (w, h) = ((w / ratio).ceil(), (h / ratio).ceil());
            }
        }
        // Never larger than the source, nor than the cap.
        let bound_w = f64::from(sw.min(MAX_DIMENSION));
        let bound_h = f64::from(sh.min(MAX_DIMENSION));
        let ratio = (w / bound_w).max(h / bound_h);
        if ratio > 1.0 {
            (w, h) = (w / ratio, h / ratio);
        }
        let clamp = |v: f64, max: f64| v.round().clamp(1.0, max) as u32;
        (clamp(w, bound_w), clamp(h, bound_h))
    }

    /// The output format for a source in `source` format: the one asked for, else PNG for a
    /// PNG (it may be transparent), else JPEG.
    pub fn output_format(&self, source: Option<Format>) -> Format {
        self.format.unwrap_or(match source {
            Some(Format::Png) => Format::Png,
            _ => Format::Jpeg,
        })
    }

    /// The quality used for lossy output.
    pub fn output_quality(&self) -> u8 {
        self.quality.unwrap_or(DEFAULT_QUALITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(q: &str) -> ApiResult<ImageRequest> {
        ImageRequest::parse(&crate::auth::query_map(Some(q)))
    }

    #[test]
    fn parses_and_caps() {
        let r = req("maxWidth=300&fillHeight=99999&quality=80&format=WEBP&tag=abc&foo=1").unwrap();
        assert_eq!(r.max_width, Some(300));
        assert_eq!(
            r.fill_height,
            Some(MAX_DIMENSION),
            "oversize is capped, not refused"
        );
        assert_eq!((r.quality, r.format), (Some(80), Some(Format::Webp)));
        assert_eq!(r.tag.as_deref(), Some("abc"));
        assert!(r.transforms());
        assert!(!req("tag=abc").unwrap().transforms());
        assert_eq!(req("maxWidth=0").unwrap().max_width, None);
    }

    #[test]
    fn malformed_values_are_400() {
        for q in [
            "maxWidth=abc",
            "maxHeight=-5",
            "fillWidth=1e3",
            "quality=0",
            "quality=101",
            "quality=x",
            "format=gif",
            "width=99999999999999999999999",
        ] {
            let err = req(q).unwrap_err();
            assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST, "{q}");
        }
    }

    #[test]
    fn sizes_follow_jellyfins_rules() {
        let size = |q: &str, src| req(q).unwrap().output_size(src);
        assert_eq!(size("", (1000, 1500)), (1000, 1500));
        assert_eq!(size("maxWidth=500", (1000, 1500)), (500, 750));
        assert_eq!(size("maxHeight=300", (1000, 1500)), (200, 300));
        assert_eq!(
            size("maxWidth=2000", (1000, 1500)),
            (1000, 1500),
            "no upscale"
        );
        // Fill: the smallest size covering the box.
        assert_eq!(
            size("fillWidth=200&fillHeight=200", (1000, 1500)),
            (200, 300)
        );
        assert_eq!(size("fillHeight=150", (1920, 1080)), (267, 150));
        assert_eq!(size("width=100&height=100", (1000, 1500)), (100, 100));
        assert_eq!(size("height=300", (1000, 1500)), (200, 300));
        // Capped at MAX_DIMENSION even for a huge source.
        assert_eq!(size("", (10_000, 5_000)), (4096, 2048));
        assert_eq!(size("maxWidth=99999", (10_000, 5_000)), (4096, 2048));
        assert_eq!(size("", (0, 0)), (1, 1));
    }

    #[test]
    fn formats() {
        let plain = ImageRequest::default();
        assert_eq!(plain.output_format(Some(Format::Png)), Format::Png);
        assert_eq!(plain.output_format(Some(Format::Webp)), Format::Jpeg);
        assert_eq!(plain.output_format(None), Format::Jpeg);
        assert_eq!(plain.output_quality(), DEFAULT_QUALITY);
        assert_eq!(Format::parse("JPEG"), Some(Format::Jpeg));
        assert_eq!(Format::Webp.mime(), "image/webp");
    }
}
