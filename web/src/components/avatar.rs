//! A person's (or room's) picture, or their initial in a coloured circle until it loads.

use std::rc::Rc;

use leptos::{prelude::*, task::spawn_local};
use weft_client::Mxc;

use crate::{
    handle::{ClientHandle, Fetch},
    platform::files::ObjectUrl,
    reactive::dyn_view,
};

/// The first letter of `name` on a colour picked from the user ID, so each person keeps
/// their colour everywhere.
#[component]
pub fn Avatar(
    name: String,
    user_id: String,
    #[prop(optional)] small: bool,
    /// Their picture, fetched as a small thumbnail.
    #[prop(optional_no_strip)]
    picture: Option<Mxc>,
) -> impl IntoView {
    let initial = name
        .trim_start_matches(['@', '#', '!'])
        .chars()
        .next()
        .map(|c| c.to_ascii_uppercase().to_string())
        .unwrap_or_else(|| "?".to_owned());
    let hue = hue(&user_id);
    let url = RwSignal::new(None::<String>);
    let keep = StoredValue::new_local(None::<Rc<ObjectUrl>>);
    if let Some(picture) = picture {
        let handle = ClientHandle::expect();
        spawn_local(async move {
            if let Ok(loaded) = handle.media(Fetch::Thumbnail(picture, 96, 96)).await {
                url.try_set(Some(loaded.as_str().to_owned()));
                keep.try_set_value(Some(loaded));
            }
        });
    }
    view! {
        <span
            class="avatar"
            class:small=small
            style:--hue=hue.to_string()
            aria-hidden="true"
        >
            {dyn_view(move || match url.get() {
                Some(url) => view! { <img src=url alt="" /> }.into_any(),
                None => initial.clone().into_any(),
            })}
        </span>
    }
}

/// A colour hue (0–359) picked from a user ID: their avatar and their name in the timeline
/// share it, so people are told apart at a glance, as in Element.
pub fn hue(user_id: &str) -> u32 {
    user_id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 360
}
