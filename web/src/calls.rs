//! 1:1 voice and video calls: the call manager and its screen.
//!
//! This module is a separate wasm chunk: only [`load`] is reachable from the main module,
//! and `wasm_split` moves everything that only it reaches (the call state machine,
//! WebRTC, the call screen) into a module the browser fetches the first time a call is
//! placed or an invite may ring. So calls cost the first load almost nothing.

use leptos::prelude::*;

use crate::handle::ClientHandle;

mod call_screen;
mod controls;
mod inbox;
mod incoming;
mod manager;
mod outbox;
mod outputs;
mod placing;
mod screen;

/// The call manager and its screen, fetching the calls chunk first. A chunk that cannot
/// be fetched (offline, a deploy replaced it) shows an error instead of a broken app.
pub async fn load(handle: ClientHandle) -> AnyView {
    match entry(handle).await {
        Ok(view) => view,
        Err(ChunkError) => view! {
            <p class="call-load-error" role="alert">
                "Calls could not be loaded. Check your connection and reload the page."
            </p>
        }
        .into_any(),
    }
}

/// The calls chunk did not load.
#[derive(Debug)]
pub struct ChunkError;

impl From<leptos::wasm_split::SplitLoaderError> for ChunkError {
    fn from(_: leptos::wasm_split::SplitLoaderError) -> Self {
        Self
    }
}

#[leptos::wasm_split::wasm_split(calls, wasm_split_path = ::leptos::wasm_split, fallible)]
fn entry(handle: ClientHandle) -> Result<AnyView, ChunkError> {
    let manager = manager::Manager::start(handle);
    Ok(view! { <call_screen::CallScreen manager /> }.into_any())
}
