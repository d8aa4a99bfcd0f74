//! Utterances may carry a little HTML (the chat widget sends bold text, lists, links).
//! Whatever comes from the stream is untrusted, so it is rebuilt here from scratch: the
//! allowed elements (`b i em strong br p ul ol li`, and `a` with an http(s) `href`) are
//! kept without any other attribute, all other markup becomes visible text, and every
//! text and attribute value is escaped. The output is the only HTML the page inserts
//! unescaped. Shared by the server and the browser, so both render the same.

/// Elements kept; anything else is shown as text.
const ALLOWED: [&str; 10] = ["b", "i", "em", "strong", "br", "p", "ul", "ol", "li", "a"];

/// Safe HTML for `input`.
pub fn sanitize(input: &str) -> String {
    let mut out = String::with_capacity(input.len() + 16);
    let mut open: Vec<&'static str> = Vec::new();
    let mut rest = input;
    while let Some(lt) = rest.find('<') {
        escape_text(&decode_entities(&rest[..lt]), &mut out);
        rest = &rest[lt..];
        match parse_tag(rest) {
            Some((tag, len)) => {
                apply(tag, &mut open, &mut out);
                rest = &rest[len..];
            }
            None => {
                out.push_str("&lt;");
                rest = &rest[1..];
            }
        }
    }
    escape_text(&decode_entities(rest), &mut out);
    while let Some(name) = open.pop() {
        close(name, &mut out);
    }
    out
}

#[derive(Debug, PartialEq)]
enum Tag {
    Open {
        name: &'static str,
        href: Option<String>,
    },
    Close(&'static str),
}

fn apply(tag: Tag, open: &mut Vec<&'static str>, out: &mut String) {
    match tag {
        Tag::Open { name: "br", .. } => out.push_str("<br>"),
        Tag::Open { name, href } => {
            // A link inside a link is not HTML: the browser would end the first.
            if name == "a" && open.contains(&"a") {
                close_to("a", open, out);
            }
            out.push('<');
            out.push_str(name);
            if let Some(href) = href {
                out.push_str(" href=\"");
                escape_text(&href, out);
                out.push_str("\" rel=\"noopener noreferrer nofollow\" target=\"_blank\"");
            }
            out.push('>');
            open.push(name);
        }
        Tag::Close(name) => {
            if open.contains(&name) {
                close_to(name, open, out);
            }
            // A closing tag with nothing to close is dropped.
        }
    }
}

/// Closes the innermost open `name` and everything opened inside it.
fn close_to(name: &str, open: &mut Vec<&'static str>, out: &mut String) {
    while let Some(top) = open.pop() {
        close(top, out);
        if top == name {
            break;
        }
    }
}

fn close(name: &str, out: &mut String) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// An allowed tag at the start of `s` (which starts with `<`), and its length in bytes.
fn parse_tag(s: &str) -> Option<(Tag, usize)> {
    let end = s.find('>')?;
    let inner = &s[1..end];
    let (closing, inner) = match inner.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    let name_len = inner
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(inner.len());
    let written = &inner[..name_len];
    let name = ALLOWED
        .iter()
        .copied()
        .find(|allowed| allowed.eq_ignore_ascii_case(written))?;
    let attributes = inner[name_len..].trim();
    // Something glued to the name (`<bx>`, `<b"...>`) is not the allowed tag.
    if !attributes.is_empty()
        && !inner[name_len..].starts_with(char::is_whitespace)
        && attributes != "/"
    {
        return None;
    }
    let tag = if closing {
        Tag::Close(name)
    } else {
        let href = (name == "a")
            .then(|| attribute(attributes, "href"))
            .flatten()
            .map(|h| decode_entities(&h).trim().to_owned())
            .filter(|h| is_web_link(h));
        Tag::Open { name, href }
    };
    Some((tag, end + 1))
}

fn is_web_link(href: &str) -> bool {
    let lower = href.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && !href.contains(char::is_control)
}

/// The value of attribute `wanted` in a tag's attribute text, quoted or not.
fn attribute(mut attrs: &str, wanted: &str) -> Option<String> {
    loop {
        attrs = attrs.trim_start();
        if attrs.is_empty() {
            return None;
        }
        let name_end = attrs
            .find(|c: char| c == '=' || c.is_whitespace() || c == '/')
            .unwrap_or(attrs.len());
        let name = &attrs[..name_end];
        attrs = attrs[name_end..].trim_start();
        let mut value = None;
        if let Some(rest) = attrs.strip_prefix('=') {
            let rest = rest.trim_start();
            let (v, remaining) = match rest.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let body = &rest[1..];
                    let close = body.find(q).unwrap_or(body.len());
                    (&body[..close], body.get(close + 1..).unwrap_or(""))
                }
                _ => {
                    let stop = rest.find(char::is_whitespace).unwrap_or(rest.len());
                    (&rest[..stop], &rest[stop..])
                }
            };
            value = Some(v.to_owned());
            attrs = remaining;
        } else if name.is_empty() {
            // A stray character such as `/`: skip it.
            attrs = attrs.get(1..).unwrap_or("");
        }
        if name.eq_ignore_ascii_case(wanted) {
            return value;
        }
    }
}

/// Text with the common character references decoded; anything else kept as written.
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').filter(|&semi| semi <= 10).and_then(|semi| {
            let name = &rest[1..semi];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    let code = if let Some(hex) =
                        name.strip_prefix("#x").or_else(|| name.strip_prefix("#X"))
                    {
                        u32::from_str_radix(hex, 16).ok()
                    } else {
                        name.strip_prefix('#').and_then(|d| d.parse().ok())
                    };
                    code.and_then(char::from_u32).filter(|c| *c != '\0')
                }
            }?;
            Some((c, semi + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn keeps_the_allowed_elements_without_attributes() {
        assert_eq!(
            sanitize(r#"<B class="x">Hi</b> <em>there</em><br/>ok<p>a</p><ul><li>1</li></ul>"#),
            "<b>Hi</b> <em>there</em><br>ok<p>a</p><ul><li>1</li></ul>"
        );
    }

    #[test]
    fn scripts_and_handlers_become_text() {
        assert_eq!(
            sanitize(r#"<script>alert(1)</script><img src=x onerror="alert(2)">"#),
            "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt;"
        );
        assert_eq!(
            sanitize(r#"<b onclick="alert(1)">x</b>"#),
            "<b>x</b>",
            "attributes of allowed elements are dropped"
        );
        assert_eq!(sanitize("<bx>y"), "&lt;bx&gt;y");
        assert_eq!(sanitize("a < b && c > d"), "a &lt; b &amp;&amp; c &gt; d");
    }

    #[test]
    fn links_keep_only_web_addresses() {
        assert_eq!(
            sanitize(r#"<a href="https://billie.example/?a=1&amp;b=2" onclick=x>fees</a>"#),
            "<a href=\"https://billie.example/?a=1&amp;b=2\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">fees</a>"
        );
        for bad in [
            r#"<a href="javascript:alert(1)">x</a>"#,
            r#"<a href="java&#115;cript:alert(1)">x</a>"#,
            r#"<a href=" data:text/html,hi">x</a>"#,
            "<a>x</a>",
        ] {
            assert_eq!(sanitize(bad), "<a>x</a>", "{bad}");
        }
        assert_eq!(
            sanitize("<a href='http://a.example/'>x<a href=http://b.example>y"),
            "<a href=\"http://a.example/\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">x</a><a href=\"http://b.example\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">y</a>"
        );
    }

    #[test]
    fn closes_what_is_left_open_and_drops_stray_closers() {
        assert_eq!(sanitize("<b><i>x</b>y</i></p>"), "<b><i>x</i></b>y");
        assert_eq!(sanitize("<ul><li>a"), "<ul><li>a</li></ul>");
    }

    #[test]
    fn decodes_references_then_escapes_again() {
        assert_eq!(
            sanitize("&lt;script&gt; &#39;hi&#x27; &bogus; &"),
            "&lt;script&gt; &#39;hi&#39; &amp;bogus; &amp;"
        );
    }
}
