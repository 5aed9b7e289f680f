//! Showing untrusted message HTML safely.
//!
//! `DOMParser` builds an inert document (scripts never run, images never load, handlers
//! never fire there). We then walk it and create fresh nodes in the page's document for
//! only what [`weft_client::sanitize`] allows, copying text as text. Nothing is ever
//! assigned to `innerHTML`, so there is no serialise-and-reparse step for an attacker to
//! exploit.

use wasm_bindgen::JsCast;
use web_sys::{Document, DomParser, Element, Node, SupportedType};
use weft_client::sanitize::{self, MAX_DEPTH};

/// Rebuilds `html` under `target` (whose previous children are removed).
pub fn render_into(target: &Element, html: &str) {
    target.set_text_content(None);
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Ok(parser) = DomParser::new() else { return };
    let Ok(parsed) = parser.parse_from_string(html, SupportedType::TextHtml) else {
        return;
    };
    let Some(body) = parsed.body() else { return };
    copy_children(&document, &body, target, 0);
}

fn copy_children(document: &Document, from: &Node, to: &Node, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let children = from.child_nodes();
    for i in 0..children.length() {
        let Some(child) = children.item(i) else {
            continue;
        };
        match child.node_type() {
            Node::TEXT_NODE => {
                let text = document.create_text_node(&child.text_content().unwrap_or_default());
                // Appending a new node to an element of the inert copy does not fail.
                let _ = to.append_child(&text);
            }
            Node::ELEMENT_NODE => {
                let Some(element) = child.dyn_ref::<Element>() else {
                    continue;
                };
                copy_element(document, element, to, depth);
            }
            // Comments, processing instructions and the like carry nothing to show.
            _ => {}
        }
    }
}

fn copy_element(document: &Document, element: &Element, to: &Node, depth: usize) {
    let tag = element.local_name().to_ascii_lowercase();
    // Only HTML-namespace elements: an <svg> subtree's <a> or <script> is not ours to keep.
    let html_namespace = element.namespace_uri().as_deref() == Some("http://www.w3.org/1999/xhtml");
    if tag == "img" && html_namespace {
        // Inline images need authenticated media; show what the sender described.
        if let Some(alt) = element.get_attribute("alt").filter(|alt| !alt.is_empty()) {
            // As above, appending to the copy does not fail.
            let _ = to.append_child(&document.create_text_node(&alt));
        }
        return;
    }
    let action = if html_namespace {
        sanitize::element(&tag)
    } else {
        sanitize::Element::Remove
    };
    match action {
        sanitize::Element::Remove => {}
        sanitize::Element::Unwrap => copy_children(document, element, to, depth + 1),
        sanitize::Element::Keep => {
            let Ok(copy) = document.create_element(&tag) else {
                return;
            };
            let names = element.get_attribute_names();
            for i in 0..names.length() {
                let Some(name) = names.get(i).as_string() else {
                    continue;
                };
                let value = element.get_attribute(&name).unwrap_or_default();
                if let Some(value) = sanitize::attribute(&tag, &name.to_ascii_lowercase(), &value) {
                    // The name is one the parser accepted and the sanitiser allows: valid, so no throw.
                    let _ = copy.set_attribute(&name, &value);
                }
            }
            if tag == "a" {
                // Fixed, valid names: these do not throw.
                let _ = copy.set_attribute("target", "_blank");
                let _ = copy.set_attribute("rel", "noopener noreferrer");
            }
            copy_children(document, element, &copy, depth + 1);
            // As above, appending to the copy does not fail.
            let _ = to.append_child(&copy);
        }
    }
}

/// In headless Chromium (`scripts/test`): the page's own parser, the policy applied node by
/// node.
#[cfg(test)]
mod tests {
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

    use super::render_into;

    wasm_bindgen_test_configure!(run_in_browser);

    /// `html` rebuilt into a fresh `<div>`, read back as the page would serialise it.
    fn rendered(html: &str) -> String {
        let document = web_sys::window().unwrap().document().unwrap();
        let target = document.create_element("div").unwrap();
        render_into(&target, html);
        target.inner_html()
    }

    #[wasm_bindgen_test]
    fn allowed_markup_is_kept_with_its_allowed_attributes() {
        assert_eq!(
            rendered(
                r#"<p>a <b>bold</b> <code class="language-rust">x</code></p><ol start="3"><li>one</li></ol>"#
            ),
            r#"<p>a <b>bold</b> <code class="language-rust">x</code></p><ol start="3"><li>one</li></ol>"#
        );
        assert_eq!(
            rendered(r##"<span data-mx-color="#ff0000" data-mx-spoiler="">hidden</span>"##),
            r##"<span data-mx-color="#ff0000" data-mx-spoiler="">hidden</span>"##
        );
    }

    #[wasm_bindgen_test]
    fn scripts_handlers_and_styles_never_reach_the_page() {
        assert_eq!(
            rendered(
                r#"<p onclick="alert(1)" style="color:red" id="x">hi</p><script>alert(1)</script><style>p{}</style><iframe src="https://e.x"></iframe>"#
            ),
            "<p>hi</p>"
        );
        // Removed elements take their text with them; unknown wrappers leave theirs.
        assert_eq!(
            rendered("<custom>kept <button>gone</button></custom><textarea>gone</textarea>"),
            "kept "
        );
    }

    #[wasm_bindgen_test]
    fn links_keep_only_safe_targets_and_open_apart() {
        assert_eq!(
            rendered(r#"<a href="https://matrix.org">m</a>"#),
            r#"<a href="https://matrix.org" target="_blank" rel="noopener noreferrer">m</a>"#
        );
        // A browser reads "java\tscript:" as javascript:; so does the policy.
        assert_eq!(
            rendered("<a href=\"java\tscript:alert(1)\" target=\"_self\">x</a>"),
            r#"<a target="_blank" rel="noopener noreferrer">x</a>"#
        );
    }

    #[wasm_bindgen_test]
    fn images_show_their_alt_text_and_foreign_namespaces_go() {
        assert_eq!(
            rendered(r#"<img src="mxc://hs/x" alt="a cat"><img src="mxc://hs/y">"#),
            "a cat"
        );
        // <svg> and <math> go whole, with the links and text inside them.
        assert_eq!(
            rendered(r#"<svg><a href="https://e.x">svg link</a></svg><math><mi>x</mi></math>ok"#),
            "ok"
        );
    }

    #[wasm_bindgen_test]
    fn text_stays_text_and_comments_go() {
        assert_eq!(
            rendered("&lt;script&gt;alert(1)&lt;/script&gt;<!-- note -->"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
    }

    #[wasm_bindgen_test]
    fn the_previous_content_is_replaced() {
        let document = web_sys::window().unwrap().document().unwrap();
        let target = document.create_element("div").unwrap();
        render_into(&target, "<b>first</b>");
        render_into(&target, "second");
        assert_eq!(target.inner_html(), "second");
    }

    #[wasm_bindgen_test]
    fn nesting_deeper_than_the_limit_is_dropped() {
        let deep =
            |levels: usize| format!("{}deep{}", "<div>".repeat(levels), "</div>".repeat(levels));
        assert!(rendered(&deep(super::MAX_DEPTH)).contains("deep"));
        assert!(!rendered(&deep(super::MAX_DEPTH + 1)).contains("deep"));
    }
}
