//! Sending files: the "Attach file" button, and the preview of files chosen, dropped or
//! pasted, with an optional caption, "Send" and "Cancel". Files over the server's limit are
//! refused here, before any byte is uploaded.

use leptos::{html, prelude::*};
use ruma::OwnedRoomId;
use weft_client::{MediaKind, media::format_size};

use crate::{
    components::icon::{Icon, icon},
    handle::ClientHandle,
    platform::{
        document,
        files::{self, LocalFile, ObjectUrl},
    },
    popup::{Kind, close, popup},
    reactive::dyn_view,
};

/// Files waiting in the preview.
pub type Pending = RwSignal<Vec<LocalFile>, LocalStorage>;

/// Adds files to the preview.
pub fn add(pending: Pending, files: Vec<LocalFile>) {
    if !files.is_empty() {
        pending.update(|pending| pending.extend(files));
    }
}

/// The paperclip button: chosen files go to the preview.
#[component]
pub fn AttachButton(pending: Pending) -> impl IntoView {
    view! {
        <FileButton label="Attach file" class="attach icon-button" multiple=true on_files=Callback::new(move |files| add(pending, files))>
            {icon(Icon::Attach)}
        </FileButton>
    }
}

/// A button over a hidden file input; `on_files` gets what was chosen.
#[component]
pub fn FileButton(
    label: &'static str,
    class: &'static str,
    #[prop(optional)] multiple: bool,
    #[prop(optional, into)] disabled: Signal<bool>,
    on_files: Callback<Vec<LocalFile>>,
    children: Children,
) -> impl IntoView {
    let input = NodeRef::<html::Input>::new();
    view! {
        <input
            type="file"
            multiple=multiple
            accept=if multiple { "" } else { "image/*" }
            class="visually-hidden"
            tabindex="-1"
            aria-hidden="true"
            node_ref=input
            on:change=move |ev| on_files.run(files::from_input(&ev))
        />
        <button
            type="button"
            class=class
            aria-label=label
            title=label
            disabled=disabled
            on:click=move |_| if let Some(input) = input.get_untracked() { document::click(&input) }
        >
            {children()}
        </button>
    }
}

/// The preview of pending files, shown while there are any.
#[component]
pub fn SendFiles(room_id: OwnedRoomId, pending: Pending) -> impl IntoView {
    let handle = ClientHandle::expect();
    let caption = RwSignal::new(String::new());
    dyn_view(move || {
        let files = pending.get();
        if files.is_empty() {
            return ().into_any();
        }
        let problems: Vec<Option<String>> = files.iter().map(|f| handle.file_problem(f)).collect();
        let sendable = problems.iter().filter(|p| p.is_none()).count();
        let previews = StoredValue::new_local(Vec::<ObjectUrl>::new());
        let rows = files
            .iter()
            .zip(&problems)
            .map(|(file, problem)| {
                let image = (MediaKind::for_mimetype(&file.mimetype()) == MediaKind::Image)
                    .then(|| ObjectUrl::of_file(file))
                    .flatten()
                    .map(|url| {
                        let src = url.as_str().to_owned();
                        previews.update_value(|p| p.push(url));
                        view! { <img class="preview" src=src alt="" /> }
                    });
                view! {
                    <li>
                        {image}
                        <span class="file-name">{file.name().to_owned()}</span>
                        <span class="file-size">{format_size(file.size())}</span>
                        {problem.clone().map(|p| view! { <p class="error" role="alert">{p}</p> })}
                    </li>
                }
            })
            .collect_view();
        let room_id = room_id.clone();
        let send = move |_| {
            let text = caption.get_untracked().trim().to_owned();
            let files = pending.get_untracked();
            // A caption belongs to one file; with several it would repeat on each.
            let text = (files.len() == 1 && !text.is_empty()).then_some(text);
            for file in files
                .into_iter()
                .filter(|f| handle.file_problem(f).is_none())
            {
                handle.send_file(room_id.clone(), file, text.clone());
            }
            pending.set(Vec::new());
            caption.set(String::new());
        };
        let cancel = move || {
            pending.set(Vec::new());
            caption.set(String::new());
        };
        // A dialog as Element's upload prompt is: Escape or a press outside is "Cancel".
        view! {
            <div class="send-files" role="dialog" aria-modal="true" aria-label="Send files"
                use:popup=(Kind::Dialog, close(cancel))>
                <ul>{rows}</ul>
                {(files.len() == 1).then(|| view! {
                    <label class="visually-hidden" for="file-caption">"Caption"</label>
                    <input id="file-caption" placeholder="Add a caption (optional)" bind:value=caption />
                })}
                <div class="actions">
                    <button type="button" class="primary" disabled=sendable == 0 on:click=send>"Send"</button>
                    <button type="button" on:click=move |_| cancel()>"Cancel"</button>
                </div>
            </div>
        }
        .into_any()
    })
}
