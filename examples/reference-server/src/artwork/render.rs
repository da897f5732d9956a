//! Decoding, resizing and encoding a picture (blocking CPU work: callers use `spawn_blocking`).
//!
//! Why the `image` crate: pure Rust decoders (no C library parsing files people downloaded
//! from anywhere), JPEG/PNG/WebP in and out, and decoder [`Limits`] so a picture claiming
//! 100 000 × 100 000 pixels is refused before anything is allocated.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};

use super::request::{Format, ImageRequest};

/// The largest source side decoded.
pub const MAX_SOURCE_DIMENSION: u32 = 16_384;
/// The most memory one decode may allocate.
pub const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

/// Why a picture could not be rendered.
#[derive(Debug)]
pub struct RenderError(pub String);

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RenderError {}

/// An encoded picture.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Their format.
    pub format: Format,
    /// Pixel size.
    pub size: (u32, u32),
}

/// The format of encoded picture bytes, when it is one we serve.
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    match image::guess_format(bytes).ok()? {
        ImageFormat::Jpeg => Some(Format::Jpeg),
        ImageFormat::Png => Some(Format::Png),
        ImageFormat::WebP => Some(Format::Webp),
        _ => None,
    }
}

/// Decodes `source`, resizes it as `request` asks, encodes it.
///
/// # Errors
/// When the bytes are not a picture we read, exceed the limits, or cannot be encoded.
pub fn render(source: &[u8], request: &ImageRequest) -> Result<Rendered, RenderError> {
    let picture = decode(source)?;
    let size = request.output_size((picture.width(), picture.height()));
    let resized = if size == (picture.width(), picture.height()) {
        picture
    } else {
        picture.resize_exact(size.0, size.1, FilterType::CatmullRom)
    };
    let format = request.output_format(sniff(source));
    let bytes = encode(&resized, format, request.output_quality())?;
    Ok(Rendered {
        bytes,
        format,
        size,
    })
}

/// Encodes RGB pixels (`width * height * 3` bytes) as JPEG.
///
/// # Errors
/// When the buffer does not match the size, or the encoder fails.
pub fn jpeg_from_rgb(
    width: u32,
    height: u32,
    rgb: Vec<u8>,
    quality: u8,
) -> Result<Vec<u8>, RenderError> {
    let buffer = image::RgbImage::from_raw(width, height, rgb)
        .ok_or_else(|| RenderError("frame buffer does not match its size".into()))?;
    encode(&DynamicImage::ImageRgb8(buffer), Format::Jpeg, quality)
}

fn decode(source: &[u8]) -> Result<DynamicImage, RenderError> {
    let mut reader = ImageReader::new(Cursor::new(source))
        .with_guessed_format()
        .map_err(|e| RenderError(format!("cannot read the picture: {e}")))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SOURCE_DIMENSION);
    limits.max_image_height = Some(MAX_SOURCE_DIMENSION);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    reader
        .decode()
        .map_err(|e| RenderError(format!("cannot decode the picture: {e}")))
}

fn encode(picture: &DynamicImage, format: Format, quality: u8) -> Result<Vec<u8>, RenderError> {
    let mut out = Cursor::new(Vec::new());
    let failed = |e: image::ImageError| RenderError(format!("cannot encode the picture: {e}"));
    match format {
        Format::Jpeg => {
            // JPEG has no alpha: flatten to RGB.
            let rgb = picture.to_rgb8();
            let encoder =
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100));
            rgb.write_with_encoder(encoder).map_err(failed)?;
        }
        Format::Png => picture
            .write_to(&mut out, ImageFormat::Png)
            .map_err(failed)?,
        Format::Webp => {
            let rgba = picture.to_rgba8();
            let encoder = image::codecs::webp::WebPEncoder::new_lossless(&mut out);
            rgba.write_with_encoder(encoder).map_err(failed)?;
        }
    }
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(img)
            .write_to(&mut out, ImageFormat::Png)
            .unwrap();
        out.into_inner()
    }

    fn request(q: &str) -> ImageRequest {
        ImageRequest::parse(&crate::auth::query_map(Some(q))).unwrap()
    }

    #[test]
    fn resizes_and_converts() {
        let source = png(200, 100);
        let out = render(&source, &request("maxWidth=50&format=jpg")).unwrap();
        assert_eq!((out.format, out.size), (Format::Jpeg, (50, 25)));
        assert_eq!(sniff(&out.bytes), Some(Format::Jpeg));
        let decoded = image::load_from_memory(&out.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (50, 25));
        let kept = render(&source, &request("quality=50")).unwrap();
        assert_eq!((kept.format, kept.size), (Format::Png, (200, 100)));
        let webp = render(&source, &request("format=webp&maxHeight=10")).unwrap();
        assert_eq!(sniff(&webp.bytes), Some(Format::Webp));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(render(b"not a picture", &request("")).is_err());
        let mut truncated = png(64, 64);
        truncated.truncate(40);
        assert!(render(&truncated, &request("")).is_err());
    }

    #[test]
    fn frames_encode_as_jpeg() {
        let jpeg = jpeg_from_rgb(4, 2, vec![128; 4 * 2 * 3], 90).unwrap();
        assert_eq!(sniff(&jpeg), Some(Format::Jpeg));
        assert!(jpeg_from_rgb(4, 2, vec![0; 5], 90).is_err());
    }
}
