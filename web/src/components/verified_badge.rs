//! The image "Verified" beside someone we verified.

use leptos::prelude::*;

/// A small shield with a tick.
#[component]
pub fn VerifiedBadge() -> impl IntoView {
    view! {
        <svg class="verified-badge" role="img" aria-label="Verified" viewBox="0 0 16 16" width="14" height="14">
            <title>"Verified"</title>
            <path d="M8 1 2.5 3v4.5C2.5 11 5 13.7 8 15c3-1.3 5.5-4 5.5-7.5V3z" fill="currentColor" />
            <path d="m5.2 8.2 2 2 3.8-4" fill="none" stroke="var(--surface)" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round" />
        </svg>
    }
}
