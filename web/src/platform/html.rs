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
