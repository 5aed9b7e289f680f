//! Weft's browser app: Leptos components on top of the `weft-client` engine.
//!
//! Layers, from the outside in:
//! - [`platform`]: the only code that talks to the browser (fetch, localStorage, timers,
//!   the page, notifications, and rebuilding sanitised message HTML).
//! - [`handle`]: [`ClientHandle`], which owns the engine, performs requests through the
//!   platform, runs the long-polling `/sync` task and exposes reactive views of the
//!   engine's state.
//! - [`components`]: the UI, which only calls the handle; [`reactive`] holds the
//!   type-erased helpers they use for dynamic children, [`popup`] closes their menus and
//!   dialogs on Escape and outside presses.

mod app;
mod calls;
mod components;
mod error;
mod handle;
mod platform;
mod popup;
mod reactive;

pub use app::App;
pub use handle::ClientHandle;
pub use platform::panic::log_to_console as log_panics;
