//! Uploads in progress in a room: a progress bar with its percentage and "Cancel", or the
//! error with "Retry".

use leptos::prelude::*;
use ruma::OwnedRoomId;

use crate::{
    handle::{ClientHandle, UploadEntry},
    reactive::{dyn_text, dyn_view},
};

/// Uploads for `room_id`, or for our own avatar when `None`.
#[component]
pub fn Uploads(room_id: Option<OwnedRoomId>) -> impl IntoView {
    let handle = ClientHandle::expect();
    view! {
        <ul class="uploads" aria-label="Uploads">
            <For each=move || handle.uploads(room_id.as_deref()) key=|upload| upload.id children=row />
        </ul>
    }
}

fn row(upload: UploadEntry) -> impl IntoView {
    let handle = ClientHandle::expect();
    let UploadEntry {
        id,
        filename,
        progress,
        error,
        ..
    } = upload;
    let (progress, error): (RwSignal<u8>, RwSignal<Option<String>>) =
        (progress.into(), error.into());
    view! {
        <li class="upload">
            <span class="file-name">{filename.clone()}</span>
            <progress max="100" value=move || progress.get() aria-label=format!("Uploading {filename}")></progress>
            <span class="percent">{dyn_text(move || format!("{}%", progress.get()))}</span>
            {dyn_view(move || match error.get() {
                Some(message) => view! {
                    <span class="error" role="alert">{message}</span>
                    <button class="small" on:click=move |_| handle.retry_upload(id)>"Retry"</button>
                }
                .into_any(),
                None => ().into_any(),
            })}
            <button class="small" on:click=move |_| handle.cancel_upload(id)>"Cancel"</button>
        </li>
    }
}
