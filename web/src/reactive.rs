//! Type-erased reactive children.
//!
//! Leptos compiles every distinct `move || view` child into its own copy of the render
//! effect machinery — about 4 KB of wasm each, measured with twiggy. Routing dynamic children
//! through these helpers makes all call sites share one copy; only the closures' own logic
//! stays per call site. Use them for any reactive child that is not a plain signal.

use std::{future::Future, pin::Pin, sync::Arc};

use leptos::{prelude::*, task::spawn_local_scoped};

use crate::calls::ChunkError;

/// A reactive child built by `render` (re-run when the signals it reads change).
pub fn dyn_view(render: impl Fn() -> AnyView + Send + Sync + 'static) -> impl IntoView {
    let render: Arc<dyn Fn() -> AnyView + Send + Sync> = Arc::new(render);
    move || render()
}

/// A child shown only while `when` holds, like `<Show>`: it is built when `when` turns true
/// and dropped when it turns false, and nothing else rebuilds it.
pub fn dyn_show(
    when: impl Fn() -> bool + Send + Sync + 'static,
    render: impl Fn() -> AnyView + Send + Sync + 'static,
) -> impl IntoView {
    let when = Memo::new(move |_| when());
    dyn_view(move || {
        if when.get() {
            untrack(&render)
        } else {
            ().into_any()
        }
    })
}

/// Reactive text.
pub fn dyn_text(text: impl Fn() -> String + Send + Sync + 'static) -> impl IntoView {
    let text: Arc<dyn Fn() -> String + Send + Sync> = Arc::new(text);
    move || text()
}

/// The error line under a form (`role="alert"`), shown while `error` holds a message.
pub fn error_line(error: RwSignal<Option<String>>) -> impl IntoView {
    dyn_view(move || match error.get() {
        Some(message) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
        None => ().into_any(),
    })
}

/// A form's outcome: a success note (`role="status"`) or an error (`role="alert"`).
pub fn status_line(status: RwSignal<Option<Result<&'static str, String>>>) -> impl IntoView {
    dyn_view(move || match status.get() {
        Some(Ok(text)) => view! { <p class="ok" role="status">{text}</p> }.into_any(),
        Some(Err(text)) => view! { <p class="error" role="alert">{text}</p> }.into_any(),
        None => ().into_any(),
    })
}

/// A view from a lazily loaded chunk: nothing until it arrives, an error line ("`what`
/// could not be loaded. …") if it can't be fetched (offline, a deploy replaced it). Not
/// `<Suspense>`, which costs more first-load bytes than the chunk saves.
pub fn lazy_view(
    load: Pin<Box<dyn Future<Output = Result<AnyView, ChunkError>>>>,
    what: &'static str,
) -> AnyView {
    let view = StoredValue::new_local(None::<AnyView>);
    let ready = RwSignal::new(false);
    spawn_local_scoped(async move {
        let loaded = match load.await {
            Ok(view) => view,
            Err(ChunkError) => view! {
                <p class="error" role="alert">{what}" could not be loaded. Check your connection and reload the page."</p>
            }
            .into_any(),
        };
        view.set_value(Some(loaded));
        ready.set(true);
    });
    dyn_show(
        move || ready.get(),
        move || {
            view.try_update_value(Option::take)
                .flatten()
                .unwrap_or_else(|| ().into_any())
        },
    )
    .into_any()
}
