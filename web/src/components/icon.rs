//! The interface icons: small SVGs from `assets/icons/`, drawn in `currentColor` so they take
//! the text colour of their button in both colour schemes. Emoji glyphs are not used as icons:
//! where the system has no emoji font they show as empty boxes.
//!
//! Each SVG carries `aria-hidden="true"` and `focusable="false"` itself; the button around it
//! carries the accessible name (`aria-label`) and a tooltip (`title`).

use leptos::prelude::*;

/// One of the icons in `assets/icons/`.
#[derive(Clone, Copy)]
pub enum Icon {
    Attach,
    Back,
    Call,
    Close,
    Delete,
    Edit,
    Invite,
    React,
    Reply,
    Send,
    Settings,
    Video,
}

impl Icon {
    fn svg(self) -> &'static str {
        match self {
            Self::Attach => include_str!("../../../assets/icons/attach.svg"),
            Self::Back => include_str!("../../../assets/icons/back.svg"),
            Self::Call => include_str!("../../../assets/icons/call.svg"),
            Self::Close => include_str!("../../../assets/icons/close.svg"),
            Self::Delete => include_str!("../../../assets/icons/delete.svg"),
            Self::Edit => include_str!("../../../assets/icons/edit.svg"),
            Self::Invite => include_str!("../../../assets/icons/invite.svg"),
            Self::React => include_str!("../../../assets/icons/react.svg"),
            Self::Reply => include_str!("../../../assets/icons/reply.svg"),
            Self::Send => include_str!("../../../assets/icons/send.svg"),
            Self::Settings => include_str!("../../../assets/icons/settings.svg"),
            Self::Video => include_str!("../../../assets/icons/video.svg"),
        }
    }
}

/// The icon, inline. (A plain function rather than a component: the wrapper would cost wasm
/// and buy nothing.) The markup is our own file, set as HTML so the wasm carries each icon
/// once, as text, instead of as generated element-building code.
pub fn icon(icon: Icon) -> impl IntoView {
    view! { <span class="icon" inner_html=icon.svg()></span> }
}
