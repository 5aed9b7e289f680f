//! Thumbnails: generated on first request, cached as content-addressed files.
//!
//! Requested sizes are rounded up to the spec's recommended set (32×32 and 96×96 crops,
//! 320×240, 640×480 and 800×600 scales), so each image has at most five thumbnails and
//! arbitrary sizes cannot fill the disk. Decoding runs on the blocking pool with limits
//! against decompression bombs: the pixel count is read from the header and checked before
//! anything is decoded, the decoder's allocations are capped, and at most
//! [`CONCURRENT_DECODES`](super::media::CONCURRENT_DECODES) images are decoded at once, so thumbnails need at most about
//! `CONCURRENT_DECODES × MAX_DECODE_ALLOC` of memory however many are asked for. Images are
//! never upscaled.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};

use super::media::{Media, MediaFile};
use crate::{
    error::{Error, ErrorKind, Result},
    storage::ThumbnailRow,
};

/// Originals larger than this are not decoded.
const MAX_SOURCE_BYTES: u64 = 50 * 1024 * 1024;
const MAX_DIMENSION: u32 = 16_384;
/// Larger images are not thumbnailed (Synapse's `max_image_pixels` default).
const MAX_PIXELS: u64 = 32_000_000;
/// The decoded image's buffer: 32 megapixels at 4 bytes each, plus room.
const MAX_DECODE_ALLOC: u64 = 160 * 1024 * 1024;

/// `crop` fills the box exactly; `scale` fits inside it keeping the aspect ratio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Crop,
    Scale,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Self::Crop => "crop",
            Self::Scale => "scale",
        }
    }
}

const SIZES: [(u32, u32, Method); 5] = [
    (32, 32, Method::Crop),
    (96, 96, Method::Crop),
    (320, 240, Method::Scale),
    (640, 480, Method::Scale),
    (800, 600, Method::Scale),
];

/// The stored size that serves a request: the smallest of the set, preferring the same
/// method, that is at least as large; the largest if none is.
fn size_class(width: u32, height: u32, method: Method) -> (u32, u32, Method) {
    let fits = |(w, h, _): &&(u32, u32, Method)| *w >= width && *h >= height;
    SIZES
        .iter()
        .filter(|(_, _, m)| *m == method)
        .find(fits)
        .or_else(|| SIZES.iter().find(fits))
        .copied()
        .unwrap_or(SIZES[SIZES.len() - 1])
}

fn source_format(content_type: &str) -> Option<ImageFormat> {
    match content_type.split(';').next()?.trim() {
        "image/png" | "image/apng" => Some(ImageFormat::Png),
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/gif" => Some(ImageFormat::Gif),
        "image/webp" => Some(ImageFormat::WebP),
        _ => None,
    }
}

impl Media {
    /// A thumbnail of one of our images, at least `width`×`height` unless the original is
    /// smaller (then the original itself).
    pub async fn thumbnail(
        &self,
        server_name: &str,
        media_id: &str,
        width: u32,
        height: u32,
        method: Method,
    ) -> Result<MediaFile> {
        if width == 0 || height == 0 {
            return Err(Error::with_status(
                ErrorKind::Unknown,
                http::StatusCode::BAD_REQUEST,
                "width and height must be positive",
            ));
        }
        let original = self.media_file(server_name, media_id)?;
        let Some(format) = source_format(&original.content_type) else {
            return Err(Error::with_status(
                ErrorKind::Unknown,
                http::StatusCode::BAD_REQUEST,
                "Thumbnails are made only of PNG, JPEG, GIF and WebP images",
            ));
        };
        if original.size > MAX_SOURCE_BYTES {
            return Err(Error::new(
                ErrorKind::TooLarge,
                "The image is too large to thumbnail",
            ));
        }
        let (tw, th, method) = size_class(width, height, method);
        if let Some(row) = self
            .storage()
            .thumbnail(media_id, tw, th, method.as_str())?
        {
            return Ok(self.thumbnail_file(row));
        }

        let _permit = self.decodes.acquire().await.map_err(Error::internal)?;
        // Made by another request while this one waited?
        if let Some(row) = self
            .storage()
            .thumbnail(media_id, tw, th, method.as_str())?
        {
            return Ok(self.thumbnail_file(row));
        }
        let path = original.path.clone();
        let made = tokio::task::spawn_blocking(move || render(&path, format, tw, th, method))
            .await
            .map_err(Error::internal)??;
        let Some((bytes, content_type)) = made else {
            // Already no larger than asked: the original is the thumbnail.
            return Ok(original);
        };
        let size = bytes.len() as i64;
        let sha256 = self.store_bytes(bytes).await?;
        let row = ThumbnailRow {
            media_id: media_id.to_owned(),
            width: tw,
            height: th,
            method: method.as_str().to_owned(),
            content_type: content_type.to_owned(),
            size,
            sha256,
        };
        self.storage().add_thumbnail(&row)?;
        Ok(self.thumbnail_file(row))
    }

    fn thumbnail_file(&self, row: ThumbnailRow) -> MediaFile {
        let extension = if row.content_type == "image/jpeg" {
            "jpg"
        } else {
            "png"
        };
        MediaFile {
            path: self.content_file(&row.sha256),
            size: row.size.max(0) as u64,
            content_type: row.content_type,
            filename: Some(format!("thumbnail.{extension}")),
            sha256: row.sha256,
        }
    }
}

/// Decodes and resizes; `None` when the image is already within the box.
fn render(
    path: &std::path::Path,
    format: ImageFormat,
    tw: u32,
    th: u32,
    method: Method,
) -> Result<Option<(Vec<u8>, &'static str)>> {
    let bytes = std::fs::read(path).map_err(|e| Error::internal(format!("reading media: {e}")))?;
    let unreadable = |e: image::ImageError| {
        Error::with_status(
            ErrorKind::Unknown,
            http::StatusCode::BAD_REQUEST,
            format!("Cannot read this image: {e}"),
        )
    };
    let reader = |bytes: &[u8]| {
        let mut reader = ImageReader::with_format(Cursor::new(bytes.to_vec()), format);
        let mut limits = Limits::default();
        limits.max_image_width = Some(MAX_DIMENSION);
        limits.max_image_height = Some(MAX_DIMENSION);
        limits.max_alloc = Some(MAX_DECODE_ALLOC);
        reader.limits(limits);
        reader
    };
    // The header alone says how large the decoded image would be.
    let (width, height) = reader(&bytes).into_dimensions().map_err(unreadable)?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Error::new(
            ErrorKind::TooLarge,
            "The image has too many pixels to thumbnail",
        ));
    }
    let image = reader(&bytes).decode().map_err(unreadable)?;
    drop(bytes);
    if image.width() <= tw && image.height() <= th {
        return Ok(None);
    }
    // `thumbnail` averages areas in integers: no full-size float copy of the image, which
    // `resize` would make.
    let resized = match method {
        Method::Scale => image.thumbnail(tw, th),
        Method::Crop => {
            // Never upscale: a side shorter than the box stays as it is.
            let (bw, bh) = (tw.min(image.width()), th.min(image.height()));
            // Scale to cover the box, then cut the middle out.
            let scale = f64::max(
                f64::from(bw) / f64::from(image.width()),
                f64::from(bh) / f64::from(image.height()),
            );
            let cw = ((f64::from(image.width()) * scale).ceil() as u32).clamp(bw, image.width());
            let ch = ((f64::from(image.height()) * scale).ceil() as u32).clamp(bh, image.height());
            let covered = image.thumbnail_exact(cw, ch);
            drop(image);
            covered.crop_imm((cw - bw) / 2, (ch - bh) / 2, bw, bh)
        }
    };
    let mut out = Cursor::new(Vec::new());
    let content_type = if format == ImageFormat::Jpeg {
        DynamicImage::ImageRgb8(resized.to_rgb8())
            .write_to(&mut out, ImageFormat::Jpeg)
            .map_err(Error::internal)?;
        "image/jpeg"
    } else {
        resized
            .write_to(&mut out, ImageFormat::Png)
            .map_err(Error::internal)?;
        "image/png"
    };
    Ok(Some((out.into_inner(), content_type)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_up_to_the_recommended_set() {
        assert_eq!(size_class(32, 32, Method::Crop), (32, 32, Method::Crop));
        assert_eq!(size_class(50, 50, Method::Crop), (96, 96, Method::Crop));
        assert_eq!(
            size_class(100, 100, Method::Scale),
            (320, 240, Method::Scale)
        );
        assert_eq!(
            size_class(200, 200, Method::Crop),
            (320, 240, Method::Scale)
        );
        assert_eq!(
            size_class(5000, 5000, Method::Scale),
            (800, 600, Method::Scale)
        );
    }
}
