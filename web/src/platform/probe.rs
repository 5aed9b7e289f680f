//! What a file is before we send it: an image's size, thumbnail and blurhash; a video's size,
//! duration and poster frame; an audio clip's duration. Also paints blurhash placeholders.
//!
//! Everything waits on browser events through promises whose own `resolve`/`reject`
//! functions are the listeners, removed again afterwards, so no Rust closure is kept alive.

use wasm_bindgen::{Clamped, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Blob, CanvasRenderingContext2d, EventTarget, HtmlCanvasElement, HtmlMediaElement,
    HtmlVideoElement, ImageBitmap, ImageData,
};
use weft_client::{MediaKind, blurhash, media::thumbnail_size};

use super::files::{LocalFile, ObjectUrl};

/// Facts about a file for its message's `info`.
#[derive(Default)]
pub struct Facts {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    /// A smaller image: for large images, and a video's poster frame.
    pub thumbnail: Option<Thumbnail>,
    pub blurhash: Option<String>,
}

/// An encoded thumbnail, ready to upload.
pub struct Thumbnail {
    pub file: LocalFile,
    pub width: u32,
    pub height: u32,
}

/// Learns what it can about `file` as a `kind`. `None` if the browser cannot read it as
/// that kind (a corrupt image, a video in a format it cannot play): send it as a file.
pub async fn probe(file: &LocalFile, kind: MediaKind) -> Option<Facts> {
    match kind {
        MediaKind::Image => probe_image(file).await,
        MediaKind::Video | MediaKind::Audio => probe_playable(file, kind).await,
        MediaKind::File => Some(Facts::default()),
    }
}

async fn probe_image(file: &LocalFile) -> Option<Facts> {
    let promise = web_sys::window()?
        .create_image_bitmap_with_blob(file.blob())
        .ok()?;
    let bitmap: ImageBitmap = JsFuture::from(promise).await.ok()?.dyn_into().ok()?;
    let (width, height) = (bitmap.width(), bitmap.height());
    let mut facts = Facts {
        width: Some(width),
        height: Some(height),
        blurhash: blurhash_of(Source::Bitmap(&bitmap), width, height),
        ..Facts::default()
    };
    if let Some((w, h)) = thumbnail_size(width, height) {
        let mimetype = if file.mimetype() == "image/jpeg" {
            "image/jpeg"
        } else {
            "image/png"
        };
        facts.thumbnail = encode(Source::Bitmap(&bitmap), w, h, mimetype).await;
    }
    bitmap.close();
    Some(facts)
}

async fn probe_playable(file: &LocalFile, kind: MediaKind) -> Option<Facts> {
    let tag = if kind == MediaKind::Video {
        "video"
    } else {
        "audio"
    };
    let element: HtmlMediaElement = create(tag)?;
    let url = ObjectUrl::new(file.blob())?;
    element.set_muted(true);
    element.set_preload("metadata");
    element.set_src(url.as_str());
    if !wait(&element, "loadedmetadata", 10_000).await {
        return None;
    }
    let mut duration = element.duration();
    if !duration.is_finite() {
        // Recorded WebM often has no duration in its header; seeking far past the end makes
        // the browser find it.
        element.set_current_time(1e101);
        // Without the event the duration stays unknown, which the next lines handle.
        let _ = wait(&element, "durationchange", 5_000).await;
        duration = element.duration();
    }
    let mut facts = Facts {
        duration_ms: duration
            .is_finite()
            .then(|| (duration * 1000.0).round() as u64),
        ..Facts::default()
    };
    if let Some(video) = element.dyn_ref::<HtmlVideoElement>() {
        let (width, height) = (video.video_width(), video.video_height());
        if width == 0 || height == 0 {
            return None;
        }
        (facts.width, facts.height) = (Some(width), Some(height));
        video.set_current_time(if duration.is_finite() {
            (duration / 2.0).min(0.1)
        } else {
            0.0
        });
        if wait(video, "seeked", 5_000).await {
            let (w, h) = thumbnail_size(width, height).unwrap_or((width, height));
            facts.blurhash = blurhash_of(Source::Video(video), width, height);
            facts.thumbnail = encode(Source::Video(video), w, h, "image/jpeg").await;
        }
    }
    element.remove_attribute("src").ok()?;
    Some(facts)
}

fn create<T: JsCast>(tag: &str) -> Option<T> {
    web_sys::window()?
        .document()?
        .create_element(tag)
        .ok()?
        .dyn_into()
        .ok()
}

/// A canvas of `width` × `height` with its 2D context.
fn canvas(width: u32, height: u32) -> Option<(HtmlCanvasElement, CanvasRenderingContext2d)> {
    let canvas: HtmlCanvasElement = create("canvas")?;
    canvas.set_width(width);
    canvas.set_height(height);
    let context = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    Some((canvas, context))
}

/// A picture to draw: a decoded image, or a video's current frame.
#[derive(Clone, Copy)]
enum Source<'a> {
    Bitmap(&'a ImageBitmap),
    Video(&'a HtmlVideoElement),
}

fn draw(
    source: Source<'_>,
    width: u32,
    height: u32,
) -> Option<(HtmlCanvasElement, CanvasRenderingContext2d)> {
    let (canvas, context) = canvas(width, height)?;
    let (w, h) = (f64::from(width), f64::from(height));
    match source {
        Source::Bitmap(bitmap) => {
            context.draw_image_with_image_bitmap_and_dw_and_dh(bitmap, 0.0, 0.0, w, h)
        }
        Source::Video(video) => {
            context.draw_image_with_html_video_element_and_dw_and_dh(video, 0.0, 0.0, w, h)
        }
    }
    .ok()?;
    Some((canvas, context))
}

/// The blurhash of a picture, from a small copy that keeps its aspect ratio.
fn blurhash_of(source: Source<'_>, width: u32, height: u32) -> Option<String> {
    let scale = 32.0 / f64::from(width.max(height).max(1));
    let (w, h) = (
        ((f64::from(width) * scale).round() as u32).max(1),
        ((f64::from(height) * scale).round() as u32).max(1),
    );
    let (_, context) = draw(source, w, h)?;
    let pixels = context
        .get_image_data(0.0, 0.0, f64::from(w), f64::from(h))
        .ok()?
        .data();
    blurhash::encode(&pixels, w as usize, h as usize, 4, 3)
}

/// `source` scaled to `width` × `height` and encoded as `mimetype`.
async fn encode(source: Source<'_>, width: u32, height: u32, mimetype: &str) -> Option<Thumbnail> {
    let (canvas, _) = draw(source, width, height)?;
    let mut started = true;
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        started = canvas
            .to_blob_with_type_and_encoder_options(&resolve, mimetype, &JsValue::from(0.85))
            .is_ok();
    });
    if !started {
        return None;
    }
    let blob: Blob = JsFuture::from(promise).await.ok()?.dyn_into().ok()?;
    let extension = if mimetype == "image/jpeg" {
        "jpg"
    } else {
        "png"
    };
    Some(Thumbnail {
        file: LocalFile::from_blob(blob, format!("thumbnail.{extension}")),
        width,
        height,
    })
}

/// Waits for `event` on `target`; false on an `error` event or after `timeout_ms`.
async fn wait(target: &EventTarget, event: &str, timeout_ms: i32) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let mut listeners = None;
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        // Adding and removing listeners on a live element does not fail.
        let _ = target.add_event_listener_with_callback(event, &resolve);
        let _ = target.add_event_listener_with_callback("error", &reject);
        let timer = window
            .set_timeout_with_callback_and_timeout_and_arguments_0(&reject, timeout_ms)
            .unwrap_or_default();
        listeners = Some((resolve, reject, timer));
    });
    let happened = JsFuture::from(promise).await.is_ok();
    if let Some((resolve, reject, timer)) = listeners {
        // As above: removing them does not fail.
        let _ = target.remove_event_listener_with_callback(event, &resolve);
        let _ = target.remove_event_listener_with_callback("error", &reject);
        window.clear_timeout_with_handle(timer);
    }
    happened
}

/// A `data:` URL of the blurhash `hash` painted at `width` × `height` (small: the browser
/// scales it up smoothly); `None` for an invalid hash.
pub fn blurhash_image(hash: &str, width: u32, height: u32) -> Option<String> {
    let pixels = blurhash::decode(hash, width as usize, height as usize)?;
    let (canvas, context) = canvas(width, height)?;
    let data = ImageData::new_with_u8_clamped_array_and_sh(Clamped(&pixels), width, height).ok()?;
    context.put_image_data(&data, 0.0, 0.0).ok()?;
    canvas.to_data_url().ok()
}
