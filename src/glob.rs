//! Shell-style wildcards as people write them in known_hosts and the
//! config: `*` matches any run of characters, `?` any one.

/// Whether `text` matches `pattern` (bytes, so any text is total).
pub fn matches(pattern: &str, text: &str) -> bool {
    bytes(pattern.as_bytes(), text.as_bytes())
}

/// [`matches`] on bytes.
pub fn bytes(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| bytes(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && bytes(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && bytes(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stars_and_questions() {
        assert!(super::matches("shop-*", "shop-web-1"));
        assert!(super::matches("*-?", "web-1"));
        assert!(!super::matches("shop-*", "api-1"));
        assert!(!super::matches("web-?", "web-10"));
    }
}
