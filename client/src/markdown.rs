//! The composer's markdown: the everyday subset chat people type, turned into the HTML that
//! Matrix messages carry as `formatted_body`.
//!
//! Supported: **bold**, *italic*, `inline code`, fenced code blocks, [links](https://…) and
//! bare `https://` links, `-`/`*`/`1.` lists, and `>` quotes. Everything else is text, and
//! all text is HTML-escaped. A full CommonMark parser would cost more bundle than the whole
//! chat UI for syntax nobody types in a chat box.

/// The message's HTML, or `None` when the text uses no markdown (then only `body` is sent).
pub fn to_html(source: &str) -> Option<String> {
    let mut out = Renderer::default();
    out.blocks(&source.lines().collect::<Vec<_>>());
    out.formatted.then_some(out.html)
}

#[derive(Default)]
struct Renderer {
    html: String,
    formatted: bool,
}

impl Renderer {
    fn blocks(&mut self, lines: &[&str]) {
        let mut i = 0;
        let mut paragraphs = 0;
        let start = self.html.len();
        while i < lines.len() {
            let line = lines[i];
            if line.trim().is_empty() {
                i += 1;
                continue;
            }
            if let Some(fence) = line.trim_start().strip_prefix("```") {
                self.formatted = true;
                let language = fence.trim();
                let end = lines[i + 1..]
                    .iter()
                    .position(|l| l.trim_start().starts_with("```"))
                    .map_or(lines.len(), |p| i + 1 + p);
                let code = lines[i + 1..end].join("\n");
                self.html.push_str("<pre><code");
                if !language.is_empty()
                    && language
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '+')
                {
                    self.html.push_str(" class=\"language-");
                    self.html.push_str(language);
                    self.html.push('"');
                }
                self.html.push('>');
                escape_into(&mut self.html, &code);
                self.html.push_str("\n</code></pre>");
                i = end + 1;
                continue;
            }
            if quote_line(line).is_some() {
                self.formatted = true;
                let quoted: Vec<&str> = lines[i..].iter().map_while(|l| quote_line(l)).collect();
                i += quoted.len();
                self.html.push_str("<blockquote>");
                self.blocks(&quoted);
                self.html.push_str("</blockquote>");
                continue;
            }
            if let Some((ordered, number, _)) = list_item(line) {
                self.formatted = true;
                let tag = if ordered { "ol" } else { "ul" };
                self.html.push('<');
                self.html.push_str(tag);
                if ordered && number != 1 {
                    self.html.push_str(&format!(" start=\"{number}\""));
                }
                self.html.push('>');
                while let Some((same, _, text)) = lines.get(i).and_then(|l| list_item(l)) {
                    if same != ordered {
                        break;
                    }
                    self.html.push_str("<li>");
                    self.inline(text);
                    self.html.push_str("</li>");
                    i += 1;
                }
                self.html.push_str("</");
                self.html.push_str(tag);
                self.html.push('>');
                continue;
            }
            // A paragraph: lines up to a blank line or another block.
            let mut end = i;
            while end < lines.len() {
                let l = lines[end];
                let other_block = l.trim().is_empty()
                    || l.trim_start().starts_with("```")
                    || quote_line(l).is_some()
                    || (end > i && list_item(l).is_some());
                if other_block {
                    break;
                }
                end += 1;
            }
            paragraphs += 1;
            self.html.push_str("<p>");
            for (n, l) in lines[i..end].iter().enumerate() {
                if n > 0 {
                    self.html.push_str("<br>");
                }
                self.inline(l);
            }
            self.html.push_str("</p>");
            i = end;
        }
        // A lone paragraph needs no wrapper (as other clients send it).
        let body = &self.html[start..];
        if paragraphs == 1
            && body.starts_with("<p>")
            && body.ends_with("</p>")
            && body.matches("<p>").count() == 1
        {
            let inner = body[3..body.len() - 4].to_owned();
            self.html.truncate(start);
            self.html.push_str(&inner);
        }
    }

    fn inline(&mut self, text: &str) {
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let rest: String = chars[i..].iter().collect();
            match c {
                '\\' if i + 1 < chars.len() && chars[i + 1].is_ascii_punctuation() => {
                    escape_char(&mut self.html, chars[i + 1]);
                    i += 2;
                    continue;
                }
                '`' => {
                    if let Some(len) = find(&chars, i + 1, "`") {
                        self.formatted = true;
                        let code: String = chars[i + 1..i + 1 + len].iter().collect();
                        self.html.push_str("<code>");
                        escape_into(&mut self.html, &code);
                        self.html.push_str("</code>");
                        i += len + 2;
                        continue;
                    }
                }
                '*' | '_' if rest.starts_with("**") || rest.starts_with("__") => {
                    let marker = if c == '*' { "**" } else { "__" };
                    if let Some(len) = find(&chars, i + 2, marker).filter(|len| *len > 0) {
                        self.formatted = true;
                        let inner: String = chars[i + 2..i + 2 + len].iter().collect();
                        self.html.push_str("<strong>");
                        self.inline(&inner);
                        self.html.push_str("</strong>");
                        i += len + 4;
                        continue;
                    }
                }
                '*' | '_' => {
                    // `_` inside a word (snake_case) is not emphasis.
                    let word_before = i > 0 && chars[i - 1].is_ascii_alphanumeric();
                    let opens = !(c == '_' && word_before)
                        && chars.get(i + 1).is_some_and(|n| !n.is_whitespace());
                    if opens
                        && let Some(len) =
                            find(&chars, i + 1, &c.to_string()).filter(|len| *len > 0)
                    {
                        let after = chars.get(i + 2 + len);
                        // Closes unless the delimiter follows a space, or is an
                        // underscore inside a word (snake_case stays literal).
                        let inside_word =
                            c == '_' && after.is_some_and(|a| a.is_ascii_alphanumeric());
                        let closes = !(inside_word || chars[i + len].is_whitespace());
                        if closes {
                            self.formatted = true;
                            let inner: String = chars[i + 1..i + 1 + len].iter().collect();
                            self.html.push_str("<em>");
                            self.inline(&inner);
                            self.html.push_str("</em>");
                            i += len + 2;
                            continue;
                        }
                    }
                }
                '[' => {
                    if let Some((label, url, used)) = link(&chars[i..])
                        && safe_url(&url)
                    {
                        self.formatted = true;
                        self.html.push_str("<a href=\"");
                        escape_into(&mut self.html, &url);
                        self.html.push_str("\">");
                        self.inline(&label);
                        self.html.push_str("</a>");
                        i += used;
                        continue;
                    }
                }
                'h' if (rest.starts_with("https://") || rest.starts_with("http://"))
                    && (i == 0 || !chars[i - 1].is_ascii_alphanumeric()) =>
                {
                    let mut url: String = chars[i..]
                        .iter()
                        .take_while(|c| !c.is_whitespace() && **c != '<')
                        .collect();
                    while url.ends_with(['.', ',', ')', '!', '?', ';', ':']) {
                        url.pop();
                    }
                    self.formatted = true;
                    self.html.push_str("<a href=\"");
                    escape_into(&mut self.html, &url);
                    self.html.push_str("\">");
                    escape_into(&mut self.html, &url);
                    self.html.push_str("</a>");
                    i += url.chars().count();
                    continue;
                }
                _ => {}
            }
            escape_char(&mut self.html, c);
            i += 1;
        }
    }
}

/// The text of a `>` quote line.
fn quote_line(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix('>')?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// `(ordered, number, text)` of a list item line.
fn list_item(line: &str) -> Option<(bool, u32, &str)> {
    let trimmed = line.trim_start();
    for bullet in ["- ", "* ", "+ "] {
        if let Some(text) = trimmed.strip_prefix(bullet) {
            return Some((false, 0, text));
        }
    }
    let digits = trimmed.chars().take_while(char::is_ascii_digit).count();
    if (1..=9).contains(&digits) {
        let text = trimmed[digits..].strip_prefix(". ")?;
        return Some((true, trimmed[..digits].parse().ok()?, text));
    }
    None
}

/// Length of the text from `start` up to the next `marker` on the line.
fn find(chars: &[char], start: usize, marker: &str) -> Option<usize> {
    let marker: Vec<char> = marker.chars().collect();
    (start..chars.len())
        .find(|&j| chars[j..].starts_with(&marker))
        .map(|j| j - start)
}

/// `[label](url)` at the start of `chars`: label, URL and characters used.
fn link(chars: &[char]) -> Option<(String, String, usize)> {
    let close = chars.iter().position(|c| *c == ']')?;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let end = chars[close + 2..].iter().position(|c| *c == ')')? + close + 2;
    let label: String = chars[1..close].iter().collect();
    let url: String = chars[close + 2..end].iter().collect();
    (!label.is_empty() && !url.contains(char::is_whitespace)).then_some((label, url, end + 1))
}

/// Link targets we write into HTML: web, mail and Matrix links only.
fn safe_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    ["https://", "http://", "mailto:", "matrix:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        escape_char(out, c);
    }
}

fn escape_char(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        _ => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::to_html;

    #[test]
    fn plain_text_sends_no_html() {
        assert_eq!(to_html("hello there"), None);
        assert_eq!(to_html("two\nlines"), None);
        assert_eq!(to_html("snake_case_name and 2 * 3 * 4"), None);
        assert_eq!(to_html("<b>not html</b>"), None);
    }

    #[test]
    fn inline_styles() {
        assert_eq!(
            to_html("**bold** and *it* and _it_").unwrap(),
            "<strong>bold</strong> and <em>it</em> and <em>it</em>"
        );
        assert_eq!(
            to_html("run `a<b` now").unwrap(),
            "run <code>a&lt;b</code> now"
        );
        assert_eq!(
            to_html("**<script>**").unwrap(),
            "<strong>&lt;script&gt;</strong>"
        );
    }

    #[test]
    fn links_are_limited_to_safe_schemes() {
        assert_eq!(
            to_html("see [docs](https://example.org/a?b=1&c=2)").unwrap(),
            "see <a href=\"https://example.org/a?b=1&amp;c=2\">docs</a>"
        );
        assert_eq!(to_html("[x](javascript:alert(1))"), None);
        assert_eq!(
            to_html("at https://example.org/x.").unwrap(),
            "at <a href=\"https://example.org/x\">https://example.org/x</a>."
        );
        assert!(
            !to_html("[a](https://x\" onclick=\"y)")
                .unwrap_or_default()
                .contains("onclick=\"")
        );
    }

    #[test]
    fn blocks() {
        assert_eq!(
            to_html("```rust\nlet a = 1 < 2;\n```").unwrap(),
            "<pre><code class=\"language-rust\">let a = 1 &lt; 2;\n</code></pre>"
        );
        assert_eq!(
            to_html("- one\n- **two**").unwrap(),
            "<ul><li>one</li><li><strong>two</strong></li></ul>"
        );
        assert_eq!(
            to_html("3. c\n4. d").unwrap(),
            "<ol start=\"3\"><li>c</li><li>d</li></ol>"
        );
        assert_eq!(
            to_html("> quoted\n> more").unwrap(),
            "<blockquote>quoted<br>more</blockquote>"
        );
        assert_eq!(
            to_html("intro\n\n- a\n\nend").unwrap(),
            "<p>intro</p><ul><li>a</li></ul><p>end</p>"
        );
    }
}
