//! The policy for showing message HTML: which elements and attributes survive.
//!
//! Message HTML comes from other people and is hostile until proven otherwise. The browser
//! layer parses it into an inert document and rebuilds, node by node, only what this policy
//! allows (never re-serialising to an HTML string, so nothing can be re-parsed differently).
//! The lists follow the spec's recommended tags and attributes for `m.room.message`.

/// What to do with an element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Element {
    /// Keep it (with only allowed attributes).
    Keep,
    /// Drop the element but keep its children (unknown but harmless wrappers).
    Unwrap,
    /// Drop the element and everything inside it.
    Remove,
}

/// Elements rebuilt as they are. `img` is not here: without authenticated media it is shown
/// as its alt text.
const ALLOWED: [&str; 38] = [
    "font",
    "del",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "p",
    "a",
    "ul",
    "ol",
    "sup",
    "sub",
    "li",
    "b",
    "i",
    "u",
    "strong",
    "em",
    "s",
    "strike",
    "code",
    "hr",
    "br",
    "div",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "caption",
    "pre",
    "span",
    "details",
    "summary",
];

/// Elements whose content is code, styling, embedded documents or interactive controls:
/// removed whole, text and all.
const REMOVED: [&str; 24] = [
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math",
    "template", "noscript", "textarea", "select", "option", "button", "input", "link", "meta",
    "base", "head", "title", "audio", "video",
];

/// Deepest nesting kept; deeper content is dropped (the spec suggests 100).
pub const MAX_DEPTH: usize = 100;

/// What to do with an element named `tag` (lower-case).
pub fn element(tag: &str) -> Element {
    if ALLOWED.contains(&tag) {
        Element::Keep
    } else if REMOVED.contains(&tag) || tag.contains(':') {
        Element::Remove
    } else {
        Element::Unwrap
    }
}

/// The value to set for attribute `name` on a kept `tag`, or `None` to drop it. Event
/// handlers, `style`, `id`/`name` (which could clobber page globals), and any URL that is
/// not a web, mail or Matrix link never pass.
pub fn attribute(tag: &str, name: &str, value: &str) -> Option<String> {
    match (tag, name) {
        ("a", "href") => safe_link(value).then(|| value.trim().to_owned()),
        ("ol", "start") => value.trim().parse::<u32>().ok().map(|n| n.to_string()),
        ("code", "class") => {
            let language = value.strip_prefix("language-")?;
            language
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '+' || c == '#')
                .then(|| value.to_owned())
        }
        ("span", "data-mx-spoiler") => Some(value.to_owned()),
        ("font" | "span", "data-mx-color" | "data-mx-bg-color" | "color") => {
            is_hex_color(value).then(|| value.to_owned())
        }
        ("th" | "td", "colspan" | "rowspan") => value
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|n| *n <= 100)
            .map(|n| n.to_string()),
        _ => None,
    }
}

/// Link targets that may be followed: http(s), mailto and matrix URIs.
pub fn safe_link(url: &str) -> bool {
    // Browsers ignore ASCII whitespace and control characters inside a scheme
    // ("java\tscript:"), so judge the URL the way a browser would read it.
    let cleaned: String = url
        .trim()
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_ascii_control())
        .collect::<String>()
        .to_ascii_lowercase();
    ["https://", "http://", "mailto:", "matrix:"]
        .iter()
        .any(|scheme| cleaned.starts_with(scheme))
}

fn is_hex_color(value: &str) -> bool {
    value.len() == 7 && value.starts_with('#') && value[1..].chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements() {
        for tag in ["b", "a", "pre", "code", "blockquote", "table", "details"] {
            assert_eq!(element(tag), Element::Keep, "{tag}");
        }
        for tag in [
            "script", "style", "iframe", "svg", "math", "object", "embed", "template", "button",
            "input",
        ] {
            assert_eq!(element(tag), Element::Remove, "{tag}");
        }
        for tag in [
            "form", "section", "marquee", "blink", "img", "body", "html", "x-custom",
        ] {
            assert_eq!(element(tag), Element::Unwrap, "{tag}");
        }
        assert_eq!(element("svg:script"), Element::Remove);
    }

    #[test]
    fn attributes() {
        assert_eq!(
            attribute("a", "href", "https://example.org").as_deref(),
            Some("https://example.org")
        );
        assert_eq!(
            attribute("a", "href", "matrix:u/alice:hs").as_deref(),
            Some("matrix:u/alice:hs")
        );
        for evil in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "java\tscript:alert(1)",
            "java\nscript:alert(1)",
            "\u{1}javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox",
            "//evil.example",
            "/relative",
        ] {
            assert_eq!(attribute("a", "href", evil), None, "{evil:?}");
        }
        assert_eq!(attribute("a", "onclick", "x"), None);
        assert_eq!(attribute("b", "style", "position:fixed"), None);
        assert_eq!(attribute("span", "style", "x"), None);
        assert_eq!(attribute("img", "src", "mxc://hs/x"), None);
        assert_eq!(attribute("ol", "start", "3").as_deref(), Some("3"));
        assert_eq!(attribute("ol", "start", "3\" onload=\"x"), None);
        assert_eq!(
            attribute("code", "class", "language-rust").as_deref(),
            Some("language-rust")
        );
        assert_eq!(attribute("code", "class", "x language-rust"), None);
        assert_eq!(
            attribute("font", "color", "#ff0000").as_deref(),
            Some("#ff0000")
        );
        assert_eq!(attribute("font", "color", "red;background:url(x)"), None);
        assert_eq!(attribute("td", "colspan", "99999"), None);
    }
}
