//! A message's text: its HTML after sanitising, or the plain body.

use leptos::{html, prelude::*};

use crate::platform::html::render_into;

/// The body of a message. HTML goes through [`render_into`], never through `inner_html`.
#[component]
pub fn MessageBody(body: String, html: Option<String>) -> impl IntoView {
    match html {
        Some(html) => {
            let node = NodeRef::<html::Div>::new();
            node.on_load(move |element| render_into(&element, &html));
            view! { <div class="body formatted" node_ref=node></div> }.into_any()
        }
        None => view! { <div class="body">{body}</div> }.into_any(),
    }
}
