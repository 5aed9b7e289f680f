//! A message's text: its HTML after sanitising, or the plain body; in full, or as the
//! two-line quote of a reply.

use leptos::{html, prelude::*};

use crate::platform::html::render_into;

/// The body of a message. HTML goes through [`render_into`], never through `inner_html`.
///
/// `quote`: the quoted message of a reply. It shows the formatting too, as Element does,
/// not the markdown source that a formatted message's plain `body` usually is.
#[component]
pub fn MessageBody(
    body: String,
    html: Option<String>,
    #[prop(optional)] quote: bool,
) -> impl IntoView {
    let class = if quote { "quote-text" } else { "body" };
    match html {
        Some(html) => {
            let node = NodeRef::<html::Div>::new();
            node.on_load(move |element| render_into(&element, &html));
            view! { <div class=format!("{class} formatted") node_ref=node></div> }.into_any()
        }
        None => view! { <div class=class>{body}</div> }.into_any(),
    }
}
