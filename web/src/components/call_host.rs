//! Where calls appear: loads the call manager (a separate, lazily fetched wasm module)
//! the first time a call is placed or an invite may ring, and shows its screen above
//! everything, whichever room is open.

use leptos::prelude::*;

use crate::{calls, handle::ClientHandle, reactive::dyn_show};

/// Mounted once in the signed-in layout.
#[component]
pub fn CallHost() -> impl IntoView {
    let handle = ClientHandle::expect();
    // Once loaded, the manager stays for the session (it owns the call in progress).
    let loaded = RwSignal::new(false);
    Effect::new(move |_| {
        if !loaded.get_untracked() && handle.calls_needed() {
            loaded.set(true);
        }
    });
    dyn_show(
        move || loaded.get(),
        move || {
            view! {
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move { calls::load(handle).await })}
                </Suspense>
            }
            .into_any()
        },
    )
}
