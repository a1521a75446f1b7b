//! Searching sanitized log text: highlight (default) or filter.

use std::fmt;
use std::ops::Range;

use ratatui::style::Style;
use ratatui::text::Line;
use regex::{Regex, RegexBuilder};
use regex_syntax::ast::{self, Ast, ClassSetItem, Visitor};

use super::buffer::LogBuffer;
use super::sanitize::StyledLine;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    /// The query is a literal substring.
    #[default]
    Plain,
    /// The query is a `regex` crate pattern.
    Regex,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchError {
    /// An empty query would match everywhere; callers treat it as "no search".
    Empty,
    /// One-line reason from the regex parser, fit for a status bar.
    InvalidRegex(String),
}

impl fmt::Display for SearchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty search"),
            Self::InvalidRegex(msg) => write!(f, "invalid regex: {msg}"),
        }
    }
}

impl std::error::Error for SearchError {}

/// A compiled query with smartcase: case-insensitive unless the query
/// contains an uppercase letter (for regexes, an uppercase *literal*, so `\S`
/// or `\p{Lu}` don't count). An inline `(?i)`/`(?-i)` in a regex overrides.
///
/// Lines are matched on their sanitized text ([`StyledLine::text`]), so escape
/// sequences never match and byte ranges index straight into that text.
#[derive(Debug, Clone)]
pub struct Search {
    query: String,
    mode: SearchMode,
    case_sensitive: bool,
    re: Regex,
}

impl Search {
    pub fn new(query: &str, mode: SearchMode) -> Result<Self, SearchError> {
        if query.is_empty() {
            return Err(SearchError::Empty);
        }
        // Plain queries also go through `regex` (escaped): its literal search
        // is fast, and case-insensitive ranges stay valid byte offsets into
        // the original text, which lowercasing the text would not guarantee.
        let (pattern, case_sensitive) = match mode {
            SearchMode::Plain => (regex::escape(query), query.chars().any(char::is_uppercase)),
            SearchMode::Regex => (query.to_owned(), regex_has_uppercase_literal(query)),
        };
        let re = RegexBuilder::new(&pattern)
            .case_insensitive(!case_sensitive)
            .build()
            .map_err(|e| SearchError::InvalidRegex(short_error(&e)))?;
        Ok(Self {
            query: query.to_owned(),
            mode,
            case_sensitive,
            re,
        })
    }

    /// A query as people type it: smart-case text, or a regex after `re:`.
    pub fn parse(typed: &str) -> Result<Self, SearchError> {
        match typed.strip_prefix("re:") {
            Some(q) => Self::new(q, SearchMode::Regex),
            None => Self::new(typed, SearchMode::Plain),
        }
    }

    pub fn query(&self) -> &str {
        &self.query
    }

    pub fn mode(&self) -> SearchMode {
        self.mode
    }

    pub fn is_case_sensitive(&self) -> bool {
        self.case_sensitive
    }

    /// Whether `text` matches (grep semantics: a regex that can match the
    /// empty string matches every line).
    pub fn is_match(&self, text: &str) -> bool {
        self.re.is_match(text)
    }

    /// Byte ranges of all non-empty matches in `text`, ordered and
    /// non-overlapping, ready for [`StyledLine::to_line`].
    pub fn matches(&self, text: &str) -> Vec<Range<usize>> {
        self.re
            .find_iter(text)
            .map(|m| m.range())
            .filter(|r| !r.is_empty())
            .collect()
    }

    /// Render `line` with this search's matches highlighted.
    pub fn highlight(&self, line: &StyledLine, highlight_style: Style) -> Line<'static> {
        line.to_line(&self.matches(&line.text), highlight_style)
    }

    fn line_matches(&self, buf: &LogBuffer, i: usize) -> bool {
        buf.get(i).is_some_and(|l| self.is_match(&l.line.text))
    }

    /// Index of the next matching line after `from`, wrapping around; `from`
    /// itself is checked last. With `from >= len` the scan starts at 0.
    pub fn find_next(&self, buf: &LogBuffer, from: usize) -> Option<usize> {
        let n = buf.len();
        let start = if from >= n { 0 } else { from + 1 };
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| self.line_matches(buf, i))
    }

    /// Index of the previous matching line before `from`, wrapping around;
    /// `from` itself is checked last. With `from >= len` the scan starts at
    /// the last line.
    pub fn find_prev(&self, buf: &LogBuffer, from: usize) -> Option<usize> {
        let n = buf.len();
        // `start` is the first index to look at, going down.
        let start = if from >= n {
            n.saturating_sub(1)
        } else {
            (from + n - 1) % n
        };
        (0..n)
            .map(|k| (start + n - k) % n)
            .find(|&i| self.line_matches(buf, i))
    }

    /// Number of matching lines (navigation is by line).
    pub fn match_count(&self, buf: &LogBuffer) -> usize {
        buf.iter().filter(|l| self.is_match(&l.line.text)).count()
    }
}

/// Filter mode: indices of the lines that match, in buffer order. The view
/// shows only these; in the default highlight mode nothing is hidden.
pub fn filtered_indices(buf: &LogBuffer, search: &Search) -> Vec<usize> {
    buf.iter()
        .enumerate()
        .filter(|(_, l)| search.is_match(&l.line.text))
        .map(|(i, _)| i)
        .collect()
}

/// The last line of regex's multi-line error ("error: unclosed group"),
/// without its prefix.
fn short_error(e: &regex::Error) -> String {
    let full = e.to_string();
    let last = full
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(&full);
    last.trim().trim_start_matches("error: ").to_owned()
}

/// Smartcase for regexes: look only at literal characters in the parsed
/// pattern. An unparsable pattern counts as case-sensitive; building it
/// reports the error anyway.
fn regex_has_uppercase_literal(pattern: &str) -> bool {
    struct Upper(bool);
    impl Visitor for Upper {
        type Output = bool;
        type Err = ();
        fn finish(self) -> Result<bool, ()> {
            Ok(self.0)
        }
        fn visit_pre(&mut self, ast: &Ast) -> Result<(), ()> {
            if let Ast::Literal(lit) = ast {
                self.0 |= lit.c.is_uppercase();
            }
            Ok(())
        }
        fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Result<(), ()> {
            match item {
                ClassSetItem::Literal(lit) => self.0 |= lit.c.is_uppercase(),
                ClassSetItem::Range(r) => {
                    self.0 |= r.start.c.is_uppercase() || r.end.c.is_uppercase();
                }
                _ => {}
            }
            Ok(())
        }
    }
    ast::parse::Parser::new()
        .parse(pattern)
        .ok()
        .and_then(|a| ast::visit(&a, Upper(false)).ok())
        .unwrap_or(true)
}

#[cfg(test)]
// Expected match lists are ranges; one-element lists are intended.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use ratatui::style::{Color, Modifier};

    use super::*;
    use crate::logs::buffer::Stream;
    use crate::logs::sanitize::sanitize;

    fn s(q: &str) -> Search {
        Search::new(q, SearchMode::Plain).expect("valid query")
    }

    fn r(q: &str) -> Search {
        Search::new(q, SearchMode::Regex).expect("valid regex")
    }

    fn buf(lines: &[&str]) -> LogBuffer {
        let mut b = LogBuffer::default();
        for (i, l) in lines.iter().enumerate() {
            let ts = Some(i128::try_from(i).expect("small"));
            b.push("h", "c", Stream::Stdout, ts, sanitize(l.as_bytes()));
        }
        b
    }

    #[test]
    fn smartcase_plain() {
        assert_eq!(
            s("error").matches("ERROR Error error"),
            [0..5, 6..11, 12..17]
        );
        assert!(!s("error").is_case_sensitive());
        assert_eq!(s("Error").matches("ERROR Error error"), [6..11]);
        assert!(s("Error").is_case_sensitive());
        // Digits and punctuation don't make a query case-sensitive.
        assert!(!s("e404:").is_case_sensitive());
    }

    #[test]
    fn plain_treats_regex_metachars_literally() {
        assert_eq!(s("a.b(").matches("axb( a.b("), [5..9]);
    }

    #[test]
    fn case_insensitive_ranges_index_original_text() {
        // 'İ' (2 bytes) lowercases to 3 bytes; ranges must still fit the text.
        let t = "İstanbul straße";
        let m = s("straße").matches(t);
        assert_eq!(m.len(), 1);
        assert_eq!(&t[m[0].clone()], "straße");
    }

    #[test]
    fn regex_mode_and_smartcase() {
        assert_eq!(r(r"\d+ms").matches("took 15ms, then 7MS"), [5..9, 16..19]);
        // `\S`/`\W` are classes, not uppercase literals.
        assert!(!r(r"\S+\W").is_case_sensitive());
        assert!(r(r"Timeout\s").is_case_sensitive());
        assert!(r("[A-Z]x").is_case_sensitive());
        assert_eq!(r("(?-i)abc").matches("ABC abc"), [4..7]);
        assert_eq!(r("abc").matches("ABC abc"), [0..3, 4..7]);
    }

    #[test]
    fn invalid_regex_reports_message() {
        let err = Search::new("(unclosed", SearchMode::Regex).expect_err("must fail");
        match &err {
            SearchError::InvalidRegex(msg) => assert_eq!(msg, "unclosed group"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(err.to_string(), "invalid regex: unclosed group");
        // The same text is fine as a plain query.
        assert!(Search::new("(unclosed", SearchMode::Plain).is_ok());
        assert_eq!(
            Search::new("", SearchMode::Plain).expect_err("empty"),
            SearchError::Empty
        );
    }

    #[test]
    fn empty_regex_matches_are_not_highlighted() {
        let q = r("x*");
        assert!(q.is_match("abc"));
        assert!(q.matches("abc").is_empty());
        assert_eq!(q.matches("axxb"), [1..3]);
    }

    #[test]
    fn next_and_prev_wrap_around() {
        let b = buf(&["hit 0", "miss", "hit 2", "miss", "hit 4"]);
        let q = s("hit");
        assert_eq!(q.find_next(&b, 0), Some(2));
        assert_eq!(q.find_next(&b, 2), Some(4));
        assert_eq!(q.find_next(&b, 4), Some(0));
        assert_eq!(q.find_next(&b, 1), Some(2));
        assert_eq!(q.find_prev(&b, 4), Some(2));
        assert_eq!(q.find_prev(&b, 2), Some(0));
        assert_eq!(q.find_prev(&b, 0), Some(4));
        assert_eq!(q.find_prev(&b, 3), Some(2));
        // Out-of-range `from`: start at the respective end.
        assert_eq!(q.find_next(&b, usize::MAX), Some(0));
        assert_eq!(q.find_prev(&b, usize::MAX), Some(4));
    }

    #[test]
    fn single_match_and_no_match() {
        let b = buf(&["a", "needle", "b"]);
        assert_eq!(s("needle").find_next(&b, 1), Some(1));
        assert_eq!(s("needle").find_prev(&b, 1), Some(1));
        assert_eq!(s("absent").find_next(&b, 0), None);
        assert_eq!(s("absent").find_prev(&b, 0), None);
        assert_eq!(s("x").find_next(&LogBuffer::default(), 0), None);
        assert_eq!(s("x").find_prev(&LogBuffer::default(), 0), None);
    }

    #[test]
    fn count_and_filter_indices() {
        let b = buf(&["GET /a 200", "GET /b 500", "POST /c 500", "GET /d 200 500"]);
        let q = s("500");
        assert_eq!(q.match_count(&b), 3);
        assert_eq!(filtered_indices(&b, &q), [1, 2, 3]);
        assert_eq!(filtered_indices(&b, &r("^GET .* 200")), [0, 3]);
        assert!(filtered_indices(&b, &s("nothing")).is_empty());
    }

    #[test]
    fn escapes_are_not_searchable() {
        // "31m" only exists inside the escape sequence.
        let b = buf(&["\x1b[31mred\x1b[0m"]);
        assert_eq!(s("31m").match_count(&b), 0);
        assert_eq!(s("red").match_count(&b), 1);
    }

    #[test]
    fn highlight_renders_into_spans() {
        let line = sanitize(b"\x1b[32mok\x1b[0m: disk ok");
        let hl = Style::default()
            .bg(Color::Yellow)
            .add_modifier(Modifier::BOLD);
        let out = s("ok").highlight(&line, hl);
        let got: Vec<(&str, Style)> = out
            .spans
            .iter()
            .map(|sp| (sp.content.as_ref(), sp.style))
            .collect();
        let green = Style::default().fg(Color::Green);
        assert_eq!(
            got,
            vec![
                ("ok", green.patch(hl)),
                (": disk ", Style::default()),
                ("ok", hl),
            ]
        );
        assert_eq!(got[0].1.fg, Some(Color::Green));
        assert_eq!(got[0].1.bg, Some(Color::Yellow));
        assert!(got[0].1.add_modifier.contains(Modifier::BOLD));
    }
}
