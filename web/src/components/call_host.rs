//! Where calls appear: loads the call manager (a separate, lazily fetched wasm module)
//! the first time a call is placed or an invite may ring, and shows its screen above
//! everything, whichever room is open.

use leptos::{prelude::*, task::spawn_local_scoped};

use crate::{calls, handle::ClientHandle, reactive::dyn_show};

/// Mounted once in the signed-in layout.
#[component]
pub fn CallHost() -> impl IntoView {
    let handle = ClientHandle::expect();
    // The manager's view once its module has loaded; it stays for the session (it owns
    // the call in progress). Not `<Suspense>`: that alone would add 7 KB to the first load.
    let view = StoredValue::new_local(None::<AnyView>);
    let ready = RwSignal::new(false);
    let loading = StoredValue::new(false);
    // The manager and its screen belong to this component (not to the effect, which
    // re-runs): signing out unmounts it, which ends any call.
    let owner = Owner::current();
    Effect::new(move |_| {
        if handle.calls_needed() && !loading.get_value() {
            loading.set_value(true);
            let load = async move {
                let loaded = calls::load(handle).await;
                view.set_value(Some(loaded));
                ready.set(true);
            };
            match &owner {
                Some(owner) => owner.with(|| untrack(|| spawn_local_scoped(load))),
                None => spawn_local_scoped(load),
            }
        }
    });
    dyn_show(
        move || ready.get(),
        move || {
            view.try_update_value(Option::take)
                .flatten()
                .unwrap_or_else(|| ().into_any())
        },
    )
}
