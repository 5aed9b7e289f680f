//! A person's initial in a coloured circle (pictures come with the media work).

use leptos::prelude::*;

/// The first letter of `name` on a colour picked from the user ID, so each person keeps
/// their colour everywhere.
#[component]
pub fn Avatar(name: String, user_id: String, #[prop(optional)] small: bool) -> impl IntoView {
    let initial = name
        .trim_start_matches(['@', '#', '!'])
        .chars()
        .next()
        .map(|c| c.to_ascii_uppercase().to_string())
        .unwrap_or_else(|| "?".to_owned());
    let hue = user_id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 360;
    view! {
        <span
            class="avatar"
            class:small=small
            style:--hue=hue.to_string()
            aria-hidden="true"
        >
            {initial}
        </span>
    }
}
