//! A media message in the timeline: an image (blurhash while loading, click for the full
//! view), a video or audio player (loaded when played), or a file card with a download
//! button. Media is fetched with the access token and shown from blob URLs, which are
//! revoked once neither the page nor the handle's small cache holds them; encrypted media
//! (an encrypted room's) is decrypted first, and a file that fails its checks says "This
//! file could not be decrypted" in its place.

use std::{rc::Rc, sync::Arc};

use leptos::{prelude::*, task::spawn_local};
use weft_client::{
    Media, MediaKind,
    media::{format_duration, format_size},
};

use crate::{
    handle::{ClientHandle, Fetch},
    platform::{files::ObjectUrl, probe::blurhash_image},
    popup::{Kind, close, popup},
    reactive::{dyn_show, dyn_view},
};

/// Largest box an image or video takes in the timeline.
const BOX: (u32, u32) = (360, 270);

/// Loaded media: `None` while loading (or not asked for), then its blob URL or why not.
type State = RwSignal<Option<Result<String, String>>>;

/// Keeps a blob URL alive while the component that shows it lives.
type Keep = StoredValue<Option<Rc<ObjectUrl>>, LocalStorage>;

/// Fetches `fetch` (or, if that fails, `fallback`) into `state`.
fn load(handle: ClientHandle, fetch: Fetch, fallback: Option<Fetch>, state: State, keep: Keep) {
    spawn_local(async move {
        let mut result = handle.media(fetch).await;
        if let (Err(_), Some(fallback)) = (&result, fallback) {
            result = handle.media(fallback).await;
        }
        state.set(Some(result.map(|url| {
            let text = url.as_str().to_owned();
            keep.set_value(Some(url));
            text
        })));
    });
}

fn error_text(message: String) -> AnyView {
    view! { <p class="media-error" role="alert">{message}</p> }.into_any()
}

#[component]
pub fn MediaView(media: Media) -> impl IntoView {
    let handle = ClientHandle::expect();
    let media = Arc::new(media);
    let state: State = RwSignal::new(None);
    let keep: Keep = StoredValue::new_local(None);
    let (w, h) = fit(media.width, media.height);
    let placeholder = media
        .blurhash
        .as_deref()
        .and_then(|hash| blurhash_image(hash, 32, (32 * h / w.max(1)).clamp(1, 32)))
        .map(|url| format!("url({url})"))
        .unwrap_or_default();
    // Set through the CSSOM (`style:`), which the page's CSP allows; a `style` attribute
    // would be blocked by `style-src 'self'`.
    let (width, ratio) = (format!("{w}px"), format!("{w}/{h}"));
    let name = media.filename.clone();

    let body = match media.kind {
        MediaKind::Image => {
            let (shown, fallback) = Fetch::preview(&media, 800, 600);
            load(handle, shown, fallback, state, keep);
            let open = RwSignal::new(false);
            let full = media.clone();
            view! {
                <button class="media-box image" style:width=width style:aspect-ratio=ratio style:background-image=placeholder
                    aria-label=format!("Open {name}") on:click=move |_| open.set(true)>
                    {dyn_view(move || match state.get() {
                        Some(Ok(url)) => view! {
                            <img src=url alt="" on:error=move |_| state.set(Some(Err("This image could not be shown".into()))) />
                        }.into_any(),
                        Some(Err(message)) => error_text(message),
                        None => ().into_any(),
                    })}
                </button>
                {dyn_show(move || open.get(), move || full_view(full.clone(), open).into_any())}
            }
            .into_any()
        }
        MediaKind::Video | MediaKind::Audio => {
            let video = media.kind == MediaKind::Video;
            let poster: State = RwSignal::new(None);
            if let (true, Some(thumb)) = (video, Fetch::poster(&media, 800, 600)) {
                load(handle, thumb, None, poster, StoredValue::new_local(None));
            }
            let full = Fetch::full(&media);
            let label = if video { "Play video" } else { "Play audio" };
            view! {
                <div class="media-box" class:audio=!video style:width=video.then_some(width) style:aspect-ratio=video.then_some(ratio)
                    style:background-image=placeholder>
                    {dyn_view(move || match (state.get(), poster.get()) {
                        (Some(Ok(url)), _) if video => view! { <video src=url controls autoplay></video> }.into_any(),
                        (Some(Ok(url)), _) => view! { <audio src=url controls autoplay></audio> }.into_any(),
                        (Some(Err(message)), _) => error_text(message),
                        (None, Some(Ok(url))) => view! { <img src=url alt="" /> }.into_any(),
                        (None, _) => ().into_any(),
                    })}
                    {dyn_show(move || state.with(Option::is_none), move || {
                        let full = full.clone();
                        view! {
                            <button class="play" on:click=move |_| load(handle, full.clone(), None, state, keep)>
                                {label}
                            </button>
                        }
                        .into_any()
                    })}
                </div>
                <p class="media-meta">
                    <span class="file-name">{name}</span>
                    {media.duration_ms.map(|ms| view! { <span class="duration">{format_duration(ms)}</span> })}
                </p>
            }
            .into_any()
        }
        MediaKind::File => {
            let size = media.size.map(format_size).unwrap_or_default();
            let full = Fetch::full(&media);
            let save = move |_| {
                let (full, name) = (full.clone(), name.clone());
                spawn_local(async move {
                    match handle.media(full).await {
                        Ok(url) => {
                            url.save_as(&name);
                            keep.set_value(Some(url));
                            state.set(None);
                        }
                        Err(message) => state.set(Some(Err(message))),
                    }
                });
            };
            view! {
                <div class="file-card">
                    <span class="file-name">{media.filename.clone()}</span>
                    <span class="file-size">{size}</span>
                    <button class="small" aria-label=format!("Download {}", media.filename) on:click=save>"Download"</button>
                </div>
                {dyn_view(move || state.get().and_then(Result::err).map(error_text).into_any())}
            }
            .into_any()
        }
    };
    view! {
        <div class="media">
            {body}
            {media.caption.clone().map(|caption| view! { <p class="caption">{caption}</p> })}
        </div>
    }
}

/// The whole image over the page, a modal dialog; Escape or "Close" ends it and focus goes
/// back to the "Open NAME" button. (A plain function rather than a component: the
/// component wrapper costs wasm and buys nothing here.)
fn full_view(media: Arc<Media>, open: RwSignal<bool>) -> impl IntoView {
    let handle = ClientHandle::expect();
    let state: State = RwSignal::new(None);
    let keep: Keep = StoredValue::new_local(None);
    load(handle, Fetch::full(&media), None, state, keep);
    let name = media.filename.clone();
    view! {
        // The dark backdrop is the dialog itself: a press on it (not on the picture or the
        // bar) closes the viewer, as a press outside a menu does.
        <div class="lightbox" role="dialog" aria-modal="true" aria-label=media.filename.clone()
            use:popup=(Kind::Dialog, close(move || open.set(false)))
            on:click=move |ev| if ev.target() == ev.current_target() { open.set(false) }>
            <div class="lightbox-bar">
                <span class="file-name">{media.filename.clone()}</span>
                <button class="small" on:click=move |_| keep.with_value(|url| if let Some(url) = url { url.save_as(&name) })>
                    "Download"
                </button>
                <button class="small" data-autofocus on:click=move |_| open.set(false)>"Close"</button>
            </div>
            {dyn_view(move || match state.get() {
                Some(Ok(url)) => view! { <img src=url alt="" /> }.into_any(),
                Some(Err(message)) => error_text(message),
                None => view! { <p class="hint" role="status">"Loading…"</p> }.into_any(),
            })}
        </div>
    }
}

/// The box for a `width` × `height` picture: its aspect ratio, at most [`BOX`].
fn fit(width: Option<u32>, height: Option<u32>) -> (u32, u32) {
    match (width, height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => {
            let scale = (f64::from(BOX.0) / f64::from(w))
                .min(f64::from(BOX.1) / f64::from(h))
                .min(1.0);
            (
                ((f64::from(w) * scale) as u32).max(24),
                ((f64::from(h) * scale) as u32).max(24),
            )
        }
        _ => (BOX.0 * 2 / 3, BOX.1 * 2 / 3),
    }
}
